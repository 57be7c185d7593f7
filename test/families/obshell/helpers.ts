// Shared setup for the OBShell family tests: the app listening on a real port, an
// OceanBase-like sim cluster with three zones, its catalog, and our OBShell client pointed at
// that cluster's own agent address (each OBShell cluster has its own port).
import assert from 'node:assert/strict';
import { ObshellClient, type ObshellResponse } from '../../../src/clients/obshell-client.ts';
import { startApp, until, type Dialect, type TestApp } from '../../helpers/harness.ts';

export const PASSWORD = 'ob-1-root-password';
export const OTHER_PASSWORD = 'ob-2-root-password';
export const CURRENT = { version: '4.2.1.0', release: '100000192023080316.el7' };
export const NEXT = { version: '4.2.1.1', release: '101000062023110109.el7' };
export const BARRIER = { version: '4.2.2.0', release: '100000222023121918.el7' };
export const LATEST = { version: '4.2.5.1', release: '101000112024121917.el7' };
/** behind a second barrier whose package was never uploaded (empty release) */
export const UNREACHABLE = { version: '4.3.0.0', release: '100000152024041618.el7' };

export interface ObshellEnv {
  t: TestApp;
  /** the main port (native API and the other families) */
  mainUrl: string;
  /** ob-1's own OBShell agent address */
  baseUrl: string;
  /** ob-2's own OBShell agent address */
  otherUrl: string;
  client: ObshellClient;
  /** a client of the two-zone cluster ob-2 in the same project */
  other: ObshellClient;
  close(): Promise<void>;
}

export async function startObshell(dialect: Dialect): Promise<ObshellEnv> {
  const t = await startApp(dialect);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = t.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no listening address');
  const { ports } = await seedOceanBase(t);
  const baseUrl = `http://127.0.0.1:${ports['ob-1']}`;
  const otherUrl = `http://127.0.0.1:${ports['ob-2']}`;
  return {
    t,
    mainUrl: `http://127.0.0.1:${addr.port}`,
    baseUrl,
    otherUrl,
    client: new ObshellClient({ baseUrl, password: PASSWORD }),
    other: new ObshellClient({ baseUrl: otherUrl, password: OTHER_PASSWORD }),
    close: () => t.close(),
  };
}

/** Sets a cluster's OBShell password and answers its own agent port. */
export async function setPassword(t: TestApp, project: string, target: string, password: string): Promise<number> {
  const res = await t.call('PUT', `/v1/projects/${project}/targets/${target}/obshell-password`, { password });
  assert.equal(res.status, 200, res.body);
  const port = res.json.obshellAgent?.port;
  assert.ok(Number.isInteger(port) && port > 0, res.body);
  return port as number;
}

async function ok(p: Promise<{ status: number; body: string }>, what: string): Promise<void> {
  const res = await p;
  assert.ok(res.status < 300, `${what}: ${res.status} ${res.body}`);
}

export async function seedOceanBase(t: TestApp): Promise<{ ports: Record<string, number> }> {
  await ok(t.call('POST', '/v1/projects', { id: 'acme', name: 'acme' }), 'project');
  const versions = [
    CURRENT,
    NEXT,
    { ...BARRIER, barrier: true },
    LATEST,
    { version: '4.2.6.0', release: '', barrier: true },
    UNREACHABLE,
  ];
  for (const v of versions)
    await ok(t.call('POST', '/v1/catalog/oceanbase/versions', { ...v, priority: 1 }), `catalog ${v.version}`);
  await ok(
    t.call('POST', '/v1/projects/acme/targets', {
      id: 'ob-1',
      kind: 'cluster',
      engine: 'oceanbase',
      version: CURRENT.version,
      release: CURRENT.release,
      driver: 'sim',
      nodes: [
        { name: 'ob-1-z1', role: 'follower', zone: 'zone1' },
        { name: 'ob-1-z2', role: 'follower', zone: 'zone2' },
        { name: 'ob-1-z3', role: 'leader', zone: 'zone3' },
      ],
    }),
    'target ob-1',
  );
  await ok(
    t.call('POST', '/v1/projects/acme/targets', {
      id: 'ob-2',
      kind: 'cluster',
      engine: 'oceanbase',
      version: CURRENT.version,
      release: CURRENT.release,
      driver: 'sim',
      nodes: [
        { name: 'ob-2-z1', role: 'follower', zone: 'zone1' },
        { name: 'ob-2-z2', role: 'leader', zone: 'zone2' },
      ],
    }),
    'target ob-2',
  );
  return {
    ports: {
      'ob-1': await setPassword(t, 'acme', 'ob-1', PASSWORD),
      'ob-2': await setPassword(t, 'acme', 'ob-2', OTHER_PASSWORD),
    },
  };
}

export type Json = any;

/** Polls GET /api/v1/task/dag/{id} until its state is one of `states`. */
export async function waitDag(client: ObshellClient, id: string, states: string[]): Promise<Json> {
  return until(
    async () => {
      const res = await client.request('GET', `/api/v1/task/dag/${id}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const data = (res.json as Json).data;
      return states.includes(data.state) ? data : null;
    },
    `dag ${id} in ${states.join('|')}`,
    300,
    30,
  );
}

export async function startUpgrade(client: ObshellClient, to = NEXT, mode = 'ROLLING'): Promise<Json> {
  const res = await client.request('POST', '/api/v1/ob/upgrade', {
    ...to,
    mode,
    upgradeDir: '/data/upgrade',
    freeze_server: false,
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return (res.json as Json).data;
}

export function errorOf(res: ObshellResponse): { status: number; errCode: string; message: string } {
  const body = res.json as Json;
  assert.equal(body.successful, false, JSON.stringify(body));
  assert.equal(body.status, res.status);
  assert.equal(body.data, undefined);
  return { status: res.status, errCode: body.error.errCode, message: body.error.message };
}

export async function injectFault(
  t: TestApp,
  fault: { node?: string; step: string; kind: string; times?: number },
): Promise<void> {
  await ok(t.call('POST', '/v1/projects/acme/targets/ob-1/faults', { times: 1, ...fault }), 'fault');
}
