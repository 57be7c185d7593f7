// Every vendor enum the two Alibaba-style families emit, as one table per engine vocabulary.
// The engine's states are the source of truth; these tables only rename them. Each table is
// total over its engine type (TypeScript checks that), and test/families/alibaba/state-maps
// checks every value against the vendor's documented enum.
//
// Why the choices:
// - ACK GetUpgradeStatus documents status running|pause|fail|success and upgrade_step
//   not_start|prechecking|upgrading|pause|success. An upgrade that waits (scheduled, ready) has
//   been accepted but has not started: status running, step not_start. Cancelled and rolled back
//   upgrades did not reach the new version, so they are "fail" with an explanatory message.
//   The step of a failed/cancelled/rolled-back upgrade is where it stopped: prechecking while
//   still in stage 0 (the precheck), otherwise upgrading.
// - ACK DescribeTaskInfo documents state running|fail|success only; a paused task has not
//   finished, so it is "running" (GetUpgradeStatus and current_stage show the pause).
// - Hologres' Status is "the state of the Airflow DAG that upgrades the instance". We use
//   Airflow's DagRunState vocabulary (queued, running, success, failed) plus the seed's
//   "archived": a finished run that is no longer the newest of its instance.
// - A cancelling upgrade is still at work (it brings the nodes it took out of service back):
//   ACK running/upgrading, Hologres running with StatusCode Cancelling. It has left the
//   upgrade, so its Hologres phase is Finished, as a cancelled one's is.
import type { NodeHealth, StageState, StepAction, StepState, UpgradeState } from '../../../domain/types.ts';

export type AckStatus = 'running' | 'pause' | 'fail' | 'success';
export type AckUpgradeStep = 'not_start' | 'prechecking' | 'upgrading' | 'pause' | 'success';
export type AckTaskStatus = 'running' | 'Success' | 'Failed';
export type AckTaskState = 'running' | 'fail' | 'success';
export type HologresDagStatus = 'queued' | 'running' | 'success' | 'failed' | 'archived';

interface UpgradeRow {
  ack: AckStatus;
  /** null: depends on where the upgrade stopped (see ackUpgradeStep) */
  ackStep: AckUpgradeStep | null;
  ackTask: AckTaskStatus;
  ackTaskState: AckTaskState;
  dag: Exclude<HologresDagStatus, 'archived'>;
  /** Hologres Details.StatusCode when nothing failed */
  statusCode: string;
  /** Hologres Details.UpgradePhase; null: Prepare in stage 0, else Upgrade */
  phase: 'Prepare' | 'Upgrade' | 'Rollback' | 'Finished' | null;
}

export const UPGRADE_STATE_MAP: Record<UpgradeState, UpgradeRow> = {
  scheduled: {
    ack: 'running',
    ackStep: 'not_start',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'queued',
    statusCode: 'Scheduled',
    phase: 'Prepare',
  },
  ready: {
    ack: 'running',
    ackStep: 'not_start',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'queued',
    statusCode: 'Queued',
    phase: 'Prepare',
  },
  prechecking: {
    ack: 'running',
    ackStep: 'prechecking',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'running',
    statusCode: 'Prechecking',
    phase: 'Prepare',
  },
  running: {
    ack: 'running',
    ackStep: 'upgrading',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'running',
    statusCode: 'Upgrading',
    phase: 'Upgrade',
  },
  paused: {
    ack: 'pause',
    ackStep: 'pause',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'running',
    statusCode: 'Paused',
    phase: null,
  },
  succeeded: {
    ack: 'success',
    ackStep: 'success',
    ackTask: 'Success',
    ackTaskState: 'success',
    dag: 'success',
    statusCode: 'Success',
    phase: 'Finished',
  },
  failed: {
    ack: 'fail',
    ackStep: null,
    ackTask: 'Failed',
    ackTaskState: 'fail',
    dag: 'failed',
    statusCode: 'Failed',
    phase: null,
  },
  cancelling: {
    ack: 'running',
    ackStep: 'upgrading',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'running',
    statusCode: 'Cancelling',
    phase: 'Finished',
  },
  cancelled: {
    ack: 'fail',
    ackStep: null,
    ackTask: 'Failed',
    ackTaskState: 'fail',
    dag: 'failed',
    statusCode: 'Cancelled',
    phase: 'Finished',
  },
  rolling_back: {
    ack: 'running',
    ackStep: 'upgrading',
    ackTask: 'running',
    ackTaskState: 'running',
    dag: 'running',
    statusCode: 'RollingBack',
    phase: 'Rollback',
  },
  rolled_back: {
    ack: 'fail',
    ackStep: null,
    ackTask: 'Failed',
    ackTaskState: 'fail',
    dag: 'failed',
    statusCode: 'RolledBack',
    phase: 'Rollback',
  },
};

const FINAL: ReadonlySet<UpgradeState> = new Set(['succeeded', 'cancelled', 'rolled_back']);

export function ackUpgradeStep(state: UpgradeState, currentStage: number): AckUpgradeStep {
  return UPGRADE_STATE_MAP[state].ackStep ?? (currentStage === 0 ? 'prechecking' : 'upgrading');
}

export function hologresDagStatus(state: UpgradeState, newest: boolean): HologresDagStatus {
  return !newest && FINAL.has(state) ? 'archived' : UPGRADE_STATE_MAP[state].dag;
}

export function hologresPhase(state: UpgradeState, currentStage: number): string {
  return UPGRADE_STATE_MAP[state].phase ?? (currentStage === 0 ? 'Prepare' : 'Upgrade');
}

