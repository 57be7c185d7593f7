// ACS3-HMAC-SHA256 verification against the real Alibaba SDK clients
// (@alicloud/cs20151215 for ACK, @alicloud/openapi-client's generic callApi).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as csModule from '@alicloud/cs20151215';
import * as openapi from '@alicloud/openapi-client';
import { signAcs3, verifyAcs3 } from '../../src/auth/acs3.ts';
import { InMemoryReplayGuard } from '../../src/auth/replay-guard.ts';
import type { AuthResult } from '../../src/auth/auth-result.ts';
import { replayableHeaders, startServer, type CapturedRequest, type TestServer } from './http-harness.ts';

// The packages are CommonJS with `exports.default = Client`; under ESM the class
// sits one level deeper.
type CsClientCtor = new (config: openapi.Config) => {
  getUpgradeStatus(clusterId: string): Promise<{ statusCode?: number; body?: { status?: string } }>;
  upgradeCluster(clusterId: string, request: csModule.UpgradeClusterRequest): Promise<{ body?: { taskId?: string } }>;
  pauseClusterUpgrade(clusterId: string): Promise<unknown>;
  describeTaskInfo(taskId: string): Promise<{ body?: { taskId?: string; state?: string } }>;
};
type OpenApiClientCtor = new (config: openapi.Config) => {
  callApi(
    params: openapi.Params,
    request: openapi.OpenApiRequest,
    runtime: unknown,
  ): Promise<{ statusCode?: number; body?: unknown }>;
};
const CsClient = (csModule as unknown as { default: { default: CsClientCtor } }).default.default;
const OpenApiClient = (openapi as unknown as { default: { default: OpenApiClientCtor } }).default.default;

const AK = 'LTAI5tLiftgateTest';
const SECRET = 'liftgate-test-secret-0123456789';

let server: TestServer;
const verdicts: AuthResult[] = [];
let clock = () => Date.now();
const guard = new InMemoryReplayGuard();

async function handle(req: CapturedRequest) {
  const result = await verifyAcs3(req, {
    lookupSecret: async (ak) => (ak === AK ? { secret: SECRET, projectId: 'proj-1' } : null),
    replayGuard: guard,
    now: () => clock(),
  });
  verdicts.push(result);
  if (!result.ok) {
    return { status: result.httpStatus, json: { code: result.code, message: result.message, requestId: 'req-1' } };
  }
  const path = req.rawUrl.split('?')[0]!;
  if (req.method === 'GET' && /^\/api\/v2\/clusters\/[^/]+\/upgrade\/status$/.test(path)) {
    return { status: 200, json: { status: 'running', upgrade_step: 'upgrading', error_message: '' } };
  }
  if (req.method === 'POST' && /^\/api\/v2\/clusters\/[^/]+\/upgrade$/.test(path)) {
    const body = JSON.parse(req.body.toString('utf8')) as { next_version?: string };
    return { status: 200, json: { cluster_id: 'c1', request_id: 'r1', task_id: `T-${body.next_version}` } };
  }
  if (req.method === 'POST' && /^\/api\/v2\/clusters\/[^/]+\/upgrade\/pause$/.test(path)) {
    return { status: 202, json: {} };
  }
  if (req.method === 'GET' && /^\/tasks\/[^/]+$/.test(path)) {
    return { status: 200, json: { task_id: path.split('/')[2], state: 'running' } };
  }
  if (req.method === 'GET' && path.startsWith('/api/v1/instances/')) {
    return { status: 200, json: { RequestId: 'r2', Success: true, Path: path } };
  }
  return { status: 404, json: { code: 'NotFound', message: path } };
}

function makeConfig(secret = SECRET): openapi.Config {
  return new openapi.Config({
    accessKeyId: AK,
    accessKeySecret: secret,
    endpoint: `127.0.0.1:${server.port}`,
    protocol: 'http',
  });
}

function lastVerdict(): AuthResult {
  const v = verdicts.at(-1);
  assert.ok(v, 'server saw no request');
  return v;
}

before(async () => {
  server = await startServer(handle);
});
after(async () => {
  await server.close();
});

