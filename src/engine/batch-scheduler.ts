// The batch scheduler: moves each active batch along its waves. It runs in the engine's
// housekeeping (once across replicas), reads counts of the batch's upgrades by state, and makes
// each decision with the state core's guarded batch and wave transitions (src/engine/core/batches.ts,
// rules in core/table.ts), so running it twice, or after a crash, never releases an upgrade twice or
// starts a wave twice. It is woken when a change commits (ctx wakes the housekeeping task) and runs
// on the housekeeping leader only; nothing steps it inline.
//
//   scheduled          -> wave 1 starts when the batch's time comes
//   running            -> release held upgrades of the current wave up to maxConcurrency (only those
//                         whose own window is open, for a "window" batch); when every upgrade of the
//                         wave has ended: bake (if bakeMinutes > 0) or the next wave
//   baking             -> the wave's analysis checks are sampled every interval (./analysis.ts); a
//                         check that fails targets ends the bake early: the wave fails and those
//                         targets count as failed (their upgrades rolled back when their
//                         onFailure says so); one that cannot be evaluated pauses the batch or
//                         fails the targets (its onError). At the end of the bake every check is
//                         sampled once more, then the upgraded targets are health-checked;
//                         unhealthy ones count as failed targets; then the next wave
//   next wave          -> awaiting_approval when it has approval: true, else running
//   failed targets >= the threshold -> halted (nothing new starts; running upgrades finish)
//
// A released upgrade is an ordinary upgrade from then on: its window, exclusions, operator
// actions and the executor apply as to any other.
import type { AnalysisCheck, AnalysisFailure } from '../domain/analysis.ts';
import type { Clock } from '../domain/clock.ts';
import { ACTIVE_BATCH_STATES, type BatchState, type Target, type UpgradeHold, type UpgradeSchedule } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';
import type { Selectable } from 'kysely';
import type { BatchRow, BatchWaveRow as WaveRowT } from '../store/schema.ts';
import type { Store } from '../store/open.ts';
import { loadTarget } from '../store/targets-repo.ts';
import { toUpgrade } from '../store/mappers.ts';
import { sampleCheck, type CheckSample } from './analysis.ts';
import { markBatchEnded, moveBatch, moveWave, recordAnalysis, type BatchBy } from './core/batches.ts';
import type { CoreEnv } from './core/env.ts';
import { appendEvent } from './core/events.ts';
import { revertSucceeded } from './core/progress.ts';
import type { Db } from '../store/schema.ts';
import { moveUpgrade } from './core/writes.ts';
import { gateAt } from './windows.ts';

type BatchWaveRow = Selectable<WaveRowT>;

export interface BatchDeps {
  store: Store;
  drivers: Map<string, Driver>;
  clock: Clock;
  /** an operator-style action on one upgrade (cancel), through the one state core */
  act(projectId: string, upgradeId: string, action: 'cancel'): Promise<void>;
  /** the state core's environment: an analysis failure rolls back upgrades whose onFailure says so */
  core: CoreEnv;
  /** an upgrade has steps to run now (a rollback the scheduler started) */
  touch(upgradeId: string): void;
}

export interface WaveCounts {
  /** held by the batch, not released yet */
  held: number;
  /** released and not ended (waiting for its window, ready, running, paused, ...) */
  active: number;
  /** failed or rolled back */
  failed: number;
  /** succeeded or cancelled */
  done: number;
  byState: Record<string, number>;
}

const emptyCounts = (): WaveCounts => ({ held: 0, active: 0, failed: 0, done: 0, byState: {} });

