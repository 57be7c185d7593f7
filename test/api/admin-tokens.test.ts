// The admin credential's lifecycle through the native API: admin tokens listed without their
// secret, minted, rotated (the old secret refused on the very next request) and revoked; the last
// one that works is kept, also when the last two are revoked at the same moment; project tokens
// of every role are refused; every change is an event of no project; a start with a secret that
// was taken away is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { buildApp } from '../../src/http/app.ts';
import { loadFamilies } from '../../src/http/families.ts';
import { createContext } from '../../src/app/context.ts';
import { ensureAdminToken } from '../../src/service/tokens.ts';
import {
  ADMIN_TOKEN,
  forEachDialect,
  PG_URL,
  seedSim,
  startApp,
  stopBackground,
  until,
  type TestApp,
} from '../helpers/harness.ts';

type Json = any;

forEachDialect('admin tokens', (dialect) => {
  let t: TestApp;
  let envId = '';
  const as = (token: string, method: string, url: string, body?: unknown) =>
    t.call(method, url, body, { authorization: `Bearer ${token}` });
  const mint = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await t.call('POST', '/v1/admin-tokens', { name, ...extra });
    assert.equal(res.status, 201, res.body);
    return res.json as { id: string; token: string; name: string };
  };
  const works = async (token: string) => (await as(token, 'GET', '/v1/projects')).status === 200;
  const listed = async () => (await t.call('GET', '/v1/admin-tokens')).json.items as Json[];
  const systemEvents = async () => (await t.call('GET', '/v1/system/events?limit=1000')).json.items as Json[];

  before(async () => {
    t = await startApp(dialect);
    await seedSim(t);
    await stopBackground(t);
    envId = (await t.call('GET', '/v1/whoami')).json.tokenId;
  });
  after(() => t.close());

  test('the list shows every admin token without its secret; a minted one works and says who minted it', async () => {
    const before = Date.now();
    const made = await mint('handover', { expiresAt: '2099-01-01T00:00:00Z' });
    assert.match(made.token, /^lg_admin_[A-Za-z0-9_-]{32}$/);
    const res = await t.call('GET', '/v1/admin-tokens');
    assert.equal(res.status, 200);
    assert.ok(!res.body.includes(made.token) && !res.body.includes(ADMIN_TOKEN), 'no secret is listed');
    assert.doesNotMatch(res.body, /token_hash|"token"/);
    const env = res.json.items.find((i: Json) => i.id === envId);
    assert.deepEqual(
      { name: env.name, createdBy: env.createdBy, rotatedAt: env.rotatedAt, expiresAt: env.expiresAt },
      { name: 'LIFTGATE_ADMIN_TOKEN', createdBy: 'system', rotatedAt: null, expiresAt: null },
    );
    assert.ok(env.lastUsedAt, 'the token in use has a last use');
    const mine = res.json.items.find((i: Json) => i.id === made.id);
    assert.equal(mine.createdBy, `admin:${envId}`);
    assert.equal(mine.expiresAt, '2099-01-01T00:00:00.000Z');
    assert.equal(mine.lastUsedAt, null, 'never used yet');

    const who = await as(made.token, 'GET', '/v1/whoami');
    assert.deepEqual(who.json, { tokenId: made.id, role: 'admin', projectId: null, expiresAt: '2099-01-01T00:00:00.000Z' });
    const used = (await listed()).find((i) => i.id === made.id);
    assert.ok(Date.parse(used.lastUsedAt) >= before - 1000, `last used ${used.lastUsedAt}`);
    // cleanup for the tests below: it is not the last one
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${made.id}`)).status, 204);
  });

  test('a project token of any role is refused every admin-token route, and nothing changes', async () => {
    const spare = await mint('spare');
    const before = await listed();
    const eventsBefore = (await systemEvents()).length;
    for (const role of ['viewer', 'operator', 'admin']) {
      const p = (await t.call('POST', '/v1/projects/acme/tokens', { role, name: role })).json;
      for (const [method, url, body] of [
        ['GET', '/v1/admin-tokens', undefined],
        ['POST', '/v1/admin-tokens', { name: 'mine' }],
        ['POST', `/v1/admin-tokens/${spare.id}/rotate`, {}],
        ['DELETE', `/v1/admin-tokens/${spare.id}`, undefined],
        ['GET', '/v1/system/events', undefined],
      ] as const) {
        const res = await as(p.token, method, url, body);
        assert.equal(res.status, 403, `${role} ${method} ${url}: ${res.body}`);
        assert.equal(res.json.error.code, 'FORBIDDEN');
        assert.ok(!res.body.includes(spare.id), 'the refusal names no admin token');
      }
    }
    assert.deepEqual(
      (await listed()).map((i) => [i.id, i.rotatedAt]),
      before.map((i) => [i.id, i.rotatedAt]),
    );
    assert.equal((await systemEvents()).length, eventsBefore);
    assert.ok(await works(spare.token));
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${spare.id}`)).status, 204);
  });

  test('rotate: the old secret is refused on the next request, the new one works, the id stays', async () => {
    const a = await mint('rotating');
    assert.ok(await works(a.token));
    const res = await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.id, a.id);
    assert.equal(res.json.name, 'rotating');
    assert.notEqual(res.json.token, a.token);
    assert.ok(res.json.rotatedAt);
    assert.equal((await as(a.token, 'GET', '/v1/projects')).status, 401, 'the old secret is refused at once');
    const who = await as(res.json.token, 'GET', '/v1/whoami');
    assert.equal(who.json.tokenId, a.id);
    const row = (await listed()).find((i) => i.id === a.id);
    assert.equal(row.rotatedAt, res.json.rotatedAt);

    // an expiry: kept when left out, replaced when given, cleared with null; never one in the past
    const dated = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`, { expiresAt: '2098-05-01T00:00:00Z' })).json;
    assert.equal(dated.expiresAt, '2098-05-01T00:00:00.000Z');
    const kept = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`, {})).json;
    assert.equal(kept.expiresAt, '2098-05-01T00:00:00.000Z');
    const past = await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`, { expiresAt: '2001-01-01T00:00:00Z' });
    assert.equal(past.status, 400);
    assert.equal(past.json.error.code, 'VALIDATION_FAILED');
    assert.ok(await works(kept.token), 'a refused rotation changes nothing');
    const cleared = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`, { expiresAt: null })).json;
    assert.equal(cleared.expiresAt, null);
    assert.ok(await works(cleared.token));
    for (const old of [a.token, res.json.token, dated.token, kept.token]) assert.equal(await works(old), false);

    const unknown = await t.call('POST', '/v1/admin-tokens/00000000-0000-4000-8000-000000000000/rotate');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'ADMIN_TOKEN_NOT_FOUND');
    // a project token's id is no admin token
    const p = (await t.call('POST', '/v1/projects/acme/tokens', { name: 'not-admin' })).json;
    assert.equal((await t.call('POST', `/v1/admin-tokens/${p.id}/rotate`)).status, 404);
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${p.id}`)).status, 404);
    assert.ok(await works(p.token));
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${a.id}`)).status, 204);
  });

  test('revoke: refused on the next request; the last admin token that works is kept', async () => {
    const a = await mint('to-revoke');
    const del = await as(a.token, 'DELETE', `/v1/admin-tokens/${a.id}`); // a token may revoke itself
    assert.equal(del.status, 204, del.body);
    assert.equal((await as(a.token, 'GET', '/v1/projects')).status, 401);
    const again = await t.call('DELETE', `/v1/admin-tokens/${a.id}`);
    assert.equal(again.status, 404);
    assert.equal(again.json.error.code, 'ADMIN_TOKEN_NOT_FOUND');
    assert.ok(!(await listed()).some((i) => i.id === a.id));

    // the harness's token is now the only one
    assert.deepEqual(
      (await listed()).map((i) => i.id),
      [envId],
    );
    const last = await t.call('DELETE', `/v1/admin-tokens/${envId}`);
    assert.equal(last.status, 409, last.body);
    assert.equal(last.json.error.code, 'LAST_ADMIN_TOKEN');
    assert.match(last.json.error.message, /last admin token that works/);
    assert.match(last.json.error.message, /Mint another first .*or rotate this one/);
    assert.ok(await works(ADMIN_TOKEN), 'the refused revoke changed nothing');

    // another admin token that has expired does not count
    const lapsed = await mint('lapsed', { expiresAt: '2099-01-01T00:00:00Z' });
    await t.ctx.store.db
      .updateTable('api_tokens')
      .set({ expires_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', lapsed.id)
      .execute();
    assert.equal(await works(lapsed.token), false);
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${envId}`)).json.error?.code, 'LAST_ADMIN_TOKEN');
    // an expired one may go while one works
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${lapsed.id}`)).status, 204);
  });

  test('two revokes of the last two admin tokens at the same moment: exactly one succeeds', async () => {
    const a = await mint('race-a');
    const b = await mint('race-b');
    // leave a and b as the only admin tokens: the harness's token goes (a revokes it)
    const gone = await as(a.token, 'DELETE', `/v1/admin-tokens/${envId}`);
    assert.equal(gone.status, 204, gone.body);
    const revokeBoth = () =>
      Promise.all([as(a.token, 'DELETE', `/v1/admin-tokens/${b.id}`), as(b.token, 'DELETE', `/v1/admin-tokens/${a.id}`)]);
    let answers: Awaited<ReturnType<typeof revokeBoth>>;
    if (dialect === 'postgres') {
      // Hold every admin token's row from another session until both revokes are under way and
      // waiting, so that both run their checks with the other token still in place: a check that
      // is not serialised would then let both through.
      const schema = t.ctx.config.pgSchema as string;
      const holder = new pg.Client({ connectionString: PG_URL });
      const watcher = new pg.Client({ connectionString: PG_URL });
      await holder.connect();
      await watcher.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT id FROM ${schema}.api_tokens WHERE kind = 'admin' FOR UPDATE`);
        const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        const pending = revokeBoth();
        await until(async () => {
          const { rows } = await watcher.query(
            `SELECT count(DISTINCT l.pid)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'relation' AND l.relation = $1::regclass AND l.granted
               AND l.pid <> $2 AND a.wait_event_type = 'Lock'`,
            [`${schema}.api_tokens`, holderPid],
          );
          return rows[0].n === 2;
        }, 'both revokes waiting on the admin tokens');
        await holder.query('COMMIT');
        answers = await pending;
      } finally {
        await holder.end();
        await watcher.end();
      }
    } else {
      answers = await revokeBoth();
    }
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [204, 409], answers.map((r) => r.body).join(' | '));
    assert.equal(answers.find((r) => r.status === 409)!.json.error.code, 'LAST_ADMIN_TOKEN');
    const working = [];
    for (const x of [a, b]) if (await works(x.token)) working.push(x);
    assert.equal(working.length, 1, 'one admin token is left, and it works');
    const survivor = working[0]!;
    assert.deepEqual(
      (await as(survivor.token, 'GET', '/v1/admin-tokens')).json.items.map((i: Json) => i.id),
      [survivor.id],
    );

    // the harness's token again for the tests below, registered as at a start
    await t.ctx.store.db.deleteFrom('retired_admin_tokens').where('token_id', '=', envId).execute();
    await ensureAdminToken(t.ctx, ADMIN_TOKEN);
    envId = (await t.call('GET', '/v1/whoami')).json.tokenId;
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${survivor.id}`)).status, 204);
  });

  test('every mint, rotation and revocation is an event of no project, with its actor and no secret', async () => {
    const a = await mint('audited');
    const rotated = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`)).json;
    assert.equal((await as(rotated.token, 'DELETE', `/v1/admin-tokens/${a.id}`)).status, 204);
    const res = await t.call('GET', '/v1/system/events?type=credential.*');
    assert.equal(res.status, 200);
    const mineEvents = (res.json.items as Json[]).filter((e) => e.data.id === a.id);
    // newest first
    assert.deepEqual(
      mineEvents.map((e) => [e.type, e.actor]),
      [
        ['credential.revoked', `admin:${a.id}`],
        ['credential.rotated', `admin:${envId}`],
        ['credential.created', `admin:${envId}`],
      ],
    );
    assert.ok(mineEvents.every((e) => e.data.credential === 'admin_token' && e.createdAt));
    for (const secret of [a.token, rotated.token, ADMIN_TOKEN]) assert.ok(!res.body.includes(secret));
    // the start that registered the harness's token is there too
    const registered = (res.json.items as Json[]).find((e) => e.data.id === envId && e.type === 'credential.created');
    assert.equal(registered?.actor, 'system');
    assert.equal(registered?.data.source, 'LIFTGATE_ADMIN_TOKEN');
    // oldest first on request, and paging back with before
    const asc = (await t.call('GET', '/v1/system/events?order=asc&limit=2')).json.items as Json[];
    assert.ok(asc[0].id < asc[1].id);
    const older = (await t.call('GET', `/v1/system/events?before=${mineEvents[0].id}&limit=1`)).json.items as Json[];
    assert.equal(older[0].id, mineEvents[1].id);
    // no project sees them
    const projectEvents = (await t.call('GET', '/v1/projects/acme/events?limit=1000')).json.items as Json[];
    assert.ok(!projectEvents.some((e) => e.data?.credential === 'admin_token'));
  });

  test('a start with a secret that was rotated away or revoked is refused, naming the variable', async () => {
    const a = await mint('restart');
    const rotated = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`)).json;
    await assert.rejects(ensureAdminToken(t.ctx, a.token), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`cannot start: LIFTGATE_ADMIN_TOKEN holds the old secret of admin token ${a.id} \\(rotated at `),
      );
      assert.match(err.message, /set LIFTGATE_ADMIN_TOKEN to a working admin token/);
      assert.ok(!err.message.includes(a.token));
      return true;
    });
    assert.equal(await works(a.token), false, 'nothing was registered');
    assert.deepEqual(await ensureAdminToken(t.ctx, rotated.token), { created: null, warnings: [] });
    assert.equal((await t.call('DELETE', `/v1/admin-tokens/${a.id}`)).status, 204);
    await assert.rejects(ensureAdminToken(t.ctx, rotated.token), /holds the secret of revoked admin token/);
    // a project token's secret is no admin token either
    const p = (await t.call('POST', '/v1/projects/acme/tokens', { name: 'p' })).json;
    await assert.rejects(ensureAdminToken(t.ctx, p.token), /LIFTGATE_ADMIN_TOKEN holds the secret of a project token/);
    assert.deepEqual(
      (await listed()).map((i) => i.id),
      [envId],
    );
    // with every admin token expired, a start says that none works (and how to get one)
    const expire = (at: string | null) =>
      t.ctx.store.db.updateTable('api_tokens').set({ expires_at: at }).where('id', '=', envId).execute();
    await expire('2020-01-01T00:00:00.000Z');
    try {
      const { warnings } = await ensureAdminToken(t.ctx, ADMIN_TOKEN);
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0]!, new RegExp(`LIFTGATE_ADMIN_TOKEN is admin token ${envId}, which expired at`));
      assert.match(warnings[1]!, /no admin token works .*set LIFTGATE_ADMIN_TOKEN to a new secret/);
    } finally {
      await expire(null);
    }
  });

  // Replicas share a PostgreSQL store (SQLite has one process per file).
  if (dialect === 'postgres')
    test('a rotation on one replica refuses the old secret on the next request to another replica', async () => {
      const other = await createContext({ ...t.ctx.config, noExecutor: true });
      const app2 = await buildApp(other, { families: await loadFamilies() });
      try {
        const a = await mint('replicated');
        const via2 = async (token: string) =>
          (await app2.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${token}` } })).statusCode;
        assert.equal(await via2(a.token), 200);
        const rotated = (await t.call('POST', `/v1/admin-tokens/${a.id}/rotate`)).json;
        assert.equal(await via2(a.token), 401);
        assert.equal(await via2(rotated.token), 200);
        assert.equal((await t.call('DELETE', `/v1/admin-tokens/${a.id}`)).status, 204);
        assert.equal(await via2(rotated.token), 401);
      } finally {
        await app2.close();
        await other.close();
      }
    });
});