/** ACK DescribeTaskInfo stages[].state (the task vocabulary plus pending and canceled). */
export const ACK_STAGE_STATE: Record<StageState, string> = {
  pending: 'pending',
  running: 'running',
  succeeded: 'success',
  failed: 'fail',
  cancelled: 'canceled',
  rolled_back: 'rolled_back',
};

/** ACK DescribeTaskInfo task_result[].status, documented as success|failed|initial. */
export type AckTaskResultStatus = 'success' | 'failed' | 'initial';

/**
 * Hologres UpgradingSteps[*].Status for one group of steps. The seed shows "Success"; the rest
 * follow its PascalCase: NotStart, Running, Success, Failed, Cancelled.
 */
export type HologresStepStatus = 'NotStart' | 'Running' | 'Success' | 'Failed' | 'Cancelled';

/** How one step state counts when a group of steps is summarised. */
export const STEP_STATE_KIND: Record<StepState, 'pending' | 'running' | 'done' | 'failed' | 'cancelled'> = {
  pending: 'pending',
  running: 'running',
  succeeded: 'done',
  skipped: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
  rolling_back: 'running',
  rolled_back: 'done',
};

/** Summary of a group: any failure wins, then activity, then "all finished", else not started. */
export function summariseSteps(states: StepState[]): HologresStepStatus {
  const kinds = states.map((s) => STEP_STATE_KIND[s]);
  if (kinds.length === 0 || kinds.every((k) => k === 'pending')) return 'NotStart';
  if (kinds.includes('failed')) return 'Failed';
  if (kinds.includes('running')) return 'Running';
  if (kinds.every((k) => k === 'done')) return 'Success';
  if (kinds.includes('cancelled')) return 'Cancelled';
  return 'Running'; // some done, some pending: the group is under way
}

export function ackTaskResult(states: StepState[]): AckTaskResultStatus {
  const s = summariseSteps(states);
  return s === 'Success' ? 'success' : s === 'Failed' || s === 'Cancelled' ? 'failed' : 'initial';
}

/** Which Hologres UpgradingSteps group a step belongs to (Rollback is decided by step state). */
export const HOLOGRES_STEP_GROUP: Record<StepAction, 'Stop' | 'Backup' | 'DoUpgrade' | null> = {
  precheck: null,
  backup: 'Backup',
  drain: 'Stop',
  stop: 'Stop',
  install: 'DoUpgrade',
  start: 'DoUpgrade',
  verify: 'DoUpgrade',
  rejoin: 'DoUpgrade',
  switchover: 'DoUpgrade',
  relocate: 'DoUpgrade',
  finalize: 'DoUpgrade',
  // blue/green: building the new cluster is the upgrade itself
  logical_decoding: 'DoUpgrade',
  provision_green: 'DoUpgrade',
  copy_schema: 'DoUpgrade',
  initial_copy: 'DoUpgrade',
  catch_up: 'DoUpgrade',
  flight_green: 'DoUpgrade',
  cutover: 'DoUpgrade',
  rollback_window: 'DoUpgrade',
  decommission: 'DoUpgrade',
  // judging the upgraded instance is part of the upgrade
  bake: 'DoUpgrade',
  // bringing a node back after a cancel restarts it, as the upgrade's own start does
  restore: 'DoUpgrade',
};

/** Verb of a failed step in a Hologres StatusCode such as the seed's "LeaderRestartFailed". */
export const HOLOGRES_FAILED_VERB: Record<StepAction, string> = {
  precheck: 'Precheck',
  backup: 'Backup',
  drain: 'Drain',
  stop: 'Stop',
  install: 'Install',
  start: 'Restart',
  verify: 'HealthCheck',
  rejoin: 'Rejoin',
  switchover: 'Switchover',
  relocate: 'Relocate',
  finalize: 'Finalize',
  logical_decoding: 'LogicalDecoding',
  provision_green: 'ProvisionGreen',
  copy_schema: 'CopySchema',
  initial_copy: 'InitialCopy',
  catch_up: 'CatchUp',
  flight_green: 'Flighting',
  cutover: 'Cutover',
  rollback_window: 'RollbackWindow',
  decommission: 'Decommission',
  bake: 'Bake',
  restore: 'Restore',
};

/** Hologres instance status for a node's health. */
export const HOLOGRES_NODE_STATUS: Record<NodeHealth, string> = {
  healthy: 'Running',
  unhealthy: 'Unavailable',
  stopped: 'Stopped',
  unknown: 'Unknown',
};

/** ACK DescribeTaskInfo events[].level for an engine event type. */
export function ackEventLevel(type: string): 'Normal' | 'Warning' {
  return /failed|cancel|rolled_back|rollback/.test(type) ? 'Warning' : 'Normal';
}

/** ACK-style reason for an event type: "upgrade.paused" -> "UpgradePaused" (ACK uses PascalCase reasons). */
export function ackEventReason(type: string): string {
  return type
    .split(/[._]/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

/** ACK check status (RunClusterCheck/GetClusterCheck) for a precheck report state. */
export const ACK_CHECK_STATUS: Record<'running' | 'passed' | 'warned' | 'failed' | 'error', 'Running' | 'Succeeded' | 'Failed'> =
  {
    running: 'Running',
    passed: 'Succeeded',
    warned: 'Succeeded',
    failed: 'Failed',
    error: 'Failed',
  };

/** ACK check item level for a finding. */
export const ACK_CHECK_LEVEL: Record<'pass' | 'warn' | 'fail', 'normal' | 'warning' | 'error'> = {
  pass: 'normal',
  warn: 'warning',
  fail: 'error',
};
