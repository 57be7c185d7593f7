// Hologres-style presentation of one upgrade: the Data[] entry of GetInstanceUpgradeStatus.
// `Details` is a JSON-encoded string (the vendor's type); JSON.stringify guarantees it parses,
// unlike the vendor's example. Field sources are listed in docs/api-compat/hologres.md.
import type { PhaseEstimate, PrecheckItem, PrecheckReport, Step, Target } from '../../../domain/types.ts';
import type { UpgradeDetail } from '../../../service/upgrades.ts';
import {
  HOLOGRES_FAILED_VERB,
  HOLOGRES_NODE_STATUS,
  HOLOGRES_STEP_GROUP,
  hologresDagStatus,
  hologresPhase,
  summariseSteps,
  UPGRADE_STATE_MAP,
  type HologresStepStatus,
} from './state-maps.ts';

const LEADER_ROLES = new Set(['leader', 'primary', 'master']);

export interface HologresUpgradeEntry {
  FromVersion: string;
  ToVersion: string;
  Status: string;
  Details: string;
  PrepareFinishTime: string;
}

interface StepGroup {
  Status: HologresStepStatus;
  StartTime: string;
  StopTime: string;
}

function group(steps: Step[]): StepGroup {
  const status = summariseSteps(steps.map((s) => s.state));
  const starts = steps
    .map((s) => s.startedAt)
    .filter((t): t is string => !!t)
    .sort();
  const ends = steps
    .map((s) => s.endedAt)
    .filter((t): t is string => !!t)
    .sort();
  const finished = status === 'Success' || status === 'Failed' || status === 'Cancelled';
  return { Status: status, StartTime: starts[0] ?? '', StopTime: finished ? (ends.at(-1) ?? '') : '' };
}

function rollbackGroup(u: UpgradeDetail, steps: Step[], rollbackRequestedAt: string | null): StepGroup {
  const touched = steps.filter((s) => s.state === 'rolling_back' || s.state === 'rolled_back');
  const requested = rollbackRequestedAt !== null || u.state === 'rolling_back' || u.state === 'rolled_back';
  if (!requested && touched.length === 0) return { Status: 'NotStart', StartTime: '', StopTime: '' };
  const status: HologresStepStatus =
    u.state === 'rolled_back'
      ? 'Success'
      : u.errorCode === 'ROLLBACK_FAILED'
        ? 'Failed'
        : u.state === 'rolling_back'
          ? 'Running'
          : 'Success';
  const finished = status !== 'Running';
  return { Status: status, StartTime: rollbackRequestedAt ?? '', StopTime: finished ? (u.endedAt ?? u.updatedAt) : '' };
}

/** "LeaderRestartFailed"-style code naming the failed step; the plain state code otherwise. */
function statusCode(u: UpgradeDetail, steps: Step[], target: Target): string {
  if (u.state !== 'failed') return UPGRADE_STATE_MAP[u.state].statusCode;
  const failed = steps.find((s) => s.state === 'failed');
  if (!failed) return u.errorCode === 'ROLLBACK_FAILED' ? 'RollbackFailed' : 'Failed';
  const node = failed.node ? target.nodes.find((n) => n.name === failed.node) : undefined;
  const who = failed.node ? (node && LEADER_ROLES.has(node.role) ? 'Leader' : 'Follower') : '';
  return `${who}${HOLOGRES_FAILED_VERB[failed.action]}Failed`;
}

/** Engine check items named segment_format: node = database, one item per table still on the old format. */
function segmentFormatStat(items: PrecheckItem[]) {
  const counts = new Map<string, number>();
  for (const i of items)
    if (i.name === 'segment_format' && i.status !== 'pass') counts.set(i.node ?? '', (counts.get(i.node ?? '') ?? 0) + 1);
  return [...counts].map(([Database, TableUsingSegmentCount]) => ({ Database, TableUsingSegmentCount }));
}

/** Engine check items named read_permission: node = db, message "user=<u> schema=<s> table=<t>". */
function readPermissionCheckStat(items: PrecheckItem[]) {
  return items
    .filter((i) => i.name === 'read_permission' && i.status !== 'pass')
    .map((i) => {
      const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S+)`).exec(i.message)?.[1] ?? '';
      return { db: i.node ?? '', user: field('user'), schema: field('schema'), table: field('table') };
    });
}

function instances(target: Target) {
  const leader = target.nodes.find((n) => LEADER_ROLES.has(n.role)) ?? target.nodes[0];
  return {
    LeaderInstanceId: leader?.name ?? target.id,
    LeaderInstanceName: leader?.name ?? target.name,
    LeaderInstanceStatus: leader ? HOLOGRES_NODE_STATUS[leader.health] : 'Unknown',
    FollowerInstances: target.nodes
      .filter((n) => n !== leader)
      .map((n) => ({ InstanceId: n.name, InstanceName: n.name, Status: HOLOGRES_NODE_STATUS[n.health] })),
  };
}

export function presentHologresUpgrade(
  u: UpgradeDetail,
  target: Target,
  report: PrecheckReport | null,
  newest: boolean,
  rollbackRequestedAt: string | null,
  /** phase times from the duration model (the precheck's own figures when absent) */
  modelled?: PhaseEstimate,
): HologresUpgradeEntry {
  const steps = u.stages.flatMap((s) => s.steps);
  const inGroup = (g: 'Stop' | 'Backup' | 'DoUpgrade') => steps.filter((s) => HOLOGRES_STEP_GROUP[s.action] === g);
  const f = report?.flighting;
  const phases = modelled ?? report?.estimate;
  const estimate = {
    StopInstance: phases?.stopInstanceSeconds ?? 0,
    BackupData: phases?.backupDataSeconds ?? 0,
    UpgradeInstance: phases?.upgradeInstanceSeconds ?? 0,
  };
  const details = {
    UpgradePhase: hologresPhase(u.state, u.currentStage),
    StatusCode: statusCode(u, steps, target),
    FlightingReport: {
      SQLResultStat: {
        TotalExecuted: f?.totalExecuted ?? 0,
        Exceptions: f?.exceptions ?? 0,
        Incorrect: f?.incorrect ?? 0,
        Slow: f?.slow ?? 0,
        DQLSpeedup: f?.dqlSpeedup ?? 0,
      },
      SegmentFormatStat: segmentFormatStat(report?.items ?? []),
      // The vendor's example nests EstimatedUpgradeTime inside FlightingReport; its field table
      // (and issue 3) list it beside it. Both places carry the same numbers.
      EstimatedUpgradeTime: estimate,
      ReadPermissionCheckStat: readPermissionCheckStat(report?.items ?? []),
    },
    EstimatedUpgradeTime: estimate,
    UpgradingSteps: {
      Stop: group(inGroup('Stop')),
      Backup: group(inGroup('Backup')),
      DoUpgrade: group(inGroup('DoUpgrade')),
      Rollback: rollbackGroup(u, steps, rollbackRequestedAt),
    },
    Instances: instances(target),
  };
  const precheckStage = u.stages.find((s) => s.index === 0);
  return {
    FromVersion: u.fromVersion,
    ToVersion: u.toVersion,
    Status: hologresDagStatus(u.state, newest),
    Details: JSON.stringify(details),
    PrepareFinishTime: precheckStage?.endedAt ?? report?.finishedAt ?? '',
  };
}
