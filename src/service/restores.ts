// What cancels did on each node: the restore steps a cancel adds for every node it finds out of
// service (src/engine/core/cancel.ts), as the upgrade detail and a cancelled batch show them.
import type { Step } from '../domain/types.ts';
import { summaryOf } from '../engine/core/cancel.ts';
import type { Db } from '../engine/transitions.ts';

export interface RestoreView {
  upgradeId: string;
  targetId: string;
  node: string;
  /** the restore step's state: pending, running, succeeded (back in service), failed */
  state: string;
  /** why the node needed it: the last step that touched it and how that ended */
  reason: string | null;
  /** what the driver did ("started on 7.10.3; it was stopped"), once it did it */
  summary: string | null;
  error: string | null;
}

const reasonOf = (params: Record<string, unknown>) => (typeof params.reason === 'string' ? params.reason : null);

/** The restores of one upgrade, from its steps. */
export function upgradeRestores(u: { id: string; targetId: string }, steps: readonly Step[]): RestoreView[] {
  return steps
    .filter((s) => s.action === 'restore')
    .map((s) => ({
      upgradeId: u.id,
      targetId: u.targetId,
      node: s.node ?? '',
      state: s.state,
      reason: reasonOf(s.params),
      summary: s.state === 'succeeded' ? summaryOf({ state: s.state, result: s.result ? JSON.stringify(s.result) : null }) : null,
      error: s.error,
    }));
}

/** The restores of a batch's upgrades, in upgrade and then plan order. */
export async function batchRestores(db: Db, batchId: string): Promise<RestoreView[]> {
  const rows = await db
    .selectFrom('upgrades as u')
    .innerJoin('steps as s', 's.upgrade_id', 'u.id')
    .select(['u.id as upgrade_id', 'u.target_id', 's.node', 's.state', 's.params', 's.result', 's.error'])
    .where('u.batch_id', '=', batchId)
    .where('u.state', 'in', ['cancelling', 'cancelled', 'failed', 'rolling_back', 'rolled_back'])
    .where('s.action', '=', 'restore')
    .orderBy('u.num')
    .orderBy('s.seq')
    .execute();
  return rows.map((r) => ({
    upgradeId: r.upgrade_id,
    targetId: r.target_id,
    node: r.node ?? '',
    state: r.state,
    reason: reasonOf(JSON.parse(r.params) as Record<string, unknown>),
    summary: r.state === 'succeeded' ? summaryOf(r) : null,
    error: r.error,
  }));
}
