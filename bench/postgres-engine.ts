// Benchmark (not a test): the same rolling minor upgrade of a real 3-node cluster as bench/postgres.ts,
// but through the whole product (HTTP app, store, real executor at its default poll interval), to
// see what the executor adds between the driver's steps. Run by `npm run bench:postgres -- --engine`
// (`--runs N`, `--only 16|17`, `--dialect sqlite|postgres`). Every figure comes from the stored
// steps: started_at / ended_at and what each step reported (serverMs, outageMs).
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { startApp, type Dialect } from '../test/helpers/harness.ts';
import {
  allSteps,
  closePgApp,
  createPgTarget,
  PROJECT,
  settled,
  type ApiStep,
  type PgApp,
} from '../test/postgres/engine-harness.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('runs') ?? 3);
const ONLY = arg('only');
const DIALECT = (arg('dialect') ?? 'sqlite') as Dialect;
const AIM_PCT = 10;

type StoredStep = ApiStep & { result?: Record<string, unknown> | null };

const ms = (iso: string | null): number => (iso ? Date.parse(iso) : NaN);

function figures(steps: StoredStep[]) {
  const ran = steps.filter((s) => s.startedAt && s.endedAt).sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
  const dur = (s: StoredStep): number => ms(s.endedAt) - ms(s.startedAt);
  const restart = (s: StoredStep): number =>
    s.action === 'stop' || s.action === 'start'
      ? Number(s.result?.serverMs ?? 0)
      : s.action === 'switchover'
        ? Number(s.result?.outageMs ?? 0)
        : 0;
  const totalMs = ms(ran[ran.length - 1]!.endedAt) - ms(ran[0]!.startedAt);
  const restartsMs = ran.reduce((a, s) => a + restart(s), 0);
  const backupMs = ran.filter((s) => s.action === 'backup').reduce((a, s) => a + dur(s), 0);
  const precheckMs = ran.filter((s) => s.action === 'precheck').reduce((a, s) => a + dur(s), 0);
  const overheadMs = totalMs - restartsMs - backupMs - precheckMs;
  // steps of one rolling upgrade run one at a time: the time between them is the executor's
  const betweenMs = totalMs - ran.reduce((a, s) => a + dur(s), 0);
  const gaps = ran.slice(1).map((s, i) => ms(s.startedAt) - ms(ran[i]!.endedAt));
  const by: Record<string, number> = {};
  for (const s of ran)
    if (s.action !== 'backup' && s.action !== 'precheck') by[s.action] = (by[s.action] ?? 0) + dur(s) - restart(s);
  const overheadBy = Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([a, v]) => `${a} ${v}`)
    .join(', ');
  return { steps: ran.length, totalMs, restartsMs, backupMs, precheckMs, overheadMs, betweenMs, gaps, overheadBy };
}

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function engineBench(): Promise<void> {
  console.log(
    `machine: ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; through the executor (store ${DIALECT}, default poll interval); ${RUNS} runs per row`,
  );
  console.log(
    'overhead = total - restarts - backup - precheck; "between steps" = total - the sum of the step durations: one step ended -> the next claimed and started',
  );
  // as test/helpers/driver-app.ts does, but with the executor's default poll interval (250 ms), not the tests' 20 ms
  const dir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-pg-engine-bench-'));
  chmodSync(dir, 0o755);
  const driver = new PostgresDriver({ dataDir: dir });
  const t = await startApp(DIALECT, { extraDrivers: () => [driver], executor: { pollMs: 250 } });
  const x: PgApp = { t, driver, dir };
  const made = await t.call('POST', '/v1/projects', { id: PROJECT, name: PROJECT });
  if (made.status !== 201) throw new Error(made.body);
  try {
    const have = x.driver.installedVersions();
    const pairs = [
      ['16.13', '16.14'],
      ['17.9', '17.10'],
    ].filter(([a, b]) => have.includes(a!) && have.includes(b!) && (!ONLY || a!.startsWith(ONLY)));
    let n = 0;
    for (const [from, to] of pairs) {
      const rs: ReturnType<typeof figures>[] = [];
      for (let i = 0; i < RUNS; i++) {
        const id = `eng${n++}`;
        await createPgTarget(x, id, from);
        const res = await x.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, { targetId: id, toVersion: to, mode: 'rolling' });
        if (res.status !== 202) throw new Error(res.body);
        const u = await settled(x, res.json.id as string);
        if (u.state !== 'succeeded') throw new Error(`${u.errorCode}: ${u.error}`);
        const f = figures(allSteps(u) as StoredStep[]);
        rs.push(f);
        console.log(
          `run ${i + 1}/${RUNS} ${from} -> ${to}: ${f.steps} steps, total ${f.totalMs} ms = restarts ${f.restartsMs} + backup ${f.backupMs} + precheck ${f.precheckMs} + overhead ${f.overheadMs} ` +
            `(${((100 * f.overheadMs) / f.totalMs).toFixed(1)}%, aim < ${AIM_PCT}%), of which between steps ${f.betweenMs} (per handoff p50 ${p50(f.gaps)}, max ${Math.max(...f.gaps)}); in the steps by action: ${f.overheadBy}`,
        );
        await x.t.call('DELETE', `/v1/projects/${PROJECT}/targets/${id}`);
      }
      const col = (k: keyof Omit<ReturnType<typeof figures>, 'gaps' | 'overheadBy'>): number => p50(rs.map((r) => r[k]));
      console.log(
        `p50 ${from} -> ${to}: total ${col('totalMs')} ms, restarts ${col('restartsMs')}, backup ${col('backupMs')}, precheck ${col('precheckMs')}, ` +
          `overhead ${col('overheadMs')} (${p50(rs.map((r) => (100 * r.overheadMs) / r.totalMs)).toFixed(1)}%, aim < ${AIM_PCT}%), between steps ${col('betweenMs')}`,
      );
    }
  } finally {
    await closePgApp(x);
  }
}
