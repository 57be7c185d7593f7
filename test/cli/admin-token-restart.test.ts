// `liftgate serve` restarted with LIFTGATE_ADMIN_TOKEN still set to a secret an operator took
// away: real server processes on one store. After a rotation of the token the server registered
// from the variable, a restart with the old value is refused with a message naming the variable,
// and the old secret never works again; with the new secret it starts. After a revocation the
// same; with the variable unset it starts, and only the admin token that was kept works.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, freshStore, type StoreConfig } from '../helpers/harness.ts';
import { killAll, SERVER_TOKEN, startServer, type Server } from '../helpers/servers.ts';

forEachDialect('a restart does not bring back a retired LIFTGATE_ADMIN_TOKEN', (dialect) => {
  let store: StoreConfig;
  const servers: Server[] = [];
  before(async () => {
    store = await freshStore(dialect);
  });
  after(async () => {
    killAll(servers);
    await store.cleanup();
  });

  const start = async (adminToken: string) => {
    const s = await startServer(store, { LIFTGATE_ADMIN_TOKEN: adminToken, LIFTGATE_LOG: '0' });
    servers.push(s);
    return s;
  };
  const call = async (s: Server, token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${s.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  const stop = async (s: Server) => {
    s.child.kill('SIGTERM');
    assert.equal(await s.ended(), 0, s.output());
  };
  /** a start that must be refused: the process ends with exit code 1 before it serves */
  const refused = async (adminToken: string): Promise<string> => {
    const s = await start(adminToken);
    assert.equal(await s.ended(), 1, s.output());
    return s.output();
  };

  test('rotated: the old value is refused at start, the new one starts; revoked: refused, unset starts', async () => {
    const first = await start(SERVER_TOKEN);
    await first.waitUp();
    const envId = (await call(first, SERVER_TOKEN, 'GET', '/v1/whoami')).json.tokenId as string;
    const spare = await call(first, SERVER_TOKEN, 'POST', '/v1/admin-tokens', { name: 'spare' });
    assert.equal(spare.status, 201);
    const rotated = await call(first, spare.json.token, 'POST', `/v1/admin-tokens/${envId}/rotate`);
    assert.equal(rotated.status, 200);
    assert.equal((await call(first, SERVER_TOKEN, 'GET', '/v1/projects')).status, 401);
    await stop(first);

    const out = await refused(SERVER_TOKEN);
    assert.match(
      out,
      new RegExp(
        `cannot start: LIFTGATE_ADMIN_TOKEN holds the old secret of admin token ${envId} \\(rotated at \\S+ by admin:${spare.json.id}\\)`,
      ),
    );
    assert.ok(!out.includes(SERVER_TOKEN), 'the refusal does not print the secret');

    const second = await start(rotated.json.token);
    await second.waitUp();
    assert.equal((await call(second, SERVER_TOKEN, 'GET', '/v1/projects')).status, 401, 'the old secret is still refused');
    assert.equal((await call(second, rotated.json.token, 'GET', '/v1/projects')).status, 200);
    const revoked = await call(second, spare.json.token, 'DELETE', `/v1/admin-tokens/${envId}`);
    assert.equal(revoked.status, 204);
    await stop(second);

    assert.match(await refused(rotated.json.token), new RegExp(`holds the secret of revoked admin token ${envId}`));

    const third = await start('');
    await third.waitUp();
    for (const gone of [SERVER_TOKEN, rotated.json.token])
      assert.equal((await call(third, gone, 'GET', '/v1/projects')).status, 401);
    const left = await call(third, spare.json.token, 'GET', '/v1/admin-tokens');
    assert.equal(left.status, 200);
    assert.deepEqual(
      left.json.items.map((i: { id: string }) => i.id),
      [spare.json.id],
    );
    assert.doesNotMatch(third.output(), /first admin token/, 'no new admin token is generated while one is left');
    await stop(third);
  });
});
