// Demo: a 3-node PostgreSQL 16.13 cluster upgraded to 16.14 through the whole engine (service layer,
// planner, store, executor, postgres driver) while a client writes to the target's endpoint. Prints
// each step as it finishes, per-step timings, the write outage and the loss check.
//   node --import tsx scripts/demo-postgres.ts [--pooler]
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Step } from '../src/domain/types.ts';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../src/drivers/postgres/load.ts';
import { endpointOf } from '../src/http/native/routes.ts';
import { createContext } from '../src/app/context.ts';
import type { AppContext } from '../src/service/app-context.ts';
import { createProject } from '../src/service/projects.ts';
import { createTarget, getTarget } from '../src/service/targets.ts';
import { createUpgrade, getUpgrade, type UpgradeDetail } from '../src/service/upgrades.ts';

const PROJECT = 'demo';
const TARGET = 'pg-demo';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rolled_back'];
const ms = (a: string | null, b: string | null): number => (a && b ? Date.parse(b) - Date.parse(a) : 0);
const stepsOf = (u: UpgradeDetail): Step[] => u.stages.flatMap((s) => s.steps);
const label = (s: Step): string => `${s.action}${s.node ? ` ${s.node}` : ''}`;

async function main(): Promise<void> {
  const pooler = process.argv.includes('--pooler');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-pg-demo-'));
  chmodSync(dataDir, 0o755); // the servers run as an unprivileged user that must reach <dataDir>/pg
  const driver = new PostgresDriver({ dataDir: path.join(dataDir, 'pg') });
  let ctx: AppContext | null = null;
  const stopOnSignal = () => void cleanup().finally(() => process.exit(130));
  const cleanup = async () => {
    process.off('SIGINT', stopOnSignal);
    await ctx?.close().catch(() => undefined);
    await driver.destroy({ projectId: PROJECT, id: TARGET, driverConfig: {} } as never).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', stopOnSignal);
  try {
    ctx = await createContext({ dataDir, simTimeScale: 0, executor: { pollMs: 20 }, extraDrivers: () => [driver] });
    await createProject(ctx, { id: PROJECT, name: 'PostgreSQL demo' });
    let t = Date.now();
    let target = await createTarget(
      ctx,
      PROJECT,
      {
        id: TARGET,
        kind: 'cluster',
        engine: 'postgresql',
        version: '16.13',
        driver: 'postgres',
        driverConfig: { provision: true, replicas: 2, pooler },
      },
      'demo-script',
    );
    let endpoint = endpointOf(target)!;
    console.log(
      `created ${target.nodes.length}-node cluster ${TARGET} on 16.13 in ${Date.now() - t} ms (store: ${ctx.store.describe})`,
    );
    for (const n of target.nodes) console.log(`  ${n.name.padEnd(11)} ${n.role.padEnd(8)} ${n.version}  ${n.host}:${n.port}`);
    console.log(`  endpoint ${endpoint.host}:${endpoint.port}${pooler ? ' (pgbouncer)' : ' (the primary)'}`);

    // without a pooler the client fails over itself: the endpoint first, then the other nodes
    const ports = target.nodes.map((n) => n.port!);
    const load = new WriteLoad(() => [endpoint.port, ...ports.filter((p) => p !== endpoint.port)], 3);
    await load.start();
    await sleep(300); // steady state before the upgrade
    console.log('write load running (one INSERT every 3 ms); rolling upgrade to 16.14 through the executor:');

    t = Date.now();
    let u = await createUpgrade(ctx, PROJECT, { targetId: TARGET, toVersion: '16.14', mode: 'rolling' }, 'demo-script');
    const printed = new Set<string>();
    for (;;) {
      u = await getUpgrade(ctx, PROJECT, u.id);
      for (const s of stepsOf(u)) {
        if (printed.has(s.id) || !['succeeded', 'failed'].includes(s.state)) continue;
        printed.add(s.id);
        // the line that says most: the outage for a switchover, else what the step did last
        const last =
          s.error ??
          ([...s.log].reverse().find((l) => /write outage/.test(l)) ?? s.log[s.log.length - 1] ?? '').replace(/^\S+ /, '');
        const line = `  ${s.state === 'succeeded' ? 'ok  ' : 'FAIL'} ${label(s).padEnd(22)} ${String(ms(s.startedAt, s.endedAt)).padStart(5)} ms  ${last}`;
        console.log(line.slice(0, 170));
      }
      if (TERMINAL.includes(u.state)) break;
      target = await getTarget(ctx, PROJECT, TARGET);
      endpoint = endpointOf(target) ?? endpoint;
      await sleep(20);
    }
    const wall = Date.now() - t;
    await sleep(300);
    const stats = await load.stop();
    if (u.state !== 'succeeded') throw new Error(`upgrade ${u.state}: ${u.errorCode}: ${u.error}`);

    const steps = stepsOf(u);
    console.log('\nper-step timings (from the upgrade record):');
    for (const stage of u.stages) {
      console.log(`  ${stage.name.padEnd(44)} ${String(ms(stage.startedAt, stage.endedAt)).padStart(5)} ms`);
      for (const s of stage.steps)
        console.log(`      ${label(s).padEnd(40)} ${String(ms(s.startedAt, s.endedAt)).padStart(5)} ms`);
    }
    const total = ms(u.startedAt, u.endedAt);
    const inSteps = steps.reduce((a, s) => a + ms(s.startedAt, s.endedAt), 0);
    console.log(
      `  total ${total} ms (request to done: ${wall} ms); in driver steps ${inSteps} ms; between steps (executor) ${total - inSteps} ms`,
    );

    const sw = steps.find((s) => s.action === 'switchover')!;
    const server = /write outage (\d+) ms/.exec(sw.log.join('\n'))?.[1];
    const stall = /clients stalled (\d+) ms/.exec(sw.log.join('\n'))?.[1];
    const gap = load.gapWithin(Date.parse(sw.startedAt!), Date.parse(sw.endedAt!) + 1000);
    console.log(
      `\nwrite outage at the switchover: ${gap} ms seen by the client (longest gap between acknowledged INSERTs), ${server ?? '?'} ms server-side (stop -> promoted)${stall ? `, pgbouncer stall ${stall} ms` : ''}`,
    );
    console.log(`client-visible errors: ${stats.errors}; acknowledged writes: ${stats.acked.length}`);

    target = await getTarget(ctx, PROJECT, TARGET);
    const real = await driver.inspect(target);
    let lost = 0;
    for (const n of real.nodes) {
      // wait until the replica has replayed everything, then look for every acknowledged id
      let missing = await missingOn(n.port!, stats.acked);
      for (let i = 0; i < 100 && missing.length > 0; i++) {
        await sleep(20);
        missing = await missingOn(n.port!, stats.acked);
      }
      lost = Math.max(lost, missing.length);
      const api = target.nodes.find((x) => x.name === n.name);
      console.log(
        `  ${n.name.padEnd(11)} ${n.role.padEnd(8)} ${n.version} ${n.health.padEnd(8)} (API: ${api?.role} ${api?.version}) missing acknowledged writes: ${missing.length}`,
      );
    }
    console.log(lost === 0 ? 'loss check: no acknowledged write lost on any node' : `loss check: FAILED, ${lost} missing`);
    if (lost > 0) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
