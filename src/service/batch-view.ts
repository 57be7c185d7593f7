// What a batch looks like to its readers: waves with counts per state, the current wave, the bake
// timer, failures against the threshold; and the pending reason of an upgrade its batch holds.
import type { Selectable } from 'kysely';
import { AppError } from '../domain/errors.ts';
import type { SliName, Upgrade, UpgradeMode, UpgradeSchedule } from '../domain/types.ts';
import { formatDuration } from '../domain/window.ts';
import type { AnalysisCheck, AnalysisOnError } from '../domain/analysis.ts';
import { activeInWave, analysisFailuresOf, analysisOf, failuresOf, loadWaves, waveCounts } from '../engine/batch-scheduler.ts';
import type { BatchAction, BatchState, WaveState } from '../domain/types.ts';
import { allowedBatchActions } from '../engine/core/table.ts';
import { gateAt } from '../engine/windows.ts';
import type { BatchRow } from '../store/schema.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { AppContext } from './app-context.ts';
import { batchRestores, type RestoreView } from './restores.ts';

export interface WaveView {
  index: number;
  name: string;
  state: WaveState;
  targets: number;
  maxConcurrency: number;
  bakeMinutes: number;
  approval: boolean;
  approvedBy: string | null;
  startedAt: string | null;
  endedAt: string | null;
  bakeUntil: string | null;
  /** upgrades of the wave per upgrade state */
  counts: Record<string, number>;
  /** targets found unhealthy at the end of the bake */
  healthFailures: string[];
  /** its analysis checks with each one's last sample */
  analysis: AnalysisView[];
  /** targets its analysis checks failed */
  analysisFailures: { target: string; check: string; reason: string; rolledBack: boolean }[];
}

export interface AnalysisView {
  name: string;
  kind: 'prometheus' | 'sli';
  url: string | null;
  query: string | null;
  sli: SliName | null;
  min: number | null;
  max: number | null;
  onError: AnalysisOnError;
  intervalSeconds: number;
  /** pending until its first sample */
  outcome: 'pending' | 'pass' | 'fail' | 'error';
  lastValue: number | null;
  lastAt: string | null;
  reason: string | null;
}

export interface BatchView {
  id: string;
  projectId: string;
  name: string;
  kind: string;
  source: string;
  state: BatchState;
  /** the operator actions the current state allows (pause, resume, ...) */
  allowedActions: BatchAction[];
  pendingReason: string | null;
  mode: UpgradeMode;
  toVersions: string[];
  schedule: UpgradeSchedule;
  notBefore: string | null;
  targets: number;
  failures: number;
  failureLimit: number;
  currentWave: number | null;
  waves: WaveView[];
  bake: { wave: number; until: string; remainingSeconds: number } | null;
  /** the forecast of its end (null when paused, halted or ended): src/estimates/batch-forecast.ts */
  estimate: null | { completesAt: string; remainingSeconds: number; basis: string };
  createdAt: string;
  updatedAt: string | null;
  endedAt: string | null;
  /**
   * a cancelled batch: what the cancel did on each node its upgrades had left out of service
   * (the restore steps, src/engine/core/cancel.ts); empty for other states
   */
  restores: RestoreView[];
}

export async function loadBatch(ctx: AppContext, projectId: string, id: string): Promise<Selectable<BatchRow>> {
  const b = await ctx.store.db
    .selectFrom('batches')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (!b) throw new AppError('BATCH_NOT_FOUND', `batch ${id} does not exist in project ${projectId}`);
  return b;
}

export async function getBatch(ctx: AppContext, projectId: string, id: string): Promise<BatchView> {
  return presentBatch(ctx, await loadBatch(ctx, projectId, id));
}

export async function presentBatch(ctx: AppContext, b: Selectable<BatchRow>): Promise<BatchView> {
  const db = ctx.store.db;
  const now = ctx.clock.now();
  const waves = await loadWaves(db, b.id);
  const counts = await waveCounts(db, b.id);
  const spec = JSON.parse(b.spec ?? '{}') as { mode?: string; toVersions?: string[] };
  const state = b.state as BatchState;
  const cur = b.current_wave;
  const failures = failuresOf(counts, waves);
  const unhealthy = waves.some((w) => w.health_failures !== '[]');
  const curWave = cur !== null ? waves[cur] : undefined;
  const bake =
    state === 'baking' && curWave?.bake_until
      ? {
          wave: curWave.idx,
          until: curWave.bake_until,
          remainingSeconds: Math.max(0, Math.round((Date.parse(curWave.bake_until) - now.getTime()) / 1000)),
        }
      : null;
  return {
    id: b.id,
    projectId: b.project_id,
    name: b.name ?? b.id,
    kind: b.kind ?? 'gaussdb',
    source: b.source,
    state,
    allowedActions: allowedBatchActions(state, failures > 0 || unhealthy),
    pendingReason: batchReason(b, waves[cur ?? 0]?.name, now, counts),
    mode: (spec.mode ?? 'rolling') as UpgradeMode,
    toVersions: spec.toVersions ?? [],
    schedule: JSON.parse(b.schedule ?? '{"kind":"now"}') as UpgradeSchedule,
    notBefore: b.not_before,
    targets: b.target_count ?? 0,
    failures,
    failureLimit: b.failure_limit ?? 1,
    currentWave: cur,
    waves: waves.map((w) => ({
      index: w.idx,
      name: w.name,
      state: w.state as WaveState,
      targets: w.target_count,
      maxConcurrency: w.max_concurrency,
      bakeMinutes: w.bake_seconds / 60,
      approval: w.approval === 1,
      approvedBy: w.approved_by,
      startedAt: w.started_at,
      endedAt: w.ended_at,
      bakeUntil: w.bake_until,
      counts: counts.get(w.idx)?.byState ?? {},
      healthFailures: JSON.parse(w.health_failures) as string[],
      analysis: analysisOf(w).map(analysisView),
      analysisFailures: analysisFailuresOf(w),
    })),
    bake,
    estimate: (await ctx.estimates.forBatch(b))?.estimate ?? null,
    createdAt: b.created_at,
    updatedAt: b.updated_at,
    endedAt: b.ended_at,
    restores: state === 'cancelled' ? await batchRestores(db, b.id) : [],
  };
}