/** Counts of a batch's upgrades per wave, from one grouped query. */
export async function waveCounts(db: Db, batchId: string): Promise<Map<number, WaveCounts>> {
  const rows = await db
    .selectFrom('upgrades')
    .select(['wave_index', 'state', 'hold', (eb) => eb.fn.countAll<number>().as('n')])
    .where('batch_id', '=', batchId)
    .groupBy(['wave_index', 'state', 'hold'])
    .execute();
  const out = new Map<number, WaveCounts>();
  for (const r of rows) {
    const w = r.wave_index ?? 0;
    const c = out.get(w) ?? emptyCounts();
    const n = Number(r.n);
    c.byState[r.state] = (c.byState[r.state] ?? 0) + n;
    if (r.state === 'scheduled' && r.hold === 'batch') c.held += n;
    else if (r.state === 'failed' || r.state === 'rolled_back') c.failed += n;
    else if (r.state === 'succeeded' || r.state === 'cancelled') c.done += n;
    else c.active += n;
    out.set(w, c);
  }
  return out;
}

/** released, unfinished states besides `scheduled` (the `active` of waveCounts) */
const RELEASED_STATES = ['ready', 'prechecking', 'running', 'paused', 'cancelling', 'rolling_back'] as const;

/**
 * Released and not ended upgrades of one wave (the `active` of waveCounts: every state but held,
 * failed and ended). Spelled as ranges of the batch index (state, then hold), so the count reads
 * only the released upgrades' entries, not the thousands still held: a release and every read of a
 * held upgrade's reason need it.
 */
export async function activeInWave(db: Db, batchId: string, idx: number): Promise<number> {
  // three counts, each one seek of the index: an OR of them would scan the wave's whole range
  const wave = db.selectFrom('upgrades').where('batch_id', '=', batchId).where('wave_index', '=', idx);
  const count = (q: typeof wave) => q.select((eb) => eb.fn.countAll<number>().as('n'));
  const r = await db
    .selectNoFrom([
      count(wave.where('state', 'in', [...RELEASED_STATES])).as('released'),
      count(wave.where('state', '=', 'scheduled').where('hold', 'is', null)).as('due'),
      count(wave.where('state', '=', 'scheduled').where('hold', '=', 'window' satisfies UpgradeHold)).as('windowed'),
    ])
    .executeTakeFirstOrThrow();
  return Number(r.released) + Number(r.due) + Number(r.windowed);
}

const healthFailuresOf = (w: BatchWaveRow): string[] => JSON.parse(w.health_failures) as string[];
export const analysisFailuresOf = (w: Pick<BatchWaveRow, 'analysis_failures'>): AnalysisFailure[] =>
  JSON.parse(w.analysis_failures) as AnalysisFailure[];
export const analysisOf = (w: Pick<BatchWaveRow, 'analysis'>): AnalysisCheck[] => JSON.parse(w.analysis) as AnalysisCheck[];

/**
 * failed targets of the whole batch: failed upgrades, plus targets unhealthy after a bake or failed
 * by an analysis check (once each; one whose upgrade is rolled back counts as a failed upgrade, from
 * the moment its rollback starts: a rolling_back upgrade ends rolled back or failed, both failures)
 */
export function failuresOf(counts: Map<number, WaveCounts>, waves: BatchWaveRow[]): number {
  let n = 0;
  for (const c of counts.values()) n += c.failed + (c.byState.rolling_back ?? 0);
  for (const w of waves) {
    const bad = new Set(healthFailuresOf(w));
    for (const f of analysisFailuresOf(w)) if (!f.rolledBack) bad.add(f.target);
    n += bad.size;
  }
  return n;
}

export async function loadWaves(db: Db, batchId: string): Promise<BatchWaveRow[]> {
  return db.selectFrom('batch_waves').selectAll().where('batch_id', '=', batchId).orderBy('idx').execute();
}

/** One pass over every batch that may have something to do. */
export async function housekeepBatches(deps: BatchDeps): Promise<boolean> {
  const rows = await deps.store.db
    .selectFrom('batches')
    .select('id')
    .where((eb) =>
      eb.or([eb('state', 'in', [...ACTIVE_BATCH_STATES]), eb.and([eb('state', '=', 'cancelled'), eb('ended_at', 'is', null)])]),
    )
    .where('kind', 'is not', null)
    .orderBy('created_at')
    .limit(100)
    .execute();
  let changed = false;
  // a batch goes as far as it can in one pass (scheduled -> running -> its first release), a few
  // moves at most; what is left waits for the next pass
  for (const r of rows) for (let i = 0; i < 4 && (await stepBatch(deps, r.id)); i++) changed = true;
  return changed;
}

