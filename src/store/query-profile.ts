// Statement profiling of the store (LIFTGATE_QUERY_PROFILE=1): every statement Kysely sends is
// counted, by kind, in this process, and the slowest statements are printed at exit. Benchmarks
// read the counts in process (statementsRun()) to report statements per step; they may also turn
// the counting on without the report at exit (countStatements()).
//
// What passes through here is everything Kysely sends on a store's connections, transaction
// control included: Kysely issues BEGIN, COMMIT and ROLLBACK on the same (logged) connection as
// the statements, and the group committer's SAVEPOINT / RELEASE are statements of their own.
import { setting } from '../domain/settings.ts';

/** Statements sent since the process started (or since counting was turned on). */
export interface StatementCounts {
  /** every statement, transaction control included */
  total: number;
  /** BEGIN / START TRANSACTION */
  begin: number;
  /** COMMIT */
  commit: number;
  /** ROLLBACK of a whole transaction */
  rollback: number;
  /** SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT */
  savepoint: number;
  /** statements that failed (counted in total too) */
  failed: number;
}

const counts: StatementCounts = { total: 0, begin: 0, commit: 0, rollback: 0, savepoint: 0, failed: 0 };
/** time and number of runs per SQL text, for the report at exit (only with LIFTGATE_QUERY_PROFILE=1) */
const totals = new Map<string, { n: number; ms: number }>();
let counting = false;
let reporting = false;

/** Counts statements from now on, without the report at exit; stores opened after this call are counted. */
export function countStatements(): void {
  counting = true;
}

/** The statements sent so far by the stores this process opened while counting was on. */
export function statementsRun(): StatementCounts {
  return { ...counts };
}

/** The statements in `later` that were not yet in `earlier` (a benchmark's measured window). */
export function statementsBetween(earlier: StatementCounts, later: StatementCounts): StatementCounts {
  const out = { ...later };
  for (const k of Object.keys(out) as (keyof StatementCounts)[]) out[k] -= earlier[k];
  return out;
}

const CONTROL = /^\s*(begin|start\s+transaction|commit|rollback\s+to|rollback|savepoint|release)\b/i;

function classify(sql: string): void {
  const m = CONTROL.exec(sql);
  if (!m) return;
  const word = m[1].toLowerCase();
  if (word === 'begin' || word.startsWith('start')) counts.begin++;
  else if (word === 'commit') counts.commit++;
  else if (word === 'rollback') counts.rollback++;
  else counts.savepoint++;
}

function report(): void {
  const all = [...totals.values()].reduce((a, v) => ({ n: a.n + v.n, ms: a.ms + v.ms }), { n: 0, ms: 0 });
  console.error(`${all.ms.toFixed(0).padStart(7)} ms ${String(all.n).padStart(7)}x  (every statement)`);
  for (const [q, v] of [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.error(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(7)}x  ${q.slice(0, 160)}`);
  }
}

/**
 * Kysely's `log` option for a store: undefined (no logging cost) unless LIFTGATE_QUERY_PROFILE=1
 * or countStatements() was called. Every store of the process shares the counts and the report.
 */
export function queryLog():
  ((e: { level: 'query' | 'error'; query: { sql: string }; queryDurationMillis: number }) => void) | undefined {
  const profile = setting('LIFTGATE_QUERY_PROFILE');
  if (!profile && !counting) return undefined;
  if (profile && !reporting) {
    reporting = true;
    process.on('exit', report);
  }
  return (e) => {
    counts.total++;
    if (e.level === 'error') counts.failed++;
    classify(e.query.sql);
    if (!reporting) return;
    const t = totals.get(e.query.sql) ?? { n: 0, ms: 0 };
    t.n++;
    t.ms += e.queryDurationMillis;
    totals.set(e.query.sql, t);
  };
}
