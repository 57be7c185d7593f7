// Row types: one interface per table, snake_case, mirroring the migrations.
// Times are ISO-8601 UTC strings (they sort as text in both dialects); JSON is stored as text.
import type { Generated, Kysely, Transaction } from 'kysely';

export interface ProjectRow {
  id: string;
  name: string;
  created_at: string;
}

export interface TargetRow {
  project_id: string;
  id: string;
  name: string;
  kind: string;
  engine: string;
  version: string;
  release: string;
  region: string;
  driver: string;
  driver_config: string;
  maintenance_window: string | null;
  /** JSON object of key/value labels (migration 007; target_labels indexes them) */
  labels: Generated<string>;
  /** JSON list of exclusions (migration 007) */
  maintenance_exclusions: string | null;
  created_at: string;
  updated_at: string;
}

export interface NodeRow {
  project_id: string;
  target_id: string;
  name: string;
  ord: number;
  role: string;
  zone: string;
  version: string;
  health: string;
  host: string | null;
  port: number | null;
  engine: string | null;
  shard: string | null;
}

export interface CatalogVersionRow {
  engine: string;
  version: string;
  release: string;
  image_id: string;
  display_name: string;
  description: string;
  priority: number;
  upgradable_from: string;
  barrier: number;
  deprecated: number;
  created_at: string;
}

export interface UpgradeRow {
  id: string;
  num: Generated<number>;
  project_id: string;
  target_id: string;
  from_version: string;
  to_version: string;
  from_engine: string | null;
  to_engine: string | null;
  release: string;
  mode: string;
  state: string;
  current_stage: number;
  stage_count: number;
  hops: string;
  force: number;
  options: string;
  schedule: string;
  not_before: string | null;
  batch_id: string | null;
  precheck_report_id: string | null;
  error: string | null;
  error_code: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  ended_at: string | null;
  retries: number;
  /** why it is not running now, for people (migration 007) */
  pending_reason: Generated<string | null>;
  /** why the system (not an operator) holds it: 'batch' (not released yet), 'window' (closed) */
  hold: Generated<string | null>;
  /** no new step starts at or after this instant (its window or an exclusion closes) */
  run_until: Generated<string | null>;
  /** the wave of its batch */
  wave_index: Generated<number | null>;
}

export interface StageRow {
  upgrade_id: string;
  idx: number;
  name: string;
  description: string;
  state: string;
  started_at: string | null;
  ended_at: string | null;
}

export interface StepRow {
  id: string;
  upgrade_id: string;
  stage_index: number;
  lane: string;
  ord: number;
  seq: number;
  action: string;
  name: string;
  description: string;
  node: string | null;
  hop: number;
  params: string;
  state: string;
  attempts: number;
  lease_owner: string | null;
  lease_expires_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  error: string | null;
  log: string;
  rollback_order: number | null;
  /** JSON of the driver's StepResult.data (migration 003) */
  result: string | null;
  progress: string | null;
  /** incremented by every claim; later writes of the step check it (migration 004) */
  fence: number;
  /** how often recovery took the step back from a dead holder (migration 004) */
  recoveries: number;
  /** a step waiting to be retried after a transient failure is not claimed before this (migration 017) */
  not_before: string | null;
  /** retries after transient failures since an operator last started the step (migration 017) */
  auto_retries: number;
}