/** Moves one batch as far as it can go now; returns whether anything changed. */
async function stepBatch(deps: BatchDeps, batchId: string): Promise<boolean> {
  const db = deps.store.db;
  const b = await db.selectFrom('batches').selectAll().where('id', '=', batchId).executeTakeFirst();
  if (!b) return false;
  const at = deps.clock.now();
  const iso = at.toISOString();
  const state = b.state as BatchState;
  if (state === 'cancelled') return cancelRest(deps, b);
  if (state === 'scheduled') {
    if (b.not_before && b.not_before > iso) return false;
    return db.transaction().execute((trx) => nextWave(trx, b, 'scheduled', -1, iso, 0));
  }
  const waves = await loadWaves(db, b.id);
  const counts = await waveCounts(db, b.id);
  const cur = b.current_wave ?? 0;
  const wave = waves[cur];
  if (!wave) return false;
  const failures = failuresOf(counts, waves);
  const limit = b.failure_limit ?? 1;
  const by = scheduler(b, iso);
  if ((state === 'running' || state === 'baking') && failures >= limit) {
    return db.transaction().execute(async (trx) => {
      const reason = `halted: ${failures} of ${limit} allowed failures`;
      const ok = await moveBatch(trx, 'halt', {
        ...by,
        from: state,
        to: 'halted',
        message: `${reason}; nothing new starts, running upgrades finish`,
        set: { pending_reason: reason },
        data: { failures, limit },
      });
      if (ok) await moveWave(trx, 'halt', { ...waveOf(b, wave, iso), from: state, to: 'halted' });
      return ok;
    });
  }
  const c = counts.get(cur) ?? emptyCounts();
  if (state === 'running') {
    if (c.held + c.active > 0) return release(deps, b, wave, c, at);
    // every upgrade of the wave has ended
    return db.transaction().execute(async (trx) => {
      if (wave.bake_seconds > 0) {
        const until = new Date(at.getTime() + wave.bake_seconds * 1000).toISOString();
        const ok = await moveBatch(trx, 'bake', {
          ...by,
          from: 'running',
          to: 'baking',
          message: `wave ${wave.name} done; baking until ${until}`,
          set: { pending_reason: `baking until ${until}` },
          data: { wave: cur, bakeUntil: until },
        });
        if (ok)
          await moveWave(trx, 'bake', { ...waveOf(b, wave, iso), from: 'running', to: 'baking', set: { bake_until: until } });
        return ok;
      }
      const ended = await moveWave(trx, c.failed > 0 ? 'fail' : 'succeed', {
        ...waveOf(b, wave, iso),
        from: 'running',
        to: c.failed > 0 ? 'failed' : 'succeeded',
        set: { ended_at: iso },
      });
      if (!ended) return false;
      return nextWave(trx, b, 'running', cur, iso, failures);
    });
  }
  if (state === 'baking') {
    const over = !(wave.bake_until && wave.bake_until > iso);
    if (analysisOf(wave).length > 0) {
      const judged = await analyse(deps, b, wave, at, over, failures, limit);
      if (judged === 'moved') return true;
      if (judged === 'raced') return false;
    }
    if (!over) return false;
    const unhealthy = await healthCheck(deps, b, cur);
    return db.transaction().execute(async (trx) => {
      const healthFailures = JSON.stringify(unhealthy);
      if (unhealthy.length > 0) {
        await appendEvent(
          trx,
          {
            projectId: b.project_id,
            actor: 'scheduler',
            type: 'batch.health_check_failed',
            message: `after the bake of wave ${wave.name}: ${unhealthy.join(', ')} not healthy`,
            data: { batchId: b.id, wave: cur, targets: unhealthy },
          },
          deps.clock,
        );
      }
      const failed = c.failed > 0 || unhealthy.length > 0;
      const ended = await moveWave(trx, failed ? 'fail' : 'succeed', {
        ...waveOf(b, wave, iso),
        from: 'baking',
        to: failed ? 'failed' : 'succeeded',
        set: { ended_at: iso, health_failures: healthFailures },
      });
      if (!ended) return false;
      const total = failures + unhealthy.length;
      if (total >= limit) {
        const reason = `halted: ${total} of ${limit} allowed failures`;
        return moveBatch(trx, 'halt', {
          ...by,
          from: 'baking',
          to: 'halted',
          message: reason,
          set: { pending_reason: reason },
          data: { failures: total, limit },
        });
      }
      return nextWave(trx, b, 'baking', cur, iso, total);
    });
  }
  return false;
}

