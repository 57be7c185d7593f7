// A crash of Liftgate during a Redis failover loses nothing and repeats nothing. A real `liftgate
// serve` is killed with SIGKILL right after it sent FAILOVER (Sentinel group) and after the cluster
// failover finished but before it was recorded; the Redis processes and a writer go on without it.
// The restarted server reconciles with the real topology (the named replica is the primary: the
// failover is recorded as done, not sent again) and finishes. The oracle for "once": the new
// primary's previous replication id (master_replid2) is the old primary's id from before the
// upgrade, so exactly one promotion happened on that history; and every acknowledged write is on
// every node.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RedisWriteLoad } from '../../bench/lib/redis-load.ts';
import { destroyGroup } from '../../src/drivers/redis/group.ts';
import * as srv from '../../src/drivers/redis/server.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';
import type { ApiTarget } from './engine-harness.ts';

const servers: Server[] = [];
const stores: StoreConfig[] = [];
const roots: string[] = [];
after(async () => {
  killAll(servers);
  for (const r of roots) await destroyGroup(r).catch(() => undefined);
  for (const s of stores) await s.cleanup();
});

interface Step {
  action: string;
  node: string | null;
  state: string;
  params: Record<string, unknown>;
  log: string[];
}

const CASES = [
  { topology: 'sentinel', point: 'redis.failover_issued', driverConfig: { provision: true, topology: 'sentinel', replicas: 2 } },
  {
    topology: 'cluster',
    point: 'step.driver_done@switchover',
    driverConfig: { provision: true, topology: 'cluster', shards: 3, replicasPerShard: 1 },
  },
] as const;

for (const c of CASES) {
  test(`${c.topology}: SIGKILL at ${c.point}; the restarted server finds the failover done and does not repeat it`, async () => {
    const store = await freshStore('sqlite');
    stores.push(store);
    const first = await startServer(store, { LIFTGATE_FAULT_POINT: c.point, LIFTGATE_POSTGRES: '0' });
    servers.push(first);
    await first.waitUp();
    assert.equal((await first.api('POST', '/v1/projects', { id: 'p1' })).status, 201);
    const created = await first.api('POST', '/v1/projects/p1/targets', {
      id: 'rd',
      kind: 'cluster',
      engine: 'redis',
      version: '7.0.15',
      driver: 'redis',
      driverConfig: c.driverConfig,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const t = (await first.api('GET', '/v1/projects/p1/targets/rd')).json as ApiTarget;
    roots.push(t.driverConfig.root);
    // each primary's replication id before anything moves
    const replid = new Map<string, string>();
    for (const n of t.nodes.filter((x) => x.role === 'primary')) {
      replid.set(n.name, (await srv.info(n.port, 'replication')).master_replid!);
    }
    const load = new RedisWriteLoad(
      c.topology === 'sentinel'
        ? { topology: 'sentinel', sentinels: t.driverConfig.sentinels!, masterName: t.driverConfig.masterName! }
        : { topology: 'cluster', nodes: t.nodes.map((n) => ({ host: n.host, port: n.port })) },
    );
    await load.start();
    try {
      const u = await first.api('POST', '/v1/projects/p1/upgrades', {
        targetId: 'rd',
        toEngine: 'valkey',
        toVersion: '8.0.1',
        mode: 'rolling',
      });
      assert.equal(u.status, 202, JSON.stringify(u.json));
      const id = u.json.id as string;
      assert.equal(await first.ended(), 'SIGKILL', `the server should have been killed at ${c.point}:\n${first.output()}`);

      const second = await startServer(store, { LIFTGATE_POSTGRES: '0' });
      servers.push(second);
      await second.waitUp();
      const done = await until(
        async () => {
          const v = (await second.api('GET', `/v1/projects/p1/upgrades/${id}`)).json;
          return ['failed', 'succeeded', 'rolled_back', 'cancelled'].includes(v.state) ? v : null;
        },
        'the upgrade to finish after the restart',
        6000,
        100,
      );
      assert.equal(done.state, 'succeeded', `${done.errorCode} ${done.error}\n${second.output().slice(-3000)}`);
      const steps = done.stages.flatMap((s: { steps: Step[] }) => s.steps) as Step[];
      const switchovers = steps.filter((s) => s.action === 'switchover');
      // the failover the first server started was recorded as done by recovery, not run again
      const recovered = switchovers.filter((s) => s.log.some((l) => l.includes('recovered: effect found')));
      assert.equal(recovered.length, 1, switchovers.map((s) => s.log.join('\n')).join('\n---\n'));
      // one promotion per shard on each primary's history: the new primary's previous id is the old one's
      for (const s of switchovers) {
        const to = t.nodes.find((n) => n.name === s.params.to)!;
        const i = await srv.info(to.port, 'replication');
        assert.equal(i.role, 'master', `${to.name} is the primary`);
        assert.equal(
          i.master_replid2,
          replid.get(String(s.params.from)),
          `${to.name} was promoted once, from ${String(s.params.from)}`,
        );
      }
      const shown = (await second.api('GET', '/v1/projects/p1/targets/rd')).json as ApiTarget;
      assert.equal(`${shown.engine} ${shown.version}`, 'valkey 8.0.1');
    } finally {
      await load.stop();
    }
    const missing = await load.missingOn(t.nodes.map((n) => ({ host: n.host, port: n.port })));
    for (const m of missing) assert.equal(m.missing, 0, `${m.node} lacks acknowledged writes: ${m.sample.join(', ')}`);
    assert.ok(load.stats().acked > 50, 'the writer had writes acknowledged');
  });
}
