// A real server process is killed with SIGKILL at each named fault point, restarted, and must
// finish every upgrade with every simulated effect applied exactly once. Both dialects.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, test } from 'node:test';
import { openStore, type Store } from '../../src/store/open.ts';
import { STEP_FAULT_POINTS } from '../../src/domain/fault-point-names.ts';
import { forEachDialect, freshStore, until, within, type StoreConfig } from '../helpers/harness.ts';
import { simCluster } from '../helpers/servers.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const TOKEN = 'crash-test-token';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function startServer(
  store: StoreConfig,
  port: number,
  faultPoint?: string,
): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null>; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(port)], {
    env: {
      ...process.env,
      LIFTGATE_DATA_DIR: store.dataDir,
      LIFTGATE_DATABASE_URL: store.config.databaseUrl ?? '',
      LIFTGATE_DATABASE_SCHEMA: store.config.pgSchema ?? '',
      LIFTGATE_DEMO: '0',
      LIFTGATE_ADMIN_TOKEN: TOKEN,
      LIFTGATE_SIM_TIME_SCALE: '0',
      // PostgreSQL executors wait for a dead owner's lease to expire; keep that short here
      LIFTGATE_LEASE_MS: '1500',
      LIFTGATE_FAULT_POINT: faultPoint ?? '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { child, exited, output: () => out };
}

async function api(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as any };
}

// generous bounds: on a loaded machine a server can take many seconds to start (not a timing assertion)
const waitUp = (port: number) =>
  until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 'server up', 2400, 50);

forEachDialect('crash recovery', (dialect) => {
  const children: ChildProcess[] = [];
  const stores: StoreConfig[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of stores) await s.cleanup();
  });

  for (const point of STEP_FAULT_POINTS) {
    test(`SIGKILL at ${point}: the restarted server finishes every upgrade, each effect exactly once`, async () => {
      const store = await freshStore(dialect);
      stores.push(store);
      const port = await freePort();
      // the 7th time the point is reached falls in the middle of the upgrades
      const first = startServer(store, port, `${point}:7`);
      children.push(first.child);
      await waitUp(port);
      assert.equal((await api(port, 'POST', '/v1/projects', { id: 'p1' })).status, 201);
      for (const v of ['1.0.0', '1.1.0']) await api(port, 'POST', '/v1/catalog/sim/versions', { version: v, release: `r${v}` });
      for (const t of ['a', 'b', 'c']) {
        const r = await api(port, 'POST', '/v1/projects/p1/targets', simCluster(t));
        assert.equal(r.status, 201);
      }
      // all three start together, after the last one is created (the fault point may be reached
      // only once every upgrade exists, however slow the machine)
      const at = new Date(Date.now() + 3000).toISOString();
      const ids: string[] = [];
      for (const t of ['a', 'b', 'c']) {
        const u = await api(port, 'POST', '/v1/projects/p1/upgrades', {
          targetId: t,
          toVersion: '1.1.0',
          schedule: { kind: 'at', at },
        });
        assert.equal(u.status, 202);
        ids.push(u.json.id);
      }
      const how = await within(
        first.exited,
        300_000,
        () => `the server was not killed at ${point}; output:\n${first.output().slice(-4000)}`,
      );
      assert.equal(how, 'SIGKILL', `the server should have been killed at ${point}; output:\n${first.output()}`);

      const second = startServer(store, port);
      children.push(second.child);
      await waitUp(port);
      for (const id of ids) {
        await until(
          async () => (await api(port, 'GET', `/v1/projects/p1/upgrades/${id}`)).json.state === 'succeeded',
          `upgrade ${id}`,
          2400,
          50,
        );
      }
      second.child.kill('SIGTERM');
      await within(second.exited, 300_000, () => `the server did not stop; output:\n${second.output().slice(-4000)}`);

      const s: Store = await openStore(store.config);
      try {
        const steps = await s.db.selectFrom('steps').selectAll().where('action', '!=', 'precheck').execute();
        const effects = await simDb(s.db).selectFrom('sim_effects').selectAll().execute();
        const count = new Map<string, number>();
        for (const e of effects) count.set(e.step_id, (count.get(e.step_id) ?? 0) + 1);
        assert.equal(steps.length, 3 * 20);
        for (const st of steps)
          assert.equal(count.get(st.id), 1, `step ${st.name} on ${st.node} applied ${count.get(st.id) ?? 0} times`);
        assert.equal(effects.length, steps.length);
        const versions = await simDb(s.db).selectFrom('sim_nodes').select('version').execute();
        assert.ok(versions.every((v) => v.version === '1.1.0'));
        const recovered = await s.db.selectFrom('events').select('message').where('actor', '=', 'recovery').execute();
        if (point === 'step.claimed' || point === 'step.driver_done')
          assert.ok(recovered.length >= 1, 'a recovery event is recorded');
      } finally {
        await s.close();
      }
    });
  }
});
