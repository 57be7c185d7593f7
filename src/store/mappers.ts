// Row -> domain mappers. Kept apart from both so neither side leaks into the other.
import type {
  CatalogVersion,
  MaintenanceExclusion,
  MaintenanceWindow,
  NodeHealth,
  PrecheckReport,
  Project,
  Stage,
  StageState,
  Step,
  StepAction,
  StepState,
  Target,
  TargetKind,
  TargetNode,
  Upgrade,
  UpgradeEvent,
  UpgradeHold,
  UpgradeMode,
  UpgradeState,
} from '../domain/types.ts';
import type { Selectable } from 'kysely';
import type {
  CatalogVersionRow,
  EventRow,
  NodeRow,
  PrecheckReportRow,
  ProjectRow,
  StageRow,
  StepRow,
  TargetRow,
  UpgradeRow,
} from './schema.ts';

/** What a planned step brings; newStepRow adds the state of a step that has not run. */
export type PlannedStepRow = Pick<
  StepRow,
  'id' | 'upgrade_id' | 'stage_index' | 'lane' | 'ord' | 'seq' | 'action' | 'name' | 'description' | 'node' | 'hop' | 'params'
>;

/** The row of a step not run yet: pending, never claimed, no log, no result. */
export function newStepRow<A extends string>(p: PlannedStepRow & { action: A }): StepRow & { state: 'pending'; action: A } {
  return {
    ...p,
    state: 'pending',
    attempts: 0,
    lease_owner: null,
    lease_expires_at: null,
    started_at: null,
    ended_at: null,
    error: null,
    log: '[]',
    rollback_order: null,
    result: null,
    progress: null,
    fence: 0,
    recoveries: 0,
    not_before: null,
    auto_retries: 0,
  };
}

export function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null || text === '') return fallback;
  return JSON.parse(text) as T;
}

export const toProject = (r: ProjectRow): Project => ({ id: r.id, name: r.name, createdAt: r.created_at });

export const toNode = (r: NodeRow): TargetNode => ({
  name: r.name,
  role: r.role,
  zone: r.zone,
  version: r.version,
  health: r.health as NodeHealth,
  ...(r.host !== null ? { host: r.host } : {}),
  ...(r.port !== null ? { port: r.port } : {}),
  ...(r.engine !== null ? { engine: r.engine } : {}),
  ...(r.shard !== null ? { shard: r.shard } : {}),
});

export const toTarget = (r: Selectable<TargetRow>, nodes: NodeRow[]): Target => ({
  projectId: r.project_id,
  id: r.id,
  name: r.name,
  kind: r.kind as TargetKind,
  engine: r.engine,
  version: r.version,
  release: r.release,
  region: r.region,
  driver: r.driver,
  driverConfig: parseJson(r.driver_config, {}),
  maintenanceWindow: parseJson<MaintenanceWindow | null>(r.maintenance_window, null),
  maintenanceExclusions: parseJson<MaintenanceExclusion[]>(r.maintenance_exclusions, []),
  labels: parseJson<Record<string, string>>(r.labels, {}),
  nodes: [...nodes].sort((a, b) => a.ord - b.ord).map(toNode),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const toCatalogVersion = (r: CatalogVersionRow): CatalogVersion => ({
  engine: r.engine,
  version: r.version,
  release: r.release,
  imageId: r.image_id,
  displayName: r.display_name,
  description: r.description,
  priority: r.priority,
  upgradableFrom: parseJson(r.upgradable_from, []),
  barrier: Boolean(r.barrier),
  deprecated: Boolean(r.deprecated),
  createdAt: r.created_at,
});

export const toUpgrade = (r: Selectable<UpgradeRow>): Upgrade & { num: number } => ({
  id: r.id,
  num: r.num,
  projectId: r.project_id,
  targetId: r.target_id,
  fromEngine: r.from_engine,
  toEngine: r.to_engine,
  fromVersion: r.from_version,
  toVersion: r.to_version,
  release: r.release,
  mode: r.mode as UpgradeMode,
  state: r.state as UpgradeState,
  currentStage: r.current_stage,
  stageCount: r.stage_count,
  hops: parseJson(r.hops, []),
  force: Boolean(r.force),
  options: parseJson(r.options, {}),
  schedule: parseJson(r.schedule, { kind: 'now' }),
  notBefore: r.not_before,
  batchId: r.batch_id,
  precheckReportId: r.precheck_report_id,
  error: r.error,
  errorCode: r.error_code,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  retries: r.retries,
  pendingReason: r.pending_reason,
  hold: r.hold as UpgradeHold | null,
  runUntil: r.run_until,
  waveIndex: r.wave_index,
});

export const toStage = (r: StageRow): Stage => ({
  upgradeId: r.upgrade_id,
  index: r.idx,
  name: r.name,
  description: r.description,
  state: r.state as StageState,
  startedAt: r.started_at,
  endedAt: r.ended_at,
});

export const toStep = (r: StepRow): Step => ({
  id: r.id,
  upgradeId: r.upgrade_id,
  stageIndex: r.stage_index,
  lane: r.lane,
  ord: r.ord,
  seq: r.seq,
  action: r.action as StepAction,
  name: r.name,
  description: r.description,
  node: r.node,
  hop: r.hop,
  params: parseJson(r.params, {}),
  state: r.state as StepState,
  attempts: r.attempts,
  leaseOwner: r.lease_owner,
  leaseExpiresAt: r.lease_expires_at,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  error: r.error,
  log: parseJson(r.log, []),
  result: parseJson(r.result, null),
  progress: parseJson(r.progress, null),
  fence: r.fence,
  recoveries: r.recoveries,
  notBefore: r.not_before,
  autoRetries: r.auto_retries,
});

export const toReport = (r: PrecheckReportRow): PrecheckReport => ({
  id: r.id,
  projectId: r.project_id,
  targetId: r.target_id,
  upgradeId: r.upgrade_id,
  toVersion: r.to_version,
  state: r.state as PrecheckReport['state'],
  items: parseJson(r.items, []),
  flighting: parseJson(r.flighting, null),
  estimate: parseJson(r.estimate, null),
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

export const toEvent = (r: Selectable<EventRow>): UpgradeEvent => ({
  id: r.id,
  projectId: r.project_id,
  targetId: r.target_id,
  upgradeId: r.upgrade_id,
  stepId: r.step_id,
  actor: r.actor,
  type: r.type,
  fromState: r.from_state,
  toState: r.to_state,
  message: r.message,
  data: parseJson(r.data, {}),
  createdAt: r.created_at,
});
