// API tokens. Only a SHA-256 hash of each token is stored; the token itself is shown once.
// Every request reads its token's row from the store (no cache), so a revocation or an expiry
// takes effect on the next request on every replica.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import { appendEvent, now } from '../engine/transitions.ts';
import type { ApiTokenRow } from '../store/schema.ts';
import type { AppContext } from './context.ts';
import { getProject } from './projects.ts';
import { assertCanGrant, roleOf, type Role } from './roles.ts';

/** The caller of the native API (and of the Huawei families' X-Auth-Token). */
export type Principal =
  | { kind: 'admin'; id: string; role: 'admin'; expiresAt: string | null }
  | { kind: 'project'; id: string; projectId: string; role: Role; expiresAt: string | null };

/** What a token's owner may see about it: never the token or its hash. */
export interface TokenInfo {
  id: string;
  projectId: string | null;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const newToken = (prefix: string): string => `${prefix}_${randomBytes(24).toString('base64url')}`;

/** How a principal appears in events: the token's id, never the token. */
export const actorOf = (p: Principal): string => `${p.kind === 'admin' ? 'admin' : 'token'}:${p.id}`;

const toInfo = (r: ApiTokenRow): TokenInfo => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  role: roleOf(r.role),
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
});

/** An optional expiry must be a real time in the future; stored as ISO-8601 UTC so it sorts as text. */
export function parseExpiry(expiresAt: string | undefined): string | null {
  if (expiresAt === undefined) return null;
  const t = Date.parse(expiresAt);
  if (!Number.isFinite(t) || !/^\d{4}-\d{2}-\d{2}T/.test(expiresAt)) {
    throw new AppError('VALIDATION_FAILED', `expiresAt must be an ISO-8601 time such as 2030-01-01T00:00:00Z, not ${expiresAt}`);
  }
  if (t <= Date.now()) throw new AppError('VALIDATION_FAILED', `expiresAt ${expiresAt} is not in the future`);
  return new Date(t).toISOString();
}

/**
 * Makes sure an admin token exists. With `fromEnv` it is that token (registered if new);
 * otherwise one is generated on first start only. Returns the token when it was just created.
 */
export async function ensureAdminToken(ctx: AppContext, fromEnv?: string): Promise<string | null> {
  const db = ctx.store.db;
  const store = async (name: string, token: string) =>
    db
      .insertInto('api_tokens')
      .values({
        id: randomUUID(),
        project_id: null,
        kind: 'admin',
        role: 'admin',
        name,
        token_hash: hashToken(token),
        created_at: now(),
      })
      .execute();
  if (fromEnv) {
    const found = await db.selectFrom('api_tokens').select('id').where('token_hash', '=', hashToken(fromEnv)).executeTakeFirst();
    if (!found) await store('LIFTGATE_ADMIN_TOKEN', fromEnv);
    return null;
  }
  const any = await db.selectFrom('api_tokens').select('id').where('kind', '=', 'admin').executeTakeFirst();
  if (any) return null;
  const token = newToken('lg_admin');
  await store('first admin token', token);
  return token;
}

export interface NewToken {
  name?: string;
  role?: Role;
  expiresAt?: string;
}

/**
 * Mints a project token of the caller's role or lower (default: the caller's own role, capped at
 * admin of this project; the bootstrap admin token is never minted here) and audits it.
 */
export async function createProjectToken(
  ctx: AppContext,
  projectId: string,
  input: NewToken,
  by: Principal,
): Promise<TokenInfo & { token: string }> {
  await getProject(ctx, projectId);
  const role = input.role ?? by.role;
  assertCanGrant(by.role, role);
  const expiresAt = parseExpiry(input.expiresAt);
  const token = newToken('lg');
  const row: ApiTokenRow = {
    id: randomUUID(),
    project_id: projectId,
    kind: 'project',
    role,
    name: input.name ?? 'token',
    token_hash: hashToken(token),
    created_at: now(),
    created_by: actorOf(by),
    expires_at: expiresAt,
  };
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx.insertInto('api_tokens').values(row).execute();
    await appendEvent(trx, {
      projectId,
      actor: actorOf(by),
      type: 'credential.created',
      message: `token ${row.id} (${role}${expiresAt ? `, expires ${expiresAt}` : ''}) created`,
      data: { credential: 'token', id: row.id, name: row.name, role, expiresAt },
    });
  });
  return { ...toInfo(row), token };
}

export async function listTokens(ctx: AppContext, projectId: string): Promise<TokenInfo[]> {
  await getProject(ctx, projectId);
  const rows = await ctx.store.db
    .selectFrom('api_tokens')
    .selectAll()
    .where('project_id', '=', projectId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toInfo);
}

export async function getTokenInfo(ctx: AppContext, projectId: string, id: string): Promise<TokenInfo> {
  const row = await ctx.store.db
    .selectFrom('api_tokens')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('TOKEN_NOT_FOUND', `project ${projectId} has no token ${id}`);
  return toInfo(row);
}

/** Deletes the token's row: the next request that presents it fails, on every replica. */
export async function revokeToken(ctx: AppContext, projectId: string, id: string, by: Principal): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    const res = await trx.deleteFrom('api_tokens').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1) throw new AppError('TOKEN_NOT_FOUND', `project ${projectId} has no token ${id}`);
    await appendEvent(trx, {
      projectId,
      actor: actorOf(by),
      type: 'credential.revoked',
      message: `token ${id} revoked`,
      data: { credential: 'token', id },
    });
  });
}

export async function verifyToken(ctx: AppContext, token: string): Promise<Principal | null> {
  if (!token) return null;
  const row = await ctx.store.db
    .selectFrom('api_tokens')
    .selectAll()
    .where('token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row) return null;
  if (row.expires_at !== null && row.expires_at <= now()) return null;
  if (row.kind === 'admin') return { kind: 'admin', id: row.id, role: 'admin', expiresAt: row.expires_at };
  return { kind: 'project', id: row.id, projectId: row.project_id as string, role: roleOf(row.role), expiresAt: row.expires_at };
}

export function canAccessProject(p: Principal, projectId: string): boolean {
  return p.kind === 'admin' || p.projectId === projectId;
}
