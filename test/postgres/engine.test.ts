// A real 3-node PostgreSQL cluster created, upgraded and deleted through the native API and the real
// executor (no stand-in harness), over both store dialects: the catalog knows the installed versions,
// the target's nodes and endpoint follow the switchover, every acknowledged write survives on every
// node, and deleting the target stops and removes the servers.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { loadTarget } from '../../src/store/targets-repo.ts';
import { forEachDialect, until } from '../helpers/harness.ts';
import {
  allSteps,
  closePgApp,
  createPgTarget,
  getTarget,
  PROJECT,
  processAlive,
  replicasCaughtUp,
  serverPids,
  settled,
  startPgApp,
  type PgApp,
} from './engine-harness.ts';

forEachDialect('postgres driver through the engine', (dialect) => {
  let x: PgApp | undefined;

  before(async () => {
    x = await startPgApp(dialect);
  });
  after(() => closePgApp(x));

  test('the catalog lists every installed PostgreSQL, reachable from any older one (majors by blue_green)', async () => {
    const res = await x!.t.call('GET', '/v1/catalog/postgresql/versions');
    assert.equal(res.status, 200);
    const items = res.json.items as { version: string; upgradableFrom: string[] }[];
    const installed = x!.driver.installedVersions();
    assert.ok(installed.includes('16.13') && installed.includes('16.14'), `installed: ${installed.join(', ')}`);
    assert.deepEqual(
      items.map((i) => i.version),
      installed,
    );
    for (const i of items) assert.deepEqual(i.upgradableFrom, []);
  });

  test('POST a provisioned cluster: every node with host, port, role, version, and the endpoint', async () => {
    const created = await createPgTarget(x!, 'pg-1');
    assert.equal(created.version, '16.13');
    assert.equal(created.nodes.length, 3);
    assert.deepEqual(created.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
    for (const n of created.nodes) {
      assert.equal(n.version, '16.13');
      assert.equal(n.host, '127.0.0.1');
      assert.ok(typeof n.port === 'number' && n.port > 0);
      assert.equal(n.health, 'healthy');
    }
    const primary = created.nodes.find((n) => n.role === 'primary')!;
    assert.deepEqual(created.endpoint, { host: '127.0.0.1', port: primary.port });
    // a major-version jump in place is refused before anything runs (the binaries ship no
    // pg_upgrade), with the mode that can do it named
    if (x!.driver.installedVersions().includes('17.9')) {
      const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, { targetId: 'pg-1', toVersion: '17.9' });
      assert.equal(res.status, 400, res.body);
      assert.equal(res.json.error.code, 'UPGRADE_NO_ROUTE');
      assert.match(res.json.error.message, /mode "blue_green"/);
    }
  });

  test('rolling upgrade to 16.14 through the executor under write load loses no acknowledged write', async () => {
    const created = await createPgTarget(x!, 'pg-up');
    let endpoint = created.endpoint!;
    const ports = created.nodes.map((n) => n.port!);
    // the client writes to the endpoint the API gives; while the endpoint is down it tries the
    // other nodes too (libpq's multi-host failover), so it keeps writing through the switchover
    const load = new WriteLoad(() => [endpoint.port, ...ports.filter((p) => p !== endpoint.port)], 3);
    await load.start();
    let upgrade;
    try {
      const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
        targetId: 'pg-up',
        toVersion: '16.14',
        mode: 'rolling',
      });
      assert.equal(res.status, 202, res.body);
      upgrade = await settled(x!, res.json.id as string, async () => {
        endpoint = (await getTarget(x!, 'pg-up')).endpoint ?? endpoint;
      });
    } finally {
      await load.stop();
    }
    assert.equal(upgrade.state, 'succeeded', `${upgrade.errorCode}: ${upgrade.error}`);

    const steps = allSteps(upgrade);
    assert.ok(steps.every((s) => s.state === 'succeeded'));
    const oldPrimary = created.nodes.find((n) => n.role === 'primary')!.name;
    const sw = steps.find((s) => s.action === 'switchover')!;
    assert.equal(sw.params.from, oldPrimary);
    const newPrimary = sw.params.to as string;
    assert.notEqual(newPrimary, oldPrimary);
    // what the driver measured is kept with the step and shown by the API
    assert.equal((sw as { result?: { to?: string } }).result?.to, newPrimary);
    assert.equal(typeof (sw as { result?: { outageMs?: unknown } }).result?.outageMs, 'number');
    // every node, replicas too, went through rejoin
    assert.deepEqual(
      steps
        .filter((s) => s.action === 'rejoin')
        .map((s) => s.node)
        .sort(),
      created.nodes.map((n) => n.name).sort(),
    );

    // the API's nodes and endpoint follow the switchover, and agree with the servers themselves
    const after = await getTarget(x!, 'pg-up');
    assert.equal(after.version, '16.14');
    for (const n of after.nodes) {
      assert.equal(n.version, '16.14', `${n.name} is on 16.14 in the API`);
      assert.equal(n.health, 'healthy');
      assert.equal(n.role, n.name === newPrimary ? 'primary' : 'replica', `${n.name}'s role`);
      assert.equal(n.port, created.nodes.find((c) => c.name === n.name)!.port, `${n.name} kept its port`);
    }
    const moved = after.nodes.find((n) => n.name === newPrimary)!;
    assert.deepEqual(after.endpoint, { host: '127.0.0.1', port: moved.port });
    const real = await x!.driver.inspect(await loadTarget(x!.t.ctx.store.db, PROJECT, 'pg-up').then((t) => t!));
    for (const n of real.nodes) {
      const api = after.nodes.find((a) => a.name === n.name)!;
      assert.equal(n.version, '16.14', `${n.name} runs 16.14`);
      assert.equal(n.role, api.role, `${n.name}: the API's role is the real one`);
      assert.equal(n.health, 'healthy', `${n.name} is up (replicas: streaming)`);
    }

    const acked = load.stats.acked;
    assert.ok(acked.length > 50, `the write load made progress (${acked.length} acknowledged)`);
    await replicasCaughtUp(after);
    for (const n of after.nodes) {
      assert.deepEqual(await missingOn(n.port!, acked), [], `no acknowledged write is missing on ${n.name}`);
    }
  });

  test('DELETE the target stops its servers and removes its files', async () => {
    const created = await createPgTarget(x!, 'pg-del');
    const root = created.driverConfig.root as string;
    assert.equal(root, path.join(x!.dir, PROJECT, 'pg-del'));
    const pids = serverPids(root);
    assert.equal(pids.length, 3);
    assert.ok(pids.every(processAlive));
    const res = await x!.t.call('DELETE', `/v1/projects/${PROJECT}/targets/pg-del`);
    assert.equal(res.status, 204, res.body);
    assert.equal((await x!.t.call('GET', `/v1/projects/${PROJECT}/targets/pg-del`)).status, 404);
    assert.equal(existsSync(root), false);
    // a postmaster removes its pid file just before it exits: allow it that moment
    await until(async () => pids.every((p) => !processAlive(p)), `servers ${pids.join(', ')} to exit`, 3000, 20);
  });
});
