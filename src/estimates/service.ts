// Estimates: one duration model per process, the tracker that feeds it and records errors, and
// the reads the APIs make of them (an upgrade's or a batch's estimate, the Hologres phase times,
// the error per engine). The composition root makes one; the service reads it through the context.
import { STEP_ACTIONS, type PhaseEstimate, type StepAction, type Target } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';
import type { Clock } from '../domain/clock.ts';
import type { Selectable } from 'kysely';
import { FORECAST_STATES, forecastBatch, type BatchForecast } from './batch-forecast.ts';
import { loadBatchForecastInput } from './batch-source.ts';
import { DurationModel, median } from './duration-model.ts';
import { windowGate, type LoadedUpgrade } from './plan-source.ts';
import { EstimateTracker } from './tracker.ts';
import { estimateUpgrade, walkPlan, type Estimate, type PlannedUpgrade } from './upgrade-estimate.ts';
import type { Store } from '../store/open.ts';
import type { BatchRow } from '../store/schema.ts';

/** Which Hologres phase each step action belongs to (EstimatedUpgradeTime). */
export type PhaseOf = (action: string) => 'Stop' | 'Backup' | 'DoUpgrade' | null;

export interface EngineError {
  engine: string;
  /** finished upgrades whose estimate error was measured */
  measured: number;
  medianAbsErrorPercent: number | null;
  medianAbsErrorSeconds: number | null;
}

/** how many of the latest measured estimates per engine the median is taken over */
const ERROR_WINDOW = 1000;
/** a batch forecast is reused this long (ms of real time) while the batch has not changed */
const BATCH_FORECAST_TTL_MS = 1000;

export class EstimateService {
  readonly model: DurationModel;
  readonly tracker: EstimateTracker;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private again = false;
  private readonly batchForecasts = new Map<string, { key: string; at: number; forecast: BatchForecast | null }>();

  constructor(
    private readonly store: Store,
    drivers: Map<string, Driver>,
    readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {
    this.model = new DurationModel(store, (driver, action) => nominalSeconds(drivers.get(driver), action));
    this.tracker = new EstimateTracker(store, this.model, clock);
  }

  /** Creates the tracker's durable cursor (before the executor starts). */
  ensureCursor(): Promise<void> {
    return this.tracker.ensureCursor();
  }

  /** Follows the events table: on every change signal and at least every `everyMs`. */
  start(everyMs = 1000): void {
    this.timer = setInterval(() => this.poke(), everyMs);
    this.timer.unref();
  }

  /** Runs the tracker now, or once more after the run in progress. */
  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tracker
      .drain()
      .catch(this.onError)
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.again = false;
    await this.running;
  }

  /** Waits until the tracker has consumed every event committed so far (tests, benchmarks). */
  async settle(): Promise<void> {
    await this.running;
    await this.tracker.catchUp();
  }

  async forUpgrade(u: LoadedUpgrade, target: Target, startAt?: { at: Date; why: string }): Promise<Estimate | null> {
    await this.model.refresh();
    return estimateUpgrade(this.model, u, target, this.clock.now(), windowGate(u, target), startAt);
  }

  /**
   * The forecast of a batch (null when its end cannot be foreseen). Status readers poll it, so one
   * forecast serves every read for a second while the batch's state, wave and the clock's second
   * stay the same.
   */
  async forBatch(b: Selectable<BatchRow>): Promise<BatchForecast | null> {
    if (!FORECAST_STATES.has(b.state)) return null;
    const now = this.clock.now();
    const key = `${b.state}|${b.current_wave}|${b.updated_at}|${Math.floor(now.getTime() / 1000)}`;
    const hit = this.batchForecasts.get(b.id);
    if (hit && hit.key === key && performance.now() - hit.at < BATCH_FORECAST_TTL_MS) return hit.forecast;
    await this.model.refresh();
    const input = await loadBatchForecastInput(this.store.db, this.model, b, now);
    const forecast = input ? forecastBatch(input) : null;
    if (this.batchForecasts.size > 1000) this.batchForecasts.clear();
    this.batchForecasts.set(b.id, { key, at: performance.now(), forecast });
    return forecast;
  }

  /** Hologres EstimatedUpgradeTime: seconds per phase of the whole plan, from the same model. */
  async phases(u: PlannedUpgrade, target: Target, phaseOf: PhaseOf): Promise<PhaseEstimate> {
    await this.model.refresh();
    const seconds = { Stop: 0, Backup: 0, DoUpgrade: 0 };
    for (const phase of ['Stop', 'Backup', 'DoUpgrade'] as const) {
      const only = {
        ...u,
        stages: u.stages.map((s) => ({ ...s, steps: s.steps.filter((st) => phaseOf(st.action) === phase) })),
      };
      const t0 = new Date(0);
      seconds[phase] = Math.round(walkPlan(this.model, only, target, t0, t0, null, true).end.getTime() / 1000);
    }
    return { stopInstanceSeconds: seconds.Stop, backupDataSeconds: seconds.Backup, upgradeInstanceSeconds: seconds.DoUpgrade };
  }

  /** The median absolute error of finished upgrades' (or batches') estimates, per engine. */
  async errors(projectId?: string, kind: 'upgrade' | 'batch' = 'upgrade'): Promise<EngineError[]> {
    let q = this.store.db
      .selectFrom('estimate_records')
      .select(['engine', 'abs_error_pct', 'predicted_seconds', 'actual_seconds'])
      .where('abs_error_pct', 'is not', null)
      .where('kind', '=', kind);
    if (projectId) q = q.where('project_id', '=', projectId);
    const rows = await q.orderBy('ended_at', 'desc').execute();
    const by = new Map<string, { pct: number[]; sec: number[] }>();
    for (const r of rows) {
      const e = by.get(r.engine) ?? { pct: [], sec: [] };
      if (e.pct.length >= ERROR_WINDOW) continue;
      e.pct.push(Number(r.abs_error_pct));
      e.sec.push(Math.abs(Number(r.predicted_seconds) - Number(r.actual_seconds)));
      by.set(r.engine, e);
    }
    return [...by]
      .map(([engine, e]) => ({
        engine,
        measured: e.pct.length,
        medianAbsErrorPercent: round(median(e.pct)),
        medianAbsErrorSeconds: round(median(e.sec)),
      }))
      .sort((a, b) => a.engine.localeCompare(b.engine));
  }
}

const round = (v: number): number | null => (Number.isFinite(v) ? Math.round(v * 100) / 100 : null);

/** The driver's nominal step length in wall-clock seconds, when it declares one. */
function nominalSeconds(driver: Driver | undefined, action: string): number | undefined {
  return (STEP_ACTIONS as readonly string[]).includes(action) ? driver?.nominalSeconds?.(action as StepAction) : undefined;
}
