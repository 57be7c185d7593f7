// Row types: one interface per table, snake_case, mirroring the migrations.
// Times are ISO-8601 UTC strings (they sort as text in both dialects); JSON is stored as text.
import type { Generated } from 'kysely';

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
}

export interface AccessKeyRow {
  id: string;
  project_id: string;
  secret_enc: string;
  created_at: string;
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

export interface ReplayNonceRow {
  key: string;
  expires_at: number;
}

export interface SimNodeRow {
  project_id: string;
  target_id: string;
  node: string;
  version: string;
  running: number;
  health: string;
  zone: string;
  role: string;
  lag_ms: number;
  disk_free_pct: number;
  updated_at: string;
}

export interface SimEffectRow {
  id: Generated<number>;
  step_id: string;
  project_id: string;
  target_id: string;
  node: string | null;
  action: string;
  effect: string;
  created_at: string;
}

export interface SimFaultRow {
  id: string;
  project_id: string;
  target_id: string;
  node: string | null;
  step: string;
  kind: string;
  times_left: number;
  created_at: string;
}

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
  events: EventRow;
  api_tokens: ApiTokenRow;
  access_keys: AccessKeyRow;
  secrets: SecretRow;
  target_credentials: TargetCredentialRow;
  replay_nonces: ReplayNonceRow;
  sim_nodes: SimNodeRow;
  sim_effects: SimEffectRow;
  sim_faults: SimFaultRow;
}
