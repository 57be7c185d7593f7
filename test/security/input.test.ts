// No 5xx from any input, on either store (issue 8 item 3): NUL bytes, unbounded integers, numbers
// where ids are strings, and every framework-level failure, each answered in the envelope of the
// family the request was addressed to, without echoing the input.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { FamilyName } from '../../src/http/error-envelopes.ts';
import { FamilyRequester, isFamilyErrorEnvelope, sendTo, type Answer, type FamilyRequest } from '../helpers/family-requests.ts';
import { forEachDialect, startApp, type TestApp } from '../helpers/harness.ts';
import { seedCatalog, seedProject, type SeededProject } from '../helpers/two-projects.ts';

function refused(family: FamilyName, a: Answer, status: number, mustNotEcho?: string): void {
  assert.equal(a.status, status, `${family}: ${a.status} ${a.body}`);
  assert.ok(isFamilyErrorEnvelope(family, a), `${family} envelope: ${a.body}`);
  if (mustNotEcho) assert.ok(!a.body.includes(mustNotEcho), `${family} echoes its input: ${a.body}`);
}

/** One path per family with one path parameter, for failures that come before authentication. */
const PATHS: Record<FamilyName, (id: string) => string> = {
  native: (id) => `/v1/projects/${id}/targets`,
  ack: (id) => `/api/v2/clusters/${id}/upgrade/status`,
  hologres: (id) => `/api/v1/instances/${id}/upgrade/status`,
  css: (id) => `/v1.0/${id}/clusters/c/upgrade/detail`,
  gaussdb: (id) => `/v3/${id}/jobs`,
  obshell: (id) => `/api/v1/task/dag/${id}`,
};

/** Sends bytes as they are (fetch and inject would normalise the path) and parses the answer. */
async function rawHttp(port: number, data: string): Promise<Answer> {
  const raw = await new Promise<string>((resolve, reject) => {
    // write, not end: a client that half-closes first may lose the answer (Node's HTTP server closes).
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  const [head, ...rest] = raw.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  let json: unknown = null;
  try {
    json = JSON.parse(body);
  } catch {
    json = null;
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]), body, json, headers: {} };
}
const FAMILIES = Object.keys(PATHS) as FamilyName[];

