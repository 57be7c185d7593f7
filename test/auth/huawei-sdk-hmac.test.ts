// SDK-HMAC-SHA256 verification against the real @huaweicloud/huaweicloud-sdk-core.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { signHuawei, verifyHuaweiSdkHmac } from '../../src/auth/huawei-sdk-hmac.ts';
import { InMemoryReplayGuard } from '../../src/auth/replay-guard.ts';
import type { AuthResult } from '../../src/auth/auth-result.ts';
import { replayableHeaders, startServer, type CapturedRequest, type TestServer } from './http-harness.ts';

// The SDK writes ~/.huaweicloud/application_id; keep it out of the real home.
const home = mkdtempSync(join(tmpdir(), 'liftgate-hw-home-'));
process.env['HOME'] = home;

// ClientBuilder is not re-exported from the package root; load it by path.
const require = createRequire(import.meta.url);
interface SendOptions {
  method: string;
  url: string;
  contentType?: string;
  pathParams: Record<string, string>;
  queryParams: Record<string, string | number>;
  headers: Record<string, string>;
  data?: unknown;
}
interface HcClientLike {
  sendRequest(options: SendOptions): Promise<Record<string, unknown>>;
}
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder') as {
  ClientBuilder: new (init: (c: HcClientLike) => HcClientLike) => {
    withCredential(c: unknown): { withEndpoint(e: string): { build(): HcClientLike } };
  };
};
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as {
  BasicCredentials: new () => { withAk(a: string): any };
};

const AK = 'HWTESTAKLIFTGATE0001';
const SK = 'hw-test-sk-0123456789abcdef';
const PROJECT = '0123456789abcdef0123456789abcdef';

let server: TestServer;
const verdicts: AuthResult[] = [];
let clock = () => Date.now();
const guard = new InMemoryReplayGuard();

async function handle(req: CapturedRequest) {
  const result = await verifyHuaweiSdkHmac(req, {
    lookupSecret: async (ak) => (ak === AK ? { secret: SK, projectId: PROJECT } : null),
    replayGuard: guard,
    now: () => clock(),
  });
  verdicts.push(result);
  if (!result.ok) {
    return {
      status: result.httpStatus,
      json: { error_code: result.code, error_msg: result.message },
      headers: { 'x-request-id': 'rid-1' },
    };
  }
  const [path, query = ''] = req.rawUrl.split('?');
  return {
    status: 200,
    json: { path, query, method: req.method, body: req.body.length ? JSON.parse(req.body.toString('utf8')) : null },
  };
}

function client(sk = SK): HcClientLike {
  const credentials = new BasicCredentials().withAk(AK).withSk(sk).withProjectId(PROJECT);
  return new ClientBuilder((c) => c).withCredential(credentials).withEndpoint(server.baseUrl).build();
}

const getDetail = (clusterId: string): SendOptions => ({
  method: 'GET',
  url: '/v1.0/{project_id}/clusters/{cluster_id}/upgrade/detail',
  contentType: 'application/json',
  pathParams: { cluster_id: clusterId },
  queryParams: { start: 1, limit: 10, action_mode: 'AZ_MIGRATION' },
  headers: {},
});

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
  rmSync(home, { recursive: true, force: true });
});

