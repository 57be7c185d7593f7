// Each OBShell cluster's own agent port, with real `liftgate serve` processes: the port comes from
// LIFTGATE_OBSHELL_PORTS and is the same after a restart; a cluster whose password has no address
// yet (set before addresses existed) gets one at start; on a shared PostgreSQL store a second
// replica on the same host takes a port over when the replica holding it dies.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ObshellClient } from '../../src/clients/obshell-client.ts';
import { openStore } from '../../src/store/open.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';

const PASSWORD = 'Saffron-Glacier-Pylon-37';
const URI = '/api/v1/task/dag/ob/unfinish';

/** 20 ports below the system's ephemeral range, where the other test files' `auto` ports are not */
function portWindow(): { from: number; to: number; env: string } {
  const from = 20_000 + 20 * Math.floor(Math.random() * 600);
  return { from, to: from + 19, env: `${from}-${from + 19}` };
}

async function seed(s: Server): Promise<number> {
  const ok = async (method: string, url: string, body?: unknown) => {
    const res = await s.api(method, url, body);
    assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json;
  };
  await ok('POST', '/v1/projects', { id: 'acme' });
  await ok('POST', '/v1/catalog/oceanbase/versions', { version: '4.2.1.0', release: 'r1' });
  await ok('POST', '/v1/projects/acme/targets', {
    id: 'ob-1',
    kind: 'cluster',
    engine: 'oceanbase',
    version: '4.2.1.0',
    nodes: [{ name: 'ob-1-z1', role: 'leader', zone: 'zone1' }],
  });
  const set = await ok('PUT', '/v1/projects/acme/targets/ob-1/obshell-password', { password: PASSWORD });
  return set.obshellAgent.port as number;
}

/** The cluster answers an OBShell request on this port (a fresh client: a fresh key fetch). */
const answers = async (port: number): Promise<boolean> => {
  const res = await new ObshellClient({ baseUrl: `http://127.0.0.1:${port}`, password: PASSWORD })
    .request('GET', URI)
    .catch(() => null);
  return res?.status === 200;
};

async function stop(s: Server): Promise<void> {
  s.child.kill('SIGTERM');
  await s.ended();
}

forEachDialect('OBShell agent ports across restarts', (dialect) => {
  const servers: Server[] = [];
  let store: StoreConfig;
  after(async () => {
    killAll(servers);
    await store?.cleanup();
  });

  it('the port comes from the range, is the same after a restart, and a cluster without one gets one at start', async () => {
    store = await freshStore(dialect);
    const w = portWindow();
    const env = { LIFTGATE_OBSHELL_PORTS: w.env };
    const first = await startServer(store, env);
    servers.push(first);
    await first.waitUp();
    const port = await seed(first);
    assert.ok(port >= w.from && port <= w.to, `${port} in ${w.env}`);
    assert.ok(await answers(port));
    await stop(first);
    assert.equal(await answers(port), false, 'nothing answers once the server is gone');

    const second = await startServer(store, env);
    servers.push(second);
    await second.waitUp();
    assert.match(second.output(), new RegExp(`OBShell agents of 1 cluster\\(s\\) on port\\(s\\) ${port}`));
    assert.equal((await second.api('GET', '/v1/projects/acme/targets/ob-1')).json.obshellAgent.port, port);
    assert.ok(await answers(port));
    await stop(second);

    // as a store migrated from before agent addresses leaves it: a password, no port
    const db = await openStore(store.config);
    try {
      await db.db.deleteFrom('obshell_agents').execute();
    } finally {
      await db.close();
    }
    const third = await startServer(store, env);
    servers.push(third);
    await third.waitUp();
    const given = (await third.api('GET', '/v1/projects/acme/targets/ob-1')).json.obshellAgent?.port as number;
    assert.ok(given >= w.from && given <= w.to, `${given} in ${w.env}`);
    assert.ok(await answers(given));
    await stop(third);
  });
});

describe('OBShell agent ports with two replicas on one host [postgres]', () => {
  const servers: Server[] = [];
  let store: StoreConfig;
  after(async () => {
    killAll(servers);
    await store?.cleanup();
  });

  it('the second replica takes the port over when the first dies', async () => {
    store = await freshStore('postgres');
    const env = { LIFTGATE_OBSHELL_PORTS: portWindow().env, LIFTGATE_EXECUTOR_TIMEOUT_MS: '2500' };
    const a = await startServer(store, env);
    servers.push(a);
    await a.waitUp();
    const port = await seed(a);
    const b = await startServer(store, env);
    servers.push(b);
    await b.waitUp();
    await until(
      async () => b.output().includes(`OBShell agent port ${port} is in use on this host`),
      'replica B sees the port taken',
    );
    assert.ok(await answers(port));
    a.child.kill('SIGKILL');
    await a.ended();
    // B serves the port on its next pass over the agents
    await until(() => answers(port), 'replica B serving the port');
    await until(async () => b.output().includes(`OBShell agent port ${port} is free again`), 'replica B says so');
  });
});
