// Credentials of the vendor-compatible API families, all owned by a project:
// - access keys (Alibaba ACS3 and Huawei SDK-HMAC): the server must recompute signatures, so the
//   secret is stored encrypted (AES-256-GCM) under the master key, never in clear;
// - OBShell passwords, per target: stored as scrypt hashes;
// - replay nonces, in the store so every Liftgate replica sees them.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hashPassword, verifyPassword } from '../auth/password-hash.ts';
import type { ReplayGuard } from '../auth/replay-guard.ts';
import { AppError } from '../domain/errors.ts';
import { now } from '../engine/transitions.ts';
import type { AppContext } from './context.ts';
import { isUniqueViolation } from './db-errors.ts';
import { getProject } from './projects.ts';
import { getTarget } from './targets.ts';

const masterKeys = new WeakMap<AppContext, Buffer>();

/**
 * The key that encrypts access-key secrets: LIFTGATE_MASTER_KEY (64 hex chars), else a key
 * file in the data folder created on first use with mode 0600. It never enters the database.
 */
function masterKey(ctx: AppContext): Buffer {
  const cached = masterKeys.get(ctx);
  if (cached) return cached;
  let key: Buffer;
  const env = process.env.LIFTGATE_MASTER_KEY;
  if (env) {
    if (!/^[0-9a-f]{64}$/i.test(env)) throw new Error('LIFTGATE_MASTER_KEY must be 64 hex characters');
    key = Buffer.from(env, 'hex');
  } else {
    const file = path.join(ctx.config.dataDir ?? './data', 'master.key');
    if (fs.existsSync(file)) key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
    else {
      key = randomBytes(32);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, key.toString('hex'), { mode: 0o600, flag: 'wx' });
    }
  }
  masterKeys.set(ctx, key);
  return key;
}

function seal(ctx: AppContext, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', masterKey(ctx), iv);
  const enc = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), enc.toString('base64')].join(':');
}

function open(ctx: AppContext, sealed: string): string {
  const [v, iv, tag, enc] = sealed.split(':');
  if (v !== 'v1') throw new Error('unknown secret format');
  const d = createDecipheriv('aes-256-gcm', masterKey(ctx), Buffer.from(iv, 'base64'));
  d.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(enc, 'base64')), d.final()]).toString('utf8');
}

export async function createAccessKey(
  ctx: AppContext,
  projectId: string,
): Promise<{ accessKeyId: string; accessKeySecret: string }> {
  await getProject(ctx, projectId);
  const accessKeyId = `LTAI${randomBytes(10).toString('hex').toUpperCase()}`;
  const accessKeySecret = randomBytes(22).toString('base64url');
  await ctx.store.db
    .insertInto('access_keys')
    .values({ id: accessKeyId, project_id: projectId, secret_enc: seal(ctx, accessKeySecret), created_at: now() })
    .execute();
  return { accessKeyId, accessKeySecret };
}

/** The LookupSecret of src/auth: the secret and project of an access key, or null. */
export async function lookupAccessKey(
  ctx: AppContext,
  accessKeyId: string,
): Promise<{ secret: string; projectId: string } | null> {
  const row = await ctx.store.db.selectFrom('access_keys').selectAll().where('id', '=', accessKeyId).executeTakeFirst();
  return row ? { secret: open(ctx, row.secret_enc), projectId: row.project_id } : null;
}

export async function setObshellPassword(ctx: AppContext, projectId: string, targetId: string, password: string): Promise<void> {
  await getTarget(ctx, projectId, targetId);
  const hash = await hashPassword(password);
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('target_credentials')
      .where('project_id', '=', projectId)
      .where('target_id', '=', targetId)
      .where('kind', '=', 'obshell')
      .execute();
    await trx
      .insertInto('target_credentials')
      .values({ project_id: projectId, target_id: targetId, kind: 'obshell', secret_hash: hash, created_at: now() })
      .execute();
  });
}

/** OBShell serves one cluster per agent: the password selects the target. */
export async function findObshellTarget(
  ctx: AppContext,
  password: string,
): Promise<{ projectId: string; targetId: string } | null> {
  const rows = await ctx.store.db.selectFrom('target_credentials').selectAll().where('kind', '=', 'obshell').execute();
  for (const r of rows) {
    if (await verifyPassword(password, r.secret_hash)) return { projectId: r.project_id, targetId: r.target_id };
  }
  return null;
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