export interface PrecheckReportRow {
  id: string;
  project_id: string;
  target_id: string;
  upgrade_id: string | null;
  to_version: string;
  state: string;
  items: string;
  flighting: string | null;
  estimate: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface BatchRow {
  id: string;
  project_id: string;
  source: string;
  request: string;
  state: string;
  created_at: string;
  // migration 007
  name: string | null;
  /** 'rollout' (native waves) or 'gaussdb' (the GaussDB batch: one wave, all at once) */
  kind: string | null;
  /** JSON of the validated request (waves as given) */
  spec: string | null;
  schedule: string | null;
  not_before: string | null;
  paused_from: string | null;
  pending_reason: string | null;
  updated_at: string | null;
  ended_at: string | null;
  current_wave: number | null;
  failure_limit: number | null;
  target_count: number | null;
}

export interface BatchWaveRow {
  batch_id: string;
  idx: number;
  name: string;
  target_count: number;
  max_concurrency: number;
  bake_seconds: number;
  approval: number;
  state: string;
  started_at: string | null;
  ended_at: string | null;
  bake_until: string | null;
  approved_by: string | null;
  /** JSON list of target ids found unhealthy at the end of the bake */
  health_failures: Generated<string>;
  /** JSON list of the wave's analysis checks with each one's last sample (src/domain/analysis.ts) */
  analysis: Generated<string>;
  /** JSON list of the targets its analysis checks failed ({target, check, reason, rolledBack}) */
  analysis_failures: Generated<string>;
}

export interface TargetLabelRow {
  project_id: string;
  target_id: string;
  key: string;
  value: string;
}

export interface EventRow {
  id: Generated<number>;
  project_id: string;
  target_id: string | null;
  upgrade_id: string | null;
  step_id: string | null;
  actor: string;
  type: string;
  from_state: string | null;
  to_state: string | null;
  message: string;
  data: string;
  created_at: string;
}

export interface ApiTokenRow {
  id: string;
  project_id: string | null;
  kind: string;
  name: string;
  token_hash: string;
  created_at: string;
  /** viewer | operator | admin (migration 006) */
  role: string;
  expires_at: string | null;
  /** the actor that minted it; null for tokens from before 006 and the bootstrap admin token */
  created_by: string | null;
  /** when its secret was last replaced (admin tokens, migration 014) */
  rotated_at: string | null;
}

/**
 * A secret an admin token no longer has (revoked, or replaced by a rotation), kept so that a
 * start with LIFTGATE_ADMIN_TOKEN still set to it is refused instead of registering it again
 * (migration 014).
 */
export interface RetiredAdminTokenRow {
  token_hash: string;
  token_id: string;
  /** revoked | rotated */
  reason: string;
  retired_at: string;
  retired_by: string;
}

/** When a token's current secret was last used, recorded coarsely (migration 014). */
export interface TokenUseRow {
  token_hash: string;
  last_used_at: string;
}

export interface AccessKeyRow {
  id: string;
  project_id: string;
  secret_enc: string;
  created_at: string;
  /** viewer | operator | admin (migration 006) */
  role: string;
  expires_at: string | null;
  created_by: string | null;
  name: string | null;
}

export interface SecretRow {
  name: string;
  value: string;
  created_at: string;
}

export interface TargetCredentialRow {
  project_id: string;
  target_id: string;
  kind: string;
  secret_hash: string;
  created_at: string;
}

/** The port each OBShell cluster is served on (migration 012). */
export interface ObshellAgentRow {
  project_id: string;
  target_id: string;
  port: number;
  created_at: string;
}

export interface ReplayNonceRow {
  key: string;
  expires_at: number;
}

export interface RateLimitCounterRow {
  key: string;
  hits: number;
  window_ends_at: number;
}

/** One registered executor (migration 005). state: running | stopped | lost */
export interface ExecutorRow {
  id: string;
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  /** grows with every heartbeat; liveness is judged by seeing it change */
  beats: number;
  state: string;
  ended_at: string | null;
}

/** The holder of one housekeeping role (migration 005); term grows with each new holder. */
export interface LeaderLeaseRow {
  name: string;
  holder: string;
  term: number;
  beats: number;
  renewed_at: string;
}

/** A consumer's position in the events table (migration 008). */
export interface EventCursorRow {
  name: string;
  last_id: number;
  updated_at: string;
}

/** One finished step's duration, the samples of the duration model (migration 008). */
export interface StepDurationRow {
  id: Generated<number>;
  step_id: string;
  engine: string;
  driver: string;
  action: string;
  role: string;
  seconds: number;
  ended_at: string;
}

/** The estimate made when an upgrade or batch started, and its error once it ended (migration 008). */
export interface EstimateRecordRow {
  subject_id: string;
  kind: string;
  project_id: string;
  engine: string;
  started_at: string;
  predicted_seconds: number;
  basis: string;
  actual_seconds: number | null;
  abs_error_pct: number | null;
  outcome: string | null;
  ended_at: string | null;
}

/** Per project, the highest event id event retention deleted (migration 011). */
export interface EventRetentionRow {
  project_id: string;
  pruned_through: number;
  pruned_at: string;
}

export interface WebhookRow {
  id: string;
  project_id: string;
  url: string;
  /** JSON array of patterns ("upgrade.*") */
  events: string;
  secret_enc: string;
  created_by: string;
  created_at: string;
}

/** The outbox: one row per (webhook, event), leased by the delivery worker (migration 008). */
export interface WebhookDeliveryRow {
  id: string;
  webhook_id: string;
  project_id: string;
  event_id: number;
  event_type: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt_at: string;
  give_up_at: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_status: number | null;
  last_error: string | null;
  /** JSON array of attempts: {at, status, error, ms} */
  log: string;
  created_at: string;
  delivered_at: string | null;
}

/** The store's tables. A driver's own tables are not here: the driver declares them (src/drivers/sim/tables.ts). */
export interface Database {
  projects: ProjectRow;
  targets: TargetRow;
  nodes: NodeRow;
  catalog_versions: CatalogVersionRow;
  upgrades: UpgradeRow;
  stages: StageRow;
  steps: StepRow;
  precheck_reports: PrecheckReportRow;
  batches: BatchRow;
  batch_waves: BatchWaveRow;
  target_labels: TargetLabelRow;
  events: EventRow;
  api_tokens: ApiTokenRow;
  retired_admin_tokens: RetiredAdminTokenRow;
  token_uses: TokenUseRow;
  access_keys: AccessKeyRow;
  secrets: SecretRow;
  target_credentials: TargetCredentialRow;
  obshell_agents: ObshellAgentRow;
  replay_nonces: ReplayNonceRow;
  rate_limit_counters: RateLimitCounterRow;
  executors: ExecutorRow;
  leader_leases: LeaderLeaseRow;
  event_cursors: EventCursorRow;
  event_retention: EventRetentionRow;
  step_durations: StepDurationRow;
  estimate_records: EstimateRecordRow;
  webhooks: WebhookRow;
  webhook_deliveries: WebhookDeliveryRow;
}

/** A handle every writer takes: the store's Kysely or a transaction of it. */
export type Db = Kysely<Database> | Transaction<Database>;
