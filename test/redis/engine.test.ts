// Redis OSS 7.0.15 -> Valkey 8.0.1 on real processes, through the native API and the real executor:
// a Sentinel group and a three-shard Redis Cluster upgraded under a writer that counts a write only
// once WAIT confirms a replica has it (ioredis, through Sentinel and the cluster's own routing), every
// acknowledged write read back from every node afterwards; the point of no return shown before and
// during the upgrade, and a rollback refused past it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisWriteLoad } from '../../bench/lib/redis-load.ts';
import * as srv from '../../src/drivers/redis/server.ts';
import { until } from '../helpers/harness.ts';
import {
  allSteps,
  closeRedisApp,
  CLUSTER,
  createRedisTarget,
  getTarget,
  getUpgrade,
  PROJECT,
  requestValkey,
  SENTINEL_GROUP,
  settled,
  startRedisApp,
  type ApiTarget,
  type ApiUpgrade,
  type RedisApp,
} from './engine-harness.ts';

let x: RedisApp | undefined;
before(async () => {
  x = await startRedisApp('sqlite');
});
after(() => closeRedisApp(x));

const action = (id: string, a: string) => x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action: a });

/** every node's engine and version as the process itself reports them */
async function reported(t: ApiTarget): Promise<string[]> {
  return Promise.all(
    t.nodes.map(async (n) => `${n.name} ${Object.values(srv.engineOf(await srv.info(n.port, 'server'))).join(' ')}`),
  );
}

/** a writer through the group's Sentinels, started */
async function sentinelWriter(t: ApiTarget): Promise<RedisWriteLoad> {
  const load = new RedisWriteLoad({
    topology: 'sentinel',
    sentinels: t.driverConfig.sentinels!,
    masterName: t.driverConfig.masterName!,
  });
  await load.start();
  return load;
}

/** pauses the upgrade and answers it once no step runs */
async function pausedFor(id: string): Promise<ApiUpgrade> {
  assert.equal((await action(id, 'pause')).status, 200);
  return until(async () => {
    const v = await getUpgrade(x!, id);
    return v.state === 'paused' && !allSteps(v).some((s) => s.state === 'running') ? v : null;
  }, 'the upgrade to pause');
}

async function noLostWrites(load: RedisWriteLoad, t: ApiTarget): Promise<void> {
  const stats = await load.stop();
  assert.ok(stats.acked > 50, `the writer had writes acknowledged by a replica (${stats.acked})`);
  const missing = await load.missingOn(t.nodes.map((n) => ({ host: n.host, port: n.port })));
  assert.equal(missing.length, t.nodes.length);
  for (const m of missing) assert.equal(m.missing, 0, `${m.node} lacks acknowledged writes: ${m.sample.join(', ')}`);
}

test('the catalog offers Valkey 8.0.1 to Redis 7.x, and a Sentinel group shows its nodes and Sentinels', async () => {
  const res = await x!.t.call('GET', '/v1/catalog/valkey/versions');
  assert.equal(res.status, 200);
  const valkey = (res.json.items as { version: string; upgradableFrom: string[] }[]).find((i) => i.version === '8.0.1');
  assert.deepEqual(valkey?.upgradableFrom, ['redis:7.*']);
  const t = await createRedisTarget(x!, 'rs-shape', { provision: true, topology: 'sentinel', replicas: 1 });
  assert.equal(t.engine, 'redis');
  assert.deepEqual(t.nodes.map((n) => n.role).sort(), ['primary', 'replica']);
  for (const n of t.nodes) {
    assert.equal(n.host, '127.0.0.1');
    assert.equal(n.version, '7.0.15');
    assert.equal(n.engine, 'redis');
    assert.equal((await srv.call(n.port, 'PING')) as string, 'PONG');
  }
  assert.equal(t.driverConfig.masterName, 'rs-shape');
  assert.equal(t.driverConfig.sentinels?.length, 3);
  // a Sentinel of the group, asked directly, names the primary the API shows
  const primary = t.nodes.find((n) => n.role === 'primary')!;
  const addr = (await srv.call(
    t.driverConfig.sentinels![0]!.port,
    'SENTINEL',
    'GET-MASTER-ADDR-BY-NAME',
    'rs-shape',
  )) as string[];
  assert.equal(Number(addr[1]), primary.port);
  // deleting the target stops its processes
  const del = await x!.t.call('DELETE', `/v1/projects/${PROJECT}/targets/rs-shape`);
  assert.ok(del.status === 204 || del.status === 200, del.body);
  await assert.rejects(srv.call(primary.port, 'PING'));
});

