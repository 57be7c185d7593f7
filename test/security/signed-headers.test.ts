// Every header a vendor requires in a signature is required here (issue 8 item 4). For each one, a
// request whose signature is valid over every other header is refused with the vendor's code:
// ACS3 `IncompleteSignature` (host, content-type, every x-acs-* header), Huawei SDK-HMAC
// `APIG.0301` (host, X-Sdk-Date, and X-Project-Id / X-Security-Token when sent). The same
// request signed over all of them passes, so each refusal is due to the one header left out.
// Through the HTTP app the refusal arrives in the family's envelope.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { acs3StringToSign, signAcs3, verifyAcs3 } from '../../src/auth/acs3.ts';
import { hmacSha256Hex, sha256Hex } from '../../src/auth/auth-result.ts';
import { huaweiStringToSign, signHuawei, verifyHuaweiSdkHmac } from '../../src/auth/huawei-sdk-hmac.ts';
import { InMemoryReplayGuard } from '../../src/auth/replay-guard.ts';
import { FamilyRequester, HOST, isFamilyErrorEnvelope } from '../helpers/family-requests.ts';
import { forEachDialect, startApp, type TestApp } from '../helpers/harness.ts';
import { seedCatalog, seedProject, type SeededProject } from '../helpers/two-projects.ts';

const AK = 'LTAI5tSignedHeaders';
const SK = 'signed-headers-secret-0123456789';
const lookupSecret = async (ak: string) => (ak === AK ? { secret: SK, projectId: 'p1' } : null);
const body = JSON.stringify({ next_version: '1.31.1' });

/** ACS3 headers as the SDK sends them, including STS token headers. */
function acsRequest() {
  const headers = signAcs3({
    method: 'POST',
    rawUrl: '/api/v2/clusters/c1/upgrade',
    headers: {
      host: HOST,
      'content-type': 'application/json; charset=utf-8',
      'x-acs-action': 'UpgradeCluster',
      'x-acs-version': '2015-12-15',
      'x-acs-security-token': 'sts-token',
    },
    body,
    accessKeyId: AK,
    accessKeySecret: SK,
  });
  return headers;
}

/** Re-signs `headers` over every signed header except `left`, with a valid signature. */
function acsWithout(headers: Record<string, string>, left: string): Record<string, string> {
  const signed = Object.keys(headers)
    .filter((k) => k !== 'authorization' && k !== left)
    .sort();
  const sts = acs3StringToSign('POST', '/api/v2/clusters/c1/upgrade', headers, signed, headers['x-acs-content-sha256']!)!;
  const signature = hmacSha256Hex(SK, sts);
  return {
    ...headers,
    authorization: `ACS3-HMAC-SHA256 Credential=${AK},SignedHeaders=${signed.join(';')},Signature=${signature}`,
  };
}

function huaweiRequest(extra: Record<string, string> = {}) {
  return signHuawei({
    method: 'POST',
    rawUrl: '/v1.0/p1/clusters/c1/upgrade/x/retry',
    headers: { host: HOST, 'content-type': 'application/json', 'x-project-id': 'p1', 'x-security-token': 'sts', ...extra },
    body,
    accessKeyId: AK,
    secretAccessKey: SK,
  });
}

function huaweiWithout(headers: Record<string, string>, left: string): Record<string, string> {
  const signed = Object.keys(headers)
    .filter((k) => k !== 'authorization' && k !== left)
    .sort();
  const sts = huaweiStringToSign(
    'POST',
    '/v1.0/p1/clusters/c1/upgrade/x/retry',
    headers,
    signed,
    sha256Hex(body),
    headers['x-sdk-date']!,
  )!;
  const signature = hmacSha256Hex(SK, sts);
  return { ...headers, authorization: `SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=${signed.join(';')}, Signature=${signature}` };
}

