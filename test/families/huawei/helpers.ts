// Shared setup for the Huawei-style family tests: the real app on a real port, a project shaped
// after the seed examples (a CSS-style cluster, GaussDB-style instances), an access key and a
// project token, a foreign project, and the real @huaweicloud/huaweicloud-sdk-core client.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, until, type Dialect, type TestApp } from '../../helpers/harness.ts';

// The SDK writes ~/.huaweicloud/application_id; keep it out of the real home.
const home = mkdtempSync(join(tmpdir(), 'liftgate-hw-home-'));
process.env['HOME'] = home;
process.on('exit', () => rmSync(home, { recursive: true, force: true }));

export interface SendOptions {
  method: string;
  url: string;
  contentType?: string;
  pathParams?: Record<string, string>;
  queryParams?: Record<string, string | number>;
  headers?: Record<string, string>;
  data?: unknown;
}
interface HcClient {
  sendRequest(
    options: Required<Omit<SendOptions, 'data' | 'contentType'>> & { contentType: string; data?: unknown },
  ): Promise<any>;
}
// ClientBuilder is not re-exported from the package root; load it by path.
const require = createRequire(import.meta.url);
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder') as {
  ClientBuilder: new (init: (c: HcClient) => HcClient) => {
    withCredential(c: unknown): { withEndpoint(e: string): { build(): HcClient } };
  };
};
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as {
  BasicCredentials: new () => { withAk(a: string): any };
};
// The SDK logs every failed call, signed headers included, to the console; these tests make
// failing calls on purpose, so its log4js logger is switched off.
(
  require('@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger') as { Logger4jInstance: { level: string } }
).Logger4jInstance.level = 'off';

export const PROJECT = '6204a5bd270343b5885144cf9c8c158d';
export const OTHER = '0549b4a43100d4f32f51c01c2fe4acdb';
export const CLUSTER = 'ea244205-d641-45d9-9dcb-ab2236bcd07e';
export const CSS_NODES = ['css-test-ess-esn-1-1', 'css-test-ess-esn-2-1', 'css-test-ess-esn-3-1'];
export const IMAGE_CURRENT = '439b5d30-5968-45df-b088-d030a858522d';
export const IMAGE_SAME = 'bcdb711c-a7f0-4007-b8ee-9f13c05f8326';
export const IMAGE_CROSS = '5e0f3c1a-7b2d-4c8e-9a61-2f4d8b9c0e17';
export const GAUSS = [
  '6754902da1f447269c6979b0590102a5in07',
  '8c1e4f0b2d7a4c3e9f6a5b4c3d2e1f00in07',
  'a3f9d2c1b0e84f7d8c6b5a4e3d2c1b0ain07',
];
export const GAUSS_FROM = '2.0.48.231200';
export const GAUSS_TO = '2.0.58.250100';

export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface HuaweiEnv {
  t: TestApp;
  base: string;
  key: AccessKey;
  token: string;
  otherKey: AccessKey;
  otherToken: string;
  /** the real Huawei core SDK, signing with `key` (or another key / project) */
  sdk(opts: SendOptions, key?: AccessKey, projectId?: string): Promise<any>;
  /** plain fetch with X-Auth-Token */
  fetchToken(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any }>;
  native(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }>;
  waitState(upgradeId: string, states: string[]): Promise<any>;
  /** a CSS-style cluster with three data nodes in zones a/b/a, on engine version 7.10.2 */
  addCluster(id: string): Promise<void>;
  close(): Promise<void>;
}

/** A UTC window that does not contain the current time (it starts in about 6 hours). */
export function windowAwayFromNow(): { start: string; end: string } {
  const h = (new Date().getUTCHours() + 6) % 24;
  const hh = (x: number) => String(x % 24).padStart(2, '0');
  return { start: `${hh(h)}:00`, end: `${hh(h + 2)}:00` };
}

