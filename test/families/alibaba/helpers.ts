// Shared setup for the Alibaba-style family tests: the real app on a real port, a project with
// an access key, a Kubernetes-style cluster and a Hologres-style instance (sim driver), and the
// official SDK clients pointed at it.
import type { AddressInfo } from 'node:net';
import * as csModule from '@alicloud/cs20151215';
import * as openapi from '@alicloud/openapi-client';
import { signAcs3 } from '../../../src/auth/acs3.ts';
import type { AppConfig } from '../../../src/app/context.ts';
import { startApp, until, type Dialect, type TestApp } from '../../helpers/harness.ts';

// The packages are CommonJS with `exports.default = Client`; under ESM the class sits one level deeper.
export type CsClient = InstanceType<typeof csModule.default.default>;
const CsClientCtor = (csModule as unknown as { default: { default: new (c: openapi.Config) => CsClient } }).default.default;
type OpenApiClient = {
  callApi(
    params: openapi.Params,
    request: openapi.OpenApiRequest,
    runtime: unknown,
  ): Promise<{ statusCode?: number; body?: any; headers?: Record<string, string> }>;
};
const OpenApiClientCtor = (openapi as unknown as { default: { default: new (c: openapi.Config) => OpenApiClient } }).default
  .default;
export { csModule };

export const K8S_VERSIONS = ['1.30.1-aliyun.1', '1.31.1-aliyun.1', '1.32.1-aliyun.1'];
export const HOLO_VERSIONS = ['1.3.23', '1.3.24', '1.3.25'];

export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface AlibabaEnv {
  t: TestApp;
  port: number;
  key: AccessKey;
  /** a key of another project, which must never reach this project's resources */
  otherKey: AccessKey;
  cs(key?: AccessKey): CsClient;
  /** Hologres-style GetInstanceUpgradeStatus through the SDK's generic ROA callApi */
  hologresStatus(
    instanceId: string,
    query?: Record<string, string>,
    key?: AccessKey,
  ): Promise<{ statusCode?: number; body?: any }>;
  /** a hand-signed request through inject (for Accept: application/xml and raw checks) */
  signed(
    method: 'GET' | 'POST',
    url: string,
    opts?: { body?: unknown; headers?: Record<string, string>; key?: AccessKey; nonce?: string },
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  native(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }>;
  waitState(upgradeId: string, state: string): Promise<any>;
  fault(target: string, f: { node?: string; step: string; kind: string; times?: number }): Promise<void>;
  close(): Promise<void>;
}

export async function setupAlibaba(dialect: Dialect, extra: Partial<AppConfig> = {}): Promise<AlibabaEnv> {
  const t = await startApp(dialect, extra);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.address() as AddressInfo).port;
  const ok = async (method: string, url: string, body?: unknown) => {
    const res = await t.call(method, url, body);
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
    return res.json;
  };
  for (const p of ['acme', 'other']) await ok('POST', '/v1/projects', { id: p, name: p });
  for (const v of K8S_VERSIONS)
    await ok('POST', '/v1/catalog/kubernetes/versions', { version: v, release: v, imageId: `img-${v}`, priority: 1 });
  for (const v of HOLO_VERSIONS)
    await ok('POST', '/v1/catalog/hologres/versions', { version: v, release: `r${v}`, imageId: `img-${v}`, priority: 1 });
  const key = (await ok('POST', '/v1/projects/acme/access-keys')) as AccessKey;
  const otherKey = (await ok('POST', '/v1/projects/other/access-keys')) as AccessKey;

  const config = (k: AccessKey) =>
    new openapi.Config({
      accessKeyId: k.accessKeyId,
      accessKeySecret: k.accessKeySecret,
      endpoint: `127.0.0.1:${port}`,
      protocol: 'http',
    });

  const env: AlibabaEnv = {
    t,
    port,
    key,
    otherKey,
    cs: (k = key) => new CsClientCtor(config(k)),
    async hologresStatus(instanceId, query = {}, k = key) {
      const client = new OpenApiClientCtor(config(k));
      const params = new openapi.Params({
        action: 'GetInstanceUpgradeStatus',
        version: '2022-06-01',
        protocol: 'HTTP',
        pathname: `/api/v1/instances/${encodeURIComponent(instanceId)}/upgrade/status`,
        method: 'GET',
        authType: 'AK',
        style: 'ROA',
        reqBodyType: 'json',
        bodyType: 'json',
      });
      return client.callApi(params, new openapi.OpenApiRequest({ query }), {});
    },
    async signed(method, url, opts = {}) {
      const k = opts.key ?? key;
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers = signAcs3({
        method,
        rawUrl: url,
        headers: { host: `127.0.0.1:${port}`, ...(body ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
        body,
        accessKeyId: k.accessKeyId,
        accessKeySecret: k.accessKeySecret,
        nonce: opts.nonce,
      });
      const res = await t.app.inject({ method, url, headers, ...(body ? { payload: body } : {}) });
      return { status: res.statusCode, body: res.body, headers: res.headers };
    },
    native: (method, url, body) => t.call(method, url, body),
    async waitState(upgradeId, state) {
      return until(
        async () => {
          const u = (await t.call('GET', `/v1/projects/acme/upgrades/${upgradeId}`)).json;
          return u?.state === state ? u : null;
        },
        `upgrade ${upgradeId} to become ${state}`,
        1500,
      );
    },
    async fault(target, f) {
      await ok('POST', `/v1/projects/acme/targets/${target}/faults`, f);
    },
    close: () => t.close(),
  };
  return env;
}

/** A Kubernetes-style cluster: one control-plane node and two workers. */
export async function createCluster(env: AlibabaEnv, id: string, project = 'acme'): Promise<void> {
  const res = await env.native('POST', `/v1/projects/${project}/targets`, {
    id,
    kind: 'cluster',
    engine: 'kubernetes',
    version: K8S_VERSIONS[0],
    release: K8S_VERSIONS[0],
    region: 'cn-hangzhou',
    driver: 'sim',
    nodes: [
      { name: `${id}-master-1`, role: 'master', zone: 'cn-hangzhou-h' },
      { name: `${id}-worker-1`, role: 'worker', zone: 'cn-hangzhou-h' },
      { name: `${id}-worker-2`, role: 'worker', zone: 'cn-hangzhou-i' },
    ],
  });
  if (res.status !== 201) throw new Error(`create cluster: ${res.status} ${JSON.stringify(res.json)}`);
}

/** A Hologres-style instance: a leader and two read-only followers. */
export async function createInstance(env: AlibabaEnv, id: string, project = 'acme'): Promise<void> {
  const res = await env.native('POST', `/v1/projects/${project}/targets`, {
    id,
    kind: 'instance',
    engine: 'hologres',
    version: HOLO_VERSIONS[0],
    release: `r${HOLO_VERSIONS[0]}`,
    region: 'cn-hangzhou',
    driver: 'sim',
    nodes: [
      { name: `${id}-leader`, role: 'leader', zone: 'cn-hangzhou-h' },
      { name: `${id}-f1`, role: 'follower', zone: 'cn-hangzhou-h' },
      { name: `${id}-f2`, role: 'follower', zone: 'cn-hangzhou-i' },
    ],
  });
  if (res.status !== 201) throw new Error(`create instance: ${res.status} ${JSON.stringify(res.json)}`);
}

/** The SDK error fields a test looks at. */
export interface SdkError {
  code?: string;
  statusCode?: number;
  name?: string;
  data?: Record<string, unknown>;
}
