// Whether any upgrade is rolling back or cancelling (the executor then also claims reversals,
// or the restore steps of cancelled upgrades). The claims themselves are guarded transitions of
// the state core (src/engine/core/writes.ts).
import type { Db } from '../store/schema.ts';

export async function specialWork(db: Db): Promise<{ rollingBack: boolean; cancelling: boolean }> {
  const rows = await db
    .selectFrom('upgrades')
    .select('state')
    .distinct()
    .where('state', 'in', ['rolling_back', 'cancelling'])
    .execute();
  const states = new Set(rows.map((r) => r.state));
  return { rollingBack: states.has('rolling_back'), cancelling: states.has('cancelling') };
}