/** The scheduler as the cause of a batch transition. */
const scheduler = (b: BatchRow, at: string) => ({
  projectId: b.project_id,
  id: b.id,
  by: 'scheduler' as const,
  actor: 'scheduler',
  at,
});

/** The scheduler as the cause of a wave transition. */
const waveOf = (
  b: BatchRow,
  w: Pick<BatchWaveRow, 'idx' | 'name'>,
  at: string,
): BatchBy & { projectId: string; batchId: string; idx: number; name: string } => ({
  projectId: b.project_id,
  batchId: b.id,
  idx: w.idx,
  name: w.name,
  by: 'scheduler',
  actor: 'scheduler',
  at,
});

/** After wave `cur` (or before the first, cur = -1): start the next wave, or end the batch. */
async function nextWave(db: Db, b: BatchRow, from: BatchState, cur: number, at: string, failures: number): Promise<boolean> {
  const by = scheduler(b, at);
  const next = await db
    .selectFrom('batch_waves')
    .selectAll()
    .where('batch_id', '=', b.id)
    .where('idx', '=', cur + 1)
    .executeTakeFirst();
  if (!next) {
    const failed = failures > 0;
    return moveBatch(db, failed ? 'fail' : 'succeed', {
      ...by,
      from,
      to: failed ? 'failed' : 'succeeded',
      message: failed ? `all waves done; ${failures} target(s) failed` : 'all waves done; every target upgraded',
      set: { pending_reason: null, ended_at: at },
      data: { failures },
    });
  }
  if (next.approval) {
    const reason = `awaiting approval of wave ${next.name}`;
    const ok = await moveBatch(db, 'await_approval', {
      ...by,
      from,
      to: 'awaiting_approval',
      message: reason,
      set: { current_wave: next.idx, pending_reason: reason },
      data: { wave: next.idx },
    });
    if (ok) await moveWave(db, 'await_approval', { ...waveOf(b, next, at), from: 'scheduled', to: 'awaiting_approval' });
    return ok;
  }
  const message = `wave ${next.name} (${next.idx + 1}) starts`;
  const ok =
    from === 'scheduled'
      ? await moveBatch(db, 'start', {
          ...by,
          from,
          to: 'running',
          message,
          set: { current_wave: next.idx, pending_reason: null },
          data: { wave: next.idx },
        })
      : // running or baking -> running on the next wave: guarded on the wave it leaves too
        await moveBatch(db, 'next_wave', {
          ...by,
          from,
          to: 'running',
          atWave: cur,
          message,
          set: { current_wave: next.idx, pending_reason: null },
          data: { wave: next.idx },
        });
  if (ok) await moveWave(db, 'start', { ...waveOf(b, next, at), from: 'scheduled', to: 'running', set: { started_at: at } });
  return ok;
}