describe('ACS3-HMAC-SHA256 with the real ACK SDK', () => {
  test('GetUpgradeStatus (GET) verifies', async () => {
    const client = new CsClient(makeConfig());
    const res = await client.getUpgradeStatus('c-abc123');
    assert.equal(res.body?.status, 'running');
    assert.deepEqual(lastVerdict(), { ok: true, accessKeyId: AK, projectId: 'proj-1' });
  });

  test('UpgradeCluster (POST with a JSON body) verifies and the body is intact', async () => {
    const client = new CsClient(makeConfig());
    const req = new csModule.UpgradeClusterRequest({ nextVersion: '1.31.1-aliyun.1', masterOnly: false });
    const res = await client.upgradeCluster('c-abc123', req);
    assert.equal(res.body?.taskId, 'T-1.31.1-aliyun.1');
    assert.equal(lastVerdict().ok, true);
    const sent = server.captured.at(-1)!;
    assert.match(String(sent.headers['content-type']), /application\/json/);
    assert.ok(sent.body.length > 0);
  });

  test('PauseClusterUpgrade and DescribeTaskInfo verify', async () => {
    const client = new CsClient(makeConfig());
    await client.pauseClusterUpgrade('c-abc123');
    assert.equal(lastVerdict().ok, true);
    const task = await client.describeTaskInfo('T-42');
    assert.equal(task.body?.taskId, 'T-42');
    assert.equal(lastVerdict().ok, true);
  });

  test('a wrong secret is rejected and the SDK raises its client error with our code', async () => {
    const client = new CsClient(makeConfig('not-the-secret'));
    await assert.rejects(client.getUpgradeStatus('c-abc123'), (err: { code?: string; statusCode?: number; data?: unknown }) => {
      assert.equal(err.code, 'SignatureDoesNotMatch');
      assert.equal(err.statusCode, 400);
      return true;
    });
  });

  test('an unknown AccessKey ID is rejected with InvalidAccessKeyId.NotFound', async () => {
    const config = makeConfig();
    config.accessKeyId = 'LTAI-nobody';
    const client = new CsClient(config);
    await assert.rejects(client.getUpgradeStatus('c-abc123'), (err: { code?: string; statusCode?: number }) => {
      assert.equal(err.code, 'InvalidAccessKeyId.NotFound');
      assert.equal(err.statusCode, 404);
      return true;
    });
  });

  test('a captured request replayed with fetch is rejected as SignatureNonceUsed', async () => {
    const client = new CsClient(makeConfig());
    await client.getUpgradeStatus('c-replay');
    assert.equal(lastVerdict().ok, true);
    const original = server.captured.at(-1)!;
    const res = await fetch(`${server.baseUrl}${original.rawUrl}`, { method: 'GET', headers: replayableHeaders(original) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string };
    assert.equal(body.code, 'SignatureNonceUsed');
  });

  test('a replayed POST with a tampered body is rejected before the nonce is consumed', async () => {
    const client = new CsClient(makeConfig());
    await client.upgradeCluster('c-tamper', new csModule.UpgradeClusterRequest({ nextVersion: '1.30.0' }));
    const original = server.captured.at(-1)!;
    const res = await fetch(`${server.baseUrl}${original.rawUrl}`, {
      method: 'POST',
      headers: replayableHeaders(original),
      body: original.body.toString('utf8').replace('1.30.0', '9.99.9'),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'ContentSHA256NotMatched');
  });

  test('a stale x-acs-date is rejected with InvalidTimeStamp.Expired', async () => {
    // The SDK stamps the real time; the server clock runs 16 minutes ahead.
    clock = () => Date.now() + 16 * 60 * 1000;
    try {
      const client = new CsClient(makeConfig());
      await assert.rejects(client.getUpgradeStatus('c-abc123'), (err: { code?: string }) => {
        assert.equal(err.code, 'InvalidTimeStamp.Expired');
        return true;
      });
    } finally {
      clock = () => Date.now();
    }
  });

  test('a far-future x-acs-date is rejected too', async () => {
    clock = () => Date.now() - 16 * 60 * 1000;
    try {
      const client = new CsClient(makeConfig());
      await assert.rejects(client.getUpgradeStatus('c-abc123'), (err: { code?: string }) => {
        assert.equal(err.code, 'InvalidTimeStamp.Expired');
        return true;
      });
    } finally {
      clock = () => Date.now();
    }
  });

  test('generic callApi (ROA) signs a Hologres-style path with a query', async () => {
    const client = new OpenApiClient(makeConfig());
    const params = new openapi.Params({
      action: 'GetInstanceUpgradeStatus',
      version: '2022-06-01',
      protocol: 'HTTP',
      pathname: '/api/v1/instances/hgprecn-x/upgrade/status',
      method: 'GET',
      authType: 'AK',
      style: 'ROA',
      reqBodyType: 'json',
      bodyType: 'json',
    });
    const request = new openapi.OpenApiRequest({ query: { RegionId: 'cn-hangzhou', Note: "it's a (test)*" } });
    const res = await client.callApi(params, request, {});
    assert.equal(lastVerdict().ok, true);
    assert.equal((res.body as { Path?: string }).Path, '/api/v1/instances/hgprecn-x/upgrade/status');
  });
});

describe('ACS3 verifier edge cases', () => {
  const base = { lookupSecret: async () => ({ secret: SECRET, projectId: 'p' }), now: () => Date.parse('2025-01-01T00:00:00Z') };

  test('signAcs3 output verifies, and a missing Authorization is reported', async () => {
    const headers = signAcs3({
      method: 'GET',
      rawUrl: '/api/v2/clusters/c%20x/upgrade/status?a=1&b=x%20y',
      headers: { host: 'example' },
      accessKeyId: AK,
      accessKeySecret: SECRET,
      date: new Date('2025-01-01T00:05:00Z'),
    });
    const req = { method: 'GET', rawUrl: '/api/v2/clusters/c%20x/upgrade/status?b=x%20y&a=1', headers, body: Buffer.alloc(0) };
    const ok = await verifyAcs3(req, { ...base, replayGuard: new InMemoryReplayGuard() });
    assert.equal(ok.ok, true);
    const { authorization: _dropped, ...unsigned } = headers;
    const missing = await verifyAcs3({ ...req, headers: unsigned }, { ...base, replayGuard: new InMemoryReplayGuard() });
    assert.deepEqual(missing.ok ? null : [missing.code, missing.httpStatus], ['MissingAuthorization', 400]);
  });

  test('a signature that leaves the nonce unsigned is refused', async () => {
    const headers = signAcs3({
      method: 'GET',
      rawUrl: '/x',
      headers: {},
      accessKeyId: AK,
      accessKeySecret: SECRET,
      date: new Date('2025-01-01T00:00:00Z'),
    });
    headers['authorization'] = headers['authorization']!.replace(/;x-acs-signature-nonce\b/, '');
    assert.doesNotMatch(headers['authorization']!, /x-acs-signature-nonce/);
    const res = await verifyAcs3(
      { method: 'GET', rawUrl: '/x', headers, body: Buffer.alloc(0) },
      { ...base, replayGuard: new InMemoryReplayGuard() },
    );
    assert.equal(res.ok ? 'ok' : res.code, 'IncompleteSignature');
  });
});
