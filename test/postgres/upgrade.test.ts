// A real 3-node 16.13 cluster upgraded to 16.14 under a running write load, step by step in the
// planner's order: every acknowledged write must be on every node, and every node must run 16.14.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PostgresDriver } from '../../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { makeTarget, makeUpgrade, planRolling, runSteps } from './harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-up-'));
chmodSync(dir, 0o755); // the unprivileged service user must be able to reach its data
const driver = new PostgresDriver({ dataDir: dir });
const target = makeTarget('pgup', '16.13', { provision: true, replicas: 2, pooler: false });

before(async () => {
  const p = await driver.provision(target);
  target.nodes = p.nodes;
  target.driverConfig = p.driverConfig;
});

after(async () => {
  await driver.destroy(target).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('provision reports a primary and two streaming replicas on 16.13', async () => {
  const topo = await driver.inspect(target);
  assert.equal(topo.nodes.length, 3);
  assert.deepEqual(topo.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
  for (const n of topo.nodes) {
    assert.equal(n.version, '16.13');
    assert.equal(n.health, 'healthy');
    assert.equal(n.host, '127.0.0.1');
    assert.ok(n.port && n.port > 0);
  }
  assert.ok(driver.installedVersions().includes('16.14'));
});

test('rolling upgrade 16.13 -> 16.14 under write load loses no acknowledged write', async () => {
  const load = new WriteLoad(() => target.nodes.map((n) => n.port!), 3);
  await load.start();
  const upgrade = makeUpgrade(target, '16.14');
  const steps = planRolling(upgrade, target.nodes);
  let outcome;
  try {
    outcome = await runSteps(driver, target, upgrade, steps);
  } finally {
    await load.stop();
  }
  assert.equal(outcome.failed, null, outcome.failed ? `${outcome.failed.step.name}: ${outcome.failed.error.message}` : '');
  assert.equal(outcome.done.length, steps.length);

  const sw = steps.find((s) => s.action === 'switchover')!;
  assert.ok(
    sw.log.some((l) => l.includes('promote')),
    'switchover log shows the promotion',
  );
  const oldPrimary = steps.find((s) => s.action === 'rejoin')!.node!;
  assert.equal(target.nodes.find((n) => n.name === oldPrimary)!.role, 'replica');
  assert.equal(target.nodes.find((n) => n.name === sw.params.to)!.role, 'primary');

  const topo = await driver.inspect(target);
  for (const n of topo.nodes) {
    assert.equal(n.version, '16.14', `${n.name} runs 16.14`);
    assert.equal(n.health, 'healthy', `${n.name} healthy`);
  }
  assert.equal(topo.nodes.filter((n) => n.role === 'primary').length, 1);

  const acked = load.stats.acked;
  assert.ok(acked.length > 50, `write load made progress (${acked.length} acks)`);
  // let the replicas replay the last writes, then every acknowledged id must be everywhere
  const primary = topo.nodes.find((n) => n.role === 'primary')!;
  for (const n of topo.nodes) {
    if (n.role === 'replica') {
      const verify = { ...steps.find((s) => s.action === 'verify')!, node: n.name, log: [] as string[] };
      await driver.execute({
        upgrade,
        target,
        step: verify,
        hop: upgrade.hops[0]!,
        log: (l) => verify.log.push(l),
        signal: new AbortController().signal,
      });
    }
    assert.deepEqual(await missingOn(n.port!, acked), [], `no acknowledged write missing on ${n.name}`);
  }
  assert.ok(primary);
});
