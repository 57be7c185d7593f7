// Flighting (Hologres FlightingReport): replay a SQL workload on two throwaway copies of the primary,
// one on the current binaries and one on the target binaries, and compare answers and timings.
// Both sides are clones, never the production primary, so the workload may contain writes: they hit
// both copies in the same order and keep the comparison fair.
import { existsSync } from 'node:fs';
import { cp, readFile, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { FlightingStat } from '../../domain/types.ts';
import type { BinaryCatalog } from './binaries.ts';
import { onlineClone } from './clone.ts';
import * as cl from './cluster.ts';
import type { NodeLayout } from './cluster.ts';
import { chownTree } from './os-user.ts';
import * as server from './server.ts';

/** statements shorter than this on both sides are too small to call "slow" honestly */
const SLOW_FLOOR_MS = 2;
const READ_REPEATS = 3;

/** split a script into statements (quotes, dollar quotes and comments respected) */
export function splitSql(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const rest = text.slice(i);
    if (rest.startsWith('--')) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
      continue;
    }
    const dollar = /^\$[A-Za-z_0-9]*\$/.exec(rest);
    if (ch === "'" || ch === '"' || dollar) {
      const quote = dollar ? dollar[0] : ch;
      const end = text.indexOf(quote, i + quote.length);
      const stop = end < 0 ? text.length : end + quote.length;
      cur += text.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === ';') {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export const isRead = (sql: string): boolean =>
  /^\s*(select|with|values|table|show)\b/i.test(sql) && !/^\s*with\b[\s\S]*\b(insert|update|delete)\b/i.test(sql);

/** options.flightingSql is a file path or SQL text */
export async function loadWorkload(flightingSql: string): Promise<string[]> {
  const looksLikePath = !/\s/.test(flightingSql.trim()) || flightingSql.trim().endsWith('.sql');
  const text = looksLikePath && existsSync(flightingSql.trim()) ? await readFile(flightingSql.trim(), 'utf8') : flightingSql;
  return splitSql(text);
}

/** the most called statements from pg_stat_statements that can be replayed as-is (no $n parameters) */
export async function topStatements(primaryPort: number, limit = 20): Promise<string[] | null> {
  const ext = await server.query(primaryPort, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
  if (ext.length === 0) return null;
  const rows = await server.query<{ query: string }>(
    primaryPort,
    `SELECT query FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND query !~ '\\$[0-9]' AND query !~* 'pg_stat_statements'
      ORDER BY calls DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.query);
}

interface Outcome {
  ok: boolean;
  ms: number;
  answer: string;
  error: string;
}

function canonical(res: { fields: { name: string }[]; rows: unknown[][] }, ordered: boolean): string {
  const rows = res.rows.map((r) => JSON.stringify(r));
  if (!ordered) rows.sort();
  return JSON.stringify({ cols: res.fields.map((f) => f.name), rows });
}

async function runOn(c: pg.Client, sql: string, repeats: number): Promise<Outcome> {
  const times: number[] = [];
  let answer = '';
  for (let k = 0; k < repeats; k++) {
    const t0 = performance.now();
    try {
      const res = await c.query({ text: sql, rowMode: 'array' });
      times.push(performance.now() - t0);
      const last = Array.isArray(res) ? res[res.length - 1] : res;
      answer = canonical(last, /\border\s+by\b/i.test(sql));
    } catch (e) {
      return { ok: false, ms: performance.now() - t0, answer: '', error: (e as Error).message };
    }
  }
  times.sort((a, b) => a - b);
  return { ok: true, ms: times[Math.floor(times.length / 2)]!, answer, error: '' };
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return 1;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface FlightingInput {
  root: string;
  primary: NodeLayout;
  fromVersion: string;
  toVersion: string;
  catalog: BinaryCatalog;
  statements: string[];
  log: (line: string) => void;
}

export async function runFlighting(input: FlightingInput): Promise<FlightingStat> {
  const { root, primary, catalog, log } = input;
  const dir = path.join(root, 'flighting');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const sides: NodeLayout[] = [];
  try {
    for (const [label, version] of [
      ['old', input.fromVersion],
      ['new', input.toVersion],
    ] as const) {
      const n: NodeLayout = { name: `flight-${label}`, port: await cl.freePort(), dir: path.join(dir, label) };
      await mkdir(n.dir, { recursive: true, mode: 0o755 });
      await cl.linkBinaries(n, catalog.nativeDir(version));
      sides.push(n);
    }
    const [oldSide, newSide] = sides as [NodeLayout, NodeLayout];
    const res = await onlineClone(primary.port, cl.dataDir(primary), cl.dataDir(oldSide), { label: 'liftgate-flighting', log });
    // the second copy is taken from the first while it is still cold: both start from the same bytes
    await cp(cl.dataDir(oldSide), cl.dataDir(newSide), { recursive: true });
    await chownTree(cl.dataDir(newSide));
    for (const n of sides) {
      await rm(path.join(cl.dataDir(n), 'liftgate-replication.conf'), { force: true });
      await server.writeNodeConfig(cl.dataDir(n), n.port);
      await cl.startNode(n);
    }
    log(
      `flighting: clone of ${primary.name} at ${res.stopLsn} started on ${input.fromVersion} (:${oldSide.port}) and ${input.toVersion} (:${newSide.port})`,
    );
    return await compare(oldSide.port, newSide.port, input.statements, log);
  } finally {
    for (const n of sides) await server.stopServer(cl.dataDir(n), 'immediate', 10_000).catch(() => false);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function compare(
  oldPort: number,
  newPort: number,
  statements: string[],
  log: (l: string) => void,
): Promise<FlightingStat> {
  const stat: FlightingStat = { totalExecuted: 0, exceptions: 0, incorrect: 0, slow: 0, dqlSpeedup: 1, details: [] };
  const ratios: number[] = [];
  const a = server.connect(oldPort);
  const b = server.connect(newPort);
  a.on('error', () => undefined);
  b.on('error', () => undefined);
  await a.connect();
  await b.connect();
  try {
    for (const sql of statements) {
      const read = isRead(sql);
      const repeats = read ? READ_REPEATS : 1;
      const o = await runOn(a, sql, repeats);
      const n = await runOn(b, sql, repeats);
      stat.totalExecuted++;
      const short = sql.replace(/\s+/g, ' ').slice(0, 200);
      if (!n.ok && (o.ok || o.error !== n.error)) {
        stat.exceptions++;
        stat.details!.push({ statement: short, kind: 'exception', message: n.error });
      } else if (o.ok && n.ok && o.answer !== n.answer) {
        stat.incorrect++;
        stat.details!.push({
          statement: short,
          kind: 'incorrect',
          message: `old ${o.answer.slice(0, 200)} | new ${n.answer.slice(0, 200)}`,
        });
      } else if (o.ok && n.ok && n.ms > 2 * o.ms && n.ms - o.ms > SLOW_FLOOR_MS) {
        stat.slow++;
        stat.details!.push({ statement: short, kind: 'slow', message: `${o.ms.toFixed(2)} ms -> ${n.ms.toFixed(2)} ms` });
      }
      if (read && o.ok && n.ok && n.ms > 0) ratios.push(o.ms / n.ms);
    }
  } finally {
    await a.end().catch(() => undefined);
    await b.end().catch(() => undefined);
  }
  stat.dqlSpeedup = Number(median(ratios).toFixed(3));
  log(
    `flighting: executed ${stat.totalExecuted}, exceptions ${stat.exceptions}, incorrect ${stat.incorrect}, slow ${stat.slow}, DQL speedup ${stat.dqlSpeedup}`,
  );
  return stat;
}