/** Releases held upgrades of the current wave into free concurrency slots. */
async function release(deps: BatchDeps, b: BatchRow, wave: BatchWaveRow, c: WaveCounts, at: Date): Promise<boolean> {
  const slots = wave.max_concurrency - c.active;
  if (slots <= 0 || c.held === 0) return false;
  const db = deps.store.db;
  const schedule = JSON.parse(b.schedule ?? '{"kind":"now"}') as UpgradeSchedule;
  // A native "window" batch releases only targets whose window is open, so a closed window
  // does not hold a slot; the GaussDB batch releases every instance into its own window wait.
  const onlyOpen = b.kind !== 'gaussdb' && schedule.kind === 'window';
  const candidates = await db
    .selectFrom('upgrades')
    .select(['id', 'project_id', 'target_id', 'schedule'])
    .where('batch_id', '=', b.id)
    .where('wave_index', '=', wave.idx)
    .where('state', '=', 'scheduled')
    .where('hold', '=', 'batch')
    .orderBy('num')
    .limit(onlyOpen ? Math.max(500, slots) : slots)
    .execute();
  const picked: { id: string; targetId: string; notBefore: string; reason: string | null }[] = [];
  for (const u of candidates) {
    if (picked.length >= slots) break;
    if (schedule.kind !== 'window') {
      // due now; the window housekeeping applies the target's exclusions when it promotes it
      picked.push({ id: u.id, targetId: u.target_id, notBefore: at.toISOString(), reason: null });
      continue;
    }
    const target = await loadTarget(db, u.project_id, u.target_id);
    const g = gateAt({ schedule: JSON.parse(u.schedule) as UpgradeSchedule }, target, at);
    if (onlyOpen && !g.go) continue;
    picked.push({ id: u.id, targetId: u.target_id, notBefore: g.notBefore, reason: g.reason });
  }
  if (picked.length === 0) return false;
  const iso = at.toISOString();
  await deps.store.db.transaction().execute(async (trx) => {
    // re-read under the transaction: another pass may have released some meanwhile
    const live = await trx
      .selectFrom('batches')
      .select(['state', 'current_wave'])
      .where('id', '=', b.id)
      .$if(deps.store.caps.supportsSkipLocked, (q) => q.forUpdate())
      .executeTakeFirst();
    if (live?.state !== 'running' || live.current_wave !== wave.idx) return;
    const active = await activeInWave(trx, b.id, wave.idx);
    for (const p of picked.slice(0, Math.max(0, wave.max_concurrency - active))) {
      await moveUpgrade(trx, deps.clock, 'release', {
        by: 'scheduler',
        u: { id: p.id, projectId: b.project_id, targetId: p.targetId },
        from: 'scheduled',
        to: 'scheduled',
        hold: 'batch',
        set: { hold: null, not_before: p.notBefore, pending_reason: p.reason },
        message: `released by batch ${b.name ?? b.id}, wave ${wave.name}`,
        data: { batchId: b.id, wave: wave.idx, at: iso },
      });
    }
  });
  return true;
}

/**
 * Samples the analysis checks of a baking wave that are due (each its interval after its last
 * sample, or the bake's start; every one at the end of the bake, unless it passed at or after
 * that end) over the wave's upgraded targets not failed yet, and acts on the outcome in one
 * transaction: 'moved' when the wave ended or the batch paused, 'sampled' when the samples were
 * only recorded (all passed), 'idle' when nothing was due, 'raced' when the wave changed meanwhile.
 */
