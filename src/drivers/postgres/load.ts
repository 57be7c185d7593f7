// A client-side write load used by tests, the benchmark and the demo: one INSERT every few ms with
// a client-chosen id; an id counts as acknowledged only when the INSERT returned success. Without a
// pooler the client fails over itself: it tries every node until one accepts writes (like libpq's
// target_session_attrs=read-write).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface LoadStats {
  acked: number[];
  /** INSERTs that returned an error to the client */
  errors: number;
  /** the first few error messages, with when they happened */
  errorLog: { at: number; message: string }[];
  /** failed connection attempts while looking for the primary */
  reconnects: number;
  /** longest time without an acknowledged write, ms, and when it ended */
  gaps: { start: number; end: number; ms: number }[];
}

export class WriteLoad {
  readonly stats: LoadStats = { acked: [], errors: 0, errorLog: [], reconnects: 0, gaps: [] };
  private client: pg.Client | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private nextId = 1;
  private lastAck = 0;

  /** ports() is read on every reconnect, so it can follow a changing topology */
  constructor(
    private readonly ports: () => number[],
    private readonly intervalMs = 5,
    private readonly table = 'liftgate_load',
  ) {}

  async start(): Promise<void> {
    const c = await this.connectWritable();
    await c.query(`CREATE TABLE IF NOT EXISTS ${this.table} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`);
    this.client = c;
    this.running = true;
    this.lastAck = Date.now();
    this.loop = this.run();
  }

  async stop(): Promise<LoadStats> {
    this.running = false;
    await this.loop;
    await this.client?.end().catch(() => undefined);
    this.client = null;
    return this.stats;
  }

  /** the longest write gap that ended within [from, to] (ms since epoch) */
  gapWithin(from: number, to: number): number {
    let max = 0;
    for (const g of this.stats.gaps) if (g.end >= from && g.start <= to) max = Math.max(max, g.ms);
    return max;
  }

  private async connectWritable(): Promise<pg.Client> {
    for (;;) {
      for (const port of this.ports()) {
        const c = new pg.Client({
          host: '127.0.0.1',
          port,
          user: 'postgres',
          database: 'postgres',
          connectionTimeoutMillis: 2_000,
        });
        c.on('error', () => undefined);
        try {
          await c.connect();
          const r = await c.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
          if (r.rows[0]?.ro === 'off') return c;
        } catch {
          /* down, starting, or shutting down */
        }
        this.stats.reconnects++;
        await c.end().catch(() => undefined);
      }
      if (!this.running && this.client === null && this.loop !== null) throw new Error('load stopped');
      await sleep(2);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      const id = this.nextId++;
      try {
        if (!this.client) this.client = await this.connectWritable();
        await this.client.query(`INSERT INTO ${this.table} (id) VALUES ($1)`, [id]);
        const now = Date.now();
        this.stats.acked.push(id);
        this.stats.gaps.push({ start: this.lastAck, end: now, ms: now - this.lastAck });
        if (this.stats.gaps.length > 1 && this.stats.gaps[this.stats.gaps.length - 2]!.ms < 4 * this.intervalMs) {
          // keep only gaps worth reporting, plus the latest one
          this.stats.gaps.splice(this.stats.gaps.length - 2, 1);
        }
        this.lastAck = now;
      } catch (e) {
        this.stats.errors++;
        if (this.stats.errorLog.length < 20) this.stats.errorLog.push({ at: Date.now(), message: (e as Error).message });
        await this.client?.end().catch(() => undefined);
        this.client = null;
      }
      const wait = this.intervalMs - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }
}

/** ids in `acked` that a node does not have */
export async function missingOn(port: number, acked: number[], table = 'liftgate_load'): Promise<number[]> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const r = await c.query<{ id: string }>(`SELECT id::text FROM ${table}`);
    const have = new Set(r.rows.map((x) => Number(x.id)));
    return acked.filter((id) => !have.has(id));
  } finally {
    await c.end().catch(() => undefined);
  }
}