forEachDialect('no 5xx from input', (dialect) => {
  let t: TestApp;
  let q: FamilyRequester;
  let a: SeededProject;
  let port: number;
  before(async () => {
    t = await startApp(dialect);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    q = new FamilyRequester(t.app);
    await seedCatalog(t);
    a = await seedProject(t, 'acme');
  });
  after(() => t.close());

  it('a NUL byte in a body, path, query or header is a 400 naming the field, in every family', async () => {
    const nul = '\u0000';
    const native = await q.native({ method: 'POST', url: '/v1/projects', body: { id: 'nul1', name: `a${nul}b` } }, a.token);
    refused('native', native, 400);
    assert.match(native.json.error.message, /body\.name must not contain NUL/);
    assert.equal((await t.call('GET', '/v1/projects/nul1')).status, 404, 'nothing was written');
    const patch = await q.native(
      { method: 'PATCH', url: `/v1/projects/acme/targets/${a.cluster}`, body: { name: `x${nul}` } },
      a.token,
    );
    refused('native', patch, 400);
    refused('native', await q.native({ method: 'GET', url: '/v1/projects/acme/targets?engine=a%00b' }, a.token), 400);
    // the routes outside /v1 (health, metrics) answer in the native envelope too
    for (const url of ['/healthz?x=%00', '/metrics?x=%00']) refused('native', await q.raw({ method: 'GET', url }), 400);
    const header = await q.native({ method: 'GET', url: '/v1/projects', headers: { 'x-note': `a${nul}` } }, a.token);
    refused('native', header, 400);
    assert.match(header.json.error.message, /header x-note/);

    const ack = await q.acs(
      { method: 'POST', url: `/api/v2/clusters/${a.cluster}/upgrade`, body: { next_version: `7${nul}` } },
      a.accessKey,
    );
    refused('ack', ack, 400);
    assert.match(ack.json.message, /body\.next_version/);
    const css = await q.huawei(
      { method: 'GET', url: `/v1.0/acme/clusters/${a.cluster}/upgrade/detail?action_mode=%00` },
      a.accessKey,
      'acme',
    );
    refused('css', css, 400);
    const gauss = await q.huawei({ method: 'GET', url: `/v3/acme/jobs?id=a%00` }, a.accessKey, 'acme');
    refused('gaussdb', gauss, 400);
    assert.match(gauss.json.error_msg, /querystring\.id/);
    const ob = await q.obshellRequest(
      { method: 'POST', url: '/api/v1/ob/upgrade', body: { version: `4${nul}`, release: 'r' } },
      a.obshellPassword,
      a.obshellPort,
    );
    refused('obshell', ob, 400);
    assert.match(ob.json.error.message, /body\.version/);
    const holo = await q.acs({ method: 'GET', url: `/api/v1/instances/${a.instance}/upgrade/status?RegionId=%00` }, a.accessKey);
    refused('hologres', holo, 400);
  });

  it('integers beyond their bounds are a 400, never a store error', async () => {
    for (const url of [
      '/v1/projects/acme/upgrades?offset=1e20',
      '/v1/projects/acme/targets?offset=99999999999999999999',
      '/v1/projects/acme/events?after=99999999999999999999',
      '/v1/projects/acme/upgrades?limit=1e400',
    ]) {
      refused('native', await q.native({ method: 'GET', url }, a.token), 400);
    }
    const gauss = await q.huawei(
      { method: 'GET', url: '/v3/acme/scheduled-jobs?offset=99999999999999999999' },
      a.accessKey,
      'acme',
    );
    refused('gaussdb', gauss, 400);
    const css = await q.huawei(
      { method: 'GET', url: `/v1.0/acme/clusters/${a.cluster}/upgrade/detail?limit=1e20` },
      a.accessKey,
      'acme',
    );
    refused('css', css, 400);
    const ob = await q.obshellRequest(
      { method: 'GET', url: '/api/v1/task/dag/1999999999999999999999' },
      a.obshellPassword,
      a.obshellPort,
    );
    refused('obshell', ob, 400);
  });

  it('ids and names are strings by type: numbers are refused, not coerced', async () => {
    const inf = await q.native({ method: 'POST', url: '/v1/projects', body: '{"id":1e400}' }, 'test-admin-token');
    refused('native', inf, 400);
    const num = await q.native({ method: 'POST', url: '/v1/projects', body: { id: 12345, name: 7 } }, 'test-admin-token');
    refused('native', num, 400);
    const projects = (await t.call('GET', '/v1/projects')).json.items.map((p: { id: string }) => p.id);
    assert.deepEqual(projects, ['acme']);
    const ack = await q.acs(
      { method: 'POST', url: `/api/v2/clusters/${a.cluster}/upgrade`, body: { next_version: 7.1 } },
      a.accessKey,
    );
    refused('ack', ack, 400);
    const gauss = await q.huawei(
      {
        method: 'POST',
        url: '/v3/acme/instances/database-version/upgrade',
        body: { databases_instance_infos: [{ instance_id: 1, current_version: 2 }] },
      },
      a.accessKey,
      'acme',
    );
    refused('gaussdb', gauss, 400);
  });

  it('framework failures answer in the family of the path, without echoing the input', async () => {
    for (const family of FAMILIES) {
      const path = PATHS[family];
      // OBShell's paths are served on each cluster's own agent port
      const raw = (r: FamilyRequest) => (family === 'obshell' ? sendTo(a.obshellPort, r) : q.raw(r));
      refused(family, await raw({ method: 'GET', url: path('%zz-secret') }), 400, 'secret');
      refused(family, await raw({ method: 'GET', url: path('s'.repeat(300)) }), 414, 'sss');
      refused(family, await raw({ method: 'GET', url: `${path('p')}?q=${'u'.repeat(9000)}` }), 414, 'uuu');
      refused(family, await raw({ method: 'GET', url: `${path('p')}/no/such/route/secret-path` }), 404, 'secret-path');
      // The native API authenticates before it reads a body; the vendor families read it first (it is signed).
      const big = { method: 'POST', url: path('p'), body: `{"a":"${'x'.repeat(3 * 1024 * 1024)}"}` };
      refused(family, family === 'native' ? await q.native(big, a.token) : await raw(big), 413);
    }
    // Body parse failures and content types in the native API: fixed messages, no parser text.
    const badJson = await q.native({ method: 'POST', url: '/v1/projects', body: '{"id":"secret-fragment' }, 'test-admin-token');
    refused('native', badJson, 400, 'secret-fragment');
    const proto = await q.native(
      { method: 'POST', url: '/v1/projects', body: '{"id":"x","__proto__":{"a":1}}' },
      'test-admin-token',
    );
    refused('native', proto, 400);
    const media = await q.native(
      { method: 'POST', url: '/v1/projects', body: 'x', headers: { 'content-type': 'text/secret-type' } },
      'test-admin-token',
    );
    refused('native', media, 415, 'secret-type');
  });

  it('a traversal path with a JSON content type under /api/v1/task/ answers the OBShell envelope', async () => {
    for (const path of ['/api/v1/task/../../../v1/projects', '/api/v1/task/%2e%2e/%2e%2e/v1/projects']) {
      const body = '{not json';
      const res = await rawHttp(
        port,
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.ok(res.status === 400 || res.status === 404, res.body);
      assert.ok(isFamilyErrorEnvelope('obshell', res), res.body);
      assert.ok(!res.body.includes('not json'), res.body);
    }
  });

  it('OBShell Common.BindJsonFailed does not echo the decrypted body', async () => {
    const res = await q.obshellRequest(
      { method: 'POST', url: '/api/v1/ob/upgrade', body: '{"version": secret-in-body' },
      a.obshellPassword,
      a.obshellPort,
    );
    refused('obshell', res, 400, 'secret-in-body');
    assert.equal(res.json.error.errCode, 'Common.BindJsonFailed');
  });

  it('DELETE with content-type application/json and an empty body is accepted', async () => {
    await t.call('POST', '/v1/projects/acme/targets', {
      id: 'to-delete',
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.9.3',
      driver: 'sim',
      nodes: [{ name: 'n1', role: 'master', zone: 'z1' }],
    });
    const res = await q.native(
      { method: 'DELETE', url: '/v1/projects/acme/targets/to-delete', headers: { 'content-type': 'application/json' } },
      a.token,
    );
    assert.equal(res.status, 204, res.body);
  });

  it('requests Node refuses before Fastify (bad request line, headers too large) get the envelope', async () => {
    refused('native', await rawHttp(port, 'GET /v1/projects/secret HTTP/1.1 extra\r\nHost: x\r\n\r\n'), 400, 'secret');
    const longUrl = await rawHttp(port, `GET /api/v1/task/dag/${'z'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // letters outside hex, so a random trace id in the answer cannot contain them
    refused('obshell', longUrl, 431, 'zzz');
    const big = await rawHttp(
      port,
      `GET /v1.0/p/clusters/c/upgrade/detail HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`,
    );
    refused('css', big, 431, 'yyy');
  });
});
