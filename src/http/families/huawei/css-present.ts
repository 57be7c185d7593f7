// CSS response shapes, built from an upgrade's DAG. Field sources are listed in docs/api-compat/css.md.
import type { CatalogVersion, Step, Target } from '../../../domain/types.ts';
import type { UpgradeDetail } from '../../../service/upgrades.ts';
import { CSS_STEP_STATUS, CSS_TASK_STATUS, cssTime } from './state-maps.ts';

/**
 * CSS shows an image's engine version apart from its build: catalog versions written
 * "<engine version>-<build>" (7.10.2-23.3.1) are newer images of engine version 7.10.2.
 * A 'same' upgrade stays on the engine version, a 'cross' upgrade moves to a newer one.
 */
export const datastoreVersionOf = (version: string): string => version.split('-')[0] ?? version;

export function imageInfo(c: CatalogVersion) {
  return {
    id: c.imageId,
    displayName: c.displayName,
    imageDesc: c.description,
    datastoreType: c.engine,
    datastoreVersion: datastoreVersionOf(c.version),
    priority: c.priority,
  };
}

const DONE = new Set(['succeeded', 'skipped']);

function allSteps(u: UpgradeDetail): Step[] {
  return u.stages.flatMap((s) => s.steps).sort((a, b) => a.seq - b.seq);
}

/** Node names in the order the upgrade visits them. */
function nodesInOrder(steps: Step[]): string[] {
  const out: string[] = [];
  for (const s of steps) if (s.node !== null && !out.includes(s.node)) out.push(s.node);
  return out;
}

/**
 * The node CSS calls "current": the one with a running step, else the one that failed, else the
 * next one still to do, else (all done) the last one.
 */
function currentNode(steps: Step[], nodes: string[], completed: string[]): string | null {
  const running = steps.find((s) => s.node !== null && (s.state === 'running' || s.state === 'rolling_back'));
  if (running) return running.node;
  const failed = steps.find((s) => s.node !== null && s.state === 'failed');
  if (failed) return failed.node;
  return nodes.find((n) => !completed.includes(n)) ?? nodes.at(-1) ?? null;
}

function detailStep(s: Step) {
  return {
    order: s.seq,
    name: s.name,
    status: CSS_STEP_STATUS[s.state],
    desc: s.description,
    beginTime: cssTime(s.startedAt),
    endTime: cssTime(s.endedAt),
  };
}

/** The final zone of each node after an AZ move, as CSS's finalAzInfoMap (zone -> "a,b,c"). */
function finalAzMap(target: Target, steps: Step[]): Record<string, string> {
  const moved = new Map<string, string>();
  for (const s of steps) if (s.action === 'relocate' && s.node) moved.set(s.node, String(s.params.toZone));
  const byZone: Record<string, string[]> = {};
  for (const n of target.nodes) (byZone[moved.get(n.name) ?? n.zone] ??= []).push(n.name);
  return Object.fromEntries(Object.entries(byZone).map(([z, names]) => [z, names.join(',')]));
}

export function presentUpgradeDetail(u: UpgradeDetail, target: Target, image: CatalogVersion | null) {
  const steps = allSteps(u);
  const nodes = nodesInOrder(steps);
  const completed = nodes.filter((n) => steps.filter((s) => s.node === n).every((s) => DONE.has(s.state)));
  const current = currentNode(steps, nodes, completed);
  // As CSS does, the current node's steps are followed by the task-level "Task status update".
  const currentSteps = [
    ...steps.filter((s) => current !== null && s.node === current),
    ...steps.filter((s) => s.action === 'finalize'),
  ];
  const status = CSS_TASK_STATUS[u.state][completed.length > 0 ? 'someNodesDone' : 'noNodeDone'];
  const o = u.options;
  const az = u.mode === 'az_migration';
  return {
    id: u.id,
    startTime: cssTime(u.startedAt ?? u.createdAt),
    endTime: cssTime(u.endedAt),
    status,
    agencyName: typeof o.agency === 'string' ? o.agency : '',
    ...(!az && image ? { imageInfo: imageInfo(image) } : {}),
    totalNodes: nodes.join(','),
    completedNodes: completed.join(','),
    currentNodeName: current ?? '',
    executeTimes: String(u.retries + 1),
    ...(az
      ? {
          migrateParam: JSON.stringify({
            instType: o.instType ?? 'all',
            migrateType: o.migrateType ?? 'az_migrate',
            sourceAz: o.sourceAz ?? '',
            targetAz: o.targetAz ?? '',
          }),
          finalAzInfoMap: JSON.stringify(finalAzMap(target, steps)),
        }
      : {}),
    currentNodeDetail: currentSteps.map(detailStep),
  };
}
