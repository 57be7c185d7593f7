// OBShell passwords, one per cluster. The password proves who the caller is; it never chooses the
// cluster: each cluster has its own agent address (src/service/obshell-agents.ts), and a request
// is checked against the password of the cluster its address serves, and no other. So two clusters,
// of one tenant or of two, may share a password with no effect on each other, and setting one
// answers the same whether or not any other cluster uses it (docs/SECURITY.md).
import { hashPassword, verifyPassword } from '../auth/password-hash.ts';
import { checkPasswordStrength } from '../auth/password-strength.ts';
import { AppError } from '../domain/errors.ts';
import { appendEvent } from '../engine/core/events.ts';
import { now } from '../domain/clock.ts';
import type { AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';
import { actorOf, type Principal } from './tokens.ts';

const KIND = 'obshell';

/**
 * Sets a cluster's OBShell password and gives the cluster its agent port if it has none.
 * Answers the port (null while no server of this store is running to listen on an `auto` one).
 */
export async function setObshellPassword(
  ctx: AppContext,
  projectId: string,
  targetId: string,
  password: string,
  by: Principal,
): Promise<{ port: number | null }> {
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
  // the address first: a refusal (no port left) writes no password that nothing could reach
  const port = await ctx.obshellAgents.ensure(projectId, targetId);
  const hash = await hashPassword(password);
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('target_credentials')
      .values({ project_id: projectId, target_id: targetId, kind: KIND, secret_hash: hash, created_at: now() })
      .onConflict((oc) => oc.columns(['project_id', 'target_id', 'kind']).doUpdateSet({ secret_hash: hash, created_at: now() }))
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
  return { port };
}

/** Whether `password` is the OBShell password of this one cluster (one scrypt, at most). */
export async function verifyObshellPassword(
  ctx: AppContext,
  projectId: string,
  targetId: string,
  password: string,
): Promise<boolean> {
  const row = await ctx.store.db
    .selectFrom('target_credentials')
    .select('secret_hash')
    .where('project_id', '=', projectId)
    .where('target_id', '=', targetId)
    .where('kind', '=', KIND)
    .executeTakeFirst();
  return row !== undefined && (await verifyPassword(password, row.secret_hash));
}
