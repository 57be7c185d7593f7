// The admin credential: the tokens that reach every project (`lg_admin_...`). They are listed
// without their secret, minted (a second one for a handover), rotated (a new secret, the old one
// stops working at once) and revoked, by an admin token only, each change audited among the
// events of no project (NO_PROJECT). Two rules hold whatever the order of requests:
//   - the last admin token that works cannot be revoked: every revoke locks the admin tokens'
//     rows first (PostgreSQL; SQLite has one writer), so two concurrent revokes of the last two
//     are serialised and the second one sees that it would leave none;
//   - a secret taken away is remembered (retired_admin_tokens), so a start with
//     LIFTGATE_ADMIN_TOKEN still set to it is refused (src/service/tokens.ts ensureAdminToken).
import { AppError } from '../domain/errors.ts';
import { appendEvent } from '../engine/core/events.ts';
import { now } from '../domain/clock.ts';
import type { Db } from '../store/schema.ts';
import type { ApiTokenRow } from '../store/schema.ts';
import type { AppContext } from './app-context.ts';
import { NO_PROJECT } from './events.ts';
import { actorOf, hashToken, newToken, newTokenRow, parseExpiry, type Principal } from './tokens.ts';

/** What anyone may see about an admin token: never its secret or its hash. */
export interface AdminTokenInfo {
  id: string;
  name: string;
  createdAt: string;
  /** the actor that minted it: `admin:<id>`, or `system` for one registered at a start */
  createdBy: string | null;
  expiresAt: string | null;
  /** when its secret was last replaced */
  rotatedAt: string | null;
  /** a recent use of its current secret (coarse: see LAST_USED_EVERY_MS), or null */
  lastUsedAt: string | null;
}

export interface NewAdminToken {
  name?: string;
  expiresAt?: string;
}

export interface Rotation {
  /** a new expiry; null: never; left out: the token keeps the one it has */
  expiresAt?: string | null;
}

const toInfo = (r: ApiTokenRow, lastUsedAt: string | null): AdminTokenInfo => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
  rotatedAt: r.rotated_at,
  lastUsedAt,
});

const notFound = (id: string) => new AppError('ADMIN_TOKEN_NOT_FOUND', `there is no admin token ${id}`);

const audit = (db: Db, by: Principal, type: string, message: string, data: Record<string, unknown>) =>
  appendEvent(db, { projectId: NO_PROJECT, actor: actorOf(by), type, message, data: { credential: 'admin_token', ...data } });

/** Remembers a secret an admin token no longer has, so no start can register it again. */
const retire = (db: Db, row: ApiTokenRow, reason: 'revoked' | 'rotated', by: Principal) =>
  db
    .insertInto('retired_admin_tokens')
    .values({ token_hash: row.token_hash, token_id: row.id, reason, retired_at: now(), retired_by: actorOf(by) })
    .execute();

export async function listAdminTokens(ctx: AppContext): Promise<AdminTokenInfo[]> {
  const rows = await ctx.store.db
    .selectFrom('api_tokens')
    .leftJoin('token_uses', 'token_uses.token_hash', 'api_tokens.token_hash')
    .selectAll('api_tokens')
    .select('token_uses.last_used_at')
    .where('api_tokens.kind', '=', 'admin')
    .orderBy('api_tokens.created_at')
    .orderBy('api_tokens.id')
    .execute();
  return rows.map((r) => toInfo(r, r.last_used_at));
}

/** Mints another admin token (for a handover: mint, move the clients, revoke the old one). */
export async function createAdminToken(
  ctx: AppContext,
  input: NewAdminToken,
  by: Principal,
): Promise<AdminTokenInfo & { token: string }> {
  const expiresAt = parseExpiry(input.expiresAt);
  const token = newToken('lg_admin');
  const row = newTokenRow({
    projectId: null,
    role: 'admin',
    name: input.name ?? 'admin token',
    token,
    createdBy: actorOf(by),
    expiresAt,
  });
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx.insertInto('api_tokens').values(row).execute();
    await audit(trx, by, 'credential.created', `admin token ${row.id} created${expiresAt ? ` (expires ${expiresAt})` : ''}`, {
      id: row.id,
      name: row.name,
      expiresAt,
    });
  });
  return { ...toInfo(row, null), token };
}

