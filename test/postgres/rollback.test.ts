// A replica that will not come back on the new version: the 16.14 build it is given crashes at start
// (it still answers --version, so precheck cannot tell). The rollout must stop at that node, and
// rolling the node's steps back (newest first, as the engine does) must put it on 16.13, streaming.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PostgresDriver } from '../../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { brokenBuild, makeTarget, makeUpgrade, planRolling, rollbackSteps, runSteps } from './harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-rb-'));
chmodSync(dir, 0o755);

const broken = brokenBuild(dir, '16.14');
const driver = new PostgresDriver({ dataDir: dir, binaries: { '16.14': broken }, verifyTimeoutMs: 10_000 });
const target = makeTarget('pgrb', '16.13', { provision: true, replicas: 2, pooler: false });

before(async () => {
  const p = await driver.provision(target);
  target.nodes = p.nodes;
  target.driverConfig = p.driverConfig;
});

after(async () => {
  await driver.destroy(target).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a replica that fails on the new version stops the rollout and is rolled back to 16.13', async () => {
  const load = new WriteLoad(() => target.nodes.map((n) => n.port!), 5);
  await load.start();
  const upgrade = makeUpgrade(target, '16.14');
  const steps = planRolling(upgrade, target.nodes);
  const primaryName = target.nodes.find((n) => n.role === 'primary')!.name;
  let outcome;
  try {
    outcome = await runSteps(driver, target, upgrade, steps);
    assert.ok(outcome.failed, 'the rollout failed');
    const failed = outcome.failed.step;
    assert.equal(failed.action, 'start');
    assert.match(outcome.failed.error.message, /did not start/);
    assert.equal((outcome.failed.error as { code?: string }).code, 'START_FAILED');
    // the rollout stopped there: no switchover, no other node touched
    assert.ok(!outcome.done.some((s) => s.action === 'switchover'));
    const badNode = failed.node!;
    const touched = new Set(outcome.done.filter((s) => s.node && s.action !== 'drain').map((s) => s.node));
    assert.deepEqual([...touched], [badNode]);
    assert.equal((await driver.inspect(target)).nodes.find((n) => n.name === badNode)!.health, 'stopped');

    // the engine rolls back the failed node's steps, newest first (including the failed one)
    const nodeSteps = steps.filter((s) => s.node === badNode && (s.state === 'succeeded' || s.state === 'failed'));
    await rollbackSteps(driver, target, upgrade, nodeSteps);
    assert.ok(
      nodeSteps.some((s) => s.log.some((l) => l.includes('pg16a') || l.includes('16.13'))),
      'rollback log names the old binaries',
    );

    const topo = await driver.inspect(target);
    const node = topo.nodes.find((n) => n.name === badNode)!;
    assert.equal(node.version, '16.13');
    assert.equal(node.role, 'replica');
    assert.equal(node.health, 'healthy', 'the rolled-back replica streams again');
    assert.equal(topo.nodes.find((n) => n.role === 'primary')!.name, primaryName);
    for (const n of topo.nodes) assert.equal(n.version, '16.13');
  } finally {
    await load.stop();
  }
  // and it has every write acknowledged meanwhile, after replaying to the primary's LSN
  const verify = { ...steps.find((s) => s.action === 'verify')!, node: outcome.failed!.step.node, log: [] as string[] };
  await driver.execute({
    upgrade,
    target,
    step: verify,
    hop: { fromVersion: '16.14', toVersion: '16.13', release: '16.13' },
    log: (l) => verify.log.push(l),
    signal: new AbortController().signal,
  });
  for (const n of target.nodes)
    assert.deepEqual(await missingOn(n.port!, load.stats.acked), [], `nothing acknowledged is missing on ${n.name}`);
});
