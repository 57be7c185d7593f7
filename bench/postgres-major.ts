// Benchmark (not a test): blue/green major upgrades of a real 3-node cluster behind PgBouncer, with
// a pgbench dataset, a steady INSERT load and a TPC-B-like pgbench load through the pooler, and a
// rollback after the switch. The driver's steps run one after another without the engine
// (bench/driver-steps.ts), through the cutover: the rollback window would wait for the whole window.
// Prints per run the client stall at the cutover (gap between acknowledged INSERTs, the driver's
// PAUSE -> RESUME, pgbench's longest transaction), client errors, lost acknowledged writes, rows and
// a checksum per table on both sides, the initial copy's rate, the lag at the pause and the time per
// stage; then the same for the second cutover back to blue and the cleanup.
//   npm run bench:postgres -- --major [--runs N] [--scale S] [--interval MS] [--tps T] [--max-lag BYTES] [--only 16|17]
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Step, Target } from '../src/domain/types.ts';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../src/drivers/postgres/load.ts';
import { makeTarget } from '../test/postgres/fixtures.ts';
import { makeUpgrade, planBlueGreen, rollbackSteps, runSteps, timedLog } from './driver-steps.ts';
import {
  initDataset,
  maxGapWithin,
  maxLatencyWithin,
  PGBENCH_TABLES,
  PgbenchLoad,
  sql,
  tableSums,
  type InitFigures,
  type PgbenchStats,
  type TableSum,
} from './lib/pgbench.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 2);
const SCALE = arg('scale', 20);
const INTERVAL = arg('interval', 3);
/** pgbench's rate (transactions per second over its clients); 0: no pgbench load */
const TPS = arg('tps', 50);
const CLIENTS = 4;
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
/** the catch-up's bound before the cutover (the driver's default, 1 MiB, unless given) */
const MAX_LAG = process.argv.includes('--max-lag') ? arg('max-lag', 0) : undefined;
const OPTIONS = {
  retentionSeconds: 3600,
  switchoverTimeoutSeconds: 30,
  ...(MAX_LAG !== undefined ? { maxLagBytes: MAX_LAG } : {}),
};
const LOAD_TABLE = 'liftgate_load';
/** how long the figures wait for a condition (a catch-up, writes on the new side) before the run fails */
const WAIT_MS = 300_000;

interface TableRow {
  table: string;
  blue: TableSum;
  green: TableSum;
}

interface SwitchFigures {
  /** longest gap between acknowledged INSERTs around the switch */
  clientStallMs: number;
  /** the driver's PAUSE -> RESUME */
  driverStallMs: number;
  pgbenchMaxLatencyMs: number;
  /** longest time without a completed pgbench transaction around the switch (covers a run starting then) */
  pgbenchGapMs: number;
  /** the cutover step's log, ms after the step started */
  cutoverLog: string[];
  lagBytesAtPause: number;
  loadErrors: number;
  pgbench: PgbenchStats | null;
  acked: number;
  lost: number;
  lostOn: string;
  /** time for the side clients left to show the last acknowledged write (the other direction's catch-up) */
  otherCaughtUpMs: number;
  tables: TableRow[];
  totalMs: number;
  stages: [string, number][];
}

interface RunFigures {
  route: string;
  run: number;
  init: InitFigures;
  datasetBytes: number;
  copyBytes: number;
  copySeconds: number;
  /** the worst gap between acknowledged INSERTs before the cutover, and the step it ended in */
  worstEarlierGap: { ms: number; step: string };
  upgrade: SwitchFigures;
  rollback: SwitchFigures;
}

async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = WAIT_MS): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

async function primaryAmong(ports: number[]): Promise<number> {
  for (const port of ports) {
    const [r] = await sql<{ rec: boolean }>(port, 'SELECT pg_is_in_recovery() AS rec').catch(() => []);
    if (r && !r.rec) return port;
  }
  throw new Error(`no primary among ports ${ports.join(', ')}`);
}

const hasId = async (port: number, id: number): Promise<boolean> =>
  (await sql(port, `SELECT 1 FROM ${LOAD_TABLE} WHERE id = $1`, [id])).length > 0;

