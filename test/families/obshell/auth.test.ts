// OBShell hybrid-encryption authentication of the family, end to end on a real port:
// missing, tampered, expired, mismatched and replayed headers, wrong passwords, bad bodies,
// and one cluster's password never reaching another cluster's DAGs.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { ObshellClient } from '../../../src/clients/obshell-client.ts';
import { forEachDialect } from '../../helpers/harness.ts';
import { errorOf, NEXT, startObshell, startUpgrade, type Json, type ObshellEnv } from './helpers.ts';

forEachDialect('OBShell authentication', (dialect) => {
  let env: ObshellEnv;
  let dagId: string;
  before(async () => {
    env = await startObshell(dialect);
    dagId = (await startUpgrade(env.client, NEXT)).id;
  });
  after(() => env.close());

  const URI = '/api/v1/task/dag/ob/unfinish';

  it('a request without X-OCS-Header is 400 Request.Header.NotFound', async () => {
    const res = await fetch(`${env.baseUrl}${URI}`);
    assert.equal(res.status, 400);
    const body = (await res.json()) as Json;
    assert.equal(body.successful, false);
    assert.equal(body.error.errCode, 'Request.Header.NotFound');
    assert.equal(body.data, undefined);
  });

  it('a tampered header is 401 Security.Authentication.Header.DecryptFailed', async () => {
    const enc = await env.client.encrypt(URI);
    const raw = Buffer.from(enc.header, 'base64');
    raw[10] = (raw[10] ?? 0) ^ 0xff;
    const e = errorOf(await env.client.send('GET', URI, { header: raw.toString('base64') }));
    assert.deepEqual([e.status, e.errCode], [401, 'Security.Authentication.Header.DecryptFailed']);
    const garbage = errorOf(await env.client.send('GET', URI, { header: 'not base64 at all!' }));
    assert.equal(garbage.errCode, 'Security.Authentication.Header.DecryptFailed');
  });

  it('a wrong password is 401 Security.Authentication.Unauthorized', async () => {
    const intruder = new ObshellClient({ baseUrl: env.baseUrl, password: 'not-the-password' });
    const e = errorOf(await intruder.request('GET', URI));
    assert.deepEqual([e.status, e.errCode], [401, 'Security.Authentication.Unauthorized']);
  });

  it('a replayed header is refused (OBShell itself would accept it)', async () => {
    const enc = await env.client.encrypt(URI);
    assert.equal((await env.client.send('GET', URI, enc)).status, 200);
    const e = errorOf(await env.client.send('GET', URI, enc));
    assert.deepEqual([e.status, e.errCode], [401, 'Security.Authentication.Header.Replayed']);
  });

  it('a header for another URI, or an expired one, is refused', async () => {
    const enc = await env.client.encrypt(URI);
    const e = errorOf(await env.client.send('GET', `/api/v1/task/dag/${dagId}`, enc));
    assert.deepEqual([e.status, e.errCode], [401, 'Security.Authentication.Header.UriMismatch']);
    const old = await env.client.encrypt(URI, undefined, Date.now() - 3600_000);
    assert.equal(errorOf(await env.client.send('GET', URI, old)).errCode, 'Security.Authentication.Expired');
  });

  it('a body that does not decrypt is 400 Security.DecryptFailed; a body that is not JSON is Common.BindJsonFailed', async () => {
    const enc = await env.client.encrypt('/api/v1/ob/upgrade', { ...NEXT, mode: 'rolling' });
    const e = errorOf(await env.client.send('POST', '/api/v1/ob/upgrade', { header: enc.header, body: 'AAAA' + enc.body }));
    assert.deepEqual([e.status, e.errCode], [400, 'Security.DecryptFailed']);
    const notJson = await env.client.encrypt('/api/v1/ob/upgrade', 'x');
    // JSON.stringify('x') is valid JSON ("x"), but not an object.
    assert.equal(errorOf(await env.client.send('POST', '/api/v1/ob/upgrade', notJson)).errCode, 'Common.BindJsonFailed');
  });

  it("one cluster's password never reaches another cluster's DAGs (404, not 403)", async () => {
    const get = errorOf(await env.other.request('GET', `/api/v1/task/dag/${dagId}`));
    assert.deepEqual([get.status, get.errCode], [404, 'Task.NotFound']);
    const op = errorOf(await env.other.request('POST', `/api/v1/task/dag/${dagId}`, { operator: 'cancel' }));
    assert.deepEqual([op.status, op.errCode], [404, 'Task.NotFound']);
    const node = errorOf(await env.other.request('GET', `/api/v1/task/node/1${Number(dagId.slice(1)) * 1000 + 1}`));
    assert.equal(node.status, 404);
    const bad = errorOf(await env.client.request('GET', '/api/v1/task/dag/9abc'));
    assert.deepEqual([bad.status, bad.errCode], [400, 'Task.GenericID.Invalid']);
  });
});
