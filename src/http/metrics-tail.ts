// Histograms and counters of what finished: step durations, claim lag, switchover outages and
// failures by code. They are observed by reading the events table forward from where this
// process started (every finished step and failed upgrade appends an event in the same
// transaction that records it), so the executor needs no metrics code and every replica sees
// the whole fleet. Events younger than a second wait for the next scrape, so a transaction that
// committed a lower id a little later is not skipped.
import { sql } from 'kysely';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { AppContext } from '../service/app-context.ts';

const TYPES = [
  'step.succeeded',
  'step.failed',
  'step.retrying',
  'upgrade.failed',
  'upgrade.succeeded',
  // a cancel ends the upgrade at once (upgrade.cancel to cancelled) or once its nodes are back
  // (upgrade.cancel to cancelling, then upgrade.cancelled)
  'upgrade.cancel',
  'upgrade.cancelled',
  'upgrade.rolled_back',
];
const PAGE = 1000;
const SETTLE_MS = 1000;

interface StepFacts {
  id: string;
  action: string;
  state: string;
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  result: string | null;
  stage_started: string | null;
  lane_ready: string | null;
  engine: string | null;
  driver: string | null;
}

const seconds = (from: string | null, to: string | null): number | null =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : null;

export class MetricsTail {
  private lastId = -1;
  private running: Promise<void> | null = null;
  private readonly stepDuration: Histogram<'engine' | 'action' | 'outcome'>;
  private readonly claimLag: Histogram<'engine'>;
  private readonly outage: Histogram<'engine' | 'driver'>;
  private readonly stepFailures: Counter<'engine' | 'action' | 'code'>;
  private readonly stepRetries: Counter<'engine' | 'action' | 'code'>;
  private readonly upgradeFailures: Counter<'engine' | 'code'>;
  private readonly upgradesFinished: Counter<'engine' | 'state'>;