async function analyse(
  deps: BatchDeps,
  b: BatchRow,
  wave: BatchWaveRow,
  at: Date,
  over: boolean,
  failures: number,
  limit: number,
): Promise<'moved' | 'sampled' | 'idle' | 'raced'> {
  const db = deps.store.db;
  const iso = at.toISOString();
  const checks = analysisOf(wave);
  const bakeUntil = wave.bake_until ?? iso;
  const bakeStart = Date.parse(bakeUntil) - wave.bake_seconds * 1000;
  const due = checks.filter((c) =>
    over
      ? !c.last || c.last.at < bakeUntil || c.last.outcome !== 'pass'
      : (c.last ? Date.parse(c.last.at) : bakeStart) + c.intervalSeconds * 1000 <= at.getTime(),
  );
  if (due.length === 0) return 'idle';
  const already = new Set(analysisFailuresOf(wave).map((f) => f.target));
  const rows = await db
    .selectFrom('upgrades')
    .select(['project_id', 'target_id'])
    .where('batch_id', '=', b.id)
    .where('wave_index', '=', wave.idx)
    .where('state', '=', 'succeeded')
    .execute();
  const targets: Target[] = [];
  for (const r of rows) {
    if (already.has(r.target_id)) continue;
    const t = await loadTarget(db, r.project_id, r.target_id);
    if (t) targets.push(t);
  }
  // no upgraded target left to judge (every upgrade of the wave failed): nothing to sample
  if (targets.length === 0) return 'idle';
  // the checks side by side: a Prometheus that does not answer holds the pass for one timeout, not one per check
  const samples = new Map<string, CheckSample>(
    await Promise.all(due.map(async (c) => [c.name, await sampleCheck(c, targets, deps.drivers)] as const)),
  );
  const updated = checks.map((c): AnalysisCheck => {
    const s = samples.get(c.name);
    return s ? { ...c, last: { at: iso, outcome: s.outcome, value: s.value, reason: s.reason } } : c;
  });
  const failing = due.filter((c) => {
    const s = samples.get(c.name) as CheckSample;
    return s.outcome === 'fail' || (s.outcome === 'error' && c.onError === 'fail');
  });
  const pausing = due.filter((c) => samples.get(c.name)?.outcome === 'error' && c.onError === 'pause');
  const by = scheduler(b, iso);
  const touched: string[] = [];
  const result = await db
    .transaction()
    .execute(async (trx): Promise<'moved' | 'sampled' | 'raced'> => {
      if (failing.length === 0 && pausing.length === 0) {
        return (await recordAnalysis(trx, b.id, wave.idx, JSON.stringify(updated))) ? 'sampled' : 'raced';
      }
      if (failing.length === 0) {
        // could not be evaluated, onError pause: nothing passes silently; an operator resumes
        const why = pausing.map((c) => samples.get(c.name)?.reason).join('; ');
        const reason = `paused: ${why}; resume the batch to sample again`;
        const ok = await moveBatch(trx, 'pause', {
          ...by,
          from: 'baking',
          to: 'paused',
          message: reason,
          set: { paused_from: 'baking', pending_reason: reason },
          data: { wave: wave.idx, checks: pausing.map((c) => c.name) },
        });
        if (!ok) return 'raced';
        await moveWave(trx, 'pause', {
          ...waveOf(b, wave, iso),
          from: 'baking',
          to: 'paused',
          set: { analysis: JSON.stringify(updated) },
        });
        return 'moved';
      }
      // the targets the failing checks failed, each once (the first check that failed it names it)
      const fresh = new Map<string, AnalysisFailure>();
      for (const c of failing) {
        const s = samples.get(c.name) as CheckSample;
        for (const f of s.failures) {
          if (!fresh.has(f.target)) fresh.set(f.target, { target: f.target, check: c.name, reason: f.reason, rolledBack: false });
        }
        await appendEvent(
          trx,
          {
            projectId: b.project_id,
            actor: 'scheduler',
            type: 'batch.analysis_failed',
            message: `wave ${wave.name}: ${s.reason ?? `analysis "${c.name}" failed`} (${s.failures.map((f) => f.target).join(', ')})`,
            data: {
              batchId: b.id,
              wave: wave.idx,
              check: c.name,
              outcome: s.outcome,
              value: s.value,
              bound: s.bound,
              targets: s.failures.map((f) => f.target),
            },
          },
          deps.clock,
        );
      }
      // onFailure rollback: the upgrades of the failed targets are reversed
      const ups = await trx
        .selectFrom('upgrades')
        .selectAll()
        .where('batch_id', '=', b.id)
        .where('wave_index', '=', wave.idx)
        .where('state', '=', 'succeeded')
        .where('target_id', 'in', [...fresh.keys()])
        .execute();
      for (const row of ups) {
        const f = fresh.get(row.target_id) as AnalysisFailure;
        if (await revertSucceeded(trx, deps.core, toUpgrade(row), f.reason)) {
          f.rolledBack = true;
          touched.push(row.id);
        }
      }
      const ended = await moveWave(trx, 'fail', {
        ...waveOf(b, wave, iso),
        from: 'baking',
        to: 'failed',
        set: {
          ended_at: iso,
          analysis: JSON.stringify(updated),
          analysis_failures: JSON.stringify([...analysisFailuresOf(wave), ...fresh.values()]),
        },
      });
      // the wave moved meanwhile: undo the rollbacks with the rest of this transaction
      if (!ended) throw new Raced();
      // a rolled-back target counts as a failed upgrade from now on; the others as analysis failures
      const total = failures + fresh.size;
      const first = [...fresh.values()][0];
      if (total >= limit) {
        const reason = `halted: ${first.reason}; ${total} of ${limit} allowed failures`;
        await moveBatch(trx, 'halt', {
          ...by,
          from: 'baking',
          to: 'halted',
          message: `${reason}${touched.length > 0 ? `; ${touched.length} upgrade(s) rolled back` : ''}`,
          set: { pending_reason: reason },
          data: { failures: total, limit, check: first.check },
        });
        return 'moved';
      }
      await nextWave(trx, b, 'baking', wave.idx, iso, total);
      return 'moved';
    })
    .catch((err: unknown) => {
      if (err instanceof Raced) {
        touched.length = 0;
        return 'raced' as const;
      }
      throw err;
    });
  for (const id of touched) deps.touch(id);
  return result;
}