/**
 * Gives an admin token a new secret, shown once. The old secret stops working when this commits,
 * on every replica (each request reads its token from the store), and is retired so that a start
 * with it in LIFTGATE_ADMIN_TOKEN is refused. The id, name and creator stay; `lastUsedAt` starts
 * afresh, so it tells whether the clients use the new secret.
 */
export async function rotateAdminToken(
  ctx: AppContext,
  id: string,
  input: Rotation,
  by: Principal,
): Promise<AdminTokenInfo & { token: string }> {
  const newExpiry = input.expiresAt === undefined ? undefined : input.expiresAt === null ? null : parseExpiry(input.expiresAt);
  const token = newToken('lg_admin');
  return ctx.store.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', id)
      .where('kind', '=', 'admin')
      .$if(ctx.store.caps.supportsSkipLocked, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!row) throw notFound(id);
    const expiresAt = newExpiry === undefined ? row.expires_at : newExpiry;
    if (expiresAt !== null && expiresAt <= now()) {
      throw new AppError(
        'VALIDATION_FAILED',
        `admin token ${id} expired at ${expiresAt}; to rotate it give a new expiresAt in the future (or null for none), or revoke it`,
      );
    }
    const rotated: ApiTokenRow = { ...row, token_hash: hashToken(token), expires_at: expiresAt, rotated_at: now() };
    const res = await trx
      .updateTable('api_tokens')
      .set({ token_hash: rotated.token_hash, expires_at: expiresAt, rotated_at: rotated.rotated_at })
      .where('id', '=', id)
      .where('token_hash', '=', row.token_hash)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw notFound(id);
    await retire(trx, row, 'rotated', by);
    await trx.deleteFrom('token_uses').where('token_hash', '=', row.token_hash).execute();
    await audit(trx, by, 'credential.rotated', `admin token ${id} rotated; its old secret no longer works`, {
      id,
      name: row.name,
      expiresAt,
    });
    return { ...toInfo(rotated, null), token };
  });
}

/**
 * Revokes an admin token: its row goes and its secret is retired. Refused with LAST_ADMIN_TOKEN
 * when no other admin token would still work (one that has expired does not count): nobody could
 * then manage projects, credentials or the catalog.
 */
export async function revokeAdminToken(ctx: AppContext, id: string, by: Principal): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    // Every admin token's row, locked in one order: a concurrent revoke waits here, then sees
    // this one's outcome (PostgreSQL reads each statement afresh). SQLite has one writer.
    const all = await trx
      .selectFrom('api_tokens')
      .selectAll()
      .where('kind', '=', 'admin')
      .orderBy('id')
      .$if(ctx.store.caps.supportsSkipLocked, (q) => q.forUpdate())
      .execute();
    const row = all.find((r) => r.id === id);
    if (!row) throw notFound(id);
    const t = now();
    const others = all.filter((r) => r.id !== id && (r.expires_at === null || r.expires_at > t));
    if (others.length === 0) {
      throw new AppError(
        'LAST_ADMIN_TOKEN',
        `admin token ${id} is the last admin token that works; revoking it would lock every admin out. ` +
          'Mint another first (POST /v1/admin-tokens, `liftgate admin-tokens create`), or rotate this one to replace its secret',
        { id },
      );
    }
    const res = await trx.deleteFrom('api_tokens').where('id', '=', id).where('kind', '=', 'admin').executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1) throw notFound(id);
    await retire(trx, row, 'revoked', by);
    await trx.deleteFrom('token_uses').where('token_hash', '=', row.token_hash).execute();
    await audit(trx, by, 'credential.revoked', `admin token ${id} revoked`, { id, name: row.name });
  });
}