test('a Sentinel group goes to Valkey under a writer: no acknowledged write lost, rollback refused past the failover', async () => {
  const t = await createRedisTarget(x!, 'rs', SENTINEL_GROUP);
  const load = await sentinelWriter(t);
  let done;
  try {
    const u = await requestValkey(x!, 'rs');
    assert.equal(u.fromEngine, 'redis');
    assert.equal(u.toEngine, 'valkey');
    // the point of no return is known before anything runs: the failover to the first Valkey node
    assert.equal(u.pointOfNoReturn?.passed, false);
    assert.match(u.pointOfNoReturn?.reason ?? '', /RDB/);
    const plan = allSteps(u);
    const failover = plan.find((s) => s.action === 'switchover')!;
    assert.equal(u.pointOfNoReturn?.name, failover.name);
    // replicas first, the primary last
    const firstPrimaryStep = plan.findIndex((s) => s.node === t.nodes.find((n) => n.role === 'primary')!.name);
    assert.ok(plan.indexOf(failover) < firstPrimaryStep, 'the primary is only touched after the failover');

    // once the failover ran: paused, rollback is not offered and is refused with the reason
    await until(
      async () => allSteps(await getUpgrade(x!, u.id)).find((s) => s.action === 'switchover')?.state === 'succeeded',
      'the failover',
      3000,
      20,
    );
    const paused = await pausedFor(u.id);
    assert.equal(paused.pointOfNoReturn?.passed, true);
    assert.ok(!paused.allowedActions.includes('rollback'), `allowed: ${paused.allowedActions.join(', ')}`);
    assert.ok(paused.allowedActions.includes('resume'));
    const refused = await action(u.id, 'rollback');
    assert.equal(refused.status, 409, refused.body);
    assert.equal(refused.json.error.code, 'ROLLBACK_BLOCKED');
    assert.match(refused.json.error.message, /cannot load the RDB that Valkey 8\.0 writes/);
    assert.equal((await action(u.id, 'resume')).status, 200);
    done = await settled(x!, u.id);
    assert.equal(done.state, 'succeeded', `${done.errorCode} ${done.error}`);
  } finally {
    await load.stop();
  }
  const shown = await getTarget(x!, 'rs');
  assert.equal(shown.engine, 'valkey');
  assert.equal(shown.version, '8.0.1');
  assert.deepEqual(
    await reported(shown),
    shown.nodes.map((n) => `${n.name} valkey 8.0.1`),
  );
  // the Sentinels moved too, and name the primary the API shows
  const primary = shown.nodes.find((n) => n.role === 'primary')!;
  for (const s of shown.driverConfig.sentinels!) {
    assert.equal(srv.engineOf(await srv.info(s.port, 'server')).engine, 'valkey');
    const addr = (await srv.call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'rs')) as string[];
    assert.equal(Number(addr[1]), primary.port);
  }
  await noLostWrites(load, shown);
});

test('a three-shard Redis Cluster goes to Valkey under a writer, shard by shard, with no acknowledged write lost', async () => {
  const t = await createRedisTarget(x!, 'rc', CLUSTER);
  assert.equal(t.nodes.length, 6);
  assert.deepEqual([...new Set(t.nodes.map((n) => n.shard))].sort(), ['1', '2', '3']);
  const load = new RedisWriteLoad({ topology: 'cluster', nodes: t.nodes.map((n) => ({ host: n.host, port: n.port })) });
  await load.start();
  try {
    const u = await requestValkey(x!, 'rc');
    const steps = allSteps(u);
    // each shard's primary hands over to its own replica
    for (const s of steps.filter((st) => st.action === 'switchover')) {
      const from = t.nodes.find((n) => n.name === s.params.from)!;
      const to = t.nodes.find((n) => n.name === s.params.to)!;
      assert.equal(from.shard, to.shard, `${from.name} hands over inside its shard`);
    }
    assert.equal(steps.filter((st) => st.action === 'switchover').length, 3);
    const done = await settled(x!, u.id);
    assert.equal(done.state, 'succeeded', `${done.errorCode} ${done.error}`);
  } finally {
    await load.stop();
  }
  const shown = await getTarget(x!, 'rc');
  assert.equal(`${shown.engine} ${shown.version}`, 'valkey 8.0.1');
  assert.deepEqual(
    await reported(shown),
    shown.nodes.map((n) => `${n.name} valkey 8.0.1`),
  );
  for (const n of shown.nodes) {
    const i = srv.parseInfo(String(await srv.call(n.port, 'CLUSTER', 'INFO')));
    assert.equal(i.cluster_state, 'ok');
    assert.equal(i.cluster_slots_ok, '16384');
  }
  await noLostWrites(load, shown);
});

test('a rollback before the point of no return puts the upgraded replica back on Redis 7.0.15 with every write', async () => {
  const t = await createRedisTarget(x!, 'rb', SENTINEL_GROUP);
  const load = await sentinelWriter(t);
  let replica = '';
  try {
    const u = await requestValkey(x!, 'rb');
    // pause once the first replica runs Valkey: the upgrade stops before the failover
    const started = await until(
      async () => allSteps(await getUpgrade(x!, u.id)).find((s) => s.action === 'start' && s.state === 'succeeded'),
      'the first replica to start on Valkey',
      3000,
      20,
    );
    replica = started.node!;
    const paused = await pausedFor(u.id);
    assert.equal(paused.pointOfNoReturn?.passed, false);
    assert.ok(paused.allowedActions.includes('rollback'), `allowed: ${paused.allowedActions.join(', ')}`);
    const node = (await getTarget(x!, 'rb')).nodes.find((n) => n.name === replica)!;
    assert.equal(srv.engineOf(await srv.info(node.port, 'server')).engine, 'valkey');
    assert.equal((await action(u.id, 'rollback')).status, 200);
    const done = await settled(x!, u.id);
    assert.equal(done.state, 'rolled_back', `${done.errorCode} ${done.error}`);
    assert.ok(!allSteps(done).some((s) => s.action === 'switchover' && s.state === 'succeeded'));
  } finally {
    await load.stop();
  }
  const shown = await getTarget(x!, 'rb');
  assert.equal(`${shown.engine} ${shown.version}`, 'redis 7.0.15');
  assert.deepEqual(
    await reported(shown),
    shown.nodes.map((n) => `${n.name} redis 7.0.15`),
  );
  const back = shown.nodes.find((n) => n.name === replica)!;
  const i = await srv.info(back.port, 'replication');
  assert.equal(i.role, 'slave');
  assert.equal(i.master_link_status, 'up');
  await noLostWrites(load, shown);
});
