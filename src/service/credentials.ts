// Credentials of the vendor-compatible API families, all owned by a project:
// - access keys (Alibaba ACS3 and Huawei SDK-HMAC): the server must recompute signatures, so the
//   secret is stored encrypted (AES-256-GCM) under the master key, never in clear;
// - OBShell passwords, per target: src/service/obshell-passwords.ts;
// - replay nonces, in the store so every Liftgate replica sees them.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ReplayGuard } from '../auth/replay-guard.ts';
import { AppError } from '../domain/errors.ts';
import { setting } from '../domain/settings.ts';
import { appendEvent } from '../engine/core/events.ts';
import { now } from '../domain/clock.ts';
import { readOrCreateKeyFile } from '../store/key-file.ts';
import type { AccessKeyRow } from '../store/schema.ts';
import type { AppContext } from './app-context.ts';
import { isUniqueViolation } from './db-errors.ts';
import { getProject } from './projects.ts';
import { assertCanGrant, roleOf, type Role } from './roles.ts';
import { actorOf, parseExpiry, type NewToken, type Principal } from './tokens.ts';

const masterKeys = new WeakMap<AppContext, Buffer>();

/**
 * The key that encrypts access-key secrets: LIFTGATE_MASTER_KEY (64 hex chars), else a key
 * file in the data folder created on first use with mode 0600. It never enters the database.
 */
function masterKey(ctx: AppContext): Buffer {
  const cached = masterKeys.get(ctx);
  if (cached) return cached;
  let key: Buffer;
  const given = setting('LIFTGATE_MASTER_KEY');
  if (given) {
    key = Buffer.from(given, 'hex');
  } else {
    const file = path.join(ctx.config.dataDir ?? './data', 'master.key');
    key = Buffer.from(readOrCreateKeyFile(file, () => randomBytes(32).toString('hex')).trim(), 'hex');
  }
  masterKeys.set(ctx, key);
  return key;
}

export function seal(ctx: AppContext, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', masterKey(ctx), iv);
  const enc = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), enc.toString('base64')].join(':');
}

export function open(ctx: AppContext, sealed: string): string {
  const [v, iv, tag, enc] = sealed.split(':');
  if (v !== 'v1') throw new Error('unknown secret format');
  const d = createDecipheriv('aes-256-gcm', masterKey(ctx), Buffer.from(iv, 'base64'));
  d.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(enc, 'base64')), d.final()]).toString('utf8');
}

/** What an access key's owner may see about it: never the secret. */
export interface AccessKeyInfo {
  id: string;
  projectId: string;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
}

const toKeyInfo = (r: AccessKeyRow): AccessKeyInfo => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name ?? 'access key',
  role: roleOf(r.role),
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
});

/** Mints an access key of the caller's role or lower (default: the caller's role) and audits it. */
export async function createAccessKey(
  ctx: AppContext,
  projectId: string,
  input: NewToken,
  by: Principal,
): Promise<AccessKeyInfo & { accessKeyId: string; accessKeySecret: string }> {
  await getProject(ctx, projectId);
  const role = input.role ?? by.role;
  assertCanGrant(by.role, role);
  const expiresAt = parseExpiry(input.expiresAt);
  const accessKeyId = `LTAI${randomBytes(10).toString('hex').toUpperCase()}`;
  const accessKeySecret = randomBytes(22).toString('base64url');
  const row: AccessKeyRow = {
    id: accessKeyId,
    project_id: projectId,
    secret_enc: seal(ctx, accessKeySecret),
    created_at: now(),
    role,
    name: input.name ?? 'access key',
    expires_at: expiresAt,
    created_by: actorOf(by),
  };
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx.insertInto('access_keys').values(row).execute();
    await appendEvent(trx, {
      projectId,
      actor: actorOf(by),
      type: 'credential.created',
      message: `access key ${accessKeyId} (${role}${expiresAt ? `, expires ${expiresAt}` : ''}) created`,
      data: { credential: 'access_key', id: accessKeyId, name: row.name, role, expiresAt },
    });
  });
  return { ...toKeyInfo(row), accessKeyId, accessKeySecret };
}

export async function listAccessKeys(ctx: AppContext, projectId: string): Promise<AccessKeyInfo[]> {
  await getProject(ctx, projectId);
  const rows = await ctx.store.db
    .selectFrom('access_keys')
    .selectAll()
    .where('project_id', '=', projectId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toKeyInfo);
}

export async function getAccessKeyInfo(ctx: AppContext, projectId: string, id: string): Promise<AccessKeyInfo> {
  const row = await ctx.store.db
    .selectFrom('access_keys')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('ACCESS_KEY_NOT_FOUND', `project ${projectId} has no access key ${id}`);
  return toKeyInfo(row);
}

/** Deletes the key (and its sealed secret): the next signed request with it fails on every replica. */
export async function revokeAccessKey(ctx: AppContext, projectId: string, id: string, by: Principal): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    const res = await trx.deleteFrom('access_keys').where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw new AppError('ACCESS_KEY_NOT_FOUND', `project ${projectId} has no access key ${id}`);
    await appendEvent(trx, {
      projectId,
      actor: actorOf(by),
      type: 'credential.revoked',
      message: `access key ${id} revoked`,
      data: { credential: 'access_key', id },
    });
  });
}

/**
 * The LookupSecret of src/auth: the secret, project and role of a live access key, or null
 * (unknown, revoked or expired). Read from the store on every request: no cache to outlive a revocation.
 */
/** `opts.read`: look it up on the read side (store.read), for a request that only reads (see verifyToken). */
export async function lookupAccessKey(
  ctx: AppContext,
  accessKeyId: string,
  opts: { read?: boolean } = {},
): Promise<{ secret: string; projectId: string; role: Role } | null> {
  const row = await (opts.read ? ctx.store.read : ctx.store.db)
    .selectFrom('access_keys')
    .selectAll()
    .where('id', '=', accessKeyId)
    .executeTakeFirst();
  if (!row || (row.expires_at !== null && row.expires_at <= now())) return null;
  return { secret: open(ctx, row.secret_enc), projectId: row.project_id, role: roleOf(row.role) };
}

/** A replay guard backed by the store: a nonce is claimed by inserting it; a duplicate loses. */
export function storeReplayGuard(ctx: AppContext): ReplayGuard {
  let lastPrune = 0;
  return {
    async claim(key: string, expiresAtMs: number): Promise<boolean> {
      const t = Date.now();
      if (t - lastPrune > 60_000) {
        lastPrune = t;
        await ctx.store.db.deleteFrom('replay_nonces').where('expires_at', '<', t).execute();
      }
      try {
        await ctx.store.db.insertInto('replay_nonces').values({ key, expires_at: expiresAtMs }).execute();
        return true;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // An expired entry may still be there between prunes: reclaim it.
        const res = await ctx.store.db
          .updateTable('replay_nonces')
          .set({ expires_at: expiresAtMs })
          .where('key', '=', key)
          .where('expires_at', '<', t)
          .executeTakeFirst();
        return Number(res.numUpdatedRows) === 1;
      }
    },
  };
}

export function assertSameProject(credentialProject: string, pathProject: string): void {
  // 404, not 403: a credential must not learn whether another project exists.
  if (credentialProject !== pathProject) throw new AppError('PROJECT_NOT_FOUND', `project ${pathProject} does not exist`);
}