describe('required signed headers', () => {
  const acs = (headers: Record<string, string>) =>
    verifyAcs3(
      { method: 'POST', rawUrl: '/api/v2/clusters/c1/upgrade', headers, body: Buffer.from(body) },
      { lookupSecret, replayGuard: new InMemoryReplayGuard() },
    );
  const huawei = (headers: Record<string, string>) =>
    verifyHuaweiSdkHmac(
      { method: 'POST', rawUrl: '/v1.0/p1/clusters/c1/upgrade/x/retry', headers, body: Buffer.from(body) },
      { lookupSecret, replayGuard: new InMemoryReplayGuard() },
    );

  it('ACS3: the request signed over all its headers passes', async () => {
    assert.equal((await acs(acsRequest())).ok, true);
    assert.equal((await acs(acsWithout(acsRequest(), 'no-such-header'))).ok, true);
  });

  for (const left of [
    'host',
    'content-type',
    'x-acs-action',
    'x-acs-version',
    'x-acs-security-token',
    'x-acs-date',
    'x-acs-signature-nonce',
    'x-acs-content-sha256',
  ]) {
    it(`ACS3: a signature that does not cover ${left} is IncompleteSignature`, async () => {
      const result = await acs(acsWithout(acsRequest(), left));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.code, 'IncompleteSignature');
      assert.equal(result.httpStatus, 400);
      assert.match(result.message, new RegExp(`"${left}"`));
    });
  }

  it('Huawei: the request signed over all its headers passes', async () => {
    assert.equal((await huawei(huaweiRequest())).ok, true);
    // Content-Type is not one Huawei requires: leaving it out still verifies.
    assert.equal((await huawei(huaweiWithout(huaweiRequest(), 'content-type'))).ok, true);
  });

  for (const left of ['host', 'x-sdk-date', 'x-project-id', 'x-security-token']) {
    it(`Huawei: a signature that does not cover ${left} is APIG.0301`, async () => {
      const result = await huawei(huaweiWithout(huaweiRequest(), left));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.code, 'APIG.0301');
      assert.equal(result.httpStatus, 401);
      assert.match(result.message, new RegExp(left));
    });
  }
});

forEachDialect('required signed headers through the families', (dialect) => {
  let t: TestApp;
  let q: FamilyRequester;
  let a: SeededProject;
  before(async () => {
    t = await startApp(dialect);
    q = new FamilyRequester(t.app);
    await seedCatalog(t);
    a = await seedProject(t, 'acme');
  });
  after(() => t.close());

  it('ACK and Hologres refuse a signature without host in their envelopes', async () => {
    for (const [family, url] of [
      ['ack', `/api/v2/clusters/${a.cluster}/upgrade/status`],
      ['hologres', `/api/v1/instances/${a.instance}/upgrade/status`],
    ] as const) {
      const good = await q.acs({ method: 'GET', url }, a.accessKey);
      assert.equal(good.status, 200, good.body);
      const headers = q.acsHeaders({ method: 'GET', url }, a.accessKey);
      const signed = Object.keys(headers)
        .filter((k) => k !== 'authorization' && k !== 'host')
        .sort();
      const sts = acs3StringToSign('GET', url, headers, signed, headers['x-acs-content-sha256']!)!;
      headers.authorization = `ACS3-HMAC-SHA256 Credential=${a.accessKey.accessKeyId},SignedHeaders=${signed.join(';')},Signature=${hmacSha256Hex(a.accessKey.accessKeySecret, sts)}`;
      const res = await q.raw({ method: 'GET', url, headers });
      assert.equal(res.status, 400, res.body);
      assert.ok(isFamilyErrorEnvelope(family, res), res.body);
      assert.equal(family === 'ack' ? res.json.code : res.json.Code, 'IncompleteSignature');
    }
  });

  it('CSS and GaussDB refuse a signature of X-Sdk-Date alone in their envelopes', async () => {
    for (const [family, url] of [
      ['css', `/v1.0/acme/clusters/${a.cluster}/upgrade/detail`],
      ['gaussdb', `/v3/acme/instances/${a.instance}/database-version`],
    ] as const) {
      const good = await q.huawei({ method: 'GET', url }, a.accessKey, 'acme');
      assert.equal(good.status, 200, good.body);
      const headers = q.huaweiHeaders({ method: 'GET', url }, a.accessKey, 'acme');
      const sts = huaweiStringToSign('GET', url, headers, ['x-sdk-date'], sha256Hex(''), headers['x-sdk-date']!)!;
      headers.authorization = `SDK-HMAC-SHA256 Access=${a.accessKey.accessKeyId}, SignedHeaders=x-sdk-date, Signature=${hmacSha256Hex(a.accessKey.accessKeySecret, sts)}`;
      const res = await q.raw({ method: 'GET', url, headers });
      assert.equal(res.status, 401, res.body);
      assert.ok(isFamilyErrorEnvelope(family, res), res.body);
      assert.equal(res.json.error_code, 'APIG.0301');
    }
  });
});
