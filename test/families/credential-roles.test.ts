// Roles and revocation reach the vendor families too: an access key or token of role viewer
// reads but cannot start upgrades, a target's settings need admin, and a revoked access key or
// token fails on its next request, each in the family's own envelope.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect } from '../helpers/harness.ts';
import { createCluster, K8S_VERSIONS, setupAlibaba, type AccessKey, type AlibabaEnv } from './alibaba/helpers.ts';
import { GAUSS, PROJECT, setupHuawei, windowAwayFromNow, type HuaweiEnv } from './huawei/helpers.ts';

forEachDialect('roles in the Alibaba families', (dialect) => {
  let env: AlibabaEnv;
  let viewer: AccessKey & { id: string };
  before(async () => {
    env = await setupAlibaba(dialect);
    await createCluster(env, 'c-roles');
    viewer = (await env.native('POST', '/v1/projects/acme/access-keys', { role: 'viewer', name: 'dashboard' })).json;
  });
  after(() => env.close());

  it('a viewer key reads and is refused an upgrade with Forbidden.RAM; a revoked key fails next time', async () => {
    const status = () => env.signed('GET', '/api/v2/clusters/c-roles/upgrade/status', { key: viewer });
    assert.equal((await status()).status, 200);
    const up = await env.signed('POST', '/api/v2/clusters/c-roles/upgrade', {
      key: viewer,
      body: { next_version: K8S_VERSIONS[1] },
    });
    assert.equal(up.status, 403, up.body);
    assert.equal(JSON.parse(up.body).code, 'Forbidden.RAM');
    assert.equal((await env.native('GET', '/v1/projects/acme/upgrades')).json.total, 0);

    assert.equal((await env.native('DELETE', `/v1/projects/acme/access-keys/${viewer.id}`)).status, 204);
    const gone = await status();
    assert.ok(gone.status >= 400 && gone.status < 500, gone.body);
    assert.equal(JSON.parse(gone.body).code, 'InvalidAccessKeyId.NotFound');
  });
});

forEachDialect('roles in the Huawei families', (dialect) => {
  let env: HuaweiEnv;
  const tokens: Record<string, { id: string; token: string }> = {};
  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${env.base}${path}`, {
      method,
      headers: { 'X-Auth-Token': tokens[who]!.token, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  before(async () => {
    env = await setupHuawei(dialect);
    for (const role of ['viewer', 'operator', 'admin'])
      tokens[role] = (await env.native('POST', `/v1/projects/${PROJECT}/tokens`, { role })).json;
  });
  after(() => env.close());

  it('viewer reads, operator upgrades, only admin changes a maintenance window; revoked tokens fail', async () => {
    const version = `/v3/${PROJECT}/instances/${GAUSS[0]}/database-version`;
    assert.equal((await call('viewer', 'GET', version)).status, 200);
    const refused = await call('viewer', 'POST', `/v3/${PROJECT}/instances/${GAUSS[0]}/db-upgrade`, { delay: 'true' });
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error_code, 'APIG.0302', JSON.stringify(refused.json));
    const w = windowAwayFromNow();
    const window = `/v3/${PROJECT}/instances/${GAUSS[1]}/ops-window`;
    assert.equal((await call('operator', 'PUT', window, { start_time: w.start, end_time: w.end })).status, 403);
    assert.equal((await call('admin', 'PUT', window, { start_time: w.start, end_time: w.end })).status, 200);
    assert.equal(
      (await call('operator', 'POST', `/v3/${PROJECT}/instances/${GAUSS[0]}/db-upgrade`, { delay: 'true' })).status,
      200,
    );

    assert.equal((await env.native('DELETE', `/v1/projects/${PROJECT}/tokens/${tokens.viewer!.id}`)).status, 204);
    const gone = await call('viewer', 'GET', version);
    assert.equal(gone.status, 401);
    assert.equal(gone.json.error_code, 'APIG.0301');
  });
});
