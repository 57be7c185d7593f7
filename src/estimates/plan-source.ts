// What an estimate reads: an upgrade with its stages and steps, its target, and the gate of its
// maintenance window. Takes any Kysely handle, so the tracker can read inside its transaction.
import type { Target, Upgrade } from '../domain/types.ts';
import { nextWindowStart } from '../domain/window.ts';
import type { Db } from '../store/schema.ts';
import { toStage, toStep, toUpgrade } from '../store/mappers.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { PlannedUpgrade, StartGate } from './upgrade-estimate.ts';

export type LoadedUpgrade = Upgrade & PlannedUpgrade;

export async function loadUpgradePlan(db: Db, upgradeId: string): Promise<{ upgrade: LoadedUpgrade; target: Target } | null> {
  const row = await db.selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirst();
  if (!row) return null;
  const target = await loadTarget(db, row.project_id, row.target_id);
  if (!target) return null;
  const stages = (await db.selectFrom('stages').selectAll().where('upgrade_id', '=', upgradeId).orderBy('idx').execute()).map(
    toStage,
  );
  const steps = (await db.selectFrom('steps').selectAll().where('upgrade_id', '=', upgradeId).orderBy('seq').execute()).map(
    toStep,
  );
  const upgrade = {
    ...toUpgrade(row),
    stages: stages.map((s) => ({ ...s, steps: steps.filter((st) => st.stageIndex === s.index) })),
  };
  return { upgrade, target };
}

/** An upgrade scheduled into its target's window starts each new step only inside the window. */
export function windowGate(u: Pick<Upgrade, 'schedule'>, target: Target): StartGate | null {
  const w = target.maintenanceWindow;
  if (u.schedule.kind !== 'window' || !w) return null;
  return (t) => nextWindowStart(w, t);
}
