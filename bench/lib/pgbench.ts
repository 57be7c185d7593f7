// pgbench for the blue/green benchmark (bench/postgres-major.ts): the dataset (`pgbench -i`, or the
// same tables made with SQL when the client cannot initialize this server), a TPC-B-like load
// through the pooler, and a row count and checksum per table to compare two clusters.
// The load runs as short pgbench runs back to back: pgbench prints its summary (and flushes its
// per-transaction log) only when a run ends, and a run stopped by a signal prints nothing.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export const PGBENCH = '/usr/bin/pgbench';

export const PGBENCH_TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(PGBENCH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const conn = (port: number): string[] => ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'];

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  port: number,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** pgbench's own tables and rows (its server-side generation, `-I dtGvp`), for a client that cannot run -i */
const initSql = (scale: number): string[] => [
  'DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers',
  'CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))',
  'CREATE TABLE pgbench_tellers (tid int NOT NULL, bid int, tbalance int, filler char(84)) WITH (fillfactor = 100)',
  'CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor = 100)',
  'CREATE TABLE pgbench_branches (bid int NOT NULL, bbalance int, filler char(88)) WITH (fillfactor = 100)',
  `INSERT INTO pgbench_branches (bid, bbalance) SELECT bid, 0 FROM generate_series(1, ${scale}) AS bid`,
  `INSERT INTO pgbench_tellers (tid, bid, tbalance) SELECT tid, (tid - 1) / 10 + 1, 0 FROM generate_series(1, ${scale * 10}) AS tid`,
  `INSERT INTO pgbench_accounts (aid, bid, abalance, filler) SELECT aid, (aid - 1) / 100000 + 1, 0, '' FROM generate_series(1, ${scale * 100000}) AS aid`,
  'VACUUM ANALYZE pgbench_branches, pgbench_tellers, pgbench_accounts, pgbench_history',
  'ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid)',
  'ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid)',
  'ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)',
];

export interface InitFigures {
  how: string;
  ms: number;
  /** pgbench -i's complaint, when the tables were made with SQL instead */
  failure: string | null;
}

export async function initDataset(port: number, scale: number): Promise<InitFigures> {
  const t0 = Date.now();
  const r = await run(['-i', '-s', String(scale), '-q', ...conn(port)]);
  if (r.code === 0) return { how: `pgbench -i -s ${scale}`, ms: Date.now() - t0, failure: null };
  const failure = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
  const t1 = Date.now();
  for (const s of initSql(scale)) await sql(port, s);
  return { how: `SQL (pgbench -i failed)`, ms: Date.now() - t1, failure };
}

export interface TxRecord {
  /** ms since epoch */
  end: number;
  latencyMs: number;
  failed: boolean;
}

export interface PgbenchStats {
  runs: number;
  transactions: number;
  failed: number;
  abortedClients: number;
  /** runs that exited non-zero */
  badExits: number;
  /** the first few error lines pgbench printed */
  messages: string[];
  tx: TxRecord[];
}

/** a TPC-B-like load (pgbench's built-in script) at a fixed rate, in back-to-back runs of `chunkSeconds` */
export class PgbenchLoad {
  readonly stats: PgbenchStats = { runs: 0, transactions: 0, failed: 0, abortedClients: 0, badExits: 0, messages: [], tx: [] };
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly port: number,
    private readonly logDir: string,
    private readonly tag: string,
    private readonly opts: { clients: number; tps: number; chunkSeconds: number },
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** the current run finishes (at most chunkSeconds), then its log is read */
  async stop(): Promise<PgbenchStats> {
    this.running = false;
    await this.loop;
    return this.stats;
  }

  private async run(): Promise<void> {
    let i = 0;
    while (this.running) {
      const prefix = path.join(this.logDir, `${this.tag}-${i++}`);
      const { clients, tps, chunkSeconds } = this.opts;
      const r = await run([
        '-n',
        '-c',
        String(clients),
        '-j',
        '1',
        '-T',
        String(chunkSeconds),
        '-R',
        String(tps),
        '-l',
        '--log-prefix',
        prefix,
        ...conn(this.port),
      ]);
      this.stats.runs++;
      if (r.code !== 0) this.stats.badExits++;
      this.stats.transactions += Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? 0);
      this.stats.failed += Number(/number of failed transactions: (\d+)/.exec(r.stdout)?.[1] ?? 0);
      const errs = r.stderr.split('\n').filter((l) => /error|aborted|fatal|could not/i.test(l));
      this.stats.abortedClients += errs.filter((l) => /client \d+ aborted/.test(l)).length;
      for (const l of errs) if (this.stats.messages.length < 10) this.stats.messages.push(l.trim());
      this.readLogs(prefix);
    }
  }

  /** per-transaction log lines: client_id transaction_no time script_no time_epoch time_us [schedule_lag] */
  private readLogs(prefix: string): void {
    const dir = path.dirname(prefix);
    const base = `${path.basename(prefix)}.`;
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).filter((x) => x.startsWith(base))) {
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const p = line.split(' ');
        if (p.length < 6) continue;
        const end = Number(p[4]) * 1000 + Number(p[5]) / 1000;
        const failed = p[2] === 'failed';
        if (p[2] === 'skipped') continue;
        this.stats.tx.push({ end, latencyMs: failed ? 0 : Number(p[2]) / 1000, failed });
      }
    }
  }
}

/** the longest latency of a transaction that was under way at some time within [from, to] (ms since epoch) */
export function maxLatencyWithin(stats: PgbenchStats, from: number, to: number): number {
  let max = 0;
  for (const t of stats.tx) if (t.end >= from && t.end - t.latencyMs <= to) max = Math.max(max, t.latencyMs);
  return Math.round(max);
}

/** the longest time without a completed pgbench transaction (any client, any run) overlapping [from, to] */
export function maxGapWithin(stats: PgbenchStats, from: number, to: number): number {
  const ends = stats.tx.map((t) => t.end).sort((a, b) => a - b);
  let max = 0;
  for (let i = 1; i < ends.length; i++) if (ends[i]! >= from && ends[i - 1]! <= to) max = Math.max(max, ends[i]! - ends[i - 1]!);
  return Math.round(max);
}

export interface TableSum {
  rows: number;
  hash: string;
}

/** count(*) and sum(hashtext(row)) per table; `bounds` limits a table to ids up to a value */
export async function tableSums(
  port: number,
  tables: string[],
  bounds: Record<string, { column: string; max: number }> = {},
): Promise<Map<string, TableSum>> {
  const out = new Map<string, TableSum>();
  for (const t of tables) {
    const b = bounds[t];
    const [r] = await sql<{ n: string; h: string }>(
      port,
      `SELECT count(*)::text AS n, coalesce(sum(hashtext(t::text)), 0)::text AS h FROM ${t} t${b ? ` WHERE ${b.column} <= $1` : ''}`,
      b ? [b.max] : [],
    );
    out.set(t, { rows: Number(r!.n), hash: r!.h });
  }
  return out;
}
