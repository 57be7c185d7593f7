// The duration model: how long a step takes, learned from finished steps per engine, step
// action and node role (the sim fleet and real drivers alike).
//
// Samples live in the store (step_durations, written once per succeeded step by the tracker),
// so every replica learns the same thing; each process keeps the latest SAMPLES per key in
// memory and reads new rows by id. The statistic is a 20% trimmed mean of those samples: robust
// to the odd hung or retried step (a plain mean is not), yet unbiased for the sums an estimate
// adds up (a median under-counts right-skewed durations). Without history for the exact role the
// model falls back to the same action on any role, then to the driver's nominal duration, then
// to a flat default; the answer always says which.
import type { Store } from '../store/open.ts';

/** samples kept per key: recent enough to follow a drift, enough to trim */
export const SAMPLES = 50;
/** fraction trimmed from each end before averaging */
const TRIM = 0.2;
/** a step with no history and no nominal duration */
export const DEFAULT_STEP_SECONDS = 60;
/** how much history a new process loads at start */
const WARM_ROWS = 20_000;

export type Source = 'learned' | 'learned_any_role' | 'nominal' | 'default';

export interface StepGuess {
  seconds: number;
  source: Source;
  samples: number;
}

export interface StepKey {
  engine: string;
  action: string;
  /** the node's role, '*' for a step on the whole target */
  role: string;
}

/** The driver's own idea of a step's length, when it has one. */
export type NominalSeconds = (driver: string, action: string) => number | undefined;

const key = (engine: string, action: string, role: string) => `${engine}\u0000${action}\u0000${role}`;

export function trimmedMean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const cut = Math.floor(sorted.length * TRIM);
  const kept = sorted.slice(cut, sorted.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

class Samples {
  private readonly values: number[] = [];
  private cached: number | null = null;

  add(v: number): void {
    this.values.push(v);
    if (this.values.length > SAMPLES) this.values.shift();
    this.cached = null;
  }

  get count(): number {
    return this.values.length;
  }

  get estimate(): number {
    this.cached ??= trimmedMean(this.values);
    return this.cached;
  }
}

export class DurationModel {
  private readonly exact = new Map<string, Samples>();
  private readonly anyRole = new Map<string, Samples>();
  private readonly perEngine = new Map<string, number>();
  private lastId = 0;
  private loaded = false;
  private refreshing: Promise<void> | null = null;
  private refreshedAt = 0;

  constructor(
    private readonly store: Store,
    private readonly nominal: NominalSeconds,
    /** how stale the in-memory samples may be (ms) before a read refreshes them */
    private readonly maxStaleMs = 1000,
  ) {}

  /** Reads the samples recorded since the last refresh (at most every maxStaleMs unless forced). */
  async refresh(force = false): Promise<void> {
    if (!force && performance.now() - this.refreshedAt < this.maxStaleMs) return;
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = null;
      this.refreshedAt = performance.now();
    });
    await this.refreshing;
  }

  private async load(): Promise<void> {
    const db = this.store.db;
    if (!this.loaded) {
      const max = await db
        .selectFrom('step_durations')
        .select((eb) => eb.fn.max('id').as('m'))
        .executeTakeFirst();
      this.lastId = Math.max(0, Number(max?.m ?? 0) - WARM_ROWS);
      this.loaded = true;
    }
    for (;;) {
      const rows = await db
        .selectFrom('step_durations')
        .select(['id', 'engine', 'action', 'role', 'seconds'])
        .where('id', '>', this.lastId)
        .orderBy('id')
        .limit(5000)
        .execute();
      for (const r of rows) this.addSample(r.engine, r.action, r.role, Number(r.seconds));
      if (rows.length > 0) this.lastId = Number(rows[rows.length - 1].id);
      if (rows.length < 5000) return;
    }
  }

  /** one sample, as read from the store (public for tests that build a model by hand) */
  addSample(engine: string, action: string, role: string, seconds: number): void {
    const bucket = (m: Map<string, Samples>, k: string) => {
      let s = m.get(k);
      if (!s) m.set(k, (s = new Samples()));
      return s;
    };
    bucket(this.exact, key(engine, action, role)).add(seconds);
    bucket(this.anyRole, key(engine, action, '')).add(seconds);
    this.perEngine.set(engine, (this.perEngine.get(engine) ?? 0) + 1);
  }

  /** How long one step of this kind takes, with where the number comes from. */
  guess(k: StepKey, driver: string): StepGuess {
    const exact = this.exact.get(key(k.engine, k.action, k.role));
    if (exact && exact.count > 0) return { seconds: exact.estimate, source: 'learned', samples: exact.count };
    const any = this.anyRole.get(key(k.engine, k.action, ''));
    if (any && any.count > 0) return { seconds: any.estimate, source: 'learned_any_role', samples: any.count };
    const n = this.nominal(driver, k.action);
    if (n !== undefined) return { seconds: n, source: 'nominal', samples: 0 };
    return { seconds: DEFAULT_STEP_SECONDS, source: 'default', samples: 0 };
  }

  /** samples seen by this process per engine (for the estimates overview) */
  samplesPerEngine(): Map<string, number> {
    return new Map(this.perEngine);
  }

  /** the learned keys: engine, action, role, samples, seconds */
  entries(): { engine: string; action: string; role: string; samples: number; seconds: number }[] {
    return [...this.exact].map(([k, s]) => {
      const [engine, action, role] = k.split('\u0000');
      return { engine, action, role, samples: s.count, seconds: s.estimate };
    });
  }
}
