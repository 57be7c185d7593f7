// Upgrade checks requested through the OBShell-style family (POST /api/v1/ob/upgrade/check).
// OBShell answers a check with a DAG that has an integer id and can be polled like any other
// DAG. A check is a precheck report here; what it lacks is an integer id, so the request is
// recorded as an event (the audit trail wants it anyway) and the event's id is the check's id.
import type { PrecheckReport, Target, TargetNode } from '../domain/types.ts';
import { now } from '../domain/clock.ts';
import type { AppContext } from './app-context.ts';
import { getReport } from './prechecks.ts';

export const UPGRADE_CHECK_EVENT = 'obshell.upgrade_check';

export interface UpgradeCheck {
  id: number;
  projectId: string;
  targetId: string;
  version: string;
  release: string;
  createdAt: string;
  report: PrecheckReport;
}

export async function recordUpgradeCheck(
  ctx: AppContext,
  c: { projectId: string; targetId: string; reportId: string; version: string; release: string; actor: string },
): Promise<UpgradeCheck> {
  const row = await ctx.store.db
    .insertInto('events')
    .values({
      project_id: c.projectId,
      target_id: c.targetId,
      upgrade_id: null,
      step_id: null,
      actor: c.actor,
      type: UPGRADE_CHECK_EVENT,
      from_state: null,
      to_state: null,
      message: `upgrade check of ${c.targetId} for ${c.version}-${c.release} requested`,
      data: JSON.stringify({ reportId: c.reportId, version: c.version, release: c.release }),
      created_at: now(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const check = await getUpgradeCheck(ctx, c.projectId, c.targetId, Number(row.id));
  if (!check) throw new Error('upgrade check vanished right after it was recorded');
  return check;
}

/** The check of this project and target with this id, or null (no existence leak across targets). */
export async function getUpgradeCheck(
  ctx: AppContext,
  projectId: string,
  targetId: string,
  id: number,
): Promise<UpgradeCheck | null> {
  const row = await ctx.store.db
    .selectFrom('events')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .where('target_id', '=', targetId)
    .where('type', '=', UPGRADE_CHECK_EVENT)
    .executeTakeFirst();
  if (!row) return null;
  const data = JSON.parse(row.data) as { reportId: string; version: string; release: string };
  return {
    id: Number(row.id),
    projectId,
    targetId,
    version: data.version,
    release: data.release,
    createdAt: row.created_at,
    report: await getReport(ctx, projectId, data.reportId),
  };
}

/**
 * The target's nodes as its driver sees them now. OBShell asks every agent for its status
 * before an upgrade; the recorded nodes can be stale after a failed step (a crashed node is
 * not written back), so ask the driver, and fall back to the record if it cannot answer.
 */
export async function observeNodes(ctx: AppContext, target: Target): Promise<TargetNode[]> {
  const driver = ctx.drivers.get(target.driver);
  if (!driver) return target.nodes;
  try {
    const topo = await driver.inspect(target);
    return topo.nodes.length > 0 ? topo.nodes : target.nodes;
  } catch {
    return target.nodes;
  }
}
