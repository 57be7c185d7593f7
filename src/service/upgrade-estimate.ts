// An upgrade's estimate as the APIs show it: the estimates' model (src/estimates/service.ts) priced
// for the upgrade, starting when its batch will release it when a batch holds it.
import type { LoadedUpgrade } from '../estimates/plan-source.ts';
import { ESTIMATED_STATES, type Estimate } from '../estimates/upgrade-estimate.ts';
import type { AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';

/** An upgrade's estimate as the APIs show it (null when its end cannot be foreseen). */
export async function upgradeEstimate(ctx: AppContext, u: LoadedUpgrade): Promise<Estimate | null> {
  if (!ESTIMATED_STATES.has(u.state)) return null;
  const target = await getTarget(ctx, u.projectId, u.targetId);
  if (u.hold === 'batch' && u.batchId) {
    const startAt = await batchRelease(ctx, u);
    if (!startAt) return null;
    return ctx.estimates.forUpgrade(u, target, startAt);
  }
  return ctx.estimates.forUpgrade(u, target);
}

/** When the batch holding an upgrade will release it, from the batch's forecast (null: not foreseeable). */
async function batchRelease(ctx: AppContext, u: LoadedUpgrade): Promise<{ at: Date; why: string } | null> {
  const db = ctx.store.db;
  const b = await db
    .selectFrom('batches')
    .selectAll()
    .where('id', '=', u.batchId as string)
    .executeTakeFirst();
  const f = b ? await ctx.estimates.forBatch(b) : null;
  const starts = f?.heldStarts.get(u.waveIndex ?? 0);
  if (!b || !starts) return null;
  // its place among the wave's held upgrades: they are released in creation order
  const ahead = await db
    .selectFrom('upgrades')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('batch_id', '=', b.id)
    .where('wave_index', '=', u.waveIndex ?? 0)
    .where('state', '=', 'scheduled')
    .where('hold', '=', 'batch')
    .where('num', '<', (eb) => eb.selectFrom('upgrades').select('num').where('id', '=', u.id))
    .executeTakeFirstOrThrow();
  const at = starts[Math.min(starts.length - 1, Number(ahead.n))];
  if (at === undefined) return null;
  return { at: new Date(at), why: `released by batch ${b.name ?? b.id} at about ${new Date(at).toISOString()}` };
}
