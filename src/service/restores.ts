// What cancels did on each node: the restore steps a cancel adds for every node it finds out of
// service (src/engine/core/cancel.ts), as the upgrade detail and a cancelled batch show them.
import type { Step, StepState } from '../domain/types.ts';
import { summaryOf } from '../engine/core/cancel.ts';
import type { Db } from '../store/schema.ts';

export interface RestoreView {
  upgradeId: string;
  targetId: string;
  node: string;
  /** the restore step's state: pending, running, succeeded (back in service), failed */
  state: StepState;
  /** why the node needed it: the last step that touched it and how that ended */
  reason: string | null;
  /** what the driver did ("started on 7.10.3; it was stopped"), once it did it */
  summary: string | null;
  error: string | null;
}

/** One restore step as the API shows it (`result` as stored: JSON text or null). */
function restoreView(
  upgradeId: string,
  targetId: string,
  s: { node: string | null; state: StepState; params: Record<string, unknown>; result: string | null; error: string | null },
): RestoreView {
  return {
    upgradeId,
    targetId,
    node: s.node ?? '',
    state: s.state,
    reason: typeof s.params.reason === 'string' ? s.params.reason : null,
    summary: s.state === 'succeeded' ? summaryOf(s) : null,
    error: s.error,
  };
}

/** The restores of one upgrade, from its steps. */
export function upgradeRestores(u: { id: string; targetId: string }, steps: readonly Step[]): RestoreView[] {
  return steps
    .filter((s) => s.action === 'restore')
    .map((s) => restoreView(u.id, u.targetId, { ...s, result: s.result ? JSON.stringify(s.result) : null }));
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
  return rows.map((r) =>
    restoreView(r.upgrade_id, r.target_id, {
      ...r,
      state: r.state as StepState,
      params: JSON.parse(r.params) as Record<string, unknown>,
    }),
  );
}
