// Domain types: camelCase shapes the service layer, planner, executor and drivers share.
// Row types (snake_case, one per table) live in src/store/schema.ts; mappers turn one into the other.

export const TARGET_KINDS = ['cluster', 'instance'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const NODE_HEALTHS = ['healthy', 'unhealthy', 'stopped', 'unknown'] as const;
export type NodeHealth = (typeof NODE_HEALTHS)[number];

/**
 * Roles of tokens and access keys, least first (src/service/roles.ts says what each may do):
 * viewer reads, operator acts on upgrades, admin manages credentials and targets.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const WEEK_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type WeekDay = (typeof WEEK_DAYS)[number];

/** The original form: every day, "HH:MM"-"HH:MM" in UTC; may wrap past midnight (22:00-02:00). */
export interface DailyWindow {
  start: string;
  end: string;
}

/** A weekly window in a time zone: opens at `start` (wall clock) on each day, for a duration. */
export interface WeeklyWindow {
  days: WeekDay[];
  start: string;
  durationMinutes: number;
  /** IANA zone, e.g. "Asia/Shanghai" */
  timeZone: string;
}

export type MaintenanceWindow = DailyWindow | WeeklyWindow;

/** A period in which no upgrade of the target starts or continues (a change freeze). */
export interface MaintenanceExclusion {
  from: string;
  to: string;
  reason?: string;
}

/** an executor (one Liftgate process): running, stopped (ended cleanly) or lost (its heartbeat stopped) */
export const EXECUTOR_STATES = ['running', 'stopped', 'lost'] as const;
export type ExecutorState = (typeof EXECUTOR_STATES)[number];

/** the faults the sim driver can inject (POST .../targets/{t}/faults) */
/**
 * regress: the step runs and succeeds, then sets an SLI value on its node (params sli, value), so
 * an analysis check sees the target regress after its upgrade; a rollback of the step clears it
 */
export const SIM_FAULT_KINDS = ['fail', 'hang', 'crash', 'health_timeout', 'rollback_fail', 'regress'] as const;
export type SimFaultKind = (typeof SIM_FAULT_KINDS)[number];

export interface Project {
  id: string;
  name: string;
  createdAt: string;
}

export interface TargetNode {
  name: string;
  role: string;
  zone: string;
  version: string;
  health: NodeHealth;
  host?: string;
  port?: number;
  /** the engine the node runs when a route changes it (a Redis node on its way to Valkey) */
  engine?: string;
  /** the shard the node belongs to (a Redis Cluster): a failover stays inside its shard */
  shard?: string;
}

export interface Target {
  projectId: string;
  id: string;
  name: string;
  kind: TargetKind;
  engine: string;
  version: string;
  release: string;
  region: string;
  driver: string;
  driverConfig: Record<string, unknown>;
  maintenanceWindow: MaintenanceWindow | null;
  maintenanceExclusions: MaintenanceExclusion[];
  labels: Record<string, string>;
  nodes: TargetNode[];
  createdAt: string;
  updatedAt: string;
}

export interface CatalogVersion {
  engine: string;
  version: string;
  release: string;
  imageId: string;
  displayName: string;
  description: string;
  priority: number;
  /** versions that may upgrade straight to this one; empty = any older version */
  upgradableFrom: string[];
  /** a barrier version may not be skipped: every route from below it must stop on it */
  barrier: boolean;
  deprecated: boolean;
  createdAt: string;
}

/** the operator actions on an upgrade (the engine's operations.ts says what each may do) */
export const UPGRADE_ACTIONS = ['pause', 'resume', 'cancel', 'retry', 'rollback', 'skip', 'finalize'] as const;
export type UpgradeAction = (typeof UPGRADE_ACTIONS)[number];

/**
 * rolling: node by node in place; stop_service: every node at once; az_migration: nodes move to
 * another zone; blue_green: a new cluster on the new version is built beside the old one, kept in
 * step by replication, and traffic is switched to it (with a way back for a rollback window)
 */
export const UPGRADE_MODES = ['rolling', 'stop_service', 'az_migration', 'blue_green'] as const;
export type UpgradeMode = (typeof UPGRADE_MODES)[number];

/** every upgrade state; the one list that schemas, mapping tables and their tests share */
export const UPGRADE_STATES = [
  'scheduled',
  'ready',
  'prechecking',
  'running',
  'paused',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
  'rolling_back',
  'rolled_back',
] as const;
export type UpgradeState = (typeof UPGRADE_STATES)[number];

export const ACTIVE_UPGRADE_STATES: readonly UpgradeState[] = [
  'scheduled',
  'ready',
  'prechecking',
  'running',
  'paused',
  'failed',
  'cancelling',
  'rolling_back',
];
export const FINAL_UPGRADE_STATES: readonly UpgradeState[] = ['succeeded', 'cancelled', 'rolled_back'];
/** the states in which an upgrade's steps run: it moves by itself */
export const MOVING_UPGRADE_STATES: readonly UpgradeState[] = ['running', 'prechecking', 'rolling_back', 'cancelling'];
/**
 * The states in which an upgrade does nothing more by itself: the final ones and `failed`, which
 * waits for an operator (retry, skip, rollback). A watch (the CLI's --watch) ends in them.
 */
export const SETTLED_UPGRADE_STATES: readonly UpgradeState[] = [...FINAL_UPGRADE_STATES, 'failed'];

/**
 * Batch states (a wave takes the batch's state while it is the current wave):
 *   creating           its upgrades are being created (held); never scheduled from here
 *   scheduled          waiting for its start (schedule "at"), or not yet looked at
 *   running            the current wave releases its upgrades, up to maxConcurrency at once
 *   baking             the current wave is done; wait bakeMinutes, then health-check its targets
 *   awaiting_approval  the next wave has approval: true; waits for the "approve" action
 *   paused             an operator paused it: nothing new starts, running upgrades pause too
 *   halted             failed targets reached the failure threshold: nothing new starts
 *   succeeded | failed | cancelled   final (failed: some target failed below the threshold)
 */
export const BATCH_STATES = [
  'creating',
  'scheduled',
  'running',
  'baking',
  'awaiting_approval',
  'paused',
  'halted',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type BatchState = (typeof BATCH_STATES)[number];
export const ACTIVE_BATCH_STATES: readonly BatchState[] = ['scheduled', 'running', 'baking', 'awaiting_approval'];
export const FINAL_BATCH_STATES: readonly BatchState[] = ['succeeded', 'failed', 'cancelled'];

/** A wave's states: the batch's, but never `creating` (waves are written with their batch, `scheduled`). */
export const WAVE_STATES = BATCH_STATES.filter((s) => s !== 'creating') as readonly Exclude<BatchState, 'creating'>[];
export type WaveState = Exclude<BatchState, 'creating'>;

export const BATCH_ACTIONS = ['pause', 'resume', 'cancel', 'retry', 'approve'] as const;
export type BatchAction = (typeof BATCH_ACTIONS)[number];

export const STEP_STATES = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  'rolling_back',
  'rolled_back',
] as const;
export type StepState = (typeof STEP_STATES)[number];

export const STAGE_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'rolled_back'] as const;
export type StageState = (typeof STAGE_STATES)[number];