export async function setupHuawei(dialect: Dialect): Promise<HuaweiEnv> {
  const t = await startApp(dialect);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  const ok = async (method: string, url: string, body?: unknown) => {
    const res = await t.call(method, url, body);
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
    return res.json;
  };
  for (const p of [PROJECT, OTHER]) await ok('POST', '/v1/projects', { id: p, name: p });
  const es = [
    { version: '7.9.3', release: '21.8.0_0830', imageId: 'b4d1c8f0-old', deprecated: true },
    {
      version: '7.10.2',
      release: '22.5.1_1230',
      imageId: IMAGE_CURRENT,
      displayName: '7.10.2_22.5.1_1230',
      priority: 16,
      description: 'The latest image of version 7.10.2 will be officially released on December 30, 2022.',
    },
    {
      version: '7.10.2-23.3.1',
      release: '23.3.1_0310',
      imageId: IMAGE_SAME,
      displayName: '7.10.2_23.3.1_0310',
      priority: 17,
      description: 'Same-version image.',
    },
    {
      version: '7.11.0',
      release: '24.1.0_0115',
      imageId: IMAGE_CROSS,
      displayName: '7.11.0_24.1.0_0115',
      priority: 18,
      description: 'Cross-version image.',
    },
  ];
  for (const v of es) await ok('POST', '/v1/catalog/elasticsearch/versions', v);
  for (const [v, r] of [
    [GAUSS_FROM, '8.201'],
    ['2.0.52.240300', '8.202'],
    [GAUSS_TO, '8.203'],
    ['3.0.1.250600', '9.001'],
  ]) {
    await ok('POST', '/v1/catalog/gaussdb/versions', { version: v, release: r });
  }
  const addCluster = async (id: string) => {
    await ok('POST', `/v1/projects/${PROJECT}/targets`, {
      id,
      name: 'css-test',
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      release: '22.5.1_1230',
      driver: 'sim',
      nodes: CSS_NODES.map((n, i) => ({
        name: id === CLUSTER ? n : `${id}-${i + 1}`,
        role: 'data',
        zone: i === 1 ? 'cn-north-4b' : 'cn-north-4a',
      })),
    });
  };
  await addCluster(CLUSTER);
  for (const [i, id] of GAUSS.entries()) {
    await ok('POST', `/v1/projects/${PROJECT}/targets`, {
      id,
      name: `gauss-${i + 1}`,
      kind: 'instance',
      engine: 'gaussdb',
      version: GAUSS_FROM,
      release: '8.201',
      driver: 'sim',
      maintenanceWindow: windowAwayFromNow(),
      nodes: [
        { name: `gauss-${i + 1}-dn-1`, role: 'primary', zone: 'cn-north-4a' },
        { name: `gauss-${i + 1}-dn-2`, role: 'replica', zone: 'cn-north-4b' },
      ],
    });
  }
  const key = (await ok('POST', `/v1/projects/${PROJECT}/access-keys`)) as AccessKey;
  const otherKey = (await ok('POST', `/v1/projects/${OTHER}/access-keys`)) as AccessKey;
  const token = ((await ok('POST', `/v1/projects/${PROJECT}/tokens`, {})) as { token: string }).token;
  const otherToken = ((await ok('POST', `/v1/projects/${OTHER}/tokens`, {})) as { token: string }).token;

  const env: HuaweiEnv = {
    t,
    base,
    key,
    token,
    otherKey,
    otherToken,
    async sdk(o, k = key, projectId = PROJECT) {
      const credentials = new BasicCredentials().withAk(k.accessKeyId).withSk(k.accessKeySecret).withProjectId(projectId);
      const client = new ClientBuilder((c) => c).withCredential(credentials).withEndpoint(base).build();
      const res = await client.sendRequest({
        contentType: 'application/json',
        pathParams: {},
        queryParams: {},
        headers: {},
        ...o,
      });
      // The SDK adds the HTTP status to the parsed body; keep the body as the server sent it.
      if (res && typeof res === 'object') {
        if (res.httpStatusCode !== 200) throw new Error(`unexpected status ${String(res.httpStatusCode)}`);
        delete res.httpStatusCode;
      }
      return res;
    },
    async fetchToken(method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { 'X-Auth-Token': token, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    },
    async native(method, url, body) {
      const res = await t.call(method, url, body);
      return { status: res.status, json: res.json };
    },
    async waitState(upgradeId, states) {
      return until(
        async () => {
          const u = (await t.call('GET', `/v1/projects/${PROJECT}/upgrades/${upgradeId}`)).json;
          return states.includes(u?.state) ? u : null;
        },
        `upgrade ${upgradeId} to reach ${states.join('|')}`,
      );
    },
    addCluster,
    async close() {
      // A test may leave a step hanging on an injected fault: abort it, then shut down.
      await t.ctx.executor.kill();
      await t.close();
    },
  };
  return env;
}
