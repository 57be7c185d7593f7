// A crash of Liftgate during a blue/green upgrade loses nothing and repeats nothing that finished.
// A real `liftgate serve` is killed with SIGKILL at each named fault point of the blue/green steps
// while a writer goes through PgBouncer. While it is dead, clients must not stay held beyond the
// switchover timeout (the cutover's watchdog undoes or completes it); the restarted server must go
// on from where it was: the green it built kept (not built twice), the copy it started not started
// again, the cutover finished or undone and run again; and in the end every acknowledged write is on
// the new primary with no client error.
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { destroyCluster } from '../../src/drivers/postgres/cluster.ts';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';

const POINTS = [
  'bg.green_built',
  'bg.schema_copied',
  'bg.copy_started',
  'bg.cutover_paused',
  'bg.cutover_switching',
  'bg.cutover_repointed',
  // the cutover is done and the process dies before it is recorded: reconcile finds it applied
  'step.driver_done@cutover',
];
const SWITCHOVER_TIMEOUT_S = 3;

const servers: Server[] = [];
const stores: StoreConfig[] = [];
const roots: string[] = [];
after(async () => {
  killAll(servers);
  for (const r of roots) await destroyCluster(r).catch(() => undefined);
  for (const s of stores) await s.cleanup();
});

/** answers once a query through the pooler returns (it waits while the pooler holds clients) */
async function throughPooler(port: number): Promise<string> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const r = await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return r.rows[0]!.v.split(' ')[0]!;
  } finally {
    await c.end().catch(() => undefined);
  }
}

for (const point of POINTS) {
  test(`SIGKILL at ${point}: clients are let go, and the restarted server finishes without repeating a stage`, async () => {
    const store = await freshStore('sqlite');
    stores.push(store);
    chmodSync(store.dataDir, 0o755); // the servers' system user must reach the clusters' folder
    const first = await startServer(store, { LIFTGATE_FAULT_POINT: point });
    servers.push(first);
    await first.waitUp();
    assert.equal((await first.api('POST', '/v1/projects', { id: 'p1' })).status, 201);
    const created = await first.api('POST', '/v1/projects/p1/targets', {
      id: 'pg',
      kind: 'cluster',
      engine: 'postgresql',
      version: '16.13',
      driver: 'postgres',
      driverConfig: { provision: true, replicas: 2, pooler: true },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const shown = (await first.api('GET', '/v1/projects/p1/targets/pg')).json;
    const root = shown.driverConfig.root as string;
    roots.push(root);
    const endpoint = shown.endpoint.port as number;
    const blueNames = (shown.nodes as { name: string }[]).map((n) => n.name).sort();
    const load = new WriteLoad(() => [endpoint], 5);
    await load.start();
    try {
      const u = await first.api('POST', '/v1/projects/p1/upgrades', {
        targetId: 'pg',
        toVersion: '17.10',
        mode: 'blue_green',
        options: { switchoverTimeoutSeconds: SWITCHOVER_TIMEOUT_S },
      });
      assert.equal(u.status, 202, JSON.stringify(u.json));
      const id = u.json.id as string;
      assert.equal(await first.ended(), 'SIGKILL', `the server should have been killed at ${point}:\n${first.output()}`);

      // while Liftgate is dead, a client of the pooler gets an answer (the watchdog let it go)
      const version = await throughPooler(endpoint);
      const switched = point === 'bg.cutover_repointed' || point === 'step.driver_done@cutover';
      assert.equal(version, switched ? '17.10' : '16.13', 'clients were let go on the side the cutover reached');
      if (point.includes('cutover')) {
        // it was the cutover's watchdog that acted, while no Liftgate ran: it undid the cutover, or
        // (the pooler already on green) let the clients go there
        // (it lets the clients go before it records the undo: wait for the record, not for a time)
        const phase = () =>
          (JSON.parse(readFileSync(path.join(root, 'bluegreen.json'), 'utf8')).cutover as { phase: string }).phase;
        await until(async () => phase() === 'switched' || phase() === 'undone', 'the watchdog recorded what it did');
        assert.equal(phase(), switched ? 'switched' : 'undone');
      }
      const greenDirs = readdirSync(root).filter((d) => d.startsWith('bg-'));

      const second = await startServer(store);
      servers.push(second);
      await second.waitUp();
      const open = await until(
        async () => {
          const v = (await second.api('GET', `/v1/projects/p1/upgrades/${id}`)).json;
          if (['failed', 'succeeded', 'rolled_back', 'cancelled'].includes(v.state)) {
            throw new Error(`upgrade ended ${v.state}: ${v.errorCode} ${v.error}`);
          }
          return v.rollbackWindow?.state === 'open' ? v : null;
        },
        'the rollback window to open after the restart',
        2400,
        100,
      );
      // one green only, and the copy not started again
      assert.deepEqual(
        readdirSync(root).filter((d) => d.startsWith('bg-')),
        greenDirs.length ? greenDirs : [`bg-${id}`],
      );
      const steps = open.stages.flatMap((s: { steps: unknown[] }) => s.steps) as {
        action: string;
        attempts: number;
        log: string[];
      }[];
      if (point === 'bg.green_built') {
        const prov = steps.find((s) => s.action === 'provision_green')!;
        assert.ok(
          prov.log.some((l) => l.includes('was built before a restart and serves: kept')),
          prov.log.join('\n'),
        );
      }
      if (point === 'bg.copy_started') {
        const copy = steps.find((s) => s.action === 'initial_copy')!;
        assert.ok(
          copy.log.some((l) => l.includes('not started again')),
          copy.log.join('\n'),
        );
      }
      const fin = await second.api('POST', `/v1/projects/p1/upgrades/${id}/actions`, { action: 'finalize' });
      assert.equal(fin.status, 200, JSON.stringify(fin.json));
      await until(
        async () => (await second.api('GET', `/v1/projects/p1/upgrades/${id}`)).json.state === 'succeeded',
        'the upgrade to succeed',
        2400,
        100,
      );
      const target = (await second.api('GET', '/v1/projects/p1/targets/pg')).json;
      assert.equal(target.version, '17.10');
      assert.notDeepEqual((target.nodes as { name: string }[]).map((n) => n.name).sort(), blueNames);
      const stats = await load.stop();
      assert.equal(stats.errors, 0, `client errors: ${JSON.stringify(stats.errorLog)}`);
      const primary = (target.nodes as { role: string; port: number }[]).find((n) => n.role === 'primary')!;
      assert.deepEqual(await missingOn(primary.port, stats.acked), [], 'every acknowledged write is on the new primary');
      second.child.kill('SIGTERM');
      await second.ended();
    } finally {
      await load.stop().catch(() => undefined);
    }
  });
}