/** What a step does; drivers implement each action. */
export const STEP_ACTIONS = [
  'precheck',
  'backup',
  'drain',
  'stop',
  'install',
  'start',
  'verify',
  'rejoin',
  'switchover',
  'relocate',
  'finalize',
  // blue/green (mode blue_green): a second cluster on the new version, then a switch of traffic
  'logical_decoding',
  'provision_green',
  'copy_schema',
  'initial_copy',
  'catch_up',
  'flight_green',
  'cutover',
  'rollback_window',
  'decommission',
  // a lone upgrade with options.analysis: the executor itself bakes it and samples its checks
  'bake',
  // not planned: added when a cancel finds a node out of service (src/engine/core/cancel.ts)
  'restore',
] as const;
export type StepAction = (typeof STEP_ACTIONS)[number];

export interface Hop {
  fromVersion: string;
  toVersion: string;
  release: string;
  /** set on a hop that changes the engine (Redis 7.0.15 -> Valkey 8.0.1): the engines on either side */
  fromEngine?: string;
  toEngine?: string;
}

export interface Step {
  id: string;
  upgradeId: string;
  stageIndex: number;
  /** steps of one lane run in order; lanes of one stage run in parallel */
  lane: string;
  ord: number;
  /** order across the whole upgrade, used for display and for rollback order */
  seq: number;
  action: StepAction;
  name: string;
  description: string;
  /** node name, or null for a target-level step */
  node: string | null;
  hop: number;
  params: Record<string, unknown>;
  state: StepState;
  attempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  log: string[];
  /** what the driver reported when the step succeeded (e.g. a switchover's write outage) */
  result: Record<string, unknown> | null;
  /** what the driver reports while the step runs (a data copy's bytes done of total, rate, estimate) */
  progress: Record<string, unknown> | null;
  /** fencing token: incremented by every claim; the holder's writes must name it */
  fence: number;
  /** how often recovery took the step back from a holder that died */
  recoveries: number;
  /** pending after a transient failure: not run again before this time (its backoff) */
  notBefore: string | null;
  /** how often it was retried by itself after a transient failure since an operator last started it */
  autoRetries: number;
}

