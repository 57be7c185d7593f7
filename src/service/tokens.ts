// API tokens. Only a SHA-256 hash of each token is stored; the token itself is shown once.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { now } from '../engine/transitions.ts';
import type { AppContext } from './context.ts';
import { getProject } from './projects.ts';

export type Principal = { kind: 'admin'; id: string } | { kind: 'project'; id: string; projectId: string };

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const newToken = (prefix: string): string => `${prefix}_${randomBytes(24).toString('base64url')}`;

/** Stores a token's hash (never the token) and answers the new row's id. */
async function storeToken(
  ctx: AppContext,
  t: { projectId: string | null; kind: 'admin' | 'project'; name: string; token: string },
): Promise<string> {
  const id = randomUUID();
  await ctx.store.db
    .insertInto('api_tokens')
    .values({ id, project_id: t.projectId, kind: t.kind, name: t.name, token_hash: hashToken(t.token), created_at: now() })
    .execute();
  return id;
}

/**
 * Makes sure an admin token exists. With `fromEnv` it is that token (registered if new);
 * otherwise one is generated on first start only. Returns the token when it was just created.
 */
export async function ensureAdminToken(ctx: AppContext, fromEnv?: string): Promise<string | null> {
  const db = ctx.store.db;
  if (fromEnv) {
    const found = await db.selectFrom('api_tokens').select('id').where('token_hash', '=', hashToken(fromEnv)).executeTakeFirst();
    if (!found) await storeToken(ctx, { projectId: null, kind: 'admin', name: 'LIFTGATE_ADMIN_TOKEN', token: fromEnv });
    return null;
  }
  const any = await db.selectFrom('api_tokens').select('id').where('kind', '=', 'admin').executeTakeFirst();
  if (any) return null;
  const token = newToken('lg_admin');
  await storeToken(ctx, { projectId: null, kind: 'admin', name: 'first admin token', token });
  return token;
}

export async function createProjectToken(
  ctx: AppContext,
  projectId: string,
  name = 'token',
): Promise<{ id: string; token: string }> {
  await getProject(ctx, projectId);
  const token = newToken('lg');
  return { id: await storeToken(ctx, { projectId, kind: 'project', name, token }), token };
}

export async function verifyToken(ctx: AppContext, token: string): Promise<Principal | null> {
  if (!token) return null;
  const row = await ctx.store.db
    .selectFrom('api_tokens')
    .selectAll()
    .where('token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row) return null;
  if (row.kind === 'admin') return { kind: 'admin', id: row.id };
  return { kind: 'project', id: row.id, projectId: row.project_id as string };
}

export function canAccessProject(p: Principal, projectId: string): boolean {
  return p.kind === 'admin' || p.projectId === projectId;
}
