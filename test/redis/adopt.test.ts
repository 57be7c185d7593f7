// Groups the driver did not make: a Sentinel group and a Redis Cluster started here by hand (config
// files written by the test, `redis-server`, `redis-cli --cluster create`) are adopted through the
// API with driverConfig.provision false. The driver finds every node and Sentinel from what they
// say, upgrades the adopted Sentinel group to Valkey on the processes' own config files, and
// deleting an adopted target leaves its processes running.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../src/drivers/postgres/cluster.ts';
import * as srv from '../../src/drivers/redis/server.ts';
import { until } from '../helpers/harness.ts';
import { closeRedisApp, getTarget, PROJECT, requestValkey, settled, startRedisApp, type RedisApp } from './engine-harness.ts';

const run = promisify(execFile);
let x: RedisApp | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-redis-adopt-'));
const pidFiles: string[] = [];

/** a process started the way an operator would: its own config file, daemonized, a pid file */
async function startByHand(name: string, lines: string[], sentinel = false): Promise<number> {
  const port = await freePort();
  const home = path.join(dir, name);
  await run('mkdir', ['-p', home]);
  const pid = path.join(home, 'redis.pid');
  pidFiles.push(pid);
  const conf = path.join(home, sentinel ? 'sentinel.conf' : 'redis.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${home}`,
      'daemonize yes',
      `pidfile ${pid}`,
      `logfile ${path.join(home, 'log')}`,
      ...lines,
    ]
      .map((l) => l.replace('$PORT', String(port)))
      .join('\n') + '\n',
  );
  await run('/usr/bin/redis-server', [conf, ...(sentinel ? ['--sentinel'] : [])]);
  await until(
    async () => (await run('redis-cli', ['-p', String(port), 'PING']).catch(() => ({ stdout: '' }))).stdout.trim() === 'PONG',
    `${name} to answer`,
  );
  return port;
}

before(async () => {
  x = await startRedisApp('sqlite');
});
after(async () => {
  await closeRedisApp(x);
  for (const f of pidFiles) {
    try {
      process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGKILL');
    } catch {
      // not running
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a Sentinel group started by hand is adopted, upgraded to Valkey on its own config files, and left running when deleted', async () => {
  const primary = await startByHand('p', ['appendonly yes']);
  const replica = await startByHand('r', ['appendonly yes', `replicaof 127.0.0.1 ${primary}`]);
  const sentinels: number[] = [];
  for (const i of [1, 2, 3]) {
    sentinels.push(
      await startByHand(
        `s${i}`,
        [`sentinel monitor cache 127.0.0.1 ${primary} 2`, 'sentinel down-after-milliseconds cache 5000'],
        true,
      ),
    );
  }
  await until(async () => {
    const out = (await run('redis-cli', ['-p', String(sentinels[0]), 'SENTINEL', 'MASTER', 'cache'])).stdout;
    const lines = out.trim().split('\n');
    const v = (k: string) => lines[lines.indexOf(k) + 1];
    return v('num-slaves') === '1' && v('num-other-sentinels') === '2';
  }, 'the Sentinels to find the replica and each other');
  await run('redis-cli', ['-p', String(primary), 'SET', 'before', 'adopted']);
  await until(
    async () => (await run('redis-cli', ['-p', String(replica), 'INFO', 'replication'])).stdout.includes('master_link_status:up'),
    'the replica to be linked',
  );

  const bad = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id: 'far',
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'redis',
    driverConfig: { provision: false, topology: 'sentinel', sentinels: [{ host: '10.0.0.9', port: 26379 }], masterName: 'cache' },
  });
  assert.equal(bad.status, 400, bad.body);
  assert.match(bad.json.error.message, /adopts groups on this host only/);

  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id: 'cache',
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'redis',
    driverConfig: {
      provision: false,
      topology: 'sentinel',
      sentinels: [{ host: '127.0.0.1', port: sentinels[0] }],
      masterName: 'cache',
    },
  });
  assert.equal(res.status, 201, res.body);
  const t = await getTarget(x!, 'cache');
  assert.deepEqual(t.nodes.map((n) => `${n.role} ${n.port} ${n.engine} ${n.version}`).sort(), [
    `primary ${primary} redis 7.0.15`,
    `replica ${replica} redis 7.0.15`,
  ]);
  assert.deepEqual(t.driverConfig.sentinels?.map((s) => s.port).sort(), [...sentinels].sort());

  const u = await requestValkey(x!, 'cache');
  const done = await settled(x!, u.id);
  assert.equal(done.state, 'succeeded', `${done.errorCode} ${done.error}`);
  for (const port of [primary, replica, ...sentinels]) {
    const info = (await run('redis-cli', ['-p', String(port), 'INFO', 'server'])).stdout;
    assert.match(info, /valkey_version:8\.0\.1/, `port ${port} runs Valkey`);
  }
  // the new primary (the old replica) has the data written before the adoption
  assert.equal((await run('redis-cli', ['-p', String(replica), 'GET', 'before'])).stdout.trim(), 'adopted');
  // the processes kept their own config files (Valkey restarted on them)
  assert.match(readFileSync(path.join(dir, 'r', 'redis.conf'), 'utf8'), new RegExp(`port ${replica}`));

  const del = await x!.t.call('DELETE', `/v1/projects/${PROJECT}/targets/cache`);
  assert.ok(del.status === 200 || del.status === 204, del.body);
  assert.equal(await srv.call(primary, 'PING'), 'PONG', 'an adopted group runs on after its target is deleted');
});

test('a Redis Cluster made with redis-cli is adopted with its shards', async () => {
  const ports: number[] = [];
  for (const i of [1, 2, 3, 4, 5, 6]) {
    ports.push(await startByHand(`c${i}`, ['appendonly yes', 'cluster-enabled yes', 'cluster-config-file nodes.conf']));
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  ]);
  await until(async () => {
    let replicas = 0;
    for (const p of ports) {
      if (!(await run('redis-cli', ['-p', String(p), 'CLUSTER', 'INFO'])).stdout.includes('cluster_state:ok')) return false;
      if ((await run('redis-cli', ['-p', String(p), 'INFO', 'replication'])).stdout.includes('role:slave')) replicas++;
    }
    return replicas === 3;
  }, 'the cluster to be ok with three replicas');
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id: 'cc',
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'redis',
    driverConfig: { provision: false, topology: 'cluster', seeds: [{ host: '127.0.0.1', port: ports[0] }] },
  });
  assert.equal(res.status, 201, res.body);
  const t = await getTarget(x!, 'cc');
  assert.deepEqual(t.nodes.map((n) => n.port).sort(), [...ports].sort());
  for (const shard of ['1', '2', '3']) {
    assert.deepEqual(
      t.nodes
        .filter((n) => n.shard === shard)
        .map((n) => n.role)
        .sort(),
      ['primary', 'replica'],
      `shard ${shard}`,
    );
  }
  const pre = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets/cc/prechecks`, {
    toEngine: 'valkey',
    toVersion: '8.0.1',
    wait: true,
  });
  assert.equal(pre.status, 201, pre.body);
  assert.equal(pre.json.items.find((i: { name: string }) => i.name === 'cluster_state').status, 'pass');
});
