// The redis driver's precheck findings on real groups, each naming the node and what to fix, and the
// requests it refuses before anything is stored: a group with no replica (a rolling upgrade would
// have to stop its primary), a version nobody has, binaries missing on the host, a cluster with
// slots nobody serves, and a driver that cannot change engines.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as srv from '../../src/drivers/redis/server.ts';
import {
  allSteps,
  closeRedisApp,
  createRedisTarget,
  getTarget,
  PROJECT,
  settled,
  startRedisApp,
  type ApiTarget,
  type RedisApp,
} from './engine-harness.ts';

let x: RedisApp | undefined;
let group: ApiTarget;
before(async () => {
  x = await startRedisApp('sqlite');
  group = await createRedisTarget(x, 'pc', { provision: true, topology: 'sentinel', replicas: 1 });
});
after(() => closeRedisApp(x));

interface Item {
  name: string;
  status: string;
  node?: string;
  message: string;
}

async function precheck(targetId: string): Promise<{ state: string; items: Item[] }> {
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets/${targetId}/prechecks`, {
    toEngine: 'valkey',
    toVersion: '8.0.1',
    mode: 'rolling',
    wait: true,
  });
  assert.equal(res.status, 201, res.body);
  return res.json as { state: string; items: Item[] };
}

const upgrade = (body: Record<string, unknown>) =>
  x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, { mode: 'rolling', ...body });
const failures = (r: { items: Item[] }) => r.items.filter((i) => i.status === 'fail');

test('a healthy group passes, with the point of no return said before anything runs', async () => {
  const r = await precheck('pc');
  assert.equal(r.state, 'warned', JSON.stringify(r.items));
  assert.deepEqual(failures(r), []);
  const noReturn = r.items.find((i) => i.name === 'point_of_no_return')!;
  assert.equal(noReturn.status, 'warn');
  assert.match(noReturn.message, /point of no return.*rollback is refused/);
  for (const name of ['binaries', 'reachable', 'replication', 'persistence', 'modules', 'memory', 'sentinels']) {
    assert.equal(r.items.find((i) => i.name === name)?.status, 'pass', name);
  }
});

test('AOF off and a replication backlog too small for a partial resync fail, naming the node and the fix', async () => {
  const replica = group.nodes.find((n) => n.role === 'replica')!;
  await srv.call(replica.port, 'CONFIG', 'SET', 'appendonly', 'no');
  await srv.call(replica.port, 'CONFIG', 'SET', 'repl-backlog-size', '16384');
  try {
    const r = await precheck('pc');
    assert.equal(r.state, 'failed');
    const aof = failures(r).find((i) => i.name === 'persistence')!;
    assert.equal(aof.node, replica.name);
    assert.match(aof.message, /CONFIG SET appendonly yes/);
    const backlog = failures(r).find((i) => i.name === 'replication_backlog')!;
    assert.equal(backlog.node, replica.name);
    assert.match(backlog.message, /CONFIG SET repl-backlog-size \d+/);
  } finally {
    await srv.call(replica.port, 'CONFIG', 'SET', 'appendonly', 'yes');
    await srv.call(replica.port, 'CONFIG', 'SET', 'repl-backlog-size', String(64 * 1048576));
  }
  assert.deepEqual(failures(await precheck('pc')), []);
});

test('a node that does not answer fails the precheck by name, and the upgrade stops at its precheck', async () => {
  const other = await createRedisTarget(x!, 'pc-down', { provision: true, topology: 'sentinel', replicas: 1 });
  const replica = other.nodes.find((n) => n.role === 'replica')!;
  await srv.call(replica.port, 'SHUTDOWN').catch(() => undefined);
  const r = await precheck('pc-down');
  const down = failures(r).find((i) => i.name === 'reachable')!;
  assert.equal(down.node, replica.name);
  assert.match(down.message, new RegExp(`${replica.name} \\(port ${replica.port}\\) does not answer`));
  const res = await upgrade({ targetId: 'pc-down', toEngine: 'valkey', toVersion: '8.0.1' });
  assert.equal(res.status, 202, res.body);
  const done = await settled(x!, res.json.id as string);
  assert.equal(done.state, 'failed');
  assert.equal(done.errorCode, 'PRECHECK_FAILED');
  // nothing past the precheck ran: every node is still on Redis
  assert.deepEqual(
    allSteps(done)
      .filter((s) => s.state !== 'pending')
      .map((s) => s.action),
    ['precheck'],
  );
});

test('a group without a replica is refused for rolling, with stop_service offered; stop_service upgrades it', async () => {
  await createRedisTarget(x!, 'solo', { provision: true, topology: 'sentinel', replicas: 0 });
  const res = await upgrade({ targetId: 'solo', toEngine: 'valkey', toVersion: '8.0.1' });
  assert.equal(res.status, 400, res.body);
  assert.equal(res.json.error.code, 'UPGRADE_NO_ROUTE');
  assert.match(res.json.error.message, /no replica.*never stops a primary.*"stop_service"/);
  const ok = await upgrade({ targetId: 'solo', toEngine: 'valkey', toVersion: '8.0.1', mode: 'stop_service' });
  assert.equal(ok.status, 202, ok.body);
  const done = await settled(x!, ok.json.id as string);
  assert.equal(done.state, 'succeeded', `${done.errorCode} ${done.error}`);
  const shown = await getTarget(x!, 'solo');
  assert.equal(`${shown.engine} ${shown.version}`, 'valkey 8.0.1');
  assert.equal(srv.engineOf(await srv.info(shown.nodes[0]!.port, 'server')).engine, 'valkey');
});

test('an unknown version, missing binaries and a driver that cannot change engines get 4xx answers that say why', async () => {
  const unknown = await upgrade({ targetId: 'pc', toEngine: 'valkey', toVersion: '9.9.9' });
  assert.equal(unknown.status, 404, unknown.body);
  assert.equal(unknown.json.error.code, 'VERSION_NOT_FOUND');
  assert.match(unknown.json.error.message, /9\.9\.9 of valkey is not in the catalog \(redis can move to valkey 8\.0\.1\)/);
  const engine = await upgrade({ targetId: 'pc', toEngine: 'mysql', toVersion: '8.0.1' });
  assert.equal(engine.status, 400, engine.body);
  assert.equal(engine.json.error.code, 'UPGRADE_NO_ROUTE');
  assert.match(engine.json.error.message, /cannot change a target's engine from redis to mysql \(it runs redis, valkey\)/);

  process.env.LIFTGATE_VALKEY_SERVER = '/nonexistent/valkey-server';
  try {
    const missing = await upgrade({ targetId: 'pc', toEngine: 'valkey', toVersion: '8.0.1' });
    assert.equal(missing.status, 409, missing.body);
    assert.equal(missing.json.error.code, 'PRECHECK_FAILED');
    assert.match(
      missing.json.error.message,
      /\/nonexistent\/valkey-server is not installed: install Debian's valkey-server package/,
    );
  } finally {
    delete process.env.LIFTGATE_VALKEY_SERVER;
  }
  const list = await x!.t.call('GET', `/v1/projects/${PROJECT}/upgrades?target=pc`);
  assert.equal(list.json.items.length, 0, 'no refused request left an upgrade behind');

  const sim = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id: 'sim-redis',
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'sim',
    nodes: [{ name: 'n1', role: 'primary', zone: 'z1' }],
  });
  assert.equal(sim.status, 201, sim.body);
  const simUp = await upgrade({ targetId: 'sim-redis', toEngine: 'valkey', toVersion: '8.0.1' });
  assert.equal(simUp.status, 400, simUp.body);
  assert.match(simUp.json.error.message, /the sim driver cannot change a target's engine/);
});

test('a cluster with slots nobody serves is refused before anything is stored', async () => {
  const c = await createRedisTarget(x!, 'pc-slots', { provision: true, topology: 'cluster', shards: 1, replicasPerShard: 1 });
  const primary = c.nodes.find((n) => n.role === 'primary')!;
  await srv.call(primary.port, 'CLUSTER', 'DELSLOTS', 100);
  try {
    const res = await upgrade({ targetId: 'pc-slots', toEngine: 'valkey', toVersion: '8.0.1' });
    assert.equal(res.status, 409, res.body);
    assert.equal(res.json.error.code, 'PRECHECK_FAILED');
    assert.match(res.json.error.message, /16383 of 16384 slots served.*CLUSTER ADDSLOTS/);
  } finally {
    await srv.call(primary.port, 'CLUSTER', 'ADDSLOTS', 100);
  }
});