/** every pgbench table whole, the INSERT table up to `maxId` (writes go on during the count) */
async function compareSides(bluePort: number, greenPort: number, maxId: number): Promise<TableRow[]> {
  const tables = [...PGBENCH_TABLES, LOAD_TABLE];
  const bounds = { [LOAD_TABLE]: { column: 'id', max: maxId } };
  const [blue, green] = await Promise.all([tableSums(bluePort, tables, bounds), tableSums(greenPort, tables, bounds)]);
  return tables.map((t) => ({ table: t, blue: blue.get(t)!, green: green.get(t)! }));
}

/** one more INSERT acknowledged after now: every commit before it is on a side that has this id */
async function nextAck(load: WriteLoad): Promise<number> {
  const n = load.stats.acked.length;
  await until(() => load.stats.acked.length > n, 'an acknowledged INSERT');
  return load.stats.acked[load.stats.acked.length - 1]!;
}

function startPgbench(poolPort: number, logDir: string, tag: string): PgbenchLoad | null {
  if (TPS <= 0) return null;
  const b = new PgbenchLoad(poolPort, logDir, tag, { clients: CLIENTS, tps: TPS, chunkSeconds: 4 });
  b.start();
  return b;
}

async function oneRun(from: string, to: string, n: number, run: number): Promise<RunFigures> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-pg-major-'));
  chmodSync(dir, 0o755);
  const logDir = path.join(dir, 'pgbench-logs');
  mkdirSync(logDir);
  const driver = new PostgresDriver({ dataDir: dir });
  const target: Target = makeTarget(`major${n}`, from, { provision: true, replicas: 2, pooler: true });
  let load: WriteLoad | null = null;
  let bench: PgbenchLoad | null = null;
  try {
    const p = await driver.provision(target);
    target.nodes = p.nodes;
    target.driverConfig = p.driverConfig;
    const poolPort = p.driverConfig.poolerPort as number;
    const bluePorts = target.nodes.map((x) => x.port!);
    const init = await initDataset(await primaryAmong(bluePorts), SCALE);
    const [size] = await sql<{ b: string }>(await primaryAmong(bluePorts), `SELECT pg_database_size('postgres')::text AS b`);
    load = new WriteLoad(() => [poolPort], INTERVAL, LOAD_TABLE);
    await load.start();
    bench = startPgbench(poolPort, logDir, 'up');
    const l = load;
    await until(() => l.stats.acked.length >= 100, 'a steady write load');

    // ---- the upgrade, through the cutover
    const upgrade = { ...makeUpgrade(target, to, OPTIONS), mode: 'blue_green' as const };
    const all = planBlueGreen(upgrade, target.nodes.length, OPTIONS.retentionSeconds);
    const steps = all.slice(0, all.findIndex((s) => s.action === 'cutover') + 1);
    const span = new Map<string, { start: number; end: number }>();
    const t0 = Date.now();
    const out = await runSteps(driver, target, upgrade, steps, (s, ms) =>
      span.set(s.action, { start: Date.now() - ms, end: Date.now() }),
    );
    const upTotal = Date.now() - t0;
    dumpLogs(steps);
    if (out.failed) throw new Error(`${out.failed.step.action} failed: ${out.failed.error.message}`);
    const dataOf = (a: string): Record<string, unknown> => out.timings.find((t) => t.name === a)?.data ?? {};
    const cut = span.get('cutover')!;
    const cutStep = steps.find((s) => s.action === 'cutover')!;
    const cutData = dataOf('cutover') as { stallMs: number; lagBytesAtPause: number };
    const copyData = dataOf('initial_copy') as { bytes: number; seconds: number };
    const earlier = load.stats.gaps.filter((g) => g.end >= t0 && g.end < cut.start).sort((a, b) => b.ms - a.ms)[0];
    const earlierStep = earlier
      ? ([...span].find(([, s]) => earlier.end >= s.start && earlier.end <= s.end)?.[0] ?? 'between steps')
      : '-';

    // writes go on on green, then the pgbench load stops and blue must catch up with everything
    const onGreen = load.stats.acked.length;
    await until(() => l.stats.acked.length >= onGreen + 500, 'writes on green');
    const upBench = bench ? await bench.stop() : null;
    bench = null;
    const upTo = await nextAck(load);
    const upAcked = load.stats.acked.slice();
    const upErrors = load.stats.errors;
    const greenPort = await primaryAmong(target.nodes.map((x) => x.port!));
    const bluePort = await primaryAmong(bluePorts);
    const upLost = (await missingOn(greenPort, upAcked, LOAD_TABLE)).length;
    const blueCaughtUpMs = await until(() => hasId(bluePort, upTo), 'blue to catch up through reverse replication');
    const upTables = await compareSides(bluePort, greenPort, upTo);
    const upgradeFig: SwitchFigures = {
      clientStallMs: load.gapWithin(cut.start, cut.end + 500),
      driverStallMs: cutData.stallMs,
      pgbenchMaxLatencyMs: upBench ? maxLatencyWithin(upBench, cut.start, cut.end + 500) : 0,
      pgbenchGapMs: upBench ? maxGapWithin(upBench, cut.start, cut.end + 500) : 0,
      cutoverLog: timedLog(cutStep, cut.start).map((x) => `+${x.at - cut.start} ms ${x.line}`),
      lagBytesAtPause: cutData.lagBytesAtPause,
      loadErrors: upErrors,
      pgbench: upBench,
      acked: upAcked.length,
      lost: upLost,
      lostOn: `green primary :${greenPort}`,
      otherCaughtUpMs: blueCaughtUpMs,
      tables: upTables,
      totalMs: upTotal,
      stages: steps.map((s) => [s.action, span.get(s.action)!.end - span.get(s.action)!.start]),
    };

    // ---- rollback after the switch: a second cutover, back to blue, under the same load
    bench = startPgbench(poolPort, logDir, 'rb');
    const beforeRb = load.stats.acked.length;
    await until(() => l.stats.acked.length >= beforeRb + 300, 'writes on green before the rollback');
    const rbStages: [string, number][] = [];
    let rbData: { stallMs: number; lagBytesAtPause: number } = { stallMs: 0, lagBytesAtPause: 0 };
    const r0 = Date.now();
    await rollbackSteps(driver, target, upgrade, [cutStep], (s, ms, r) => {
      rbStages.push([`${s.action} (back to blue)`, ms]);
      rbData = r.data as typeof rbData;
    });
    const r1 = Date.now();
    dumpLogs([cutStep], 'rollback ', r0);
    const onBlue = load.stats.acked.length;
    await until(() => l.stats.acked.length >= onBlue + 500, 'writes on blue after the rollback');
    const rbBench = bench ? await bench.stop() : null;
    bench = null;
    const final = await load.stop();
    load = null;
    const rbTo = final.acked[final.acked.length - 1]!;
    const bluePortNow = await primaryAmong(bluePorts);
    const rbLost = (await missingOn(bluePortNow, final.acked, LOAD_TABLE)).length;
    const greenCaughtUpMs = await until(() => hasId(greenPort, rbTo), 'green to catch up with blue after the rollback');
    const rbTables = await compareSides(bluePortNow, greenPort, rbTo);
    // the rest reversed as the engine does (newest first); what has nothing to undo only logs
    const rest = steps.filter((s: Step) => s.action !== 'cutover' && s.action !== 'precheck');
    await rollbackSteps(driver, target, upgrade, rest, (s, ms) => rbStages.push([s.action, ms]));
    dumpLogs([...rest].reverse(), 'rollback ', r1);
    const rollbackFig: SwitchFigures = {
      clientStallMs: l.gapWithin(r0, r1 + 500),
      driverStallMs: rbData.stallMs,
      pgbenchMaxLatencyMs: rbBench ? maxLatencyWithin(rbBench, r0, r1 + 500) : 0,
      pgbenchGapMs: rbBench ? maxGapWithin(rbBench, r0, r1 + 500) : 0,
      cutoverLog: timedLog(cutStep, r0).map((x) => `+${x.at - r0} ms ${x.line}`),
      lagBytesAtPause: rbData.lagBytesAtPause,
      loadErrors: final.errors - upErrors,
      pgbench: rbBench,
      acked: final.acked.length - upAcked.length,
      lost: rbLost,
      lostOn: `blue primary :${bluePortNow} (all ${final.acked.length} acknowledged)`,
      otherCaughtUpMs: greenCaughtUpMs,
      tables: rbTables,
      totalMs: rbStages.reduce((a, [, ms]) => a + ms, 0),
      stages: rbStages,
    };
    if (final.errorLog.length > 0) console.error(`  INSERT errors: ${JSON.stringify(final.errorLog.slice(0, 5))}`);
    return {
      route: `${from} -> ${to}`,
      run,
      init,
      datasetBytes: Number(size!.b),
      copyBytes: copyData.bytes,
      copySeconds: copyData.seconds,
      worstEarlierGap: { ms: earlier?.ms ?? 0, step: earlierStep },
      upgrade: upgradeFig,
      rollback: rollbackFig,
    };
  } finally {
    if (bench) await bench.stop().catch(() => undefined);
    if (load) await load.stop().catch(() => undefined);
    await driver.destroy(target).catch((e: unknown) => console.error(`destroy: ${(e as Error).message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** the driver's own account of each step, on stderr (LIFTGATE_TEST_VERBOSE=1 prints it as it happens) */
function dumpLogs(steps: Step[], prefix = '', since = 0): void {
  for (const s of steps) {
    const lines = timedLog(s, since).filter((x) => !/^(CREATE|ALTER|GRANT|COMMENT|SET|SELECT|REVOKE)\b/.test(x.line));
    for (const { line } of lines.slice(-8)) console.error(`  [${prefix}${s.action}] ${line}`);
  }
}

const MiB = 1048576;
const errorsOf = (f: SwitchFigures): number => f.loadErrors + (f.pgbench ? f.pgbench.failed + f.pgbench.abortedClients : 0);

function printSwitch(title: string, f: SwitchFigures, lostSide: string): void {
  const pb = f.pgbench;
  console.log(`  ${title}:`);
  console.log(
    `    client stall at the switch: ${f.clientStallMs} ms between acknowledged INSERTs; driver stallMs (PAUSE -> RESUME) ${f.driverStallMs} ms` +
      (pb
        ? `; pgbench longest transaction ${f.pgbenchMaxLatencyMs} ms, longest time without a pgbench commit ${f.pgbenchGapMs} ms`
        : ''),
  );
  console.log(`    the switch, as the driver logged it: ${f.cutoverLog.join('; ')}`);
  console.log(
    `    client errors: ${errorsOf(f)} (INSERT load ${f.loadErrors}` +
      (pb
        ? `, pgbench ${pb.failed} failed transactions, ${pb.abortedClients} aborted clients, ${pb.badExits} of ${pb.runs} runs exited non-zero`
        : '') +
      ')',
  );
  if (pb && pb.messages.length > 0) console.log(`    pgbench said: ${pb.messages.slice(0, 4).join(' | ')}`);
  console.log(
    `    acknowledged INSERTs: ${f.acked}${pb ? `; pgbench transactions: ${pb.transactions}` : ''}; lost: ${f.lost} (acknowledged ids missing on ${f.lostOn})`,
  );
  console.log(`    catch-up lag at the pause: ${f.lagBytesAtPause} bytes`);
  console.log(`    ${lostSide} caught up with the last acknowledged write in ${f.otherCaughtUpMs} ms; then, per table:`);
  console.log('    | table | rows blue | rows green | sum(hashtext) blue | sum(hashtext) green | same |');
  console.log('    |---|---|---|---|---|---|');
  for (const t of f.tables) {
    const same = t.blue.rows === t.green.rows && t.blue.hash === t.green.hash;
    console.log(
      `    | ${t.table} | ${t.blue.rows} | ${t.green.rows} | ${t.blue.hash} | ${t.green.hash} | ${same ? 'yes' : 'NO'} |`,
    );
  }
  console.log(`    total ${f.totalMs} ms: ${f.stages.map(([s, ms]) => `${s} ${ms} ms`).join(', ')}`);
}

function printRun(r: RunFigures): void {
  console.log(`\n### ${r.route}, run ${r.run + 1}`);
  console.log(
    `  dataset: ${r.init.how} in ${r.init.ms} ms; database postgres ${(r.datasetBytes / MiB).toFixed(1)} MiB` +
      (r.init.failure ? `; pgbench -i said: ${r.init.failure}` : ''),
  );
  console.log(
    `  initial copy: ${(r.copyBytes / MiB).toFixed(1)} MiB in ${r.copySeconds} s = ${(r.copyBytes / MiB / r.copySeconds).toFixed(2)} MiB/s`,
  );
  console.log(
    `  worst gap between acknowledged INSERTs before the cutover: ${r.worstEarlierGap.ms} ms (in ${r.worstEarlierGap.step})`,
  );
  printSwitch('upgrade, blue -> green', r.upgrade, 'blue (reverse replication)');
  printSwitch('rollback, green -> blue', r.rollback, 'green (subscribed to blue again)');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mw = (xs: number[], worst: 'max' | 'min', digits = 0): string =>
  `${median(xs).toFixed(digits)} / ${(worst === 'max' ? Math.max(...xs) : Math.min(...xs)).toFixed(digits)}`;

function loadavg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

async function main(): Promise<void> {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const loadStart = loadavg();
  const have = new PostgresDriver().installedVersions();
  const routes = (
    [
      ['16.13', '17.10'],
      ['17.10', '18.4'],
    ] as [string, string][]
  ).filter(([a, b]) => have.includes(a) && have.includes(b) && (!ONLY || a.startsWith(ONLY)));
  console.log(
    `machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average at start ${loadStart}`,
  );
  console.log(
    `${RUNS} run(s) per route; pgbench scale ${SCALE}; one INSERT every ${INTERVAL} ms through PgBouncer` +
      (TPS > 0 ? `; pgbench TPC-B-like at ${TPS} tps, ${CLIENTS} clients, through PgBouncer` : '; no pgbench load') +
      `; options ${JSON.stringify(OPTIONS)}`,
  );
  const results = new Map<string, RunFigures[]>();
  const failures: string[] = [];
  let n = 0;
  for (const [from, to] of routes) {
    const rs: RunFigures[] = [];
    for (let i = 0; i < RUNS; i++) {
      try {
        const r = await oneRun(from, to, n++, i);
        printRun(r);
        rs.push(r);
      } catch (e) {
        const msg = `${from} -> ${to}, run ${i + 1}: FAILED: ${(e as Error).message}`;
        console.log(`\n### ${msg}`);
        failures.push(msg);
      }
    }
    results.set(`${from} -> ${to}`, rs);
  }
  console.log('\n## summary (median / worst)\n');
  console.log(
    '| route | switch | runs | client stall | driver stallMs | pgbench longest tx | pgbench gap | client errors | lost | initial copy MiB/s | lag at pause (bytes) | total |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [route, rs] of results) {
    if (rs.length === 0) continue;
    for (const which of ['upgrade', 'rollback'] as const) {
      const worst = (f: (s: SwitchFigures) => number): string =>
        mw(
          rs.map((r) => f(r[which])),
          'max',
        );
      const cells = [
        route,
        which === 'upgrade' ? 'blue -> green' : 'rollback, green -> blue',
        String(rs.length),
        `${worst((s) => s.clientStallMs)} ms`,
        `${worst((s) => s.driverStallMs)} ms`,
        TPS > 0 ? `${worst((s) => s.pgbenchMaxLatencyMs)} ms` : '-',
        TPS > 0 ? `${worst((s) => s.pgbenchGapMs)} ms` : '-',
        worst(errorsOf),
        worst((s) => s.lost),
        which === 'upgrade'
          ? mw(
              rs.map((r) => r.copyBytes / MiB / r.copySeconds),
              'min',
              2,
            )
          : '-',
        worst((s) => s.lagBytesAtPause),
        `${worst((s) => s.totalMs)} ms`,
      ];
      console.log(`| ${cells.join(' | ')} |`);
    }
  }
  for (const f of failures) console.log(`failed: ${f}`);
  console.log(`\nmachine: ${cpu}, ${os.cpus().length} cores; load average at start ${loadStart}, at end ${loadavg()}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