describe('SDK-HMAC-SHA256 with the real Huawei core SDK', () => {
  test('GET with {project_id} and query params verifies', async () => {
    const res = await client().sendRequest(getDetail('css-1234'));
    assert.deepEqual(lastVerdict(), { ok: true, accessKeyId: AK, projectId: PROJECT });
    assert.equal(res['path'], `/v1.0/${PROJECT}/clusters/css-1234/upgrade/detail`);
    assert.match(String(res['query']), /action_mode=AZ_MIGRATION/);
  });

  test('POST with a JSON body verifies and the body arrives intact', async () => {
    const res = await client().sendRequest({
      method: 'POST',
      url: '/v3/{project_id}/instances/database-version/upgrade',
      contentType: 'application/json;charset=UTF-8',
      pathParams: {},
      queryParams: {},
      headers: { 'X-Language': 'en-us' },
      data: { instance_ids: ['i-1', 'i-2'], delay: false, note: 'ü & *' },
    });
    assert.equal(lastVerdict().ok, true);
    assert.deepEqual(res['body'], { instance_ids: ['i-1', 'i-2'], delay: false, note: 'ü & *' });
  });

  test('percent-encoded path and query characters verify', async () => {
    // Path segments: non-ASCII and RFC 3986 unreserved marks. (The Node SDK signs
    // characters that legacy url.parse auto-escapes, such as spaces and quotes, in
    // a path differently from Huawei's documented algorithm; resource ids never
    // contain them. See docs/SECURITY.md.)
    const options = getDetail('clü~.-_+1');
    options.queryParams = { q: "a b'(c)*!é+%2F", limit: 5 };
    await client().sendRequest(options);
    assert.equal(lastVerdict().ok, true, JSON.stringify(lastVerdict()));
    assert.match(server.captured.at(-1)!.rawUrl, /cl%C3%BC~\.-_\+1/);
  });

  test('a wrong SK is rejected and the SDK surfaces errorCode/errorMsg', async () => {
    await assert.rejects(client('wrong-sk').sendRequest(getDetail('css-1234')), (err: Record<string, unknown>) => {
      assert.equal(err['httpStatusCode'], 401);
      assert.equal(err['errorCode'], 'APIG.0301');
      assert.equal(err['errorMsg'], 'Incorrect IAM authentication information: verify aksk signature fail');
      assert.equal(err['requestId'], 'rid-1');
      return true;
    });
  });

  test('a captured request replayed with fetch is rejected', async () => {
    await client().sendRequest(getDetail('css-replay'));
    assert.equal(lastVerdict().ok, true);
    const original = server.captured.at(-1)!;
    const res = await fetch(`${server.baseUrl}${original.rawUrl}`, { headers: replayableHeaders(original) });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error_code: string; error_msg: string };
    assert.equal(body.error_code, 'APIG.0301');
    assert.match(body.error_msg, /already been used/);
  });

  test('a stale X-Sdk-Date is rejected', async () => {
    clock = () => Date.now() + 16 * 60 * 1000;
    try {
      await assert.rejects(client().sendRequest(getDetail('css-1234')), (err: Record<string, unknown>) => {
        assert.equal(err['errorCode'], 'APIG.0301');
        assert.match(String(err['errorMsg']), /signature expired, signature time:\d{8}T\d{6}Z,server time:\d{8}T\d{6}Z/);
        return true;
      });
    } finally {
      clock = () => Date.now();
    }
  });
});

describe('SDK-HMAC-SHA256 verifier edge cases', () => {
  const now = Date.parse('2025-03-01T10:00:00Z');
  const opts = () => ({
    lookupSecret: async (ak: string) => (ak === AK ? { secret: SK, projectId: PROJECT } : null),
    replayGuard: new InMemoryReplayGuard({ now: () => now }),
    now: () => now,
  });

  test('signHuawei output verifies; a missing Authorization and an unknown AK are reported', async () => {
    const body = JSON.stringify({ a: 1 });
    const headers = signHuawei({
      method: 'POST',
      rawUrl: `/v3/${PROJECT}/x?b=2&a=1`,
      headers: { host: 'h', 'content-type': 'application/json' },
      body,
      accessKeyId: AK,
      secretAccessKey: SK,
      date: new Date(now),
    });
    const req = { method: 'POST', rawUrl: `/v3/${PROJECT}/x?a=1&b=2`, headers, body: Buffer.from(body) };
    assert.equal((await verifyHuaweiSdkHmac(req, opts())).ok, true);

    const { authorization: _a, ...unsigned } = headers;
    const missing = await verifyHuaweiSdkHmac({ ...req, headers: unsigned }, opts());
    assert.deepEqual(missing.ok ? null : [missing.code, missing.httpStatus], ['APIG.0301', 401]);

    const other = signHuawei({
      method: 'GET',
      rawUrl: '/x',
      headers: { host: 'h' },
      accessKeyId: 'NOPE',
      secretAccessKey: SK,
      date: new Date(now),
    });
    const unknown = await verifyHuaweiSdkHmac({ method: 'GET', rawUrl: '/x', headers: other, body: Buffer.alloc(0) }, opts());
    assert.match(unknown.ok ? '' : unknown.message, /Get secretKey failed,ak:NOPE,err:ak not exist/);
  });

  test('a tampered body and an unsigned X-Sdk-Date are rejected', async () => {
    const headers = signHuawei({
      method: 'POST',
      rawUrl: '/y',
      headers: { host: 'h' },
      body: '{"v":1}',
      accessKeyId: AK,
      secretAccessKey: SK,
      date: new Date(now),
    });
    const tampered = await verifyHuaweiSdkHmac({ method: 'POST', rawUrl: '/y', headers, body: Buffer.from('{"v":2}') }, opts());
    assert.equal(tampered.ok ? 'ok' : tampered.message, 'Incorrect IAM authentication information: verify aksk signature fail');

    const noDate = { ...headers, authorization: headers['authorization']!.replace(';x-sdk-date', '') };
    assert.doesNotMatch(noDate.authorization, /x-sdk-date/);
    const res = await verifyHuaweiSdkHmac(
      { method: 'POST', rawUrl: '/y', headers: noDate, body: Buffer.from('{"v":1}') },
      opts(),
    );
    assert.match(res.ok ? '' : res.message, /x-sdk-date is not a signed header/);
  });
});
