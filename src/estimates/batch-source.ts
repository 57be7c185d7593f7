// What a batch forecast reads: the batch's waves, how many upgrades each still holds, what is left
// of the released ones, and how long one upgrade of each wave takes. One upgrade per wave is priced
// from its plan (the duration model, from scratch) and the price is corrected by how the engine's
// finished upgrades compared with their own estimates (the median ratio of actual to estimated
// over the latest ones), which folds in the executor's overhead between steps. A released upgrade
// is assumed to need that length minus the time it has run. Takes any Kysely handle, so the
// tracker can read inside its transaction.
import type { Selectable } from 'kysely';
import type { UpgradeSchedule } from '../domain/types.ts';
import { loadWaves, waveCounts } from '../engine/batch-scheduler.ts';
import type { Db } from '../store/schema.ts';
import type { BatchRow } from '../store/schema.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { BatchForecastInput, WaveForecastInput } from './batch-forecast.ts';
import { median, type DurationModel } from './duration-model.ts';
import { loadUpgradePlan, windowGate } from './plan-source.ts';
import { walkPlan, type StartGate } from './upgrade-estimate.ts';

/** finished upgrades whose actual/estimated ratio corrects a batch's upgrade lengths */
const CALIBRATION_UPGRADES = 50;
/** a released upgrade that overran is assumed to need this share of its length still */
const OVERRUN_SHARE = 0.1;
const ENDED: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'rolled_back']);

/** The median ratio of actual to estimated length over the engine's latest measured upgrades. */
export async function calibration(db: Db, engine: string): Promise<{ ratio: number; upgrades: number }> {
  const rows = await db
    .selectFrom('estimate_records')
    .select(['predicted_seconds', 'actual_seconds'])
    .where('kind', '=', 'upgrade')
    .where('engine', '=', engine)
    .where('abs_error_pct', 'is not', null)
    .orderBy('ended_at', 'desc')
    .limit(CALIBRATION_UPGRADES)
    .execute();
  const ratios = rows
    .filter((r) => Number(r.predicted_seconds) > 0)
    .map((r) => Number(r.actual_seconds) / Number(r.predicted_seconds));
  return ratios.length ? { ratio: median(ratios), upgrades: ratios.length } : { ratio: 1, upgrades: 0 };
}

/**
 * The forecast input of a batch as of `now`. `fromScratch`: the whole batch as it was when it
 * started (every upgrade held), for the estimate recorded at its start.
 */
export async function loadBatchForecastInput(
  db: Db,
  model: DurationModel,
  b: Selectable<BatchRow>,
  now: Date,
  fromScratch = false,
): Promise<(BatchForecastInput & { engine: string }) | null> {
  const waves = await loadWaves(db, b.id);
  if (waves.length === 0) return null;
  const counts = fromScratch ? new Map() : await waveCounts(db, b.id);
  const schedule = JSON.parse(b.schedule ?? '{"kind":"now"}') as UpgradeSchedule;
  const windowed = b.kind !== 'gaussdb' && schedule.kind === 'window';
  const cur = fromScratch ? 0 : (b.current_wave ?? 0);
  const out: WaveForecastInput[] = [];
  let engine = '';
  let priced = 0;
  let cal = { ratio: 1, upgrades: 0 };
  for (const w of waves) {
    if (w.idx < cur) continue;
    // one upgrade of the wave stands for all of them: the same version, mode and (usually) shape
    const sample = await db
      .selectFrom('upgrades')
      .select('id')
      .where('batch_id', '=', b.id)
      .where('wave_index', '=', w.idx)
      .orderBy('num')
      .limit(1)
      .executeTakeFirst();
    const plan = sample ? await loadUpgradePlan(db, sample.id) : null;
    if (!plan) continue;
    if (!engine) {
      engine = plan.target.engine;
      cal = await calibration(db, engine);
    }
    const t0 = new Date(0);
    const seconds = (walkPlan(model, plan.upgrade, plan.target, t0, t0, null, true).end.getTime() / 1000) * cal.ratio;
    priced++;
    const c = counts.get(w.idx);
    let activeRemaining: number[] = [];
    if (!fromScratch && w.idx === cur && c && c.active > 0) {
      const active = await db
        .selectFrom('upgrades')
        .select(['state', 'started_at', 'hold'])
        .where('batch_id', '=', b.id)
        .where('wave_index', '=', w.idx)
        .where('state', 'not in', [...ENDED])
        .where((eb) => eb.or([eb('hold', 'is', null), eb('hold', '!=', 'batch')]))
        .execute();
      activeRemaining = active.map((u) => {
        if (!u.started_at) return seconds;
        const ran = (now.getTime() - Date.parse(u.started_at)) / 1000;
        return Math.max(seconds - ran, seconds * OVERRUN_SHARE);
      });
    }
    const held = fromScratch ? w.target_count : (c?.held ?? 0);
    let gates: (StartGate | null)[] | undefined;
    if (windowed && held > 0) {
      const rows = await db
        .selectFrom('upgrades')
        .select(['project_id', 'target_id', 'schedule'])
        .where('batch_id', '=', b.id)
        .where('wave_index', '=', w.idx)
        .$if(!fromScratch, (q) => q.where('state', '=', 'scheduled').where('hold', '=', 'batch'))
        .orderBy('num')
        .execute();
      gates = [];
      for (const r of rows) {
        const target = await loadTarget(db, r.project_id, r.target_id);
        gates.push(target ? windowGate({ schedule: JSON.parse(r.schedule) as UpgradeSchedule }, target) : null);
      }
    }
    out.push({
      index: w.idx,
      name: w.name,
      state: w.state,
      maxConcurrency: w.max_concurrency,
      bakeSeconds: w.bake_seconds,
      approval: w.approval === 1,
      bakeUntil: w.bake_until,
      held,
      activeRemaining,
      upgradeSeconds: seconds,
      gates,
    });
  }
  if (priced === 0) return null;
  const pricing =
    cal.upgrades > 0
      ? `one upgrade of each wave priced from its plan, times ${cal.ratio.toFixed(2)} (actual / estimated over ${cal.upgrades === 1 ? `the last finished ${engine} upgrade` : `the last ${cal.upgrades} finished ${engine} upgrades`})`
      : `one upgrade of each wave priced from its plan (no finished ${engine} upgrade to correct it yet)`;
  return {
    engine,
    state: fromScratch ? 'scheduled' : b.state,
    now,
    notBefore: fromScratch ? null : b.not_before ? new Date(b.not_before) : null,
    currentWave: fromScratch ? 0 : b.current_wave,
    waves: out,
    pricing,
  };
}