  constructor(
    private readonly ctx: AppContext,
    registry: Registry,
  ) {
    const registers = [registry];
    this.stepDuration = new Histogram({
      name: 'liftgate_step_duration_seconds',
      help: 'Duration of finished steps (claim to outcome) by engine, step action and outcome',
      labelNames: ['engine', 'action', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.claimLag = new Histogram({
      name: 'liftgate_step_claim_lag_seconds',
      help: 'Time from a step becoming runnable (its stage started and its lane predecessor finished) to an executor claiming it',
      labelNames: ['engine'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.outage = new Histogram({
      name: 'liftgate_switchover_outage_seconds',
      help: 'Write outage of planned switchovers as measured and reported by the driver (e.g. postgres)',
      labelNames: ['engine', 'driver'],
      buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.stepFailures = new Counter({
      name: 'liftgate_step_failures_total',
      help: 'Failed steps by engine, step action and error code',
      labelNames: ['engine', 'action', 'code'],
      registers,
    });
    this.stepRetries = new Counter({
      name: 'liftgate_step_retries_total',
      help: 'Failed attempts of steps retried by themselves after a transient error, by engine, step action and error code',
      labelNames: ['engine', 'action', 'code'],
      registers,
    });
    this.upgradeFailures = new Counter({
      name: 'liftgate_upgrade_failures_total',
      help: 'Upgrades that failed, by engine and error code',
      labelNames: ['engine', 'code'],
      registers,
    });
    this.upgradesFinished = new Counter({
      name: 'liftgate_upgrades_finished_total',
      help: 'Upgrades that reached a final state (or failed), by engine and state',
      labelNames: ['engine', 'state'],
      registers,
    });
  }

  /** Starts counting from now: what happened before this process started is not counted again. */
  async start(): Promise<void> {
    const r = await this.ctx.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    this.lastId = Number(r?.id ?? 0);
  }

  /** Reads the events since the last call (one reader at a time). */
  catchUp(): Promise<void> {
    this.running ??= this.read().finally(() => (this.running = null));
    return this.running;
  }

  private async read(): Promise<void> {
    if (this.lastId < 0) await this.start();
    const settled = new Date(Date.now() - SETTLE_MS).toISOString();
    const db = this.ctx.store.db;
    for (;;) {
      const events = await db
        .selectFrom('events')
        .select(['id', 'type', 'step_id', 'upgrade_id', 'data', 'created_at', 'to_state'])
        .where('id', '>', this.lastId)
        .where('type', 'in', TYPES)
        .where('created_at', '<', settled)
        .orderBy('id')
        .limit(PAGE)
        .execute();
      if (events.length === 0) return;
      const stepIds = [...new Set(events.map((e) => e.step_id).filter((s): s is string => s !== null))];
      const upgradeIds = [...new Set(events.map((e) => e.upgrade_id).filter((s): s is string => s !== null))];
      const steps = new Map((await this.stepFacts(stepIds)).map((s) => [s.id, s]));
      const engines = new Map<string, string>();
      if (upgradeIds.length) {
        const rows = await db
          .selectFrom('upgrades as u')
          .leftJoin('targets as t', (j) => j.onRef('t.project_id', '=', 'u.project_id').onRef('t.id', '=', 'u.target_id'))
          .select(['u.id', 't.engine'])
          .where('u.id', 'in', upgradeIds)
          .execute();
        for (const r of rows) engines.set(r.id, r.engine ?? 'unknown');
      }
      for (const e of events) {
        const engine = (e.upgrade_id && engines.get(e.upgrade_id)) || 'unknown';
        const data = parse(e.data);
        const code = typeof data.code === 'string' ? data.code : 'UNKNOWN';
        if (e.type.startsWith('upgrade.')) {
          if (e.type === 'upgrade.cancel' && e.to_state !== 'cancelled') continue;
          const state = e.to_state ?? e.type.slice('upgrade.'.length);
          this.upgradesFinished.inc({ engine, state });
          if (state === 'failed') this.upgradeFailures.inc({ engine, code });
          continue;
        }
        const step = e.step_id ? steps.get(e.step_id) : undefined;
        if (!step) continue;
        if (e.type === 'step.retrying') {
          this.stepRetries.inc({ engine, action: step.action, code });
          continue;
        }
        const outcome = e.type === 'step.succeeded' ? 'succeeded' : 'failed';
        if (outcome === 'failed') this.stepFailures.inc({ engine, action: step.action, code });
        // the row may have moved on (a retry); only a row still in this outcome has its times
        if (step.state !== outcome) continue;
        const took = seconds(step.started_at, step.ended_at);
        if (took !== null) this.stepDuration.observe({ engine, action: step.action, outcome }, took);
        if (step.attempts === 1) {
          const ready =
            [step.stage_started, step.lane_ready]
              .filter((t): t is string => t !== null)
              .sort()
              .pop() ?? null;
          const lag = seconds(ready, step.started_at);
          if (lag !== null) this.claimLag.observe({ engine }, lag);
        }
        const result = parse(step.result);
        if (outcome === 'succeeded' && step.action === 'switchover' && typeof result.outageMs === 'number') {
          this.outage.observe({ engine, driver: step.driver ?? 'unknown' }, result.outageMs / 1000);
        }
      }
      this.lastId = Number(events[events.length - 1].id);
      if (events.length < PAGE) return;
    }
  }

  private async stepFacts(ids: string[]): Promise<StepFacts[]> {
    if (ids.length === 0) return [];
    const res = await sql<StepFacts>`
      SELECT s.id, s.action, s.state, s.attempts, s.started_at, s.ended_at, s.result,
        st.started_at AS stage_started,
        (SELECT max(p.ended_at) FROM steps p
          WHERE p.upgrade_id = s.upgrade_id AND p.stage_index = s.stage_index AND p.lane = s.lane AND p.ord < s.ord) AS lane_ready,
        t.engine, t.driver
      FROM steps s
      JOIN stages st ON st.upgrade_id = s.upgrade_id AND st.idx = s.stage_index
      JOIN upgrades u ON u.id = s.upgrade_id
      LEFT JOIN targets t ON t.project_id = u.project_id AND t.id = u.target_id
      WHERE s.id IN (${sql.join(ids)})`.execute(this.ctx.store.db);
    return res.rows;
  }
}

function parse(json: string | null): Record<string, unknown> {
  if (!json) return {};
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
