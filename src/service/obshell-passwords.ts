// OBShell passwords, one per cluster. OBShell's header carries only a password, so the password
// alone must select exactly one cluster of one project:
// - beside the scrypt hash (the verifier) each row keeps a lookup hash, HMAC-SHA256 of the
//   password under a key derived from the master key; it is unique per kind (an index), so a
//   request finds its one candidate with one indexed read and costs at most one scrypt, however
//   many passwords are stored;
// - a password already used by any cluster is refused (409, without saying whose) and a weak one
//   is refused (400), so two clusters can never share one and guessing one is not practical;
// - rows from before migration 006 have no lookup hash: while any exist, a request whose lookup
//   misses tries them (every one, so a password shared by two of them is refused, not matched to
//   the first), and a unique match gets its lookup hash written, so it takes the fast path from then on.
// Why refusing a password in use does not let a project probe other tenants: docs/SECURITY.md.
import { createHmac } from 'node:crypto';
import { hashPassword, verifyPassword } from '../auth/password-hash.ts';
import { checkPasswordStrength } from '../auth/password-strength.ts';
import { AppError } from '../domain/errors.ts';
import { appendEvent, now } from '../engine/transitions.ts';
import type { AppContext } from './context.ts';
import { derivedKey } from './credentials.ts';
import { isUniqueViolation } from './db-errors.ts';
import { getTarget } from './targets.ts';
import { actorOf, type Principal } from './tokens.ts';

const KIND = 'obshell';

const lookupKeys = new WeakMap<AppContext, Buffer>();

export function lookupHash(ctx: AppContext, password: string): string {
  let key = lookupKeys.get(ctx);
  if (!key) {
    key = derivedKey(ctx, 'obshell password lookup v1');
    lookupKeys.set(ctx, key);
  }
  return createHmac('sha256', key).update(password, 'utf8').digest('base64url');
}

const inUse = () =>
  new AppError('PASSWORD_IN_USE', 'this password is already in use; choose another one (each cluster needs its own)');

export async function setObshellPassword(
  ctx: AppContext,
  projectId: string,
  targetId: string,
  password: string,
  by: Principal,
): Promise<void> {
  const target = await getTarget(ctx, projectId, targetId);
  const verdict = await checkPasswordStrength(password, [projectId, targetId, target.name]);
  if (!verdict.ok) {
    throw new AppError(
      'PASSWORD_TOO_WEAK',
      `the password is too easy to guess (strength ${verdict.score} of 4, needs 3): ${verdict.advice}`,
      {
        score: verdict.score,
      },
    );
  }
  const lookup = lookupHash(ctx, password);
  const db = ctx.store.db;
  const sameRow = (r: { project_id: string; target_id: string }) => r.project_id === projectId && r.target_id === targetId;
  const holder = await db
    .selectFrom('target_credentials')
    .select(['project_id', 'target_id'])
    .where('kind', '=', KIND)
    .where('lookup_hash', '=', lookup)
    .executeTakeFirst();
  if (holder && !sameRow(holder)) throw inUse();
  for (const legacy of await legacyRows(ctx)) {
    if (!sameRow(legacy) && (await verifyPassword(password, legacy.secret_hash))) throw inUse();
  }
  const hash = await hashPassword(password);
  try {
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('target_credentials')
        .values({
          project_id: projectId,
          target_id: targetId,
          kind: KIND,
          secret_hash: hash,
          lookup_hash: lookup,
          created_at: now(),
        })
        .onConflict((oc) =>
          oc
            .columns(['project_id', 'target_id', 'kind'])
            .doUpdateSet({ secret_hash: hash, lookup_hash: lookup, created_at: now() }),
        )
        .execute();
      await appendEvent(trx, {
        projectId,
        targetId,
        actor: actorOf(by),
        type: 'credential.password_set',
        message: `OBShell password of ${targetId} set`,
        data: { credential: 'obshell_password', targetId },
      });
    });
  } catch (err) {
    // another request set the same password on another cluster at the same moment
    if (isUniqueViolation(err)) throw inUse();
    throw err;
  }
}

async function legacyRows(ctx: AppContext) {
  return ctx.store.db
    .selectFrom('target_credentials')
    .select(['project_id', 'target_id', 'secret_hash'])
    .where('kind', '=', KIND)
    .where('lookup_hash', 'is', null)
    .execute();
}

/** How many passwords still wait for their first use since migration 006 (logged at start). */
export async function countLegacyObshellPasswords(ctx: AppContext): Promise<number> {
  return (await legacyRows(ctx)).length;
}

/** OBShell serves one cluster per agent: the password selects the target, or nothing. */
export async function findObshellTarget(
  ctx: AppContext,
  password: string,
): Promise<{ projectId: string; targetId: string } | null> {
  const lookup = lookupHash(ctx, password);
  const row = await ctx.store.db
    .selectFrom('target_credentials')
    .select(['project_id', 'target_id', 'secret_hash'])
    .where('kind', '=', KIND)
    .where('lookup_hash', '=', lookup)
    .executeTakeFirst();
  if (row) {
    // The HMAC found the candidate; scrypt stays the verifier of record.
    return (await verifyPassword(password, row.secret_hash)) ? { projectId: row.project_id, targetId: row.target_id } : null;
  }
  const legacy = await legacyRows(ctx);
  if (legacy.length === 0) return null;
  const matches = [];
  for (const r of legacy) if (await verifyPassword(password, r.secret_hash)) matches.push(r);
  // Two clusters share this pre-006 password: it identifies neither. Each must be given a new one.
  if (matches.length !== 1) return null;
  const m = matches[0]!;
  try {
    await ctx.store.db
      .updateTable('target_credentials')
      .set({ lookup_hash: lookup })
      .where('project_id', '=', m.project_id)
      .where('target_id', '=', m.target_id)
      .where('kind', '=', KIND)
      .where('lookup_hash', 'is', null)
      .execute();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return null; // the same password was just set on another cluster: it is theirs now
  }
  return { projectId: m.project_id, targetId: m.target_id };
}