/** the wave an analysis failure ends changed state meanwhile (its transaction is rolled back) */
class Raced extends Error {}

/** Targets of wave `idx` whose upgrade succeeded but that are not healthy now. */
async function healthCheck(deps: BatchDeps, b: BatchRow, idx: number): Promise<string[]> {
  const rows = await deps.store.db
    .selectFrom('upgrades')
    .select(['project_id', 'target_id'])
    .where('batch_id', '=', b.id)
    .where('wave_index', '=', idx)
    .where('state', '=', 'succeeded')
    .execute();
  const bad: string[] = [];
  for (const r of rows) {
    const target = await loadTarget(deps.store.db, r.project_id, r.target_id);
    const driver = target ? deps.drivers.get(target.driver) : undefined;
    if (!target || !driver) continue;
    try {
      const topo = await driver.inspect(target);
      if (topo.nodes.some((n) => n.health !== 'healthy')) bad.push(target.id);
    } catch {
      bad.push(target.id);
    }
  }
  return bad;
}

/**
 * A cancelled batch cancels its unfinished upgrades (again after a crash), then records its end
 * once none of them is still bringing nodes back (cancelling). One whose restore failed
 * (RESTORE_FAILED) is left to an operator: cancelling it again on every pass would retry a
 * node that does not start, forever; the batch ends with it failed.
 */
async function cancelRest(deps: BatchDeps, b: BatchRow): Promise<boolean> {
  const open = await deps.store.db
    .selectFrom('upgrades')
    .select(['id', 'state', 'error_code'])
    .where('batch_id', '=', b.id)
    .where('state', 'in', ['scheduled', 'ready', 'prechecking', 'running', 'paused', 'failed', 'cancelling'])
    .limit(500)
    .execute();
  const cancellable = open.filter(
    (u) => u.state !== 'cancelling' && !(u.state === 'failed' && u.error_code === 'RESTORE_FAILED'),
  );
  for (const u of cancellable) {
    try {
      await deps.act(b.project_id, u.id, 'cancel');
    } catch {
      // it changed state meanwhile (e.g. it just ended); the next pass looks again
    }
  }
  if (cancellable.length > 0) return true;
  if (open.some((u) => u.state === 'cancelling')) return false;
  return markBatchEnded(deps.store.db, b.id, deps.clock.now().toISOString());
}
