// OBShell clusters are chosen by their address, not by their password: each has its own agent
// port, a request is checked against the password of the cluster its port serves and no other, so
// two tenants with the same cluster id and the same password each reach only their own cluster,
// and setting the password answers the same in both (no answer says a password is used elsewhere).
// The shared endpoint on the main port is retired; weak passwords are refused; a request costs
// one slow hash however many passwords are stored.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { hashPassword, slowHashCount } from '../../../src/auth/password-hash.ts';
import { ObshellClient } from '../../../src/clients/obshell-client.ts';
import { forEachDialect, until } from '../../helpers/harness.ts';
import { sendTo } from '../../helpers/family-requests.ts';
import { waitForIdle } from '../../helpers/idle.ts';
import { changedTables, storeDigest } from '../../helpers/store-digest.ts';
import { CURRENT, errorOf, NEXT, PASSWORD, startObshell, startUpgrade, waitDag, type Json, type ObshellEnv } from './helpers.ts';

const URI = '/api/v1/task/dag/ob/unfinish';

forEachDialect('OBShell addressing and passwords', (dialect) => {
  let env: ObshellEnv;
  /** project admin tokens of two tenants */
  const tokens: Record<string, string> = {};
  const as = (project: string, method: string, url: string, body?: unknown) =>
    env.t.call(method, url, body, { authorization: `Bearer ${tokens[project]}` });
  const at = (port: number, password: string) => new ObshellClient({ baseUrl: `http://127.0.0.1:${port}`, password });

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

  it('two tenants, one cluster id, one password: setting it answers the same, and each reaches only its own cluster', async () => {
    const shared = 'Tangerine-Orbit-Kettle-42';
    const setA = await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: shared });
    const setB = await as('tenant-b', 'PUT', '/v1/projects/tenant-b/targets/ob/obshell-password', { password: shared });
    assert.equal(setA.status, 200, setA.body);
    assert.equal(setB.status, 200, setB.body);
    // the same answer but for the address: nothing says the password is used elsewhere
    const portA = setA.json.obshellAgent.port as number;
    const portB = setB.json.obshellAgent.port as number;
    assert.notEqual(portA, portB);
    const withoutPort = (j: Json) => ({ ...j, obshellAgent: { ...j.obshellAgent, port: 0 } });
    assert.deepEqual(withoutPort(setA.json), withoutPort(setB.json));
    assert.deepEqual(Object.keys(setA.headers).sort(), Object.keys(setB.headers).sort());
    // and each target shows its own address, in the API as the password's answer gave it
    assert.equal((await as('tenant-a', 'GET', '/v1/projects/tenant-a/targets/ob')).json.obshellAgent.port, portA);
    assert.equal((await as('tenant-b', 'GET', '/v1/projects/tenant-b/targets/ob')).json.obshellAgent.port, portB);
    // setting it again (a rotation to the same value) keeps the address
    const again = await as('tenant-a', 'PUT', '/v1/projects/tenant-a/targets/ob/obshell-password', { password: shared });
    assert.equal(again.json.obshellAgent.port, portA);

    // tenant B's client, at B's address, starts an upgrade: it is B's, and A has none
    const dagB = await startUpgrade(at(portB, shared), NEXT);
    const inB = (await as('tenant-b', 'GET', '/v1/projects/tenant-b/upgrades')).json;
    assert.equal(inB.total, 1);
    assert.equal(inB.items[0].targetId, 'ob');
    assert.equal((await as('tenant-a', 'GET', '/v1/projects/tenant-a/upgrades')).json.total, 0);
    // A's address shows A's cluster only: no DAG, and B's DAG id is not found there
    const aView = await at(portA, shared).request('GET', URI);
    assert.equal(aView.status, 200);
    assert.deepEqual((aView.json as Json).data, { contents: [] });
    assert.equal(errorOf(await at(portA, shared).request('GET', `/api/v1/task/dag/${dagB.id}`)).errCode, 'Task.NotFound');
    // tenant A's client at A's address starts its own upgrade, in A's project
    const dagA = await startUpgrade(at(portA, shared), NEXT);
    assert.equal((await as('tenant-a', 'GET', '/v1/projects/tenant-a/upgrades')).json.total, 1);
    assert.equal((await as('tenant-b', 'GET', '/v1/projects/tenant-b/upgrades')).json.total, 1);
    await waitDag(at(portA, shared), dagA.id, ['SUCCEED', 'FAILED']);
    await waitDag(at(portB, shared), dagB.id, ['SUCCEED', 'FAILED']);
    // B's password change does not touch A: A's clients keep working with the old one
    const changed = 'Lantern-Quarry-Violet-77';
    assert.equal(
      (await as('tenant-b', 'PUT', '/v1/projects/tenant-b/targets/ob/obshell-password', { password: changed })).status,
      200,
    );
    assert.equal((await at(portA, shared).request('GET', URI)).status, 200);
    assert.equal(errorOf(await at(portB, shared).request('GET', URI)).errCode, 'Security.Authentication.Unauthorized');
    assert.equal((await at(portB, changed).request('GET', URI)).status, 200);
  });

  it('the main port serves no cluster: every OBShell path answers 421 with where to look, whatever the password', async () => {
    const main = new URL(env.mainUrl);
    const port = Number(main.port);
    await waitForIdle(env.t.ctx);
    const before = await storeDigest(env.t.ctx);
    const answers = [];
    for (const password of [PASSWORD, 'Not-The-Password-At-All-91']) {
      const client = new ObshellClient({ baseUrl: env.mainUrl, password });
      // the client's first call fetches the key: that is refused too, so encrypt with ob-1's key
      const enc = await new ObshellClient({ baseUrl: env.baseUrl, password }).encrypt(URI);
      answers.push(await client.send('GET', URI, enc));
    }
    answers.push({ ...(await sendTo(port, { method: 'GET', url: '/api/v1/secret' })) });
    answers.push({ ...(await sendTo(port, { method: 'POST', url: '/api/v1/ob/upgrade', body: { version: NEXT.version } })) });
    for (const a of answers) {
      assert.equal(a.status, 421, JSON.stringify(a.json));
      const body = a.json as Json;
      assert.equal(body.successful, false);
      assert.equal(body.error.errCode, 'Request.Misdirected');
      assert.match(body.error.message, /its own OBShell agent address.*liftgate targets show/);
    }
    const messages = new Set(answers.map((a) => (a.json as Json).error.message));
    assert.equal(messages.size, 1, 'one answer whatever the password');
    await waitForIdle(env.t.ctx);
    assert.deepEqual(changedTables(before, await storeDigest(env.t.ctx)), []);
  });

  it("an agent's port serves OBShell and nothing else", async () => {
    const port = Number(new URL(env.baseUrl).port);
    for (const url of [
      '/v1/projects',
      '/healthz',
      '/api/v1/instances/x/upgrade/status',
      '/api/v2/clusters/x/upgrade/status',
      '/',
    ]) {
      const res = await sendTo(port, { method: 'GET', url, headers: { authorization: 'Bearer test-admin-token' } });
      assert.equal(res.status, 404, `${url}: ${res.body}`);
      assert.equal(res.json.successful, false, url);
      assert.equal(res.json.status, 404, url);
      assert.equal(typeof res.json.error.errCode, 'string', url);
    }
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

  it('with many stored passwords a request costs one slow hash, a wrong one too', async () => {
    const db = env.t.ctx.store.db;
    const filler = await hashPassword('filler-not-used-anywhere');
    const rows = Array.from({ length: 400 }, (_, i) => ({
      project_id: 'acme',
      target_id: `filler-${i}`,
      kind: 'obshell',
      secret_hash: filler,
      created_at: new Date().toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 100)
      await db
        .insertInto('target_credentials')
        .values(rows.slice(i, i + 100))
        .execute();
    const before = slowHashCount.verifications;
    assert.equal((await env.client.request('GET', URI)).status, 200);
    assert.equal(slowHashCount.verifications - before, 1);
    const wrong = errorOf(
      await new ObshellClient({ baseUrl: env.baseUrl, password: 'Not-The-Password-At-All-91' }).request('GET', URI),
    );
    assert.equal(wrong.errCode, 'Security.Authentication.Unauthorized');
    assert.equal(slowHashCount.verifications - before, 2);
    await db.deleteFrom('target_credentials').where('target_id', 'like', 'filler-%').execute();
  });

  it('a cluster with a password and no address gets one; a deleted cluster stops being served', async () => {
    const db = env.t.ctx.store.db;
    // as a password set before addresses existed (or by a process with no server) leaves it
    assert.equal((await env.t.call('POST', '/v1/projects/acme/targets', { ...oceanBase('ob-old') })).status, 201);
    await db
      .insertInto('target_credentials')
      .values({
        project_id: 'acme',
        target_id: 'ob-old',
        kind: 'obshell',
        secret_hash: await hashPassword('Granite-Willow-Ember-63'),
        created_at: new Date().toISOString(),
      })
      .execute();
    assert.equal((await env.t.call('GET', '/v1/projects/acme/targets/ob-old')).json.obshellAgent, null);
    await env.t.ctx.obshellAgents.sync();
    const port = (await env.t.call('GET', '/v1/projects/acme/targets/ob-old')).json.obshellAgent.port as number;
    assert.ok(port > 0);
    assert.equal((await at(port, 'Granite-Willow-Ember-63').request('GET', URI)).status, 200);

    assert.equal((await env.t.call('DELETE', '/v1/projects/acme/targets/ob-old')).status, 204);
    assert.equal(
      (await db.selectFrom('obshell_agents').select('port').where('target_id', '=', 'ob-old').executeTakeFirst()) ?? null,
      null,
    );
    // the port closes on this process's next pass over the agents
    await until(
      async () => (await sendTo(port, { method: 'GET', url: '/api/v1/secret' }).catch(() => null)) === null,
      'port closed',
    );
  });
});

const oceanBase = (id: string) => ({
  id,
  kind: 'cluster',
  engine: 'oceanbase',
  version: CURRENT.version,
  release: CURRENT.release,
  nodes: [
    { name: `${id}-z1`, role: 'follower', zone: 'zone1' },
    { name: `${id}-z2`, role: 'follower', zone: 'zone2' },
    { name: `${id}-z3`, role: 'leader', zone: 'zone3' },
  ],
});
