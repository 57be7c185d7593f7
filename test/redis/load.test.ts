// The Redis write load (bench/lib/redis-load.ts) on real redis-server processes started here: a
// Sentinel group (primary, replica, three sentinels) and a 3-shard Redis Cluster with a replica
// per shard. Writes are acknowledged, keep being acknowledged on the new primary after a
// failover (SENTINEL FAILOVER; CLUSTER FAILOVER on a replica), no acknowledged write is missing
// anywhere, and the oracle reports a key removed from one node only.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisWriteLoad, type Addr } from '../../bench/lib/redis-load.ts';
import { until } from '../helpers/harness.ts';
import { freePort } from '../helpers/servers.ts';

const HOST = '127.0.0.1';
const MASTER = 'lgload';

interface Procs {
  dir: string;
  children: ChildProcess[];
  output: string[];
}

function newProcs(): Procs {
  return { dir: mkdtempSync(path.join(os.tmpdir(), 'liftgate-redis-load-')), children: [], output: [] };
}

function run(p: Procs, args: string[]): void {
  const child = spawn('/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d) => p.output.push(String(d)));
  child.stderr?.on('data', (d) => p.output.push(String(d)));
  p.children.push(child);
}

function cleanup(p: Procs | undefined): void {
  if (!p) return;
  for (const c of p.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(p.dir, { recursive: true, force: true });
}

/** one redis-server on its own folder; `extra` are more `--name value` settings */
async function server(p: Procs, name: string, extra: string[] = []): Promise<Addr> {
  const port = await freePort();
  const dir = path.join(p.dir, name);
  mkdirSync(dir);
  run(p, ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', ...extra]);
  return { host: HOST, port };
}

const conn = (a: Addr) => {
  const c = new Redis({ host: a.host, port: a.port, retryStrategy: () => null, maxRetriesPerRequest: 0, lazyConnect: true });
  c.on('error', () => undefined);
  return c;
};

/** runs one command on a node over a fresh connection (null while it cannot be reached) */
async function ask(a: Addr, cmd: string, ...args: (string | number)[]): Promise<unknown> {
  const c = conn(a);
  try {
    await c.connect();
    return await c.call(cmd, ...args);
  } catch {
    return null;
  } finally {
    c.disconnect();
  }
}

const infoField = async (a: Addr, section: string, field: string) =>
  new RegExp(`^${field}:(.*)$`, 'm').exec(String((await ask(a, 'INFO', section)) ?? ''))?.[1]?.trim();

const key = (a: Addr) => `${a.host}:${a.port}`;

describe('Redis write load on a Sentinel group', () => {
  let p: Procs | undefined;
  let primary: Addr;
  let replica: Addr;
  const sentinels: Addr[] = [];

  before(async () => {
    p = newProcs();
    primary = await server(p, 'primary');
    replica = await server(p, 'replica');
    await until(async () => (await ask(replica, 'REPLICAOF', primary.host, primary.port)) === 'OK', 'the replica to follow');
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(p.dir, `sentinel${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${p.dir}`,
          `sentinel monitor ${MASTER} ${primary.host} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${MASTER} 2000`,
          `sentinel failover-timeout ${MASTER} 10000`,
          '',
        ].join('\n'),
      );
      run(p, [conf, '--sentinel']);
      sentinels.push({ host: HOST, port });
    }
    await until(async () => (await infoField(replica, 'replication', 'master_link_status')) === 'up', 'the replica in sync');
    // every sentinel knows the replica (SENTINEL FAILOVER needs one to promote)
    for (const s of sentinels) {
      await until(async () => {
        const r = (await ask(s, 'SENTINEL', 'REPLICAS', MASTER)) as string[][] | null;
        return r?.some((fields) => fields.includes(String(replica.port)));
      }, 'the sentinels to see the replica');
    }
  });
  after(() => cleanup(p));

  test('writes are acknowledged before and after a failover, none is lost, and a key removed from the replica is reported', async () => {
    const load = new RedisWriteLoad({ topology: 'sentinel', sentinels, masterName: MASTER }, { keyPrefix: 'snt' });
    await load.start();
    try {
      await until(async () => load.acked.length >= 20, 'acknowledged writes on the first primary');
      assert.ok(
        load.acked.every((a) => a.node.endsWith(`:${primary.port}`)),
        'the first writes went to the primary',
      );
      assert.equal(await ask(sentinels[0]!, 'SENTINEL', 'FAILOVER', MASTER), 'OK');
      await until(
        async () => load.acked.filter((a) => a.node.endsWith(`:${replica.port}`)).length >= 20,
        'acknowledged writes on the promoted replica',
        3000,
        20,
      );
    } finally {
      await load.stop();
    }
    const stats = load.stats();
    assert.ok(stats.acked > 40, `acked ${stats.acked}`);
    assert.ok(stats.maxGapMs > 0);
    // the old primary follows the new one: every acknowledged write is on both
    await until(async () => (await infoField(primary, 'replication', 'master_link_status')) === 'up', 'the old primary in sync');
    const clean = await load.missingOn([primary, replica]);
    assert.deepEqual(
      clean.map((r) => [r.node, r.checked, r.missing]),
      [
        [key(primary), stats.acked, 0],
        [key(replica), stats.acked, 0],
      ],
    );
    // a write acknowledged, then lost on one node: the old primary (a replica now) drops a key
    const victim = load.acked[5]!.key;
    assert.equal(await ask(primary, 'CONFIG', 'SET', 'replica-read-only', 'no'), 'OK');
    assert.equal(await ask(primary, 'DEL', victim), 1);
    const lost = await load.missingOn([primary, replica]);
    assert.deepEqual(
      lost.map((r) => [r.node, r.missing, r.sample]),
      [
        [key(primary), 1, [victim]],
        [key(replica), 0, []],
      ],
    );
  });
});

describe('Redis write load on a Redis Cluster', () => {
  let p: Procs | undefined;
  const nodes: Addr[] = [];

  before(async () => {
    p = newProcs();
    for (let i = 0; i < 6; i++) {
      const bus = await freePort();
      nodes.push(
        await server(p, `node${i}`, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(bus),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    for (const n of nodes) await until(async () => (await ask(n, 'PING')) === 'PONG', `${key(n)} up`);
    const made = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map(key), '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
    });
    assert.equal(made.status, 0, made.stdout + made.stderr);
    for (const n of nodes) {
      await until(async () => /cluster_state:ok/.test(String(await ask(n, 'CLUSTER', 'INFO'))), `${key(n)} cluster ok`);
    }
  });
  after(() => cleanup(p));

  test('writes are acknowledged before and after a failover, none is lost, and a key removed from one primary only is reported', async () => {
    const load = new RedisWriteLoad({ topology: 'cluster', nodes: [nodes[0]!] }, { keyPrefix: 'cls' });
    await load.start();
    let promoted: Addr;
    try {
      await until(async () => load.acked.length >= 30, 'acknowledged writes');
      // a replica takes over its shard (a manual failover: coordinated, nothing acknowledged is lost)
      promoted = (await Promise.all(nodes.map(async (n) => ((await infoField(n, 'replication', 'role')) === 'slave' ? n : null))))
        .filter((n): n is Addr => n !== null)
        .at(0)!;
      assert.equal(await ask(promoted, 'CLUSTER', 'FAILOVER'), 'OK');
      await until(
        async () => load.acked.filter((a) => a.node === key(promoted)).length >= 10,
        'acknowledged writes on the promoted replica',
        3000,
        20,
      );
    } finally {
      await load.stop();
    }
    const stats = load.stats();
    assert.ok(stats.acked > 40, `acked ${stats.acked}`);
    const clean = await load.missingOn(nodes);
    assert.equal(clean.length, 6);
    assert.deepEqual(
      clean.filter((r) => r.missing > 0),
      [],
    );
    // every acknowledged key is checked on exactly one primary and one replica
    assert.equal(
      clean.reduce((a, r) => a + r.checked, 0),
      2 * stats.acked,
    );
    // the promoted node drops one of its keys without replicating it (a script not propagated)
    const victim = load.acked.filter((a) => a.node === key(promoted!)).at(-1)!.key;
    assert.equal(
      await ask(promoted!, 'EVAL', "redis.set_repl(redis.REPL_NONE); return redis.call('DEL', KEYS[1])", 1, victim),
      1,
    );
    const lost = await load.missingOn(nodes);
    assert.deepEqual(
      lost.filter((r) => r.missing > 0).map((r) => [r.node, r.missing, r.sample]),
      [[key(promoted!), 1, [victim]]],
    );
  });
});
