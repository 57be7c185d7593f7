// OBShell passwords identify exactly one cluster: two projects cannot share one, weak ones are
// refused, a request costs at most one slow hash however many passwords are stored, and
// passwords stored before migration 006 keep working (and are refused when two clusters share one).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { hashPassword, slowHashCount } from '../../../src/auth/password-hash.ts';
import { ObshellClient } from '../../../src/clients/obshell-client.ts';
import { lookupHash } from '../../../src/service/obshell-passwords.ts';
import { forEachDialect } from '../../helpers/harness.ts';
import { CURRENT, errorOf, NEXT, startObshell, startUpgrade, type Json, type ObshellEnv } from './helpers.ts';

const URI = '/api/v1/task/dag/ob/unfinish';

forEachDialect('OBShell passwords', (dialect) => {
  let env: ObshellEnv;
  /** project admin tokens of two tenants */
  const tokens: Record<string, string> = {};
  const as = (project: string, method: string, url: string, body?: unknown) =>
    env.t.call(method, url, body, { authorization: `Bearer ${tokens[project]}` });
  const client = (password: string) => new ObshellClient({ baseUrl: env.baseUrl, password });

  before(async () => {
    env = await startObshell(dialect);
    for (const p of ['tenant-a', 'tenant-b']) {
      assert.equal((await env.t.call('POST', '/v1/projects', { id: p })).status, 201);
      tokens[p] = (await env.t.call('POST', `/v1/projects/${p}/tokens`, { role: 'admin' })).json.token;
      const res = await as(p, 'POST', `/v1/projects/${p}/targets`, {
        id: 'ob',
        kind: 'cluster',
        engine: 'oceanbase',
        version: CURRENT.version,
        release: CURRENT.release,
        nodes: [
          { name: `${p}-z1`, role: 'follower', zone: 'zone1' },
          { name: `${p}-z2`, role: 'follower', zone: 'zone2' },
          { name: `${p}-z3`, role: 'leader', zone: 'zone3' },
        ],
      });
      assert.equal(res.status, 201, res.body);
    }
  });
  after(() => env.close());

  it('a password in use by another project is refused without saying whose; each client reaches its own cluster', async () => {
    const shared = 'Tangerine-Orbit-Kettle-42';
    assert.equal(
      (await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: shared })).status,
      204,
    );
    const refused = await as('tenant-b', 'PUT', '/v1/projects/tenant-b/targets/ob/obshell-password', { password: shared });
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, 'PASSWORD_IN_USE');
    assert.doesNotMatch(refused.body, /tenant-a|acme|"ob"/);
    // Setting the same password again on its own cluster is fine (no collision with itself).
    assert.equal(
      (await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: shared })).status,
      204,
    );
    const own = 'Lantern-Quarry-Violet-77';
    assert.equal(
      (await as('tenant-b', 'PUT', '/v1/projects/tenant-b/targets/ob/obshell-password', { password: own })).status,
      204,
    );

    const dag = await startUpgrade(client(own), NEXT);
    const inB = (await as('tenant-b', 'GET', '/v1/projects/tenant-b/upgrades')).json;
    assert.deepEqual(
      inB.items.map((u: Json) => u.targetId),
      ['ob'],
    );
    assert.equal((await as('tenant-a', 'GET', '/v1/projects/tenant-a/upgrades')).json.total, 0);
    // tenant A's password reaches tenant A's cluster only: B's DAG is not visible through it
    const aView = await client(shared).request('GET', URI);
    assert.equal(aView.status, 200);
    assert.deepEqual((aView.json as Json).data, [], 'tenant A has no DAG at all');
    const bView = await client(own).request('GET', `/api/v1/task/dag/${dag.id}`);
    assert.equal(bView.status, 200);
    assert.equal((await client(shared).request('GET', `/api/v1/task/dag/${dag.id}`)).status, 404);
  });

  it('a weak password is refused with advice, and a password set is audited', async () => {
    for (const weak of ['password123456', 'Password1234!', 'qwertyuiop123', 'tenant-a-ob-1', 'aaaaaaaaaaaaaaaa']) {
      const res = await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: weak });
      assert.equal(res.status, 400, weak);
      assert.equal(res.json.error.code, 'PASSWORD_TOO_WEAK');
      assert.ok(!res.body.includes(weak), 'the message never repeats the password');
    }
    const short = await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: 'Xy7#short' });
    assert.equal(short.status, 400);
    const events = (await as('tenant-a', 'GET', '/v1/projects/tenant-a/events?limit=500')).json.items as Json[];
    const sets = events.filter((e) => e.type === 'credential.password_set');
    assert.equal(sets.length, 2);
    const whoami = (await as('tenant-a', 'GET', '/v1/whoami')).json;
    assert.ok(sets.every((e) => e.actor === `token:${whoami.tokenId}` && e.targetId === 'ob' && e.createdAt));
    assert.doesNotMatch(JSON.stringify(events), /Tangerine/);
  });

  it('with many stored passwords a request costs one slow hash (and a wrong password none)', async () => {
    const db = env.t.ctx.store.db;
    const filler = await hashPassword('filler-not-used-anywhere');
    const rows = Array.from({ length: 400 }, (_, i) => ({
      project_id: 'acme',
      target_id: `filler-${i}`,
      kind: 'obshell',
      secret_hash: filler,
      lookup_hash: lookupHash(env.t.ctx, `filler-password-${i}-Zq9`),
      created_at: new Date().toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 100)
      await db
        .insertInto('target_credentials')
        .values(rows.slice(i, i + 100))
        .execute();
    const stored = await db.selectFrom('target_credentials').select('target_id').where('kind', '=', 'obshell').execute();
    assert.ok(stored.length > 400);

    const before = slowHashCount.verifications;
    assert.equal((await env.client.request('GET', URI)).status, 200);
    assert.equal(slowHashCount.verifications - before, 1);
    const wrong = errorOf(await client('Not-The-Password-At-All-91').request('GET', URI));
    assert.equal(wrong.errCode, 'Security.Authentication.Unauthorized');
    assert.equal(slowHashCount.verifications - before, 1);
  });

  it('passwords stored before migration 006 keep working, get their lookup hash, and a shared one matches neither', async () => {
    const db = env.t.ctx.store.db;
    const legacy = async (project: string, target: string, password: string) => {
      await db.deleteFrom('target_credentials').where('project_id', '=', project).where('target_id', '=', target).execute();
      await db
        .insertInto('target_credentials')
        .values({
          project_id: project,
          target_id: target,
          kind: 'obshell',
          secret_hash: await hashPassword(password),
          lookup_hash: null,
          created_at: new Date().toISOString(),
        })
        .execute();
    };
    const lookupOf = async (project: string) =>
      (
        await db
          .selectFrom('target_credentials')
          .select('lookup_hash')
          .where('project_id', '=', project)
          .where('target_id', '=', 'ob')
          .executeTakeFirstOrThrow()
      ).lookup_hash;

    // one cluster's old password: it works, and from then on it takes the fast path
    await legacy('tenant-a', 'ob', 'old-style-password');
    assert.equal((await client('old-style-password').request('GET', URI)).status, 200);
    assert.equal(await lookupOf('tenant-a'), lookupHash(env.t.ctx, 'old-style-password'));
    const before = slowHashCount.verifications;
    assert.equal((await client('old-style-password').request('GET', URI)).status, 200);
    assert.equal(slowHashCount.verifications - before, 1);

    // the bug this replaces: two tenants with one old password. It identifies neither.
    await legacy('tenant-a', 'ob', 'shared-old-password');
    await legacy('tenant-b', 'ob', 'shared-old-password');
    const e = errorOf(await client('shared-old-password').request('GET', URI));
    assert.equal(e.errCode, 'Security.Authentication.Unauthorized');
    assert.equal(await lookupOf('tenant-a'), null);
    assert.equal(await lookupOf('tenant-b'), null);
    // and a new password equal to an old one of another cluster is refused
    await legacy('tenant-b', 'ob', 'Marble-Cactus-Horizon-58');
    const clash = await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', {
      password: 'Marble-Cactus-Horizon-58',
    });
    assert.equal(clash.status, 409);
    assert.equal(clash.json.error.code, 'PASSWORD_IN_USE');
  });
});
