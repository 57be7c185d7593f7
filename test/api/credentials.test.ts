// Credential lifecycle of the native API: whoami, roles (viewer reads, operator runs upgrades,
// admin manages credentials and targets), minting no more than one holds, list/show/revoke that
// never show a secret again, expiry, the audit trail, and revocation seen by another replica.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { loadFamilies } from '../../src/http/families.ts';
import { createContext } from '../../src/app/context.ts';
import { forEachDialect, seedSim, startApp, type TestApp } from '../helpers/harness.ts';

type Json = any;

forEachDialect('credential lifecycle', (dialect) => {
  let t: TestApp;
  const tok: Record<string, { id: string; token: string }> = {};
  const as = async (who: string, method: string, url: string, body?: unknown) =>
    t.call(method, url, body, { authorization: `Bearer ${tok[who]!.token}` });

  before(async () => {
    t = await startApp(dialect);
    await seedSim(t);
    for (const role of ['viewer', 'operator', 'admin']) {
      const res = await t.call('POST', '/v1/projects/acme/tokens', { name: `${role} token`, role });
      assert.equal(res.status, 201, res.body);
      assert.equal(res.json.role, role);
      tok[role] = res.json;
    }
  });
  after(() => t.close());

  test('whoami says who the token is, its role, project and expiry', async () => {
    const admin = await t.call('GET', '/v1/whoami');
    assert.equal(admin.status, 200);
    assert.equal(admin.json.role, 'admin');
    assert.equal(admin.json.projectId, null);
    assert.equal(admin.json.expiresAt, null);
    const viewer = (await as('viewer', 'GET', '/v1/whoami')).json;
    assert.deepEqual(viewer, { tokenId: tok.viewer!.id, role: 'viewer', projectId: 'acme', expiresAt: null });
    const none = await t.call('GET', '/v1/whoami', undefined, { authorization: 'Bearer nope' });
    assert.equal(none.status, 401);
  });

  test('viewer reads, operator runs upgrades, admin changes targets and credentials', async () => {
    const upgrade = { targetId: 'es-1', toVersion: '7.10.3' };
    const target = { id: 'es-2', kind: 'cluster', engine: 'elasticsearch', version: '7.10.2', nodes: [{ name: 'n1' }] };
    const expect = async (who: string, method: string, url: string, body: unknown, status: number) => {
      const res = await as(who, method, url, body);
      assert.equal(res.status, status, `${who} ${method} ${url}: ${res.body}`);
      if (status === 403) assert.equal(res.json.error.code, 'FORBIDDEN');
      return res;
    };
    await expect('viewer', 'GET', '/v1/projects/acme/targets', undefined, 200);
    await expect('viewer', 'GET', '/v1/projects/acme/events', undefined, 200);
    await expect('viewer', 'POST', '/v1/projects/acme/upgrades', upgrade, 403);
    await expect('viewer', 'POST', '/v1/projects/acme/targets/es-1/prechecks', { toVersion: '7.10.3' }, 403);
    await expect('operator', 'POST', '/v1/projects/acme/targets', target, 403);
    await expect('operator', 'PATCH', '/v1/projects/acme/targets/es-1', { name: 'x' }, 403);
    // an operator moves a target's maintenance window and exclusions (scheduling), nothing else of it
    const window = { maintenanceWindow: { start: '01:00', end: '03:00' }, maintenanceExclusions: [] };
    await expect('viewer', 'PATCH', '/v1/projects/acme/targets/es-1', window, 403);
    const moved = await expect('operator', 'PATCH', '/v1/projects/acme/targets/es-1', window, 200);
    assert.deepEqual(moved.json.maintenanceWindow, { start: '01:00', end: '03:00' });
    await expect('operator', 'PATCH', '/v1/projects/acme/targets/es-1', { ...window, labels: { env: 'x' } }, 403);
    await expect('operator', 'DELETE', '/v1/projects/acme/targets/es-1', undefined, 403);
    await expect('operator', 'POST', '/v1/projects/acme/tokens', { role: 'viewer' }, 403);
    await expect('operator', 'POST', '/v1/projects/acme/access-keys', {}, 403);
    await expect('operator', 'GET', '/v1/projects/acme/tokens', undefined, 403);
    await expect(
      'operator',
      'PUT',
      '/v1/projects/acme/targets/es-1/obshell-password',
      { password: 'Quiver-Lagoon-Ember-93' },
      403,
    );
    const u = await expect('operator', 'POST', '/v1/projects/acme/upgrades', upgrade, 202);
    await expect('operator', 'POST', `/v1/projects/acme/upgrades/${u.json.id}/actions`, { action: 'cancel' }, 200);
    await expect('admin', 'POST', '/v1/projects/acme/targets', target, 201);
    await expect('admin', 'DELETE', '/v1/projects/acme/targets/es-2', undefined, 204);
    // a project admin is an admin of its project only: no projects, no catalog
    await expect('admin', 'POST', '/v1/projects', { id: 'mine' }, 403);
    await expect('admin', 'POST', '/v1/catalog/elasticsearch/versions', { version: '9.9.9' }, 403);
  });

  test('a token mints only its own role or lower, and a project token reaches only its project', async () => {
    const minted = await as('admin', 'POST', '/v1/projects/acme/tokens', { name: 'ci' });
    assert.equal(minted.status, 201);
    assert.equal(minted.json.role, 'admin', 'the default is the minting token\u2019s role');
    const key = await as('admin', 'POST', '/v1/projects/acme/access-keys', { role: 'operator' });
    assert.equal(key.status, 201);
    assert.equal(key.json.role, 'operator');
    await t.call('POST', '/v1/projects', { id: 'elsewhere' });
    assert.equal((await as('admin', 'POST', '/v1/projects/elsewhere/tokens', {})).status, 404);
    assert.equal((await as('admin', 'GET', '/v1/projects/elsewhere/tokens')).status, 404);
    const bad = await as('admin', 'POST', '/v1/projects/acme/tokens', { role: 'root' });
    assert.equal(bad.status, 400);
  });

  test('list and show never reveal a secret; revocation works on the next request; every change is audited', async () => {
    const made = (await as('admin', 'POST', '/v1/projects/acme/tokens', { name: 'short-lived', role: 'viewer' })).json;
    const key = (await as('admin', 'POST', '/v1/projects/acme/access-keys', { name: 'k', role: 'viewer' })).json;
    assert.ok(made.token && key.accessKeySecret);
    const list = await as('admin', 'GET', '/v1/projects/acme/tokens');
    assert.equal(list.status, 200);
    const keys = await as('admin', 'GET', '/v1/projects/acme/access-keys');
    const one = await as('admin', 'GET', `/v1/projects/acme/tokens/${made.id}`);
    const oneKey = await as('admin', 'GET', `/v1/projects/acme/access-keys/${key.id}`);
    for (const res of [list, keys, one, oneKey]) {
      assert.equal(res.status, 200);
      for (const secret of [made.token, key.accessKeySecret, tok.viewer!.token])
        assert.ok(!res.body.includes(secret), 'a secret is never shown again');
      assert.doesNotMatch(res.body, /token_hash|secret_enc|"token"|accessKeySecret/);
    }
    assert.ok(list.json.items.some((i: Json) => i.id === made.id && i.name === 'short-lived' && i.role === 'viewer'));
    assert.equal(one.json.createdBy, `token:${tok.admin!.id}`);
    assert.ok(keys.json.items.some((i: Json) => i.id === key.id));

    const use = () => t.call('GET', '/v1/projects/acme/targets', undefined, { authorization: `Bearer ${made.token}` });
    assert.equal((await use()).status, 200);
    assert.equal((await as('admin', 'DELETE', `/v1/projects/acme/tokens/${made.id}`)).status, 204);
    assert.equal((await use()).status, 401);
    assert.equal((await as('admin', 'GET', `/v1/projects/acme/tokens/${made.id}`)).json.error.code, 'TOKEN_NOT_FOUND');
    assert.equal((await as('admin', 'DELETE', `/v1/projects/acme/tokens/${made.id}`)).status, 404);
    assert.equal((await as('admin', 'DELETE', `/v1/projects/acme/access-keys/${key.id}`)).status, 204);
    assert.equal((await as('admin', 'GET', `/v1/projects/acme/access-keys/${key.id}`)).json.error.code, 'ACCESS_KEY_NOT_FOUND');

    // any token may revoke itself; revoking another one needs admin
    const mine = (await as('admin', 'POST', '/v1/projects/acme/tokens', { role: 'viewer' })).json;
    const self = (m: string, id: string) =>
      t.call(m, `/v1/projects/acme/tokens/${id}`, undefined, { authorization: `Bearer ${mine.token}` });
    assert.equal((await self('DELETE', tok.operator!.id)).status, 403);
    assert.equal((await self('DELETE', mine.id)).status, 204);
    assert.equal((await self('GET', mine.id)).status, 401);

    const events = (await t.call('GET', '/v1/projects/acme/events?limit=500')).json.items as Json[];
    const audit = events.filter((e) => e.type.startsWith('credential.'));
    const find = (type: string, id: string) => audit.find((e) => e.type === type && e.data.id === id);
    assert.equal(find('credential.created', made.id)?.actor, `token:${tok.admin!.id}`);
    assert.equal(find('credential.created', key.id)?.data.credential, 'access_key');
    assert.equal(find('credential.revoked', made.id)?.actor, `token:${tok.admin!.id}`);
    assert.equal(find('credential.revoked', key.id)?.actor, `token:${tok.admin!.id}`);
    assert.equal(find('credential.revoked', mine.id)?.actor, `token:${mine.id}`);
    assert.ok(audit.every((e) => e.createdAt));
    for (const secret of [made.token, key.accessKeySecret, mine.token]) assert.ok(!JSON.stringify(events).includes(secret));
  });

  test('an expired token stops working; an expiry must lie in the future', async () => {
    const past = await as('admin', 'POST', '/v1/projects/acme/tokens', { expiresAt: '2001-01-01T00:00:00Z' });
    assert.equal(past.status, 400);
    assert.match(past.json.error.message, /future/);
    const made = (await as('admin', 'POST', '/v1/projects/acme/tokens', { role: 'viewer', expiresAt: '2099-01-01T00:00:00Z' }))
      .json;
    assert.equal(made.expiresAt, '2099-01-01T00:00:00.000Z');
    const use = () => t.call('GET', '/v1/whoami', undefined, { authorization: `Bearer ${made.token}` });
    assert.equal((await use()).json.expiresAt, '2099-01-01T00:00:00.000Z');
    // let it lapse: move its expiry into the past in the store, as time passing would
    await t.ctx.store.db
      .updateTable('api_tokens')
      .set({ expires_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', made.id)
      .execute();
    assert.equal((await use()).status, 401);
  });

  // Replicas share a PostgreSQL store (SQLite has one process per file).
  if (dialect === 'postgres')
    test('a revocation on one replica holds on the next request to another replica of the same store', async () => {
      const other = await createContext({ ...t.ctx.config, noExecutor: true });
      const app2 = await buildApp(other, { families: await loadFamilies() });
      try {
        const made = (await as('admin', 'POST', '/v1/projects/acme/tokens', { role: 'viewer' })).json;
        const via2 = async () =>
          (await app2.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${made.token}` } }))
            .statusCode;
        assert.equal(await via2(), 200);
        assert.equal((await as('admin', 'DELETE', `/v1/projects/acme/tokens/${made.id}`)).status, 204);
        assert.equal(await via2(), 401);
      } finally {
        await app2.close();
        await other.close();
      }
    });
});
