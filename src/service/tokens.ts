// API tokens. Only a SHA-256 hash of each token is stored; the token itself is shown once.
// Every request reads its token's row from the store (no cache), so a revocation or an expiry
// takes effect on the next request on every replica.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import { appendEvent } from '../engine/core/events.ts';
import { now } from '../domain/clock.ts';
import type { ApiTokenRow } from '../store/schema.ts';
import type { AppContext } from './app-context.ts';
import { NO_PROJECT } from './events.ts';
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

export const newToken = (prefix: string): string => `${prefix}_${randomBytes(24).toString('base64url')}`;

/** The row of a new token (its secret only as a hash), never rotated. */
export function newTokenRow(t: {
  projectId: string | null;
  role: Role;
  name: string;
  token: string;
  createdBy: string;
  expiresAt: string | null;
}): ApiTokenRow {
  return {
    id: randomUUID(),
    project_id: t.projectId,
    kind: t.projectId === null ? 'admin' : 'project',
    role: t.role,
    name: t.name,
    token_hash: hashToken(t.token),
    created_at: now(),
    created_by: t.createdBy,
    expires_at: t.expiresAt,
    rotated_at: null,
  };
}

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

/** What a start did about the admin token, for the server to print. */
export interface AdminTokenAtStart {
  /** the admin token generated now (print it once), or null */
  created: string | null;
  /** things the operator should know (an admin token that has expired, none that works) */
  warnings: string[];
}

/**
 * Makes sure an admin token exists. With `fromEnv` (LIFTGATE_ADMIN_TOKEN) it is that token,
 * registered if new; otherwise one is generated when the store has none (the first start). A
 * value that an admin token no longer has (revoked, or replaced by a rotation) is refused: a
 * restart must not bring back a secret an operator took away. Registering is audited.
 */
export async function ensureAdminToken(ctx: AppContext, fromEnv?: string): Promise<AdminTokenAtStart> {
  const db = ctx.store.db;
  const warnings: string[] = [];
  const register = async (name: string, token: string, source: string) => {
    const row = newTokenRow({ projectId: null, role: 'admin', name, token, createdBy: 'system', expiresAt: null });
    const id = row.id;
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('api_tokens').values(row).execute();
      await appendEvent(trx, {
        projectId: NO_PROJECT,
        actor: 'system',
        type: 'credential.created',
        message: `admin token ${id} registered at start (${source})`,
        data: { credential: 'admin_token', id, name, source, expiresAt: null },
      });
    });
  };
  if (fromEnv) {
    const hash = hashToken(fromEnv);
    const found = await db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (found && found.kind !== 'admin') {
      throw new Error(
        'cannot start: LIFTGATE_ADMIN_TOKEN holds the secret of a project token, not of an admin token; set it to an admin token or to a new secret, or unset it',
      );
    }
    if (found) {
      if (found.expires_at !== null && found.expires_at <= now())
        warnings.push(`LIFTGATE_ADMIN_TOKEN is admin token ${found.id}, which expired at ${found.expires_at}: it does not work`);
    } else {
      const retired = await db.selectFrom('retired_admin_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
      if (retired) {
        const what = retired.reason === 'rotated' ? 'the old secret of' : 'the secret of revoked';
        throw new Error(
          `cannot start: LIFTGATE_ADMIN_TOKEN holds ${what} admin token ${retired.token_id} (${retired.reason} at ${retired.retired_at} by ${retired.retired_by}); ` +
            'set LIFTGATE_ADMIN_TOKEN to a working admin token (`liftgate admin-tokens list`), or to a new secret to register one, or unset it',
        );
      }
      await register('LIFTGATE_ADMIN_TOKEN', fromEnv, 'LIFTGATE_ADMIN_TOKEN');
    }
  } else {
    const any = await db.selectFrom('api_tokens').select('id').where('kind', '=', 'admin').executeTakeFirst();
    if (!any) {
      const token = newToken('lg_admin');
      await register('first admin token', token, 'first start');
      return { created: token, warnings };
    }
  }
  const live = await db
    .selectFrom('api_tokens')
    .select('id')
    .where('kind', '=', 'admin')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now())]))
    .executeTakeFirst();
  if (!live) {
    warnings.push(
      'no admin token works (every one has expired): set LIFTGATE_ADMIN_TOKEN to a new secret and start again to register one',
    );
  }
  return { created: null, warnings };
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
  const row = newTokenRow({ projectId, role, name: input.name ?? 'token', token, createdBy: actorOf(by), expiresAt });
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

/**
 * How often one server records that an admin token's secret was used: `lastUsedAt` is coarse
 * (up to this much older than the latest use), and a busy token costs one write per server in
 * this time instead of one per request.
 */
export const LAST_USED_EVERY_MS = 10 * 60_000;
const usesRecorded = new WeakMap<AppContext, Map<string, number>>();

/** Records a use of a secret (by its hash) unless this server did so less than LAST_USED_EVERY_MS ago. */
async function recordUse(ctx: AppContext, hash: string): Promise<void> {
  let seen = usesRecorded.get(ctx);
  if (!seen) usesRecorded.set(ctx, (seen = new Map()));
  const t = Date.now();
  const last = seen.get(hash);
  if (last !== undefined && t - last < LAST_USED_EVERY_MS) return;
  if (seen.size >= 10_000) seen.clear();
  seen.set(hash, t);
  const at = new Date(t).toISOString();
  // moves only forward: another server may have recorded a later use
  await ctx.store.db
    .insertInto('token_uses')
    .values({ token_hash: hash, last_used_at: at })
    .onConflict((oc) => oc.column('token_hash').doUpdateSet({ last_used_at: at }).where('token_uses.last_used_at', '<', at))
    .execute();
}

/**
 * The principal of a bearer token, or null. `opts.read`: look it up on the read side (store.read),
 * for a request that only reads, so its check never waits behind the executor's statements; a
 * request that changes something checks on the writer's side, in order with the other changes.
 */
export async function verifyToken(ctx: AppContext, token: string, opts: { read?: boolean } = {}): Promise<Principal | null> {
  if (!token) return null;
  const hash = hashToken(token);
  const row = await (opts.read ? ctx.store.read : ctx.store.db)
    .selectFrom('api_tokens')
    .selectAll()
    .where('token_hash', '=', hash)
    .executeTakeFirst();
  if (!row) return null;
  if (row.expires_at !== null && row.expires_at <= now()) return null;
  if (row.kind === 'admin') {
    await recordUse(ctx, hash);
    return { kind: 'admin', id: row.id, role: 'admin', expiresAt: row.expires_at };
  }
  return { kind: 'project', id: row.id, projectId: row.project_id as string, role: roleOf(row.role), expiresAt: row.expires_at };
}

export function canAccessProject(p: Principal, projectId: string): boolean {
  return p.kind === 'admin' || p.projectId === projectId;
}