export interface Stage {
  upgradeId: string;
  index: number;
  name: string;
  description: string;
  state: StageState;
  startedAt: string | null;
  endedAt: string | null;
}

/** now | window (the target's maintenance window) | at (a given time) */
export const SCHEDULE_KINDS = ['now', 'window', 'at'] as const;

export interface UpgradeSchedule {
  kind: (typeof SCHEDULE_KINDS)[number];
  at?: string;
}

export interface Upgrade {
  id: string;
  projectId: string;
  targetId: string;
  /** the target's engine when the upgrade was requested, and the engine it ends on (a route may change it) */
  fromEngine: string | null;
  toEngine: string | null;
  fromVersion: string;
  toVersion: string;
  release: string;
  mode: UpgradeMode;
  state: UpgradeState;
  currentStage: number;
  stageCount: number;
  hops: Hop[];
  force: boolean;
  options: Record<string, unknown>;
  schedule: UpgradeSchedule;
  notBefore: string | null;
  batchId: string | null;
  precheckReportId: string | null;
  error: string | null;
  errorCode: string | null;
  createdBy: string;
  /** the name of the credential that created it, when known */
  createdByName?: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** how many times an operator retried the upgrade (CSS executeTimes - 1) */
  retries: number;
  /** why it is not running now, in words ("waiting for window Sat 02:00 Asia/Shanghai (opens in 3h12m)") */
  pendingReason: string | null;
  /** what holds it besides an operator: its batch (not released yet) or a closed window */
  hold: UpgradeHold | null;
  /** no new step starts at or after this time (its window or an exclusion closes then) */
  runUntil: string | null;
  /** its wave, when it belongs to a batch */
  waveIndex: number | null;
}

export type UpgradeHold = 'batch' | 'window';

export const FINDING_STATUSES = ['pass', 'warn', 'fail'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

/** a precheck report: running, then passed, warned (some warn), failed (some fail) or error */
export const PRECHECK_STATES = ['running', 'passed', 'warned', 'failed', 'error'] as const;
export type PrecheckState = (typeof PRECHECK_STATES)[number];

export interface PrecheckItem {
  name: string;
  status: FindingStatus;
  message: string;
  node?: string;
  /** zone -> node names before and after (the zone_layout item of an AZ migration) */
  zones?: { before: Record<string, string[]>; after: Record<string, string[]> };
  /** false: a failure that `force` does not run past (a zone layout that would collapse zones) */
  forceable?: false;
}

export interface FlightingStat {
  totalExecuted: number;
  exceptions: number;
  incorrect: number;
  slow: number;
  dqlSpeedup: number;
  details?: { statement: string; kind: 'exception' | 'incorrect' | 'slow'; message: string }[];
}

export interface PhaseEstimate {
  stopInstanceSeconds: number;
  backupDataSeconds: number;
  upgradeInstanceSeconds: number;
}

export interface PrecheckReport {
  id: string;
  projectId: string;
  targetId: string;
  upgradeId: string | null;
  toVersion: string;
  state: PrecheckState;
  items: PrecheckItem[];
  flighting: FlightingStat | null;
  estimate: PhaseEstimate | null;
  createdAt: string;
  finishedAt: string | null;
}

/** a webhook delivery: pending (to be tried, or retried), delivered, failed (gave up) */
export const WEBHOOK_DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryState = (typeof WEBHOOK_DELIVERY_STATES)[number];

export interface UpgradeEvent {
  id: number;
  projectId: string;
  targetId: string | null;
  upgradeId: string | null;
  stepId: string | null;
  actor: string;
  /** the name of the credential that acted, when the actor is one still known (src/service/actor-names.ts) */
  actorName?: string;
  type: string;
  fromState: string | null;
  toState: string | null;
  message: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** An upgrade's short reference, the one name the console, the CLI and the API all show: "up-12". */
export const upgradeRef = (num: number): string => `up-${num}`;

/**
 * Service-level indicators a driver measures on a target (Driver.slis), judged by analysis checks
 * (`{"sli": "replication_lag_seconds", "max": 5}`): the largest replication lag of its replicas in
 * seconds, transactions rolled back and recovery conflicts per second, and connection attempts
 * refused since the last sample.
 */
export const SLI_NAMES = ['replication_lag_seconds', 'rollback_rate', 'conflict_rate', 'failed_connections'] as const;
export type SliName = (typeof SLI_NAMES)[number];
