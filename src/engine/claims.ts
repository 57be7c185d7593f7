// Whether any upgrade is rolling back (the executor then also claims reversals). The claims
// themselves are guarded transitions of the state core (src/engine/core/writes.ts).
import type { Db } from './transitions.ts';

export async function anyRollingBack(db: Db): Promise<boolean> {
  const row = await db.selectFrom('upgrades').select('id').where('state', '=', 'rolling_back').limit(1).executeTakeFirst();
  return row !== undefined;
}