function analysisView(c: AnalysisCheck): AnalysisView {
  const src = c.source;
  return {
    name: c.name,
    kind: src.kind,
    url: src.kind === 'prometheus' ? src.url : null,
    query: src.kind === 'prometheus' ? src.query : null,
    sli: src.kind === 'sli' ? src.sli : null,
    min: c.min,
    max: c.max,
    onError: c.onError,
    intervalSeconds: c.intervalSeconds,
    outcome: c.last?.outcome ?? 'pending',
    lastValue: c.last?.value ?? null,
    lastAt: c.last?.at ?? null,
    reason: c.last?.reason ?? null,
  };
}

function batchReason(
  b: Selectable<BatchRow>,
  waveName: string | undefined,
  now: Date,
  counts: Map<number, { byState: Record<string, number> }>,
): string | null {
  switch (b.state) {
    case 'cancelled': {
      if (b.ended_at) return null;
      const n = [...counts.values()].reduce((sum, c) => sum + (c.byState.cancelling ?? 0), 0);
      return n > 0 ? `cancelling: ${n} upgrade(s) bringing their nodes back into service` : 'cancelling its upgrades';
    }
    case 'scheduled':
      return b.not_before && Date.parse(b.not_before) > now.getTime()
        ? `starts at ${b.not_before} (in ${formatDuration(Date.parse(b.not_before) - now.getTime())})`
        : 'starting';
    case 'paused':
      // an analysis check that could not be evaluated paused it with its reason
      return b.pending_reason ?? `paused by an operator (was ${b.paused_from ?? 'running'})`;
    case 'awaiting_approval':
      return `awaiting approval of wave ${waveName ?? ''}`;
    case 'halted':
    case 'baking':
      return b.pending_reason;
    default:
      return null;
  }
}

export async function listBatches(ctx: AppContext, projectId: string, f: { limit?: number; offset?: number } = {}) {
  const q = ctx.store.db.selectFrom('batches').where('project_id', '=', projectId).where('kind', 'is not', null);
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await q
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(f.limit ?? 50)
    .offset(f.offset ?? 0)
    .execute();
  const items: BatchView[] = [];
  for (const r of rows) items.push(await presentBatch(ctx, r));
  return { items, total };
}

/** Why an upgrade held by its batch has not been released, as of now. */
export async function heldReason(ctx: AppContext, u: Upgrade): Promise<string | null> {
  if (!u.batchId) return u.pendingReason;
  const db = ctx.store.db;
  const b = await db.selectFrom('batches').selectAll().where('id', '=', u.batchId).executeTakeFirst();
  if (!b) return u.pendingReason;
  const now = ctx.clock.now();
  const waves = await loadWaves(db, b.id);
  const mine = waves[u.waveIndex ?? 0];
  const cur = b.current_wave ?? 0;
  const curWave = waves[cur];
  const wave = mine ? `wave ${mine.name} (${mine.idx + 1} of ${waves.length})` : 'its wave';
  switch (b.state) {
    case 'creating':
      return 'its batch is being created';
    case 'scheduled':
      return `waiting for its batch to start: ${batchReason(b, undefined, now, new Map())}`;
    case 'paused':
      return `its batch ${b.name ?? b.id} is paused`;
    case 'halted':
      return `${b.pending_reason ?? 'halted'} (batch ${b.name ?? b.id})`;
    case 'succeeded':
    case 'failed':
    case 'cancelled':
      return `its batch ended (${b.state})`;
  }
  if (!mine || !curWave) return u.pendingReason;
  if (mine.idx > cur) {
    if (b.state === 'baking') return `waiting for ${wave}: wave ${curWave.name} is baking until ${curWave.bake_until}`;
    if (b.state === 'awaiting_approval') return `waiting for ${wave}: wave ${curWave.name} is awaiting approval`;
    return `waiting for ${wave}: wave ${curWave.name} is running`;
  }
  if (b.state === 'awaiting_approval') return `awaiting approval of ${wave}`;
  const schedule = JSON.parse(b.schedule ?? '{"kind":"now"}') as UpgradeSchedule;
  if (schedule.kind === 'window') {
    const g = gateAt(u, await loadTarget(db, u.projectId, u.targetId), now);
    if (!g.go) return g.reason;
  }
  const active = await activeInWave(db, b.id, mine.idx);
  return `waiting for a concurrency slot in ${wave} (${active} of ${mine.max_concurrency} running)`;
}
