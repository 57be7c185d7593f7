// Demo: create a 3-node PostgreSQL 16.13 cluster, start a write load, upgrade it to 16.14 step by step
// through the postgres driver, and print per-step timings, the write outage and the loss check.
// (Thin for now: it drives the driver like the engine will; it moves onto the full engine later.)
//   node --import tsx scripts/demo-postgres.ts [--pooler]
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../src/drivers/postgres/load.ts';
import { makeTarget, makeUpgrade, planRolling, runSteps } from '../test/postgres/harness.ts';

async function main(): Promise<void> {
  const pooler = process.argv.includes('--pooler');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-pg-demo-'));
  chmodSync(dir, 0o755);
  const driver = new PostgresDriver({ dataDir: dir });
  const target = makeTarget('demo-pg', '16.13', { provision: true, replicas: 2, pooler });
  try {
    let t = Date.now();
    const p = await driver.provision(target);
    target.nodes = p.nodes;
    target.driverConfig = p.driverConfig;
    console.log(
      `created ${target.nodes.length}-node cluster on 16.13 in ${Date.now() - t} ms${pooler ? ` (pgbouncer :${String(p.driverConfig.poolerPort)})` : ''}`,
    );
    for (const n of target.nodes) console.log(`  ${n.name.padEnd(10)} ${n.role.padEnd(8)} ${n.version} 127.0.0.1:${n.port}`);
    const poolPort = p.driverConfig.poolerPort as number | null;
    const load = new WriteLoad(() => (poolPort ? [poolPort] : target.nodes.map((n) => n.port!)), 3);
    await load.start();
    console.log('write load running (one INSERT every 3 ms); upgrading to 16.14:');
    const upgrade = makeUpgrade(target, '16.14');
    const steps = planRolling(upgrade, target.nodes);
    t = Date.now();
    const out = await runSteps(driver, target, upgrade, steps, (s, ms) => {
      console.log(
        `  ${s.state === 'succeeded' ? 'ok  ' : 'FAIL'} ${s.name.padEnd(22)} ${String(ms).padStart(6)} ms  ${s.log[s.log.length - 1] ?? ''}`.slice(
          0,
          200,
        ),
      );
    });
    const total = Date.now() - t;
    const stats = await load.stop();
    if (out.failed) throw new Error(`upgrade failed at ${out.failed.step.name}: ${out.failed.error.message}`);
    const sw = out.timings.find((x) => x.name === 'switchover')?.data as { outageMs: number; stallMs: number } | undefined;
    const longestGap = Math.max(...stats.gaps.map((g) => g.ms));
    console.log(
      `upgrade done in ${total} ms; switchover outage ${sw?.outageMs} ms (server), longest write gap seen by the client ${longestGap} ms${pooler ? `, pooler stall ${sw?.stallMs} ms` : ''}`,
    );
    console.log(`client-visible errors: ${stats.errors}; acknowledged writes: ${stats.acked.length}`);
    for (const n of (await driver.inspect(target)).nodes) {
      const missing = await missingOn(n.port!, stats.acked);
      console.log(
        `  ${n.name.padEnd(10)} ${n.role.padEnd(8)} ${n.version} ${n.health.padEnd(8)} missing acknowledged writes: ${missing.length}`,
      );
    }
  } finally {
    await driver.destroy(target).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
