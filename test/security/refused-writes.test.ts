// A refused request writes nothing, proven over every route of every family on both stores. Each
// route (from the running app's router, so a new route is covered without being named) gets every
// kind of refusal that applies to it (test/security/refusals/): no credential, a forged one, a
// role too low, another tenant's resource, an id that exists nowhere, malformed path parameters
// (over a real socket too, where no client resolves dot segments) and query values, invalid
// bodies, and the route's own state preconditions. Each is sent while Liftgate runs, background
// workers included, but is idle (test/helpers/idle.ts): wait for idle, take the store digest,
// send, wait for idle again, take the digest: no table may have changed. The replay guard's
// nonces and the rate-limit counters record refused requests by design (UNDIGESTED).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, it, type TestContext } from 'node:test';
import { DEFAULT_RATE_LIMITS } from '../../src/http/rate-limits.ts';
import { familyOf } from '../../src/http/error-envelopes.ts';
import { FamilyRequester, isFamilyErrorEnvelope, sendTo, socketWire, type Answer } from '../helpers/family-requests.ts';
import { forEachDialect, startApp, type TestApp } from '../helpers/harness.ts';
import { busyWith, waitForIdle } from '../helpers/idle.ts';
import { apiRoutes, FAMILIES, type ApiRoute } from '../helpers/routes.ts';
import { changedRows, changedTables, storeDigest, storeRows, type StoreDigest } from '../helpers/store-digest.ts';
import { seedCatalog } from '../helpers/two-projects.ts';
import { BODIES, keyOf, PUBLIC, refusalsFor, requestFor, namesOf, type Env, type Kind } from './refusals/cases.ts';
import { STATE } from './refusals/state-cases.ts';
import { ghostIds, seedTenant } from './refusals/world.ts';

const KINDS: Kind[] = [
  'no credential',
  'forged credential',
  'role too low',
  'other tenant',
  'unknown id',
  'malformed path',
  'malformed query',
  'invalid body',
  'state',
];

forEachDialect('a refused request writes nothing', (dialect) => {
  let t: TestApp;
  let env: Env;
  let routes: ApiRoute[];
  before(async () => {
    const loose = { max: 1_000_000, windowMs: 60_000 };
    t = await startApp(
      dialect,
      // a lost heartbeat on a loaded machine must not make a new executor row mid-case; a failed
      // webhook delivery is given up at once (a pending one would keep Liftgate busy for a day)
      { executor: { timeoutMs: 60_000 }, webhooks: { retryForMs: 0 } },
      { rateLimits: { ...DEFAULT_RATE_LIMITS, perAddress: loose, perCredential: loose, failedAuth: loose } },
    );
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (t.app.server.address() as AddressInfo).port;
    const q = new FamilyRequester(t.app);
    await seedCatalog(t);
    const [alpha, bravo] = await Promise.all([seedTenant(t, q, 'alpha'), seedTenant(t, q, 'bravo')]);
    env = { q, socket: new FamilyRequester(t.app, socketWire(port)), alpha, bravo, ghost: ghostIds() };
    routes = apiRoutes(t.app);
  });
  after(() => t.close());

  it('idle is reached with the workers running, and the digest sees a write (its oracle can fail)', async () => {
    await waitForIdle(t.ctx);
    assert.deepEqual(await busyWith(t.ctx), []);
    const before = await storeDigest(t.ctx);
    assert.deepEqual(changedTables(before, await storeDigest(t.ctx)), []);
    const res = await env.q.native(
      { method: 'PATCH', url: `/v1/projects/alpha/targets/${env.alpha.fleet.batchTarget}`, body: { name: 'renamed' } },
      env.alpha.token,
    );
    assert.equal(res.status, 200, res.body);
    await waitForIdle(t.ctx);
    // the event consumers (estimates, webhooks) read the new event: their cursors moved too
    assert.deepEqual(changedTables(before, await storeDigest(t.ctx)), ['event_cursors', 'events', 'targets']);
  });

  /**
   * The probe on main: an accepted request, then at once a refused one, digests taken around the
   * refused one only. Whatever changed meanwhile must belong to the accepted request (a row that
   * names its target, upgrade, steps or batch; the event consumers' cursors); the same refusal sent
   * once Liftgate is idle changes nothing.
   */
  async function probe(
    tc: TestContext,
    target: string,
    accepted: () => Promise<Answer>,
    refused: () => Promise<Answer>,
    refusal: number,
  ): Promise<{ table: string; row: string }[]> {
    await waitForIdle(t.ctx);
    const ok = await accepted();
    assert.equal(ok.status, 200, ok.body);
    const rows = await storeRows(t.ctx);
    const before = await storeDigest(t.ctx);
    const res = await refused();
    assert.equal(res.status, refusal, res.body);
    await waitForIdle(t.ctx);
    const changed = changedTables(before, await storeDigest(t.ctx));
    // the accepted request's own: its target, its upgrade with its steps and reports, its batch
    const upgrade = await t.ctx.store.db
      .selectFrom('upgrades')
      .select(['id', 'batch_id'])
      .where('project_id', '=', 'alpha')
      .where('target_id', '=', target)
      .executeTakeFirstOrThrow();
    const steps = await t.ctx.store.db.selectFrom('steps').select('id').where('upgrade_id', '=', upgrade.id).execute();
    const own = [target, upgrade.id, ...(upgrade.batch_id ? [upgrade.batch_id] : []), ...steps.map((x) => x.id)];
    const late = changedRows(rows, await storeRows(t.ctx));
    const foreign = late.filter((r) => r.table !== 'event_cursors' && !own.some((id) => r.row.includes(id)));
    assert.deepEqual(foreign, [], 'a row changed that the accepted request does not account for');
    tc.diagnostic(
      `changed after the refusal, all the accepted request's: ${changed.join(', ') || 'nothing (its work had landed already)'}`,
    );
    // once idle, the same refusal writes nothing
    await waitForIdle(t.ctx);
    const idle = await storeDigest(t.ctx);
    assert.equal((await refused()).status, refusal);
    await waitForIdle(t.ctx);
    assert.deepEqual(changedTables(idle, await storeDigest(t.ctx)), []);
    return late;
  }

  const probeTarget = async (id: string, engine: string, version: string) => {
    const res = await t.call('POST', '/v1/projects/alpha/targets', {
      id,
      kind: engine === 'gaussdb' ? 'instance' : 'cluster',
      engine,
      version,
      release: `r${version}`,
      driver: 'sim',
      nodes: [
        { name: `${id}-n1`, role: 'master', zone: 'zone1' },
        { name: `${id}-n2`, role: 'data', zone: 'zone2' },
      ],
    });
    assert.equal(res.status, 201, res.body);
  };

  it("CSS's upgrade refused for project `..` (404): what changed after it was the upgrade accepted before it", async (tc) => {
    const target = 'alpha-es-probe';
    await probeTarget(target, 'elasticsearch', '7.9.3');
    const upgrade = (project: string) => ({
      method: 'POST',
      // app.inject resolves the dot segment, as any HTTP client would: /clusters/..., no route
      url: `/v1.0/${project}/clusters/${target}/inst-type/all/image/upgrade`,
      body: { target_image_id: 'img-elasticsearch-7.10.2', upgrade_type: 'cross', indices_backup_check: false, agency: 'probe' },
    });
    const late = await probe(
      tc,
      target,
      () => env.q.huawei(upgrade('alpha'), env.alpha.accessKey, 'alpha'),
      () => env.q.huawei(upgrade('..'), env.alpha.accessKey, 'alpha'),
      404,
    );
    tc.diagnostic(`precheck reports that landed after the refusal: ${late.filter((r) => r.table === 'precheck_reports').length}`);
  });

  it("GaussDB's batch refused for instance_id: [1] (400): what changed after it was the batch accepted before it", async (tc) => {
    const target = 'alpha-gs-probe';
    await probeTarget(target, 'gaussdb', '2.0.48.231200');
    let n = 0;
    const batch = (instance_id: unknown) => ({
      method: 'POST',
      url: '/v3/alpha/instances/database-version/upgrade',
      body: { databases_instance_infos: [{ instance_id, current_version: '2.0.48.231200' }], delay: 'false' },
      // the refusal is sent twice: a signed header keeps the second from being the first's replay
      headers: { 'x-probe': String(++n) },
    });
    const late = await probe(
      tc,
      target,
      () => env.q.huawei(batch(target), env.alpha.accessKey, 'alpha'),
      () => env.q.huawei(batch([1]), env.alpha.accessKey, 'alpha'),
      400,
    );
    const events = late.filter((r) => r.table === 'events').map((r) => (JSON.parse(r.row) as { type: string }).type);
    tc.diagnostic(`events that landed after the refusal: ${events.join(', ') || 'none'}`);
  });

  it('every route has a refusal of every kind that applies to it', () => {
    for (const family of FAMILIES)
      assert.ok(
        routes.some((r) => r.family === family),
        `no route of the ${family} family`,
      );
    const keys = new Set(routes.map(keyOf));
    for (const key of [...Object.keys(BODIES), ...Object.keys(STATE), ...Object.keys(PUBLIC)])
      assert.ok(keys.has(key), `${key} is named by the refusal test but the app has no such route`);
    for (const route of routes) {
      const key = keyOf(route);
      const needsBody = Array.isArray(route.body?.required) && route.body.required.length > 0;
      assert.ok(!needsBody || key in BODIES, `${key} needs a valid body in BODIES`);
      assert.ok(route.family !== 'obshell' || route.method === 'GET' || key in BODIES, `${key} needs a valid body in BODIES`);
      const kinds = new Set(refusalsFor(route, env, STATE[key] ?? (() => [])).map((r) => r.kind));
      const expected: Kind[] = ['malformed query'];
      if (!(key in PUBLIC)) expected.push('no credential', 'forged credential');
      if (route.method !== 'GET' && route.family !== 'obshell') expected.push('role too low');
      if (route.params.length > 0) expected.push('malformed path');
      if (route.method !== 'GET' && key in BODIES) expected.push('invalid body');
      assert.deepEqual(
        expected.filter((k) => !kinds.has(k)),
        [],
        `${key} lacks refusals of these kinds`,
      );
    }
  });

  it('the routes that take no credential answer without one', async () => {
    for (const route of routes.filter((r) => keyOf(r) in PUBLIC)) {
      const r = requestFor(route, namesOf(env.alpha));
      const res = route.family === 'obshell' ? await sendTo(env.alpha.obshellPort, r) : await env.q.raw(r);
      assert.equal(res.status, 200, `${keyOf(route)}: ${res.status} ${res.body.slice(0, 200)}`);
    }
  });

  it('every refusal of every route leaves every table as it was', async (tc) => {
    const counts = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
    const statuses = new Map<Kind, Map<number, number>>(KINDS.map((k) => [k, new Map()]));
    // the digest after the last refusal, still the store's when Liftgate stayed idle since
    let known: StoreDigest | null = null;
    for (const route of routes) {
      const key = keyOf(route);
      await tc.test(key, async () => {
        const failures: string[] = [];
        for (const r of refusalsFor(route, env, STATE[key] ?? (() => []))) {
          const before: StoreDigest = (await waitForIdle(t.ctx)) && known ? known : await storeDigest(t.ctx);
          const res = await r.send();
          const body = typeof r.request.body === 'string' ? r.request.body : JSON.stringify(r.request.body);
          const what = `${r.kind}, ${r.what}: ${r.request.method} ${r.request.url.slice(0, 200)} ${body?.slice(0, 200) ?? ''}\n  -> ${res.status} ${res.body.slice(0, 300)}`;
          if (!r.status.includes(res.status)) failures.push(`not refused as expected (${r.status.join('/')}): ${what}`);
          // the family the path names answers (an HTTP client sends it with its dot segments resolved)
          // (an OBShell request goes to its cluster's own agent port, which answers only in OBShell's)
          const family =
            route.family === 'obshell'
              ? 'obshell'
              : familyOf(r.raw ? r.request.url : new URL(r.request.url, 'http://x').pathname);
          if (!isFamilyErrorEnvelope(family, res)) failures.push(`not in the ${family} envelope: ${what}`);
          await waitForIdle(t.ctx);
          known = await storeDigest(t.ctx);
          const changed = changedTables(before, known);
          if (changed.length > 0) failures.push(`wrote ${changed.join(', ')}: ${what}`);
          counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
          const byStatus = statuses.get(r.kind)!;
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
        }
        assert.deepEqual(failures, []);
      });
    }
    for (const [kind, n] of counts) {
      assert.ok(n > 0, `no refusal of the kind ${kind} was sent`);
      const answered = [...statuses.get(kind)!].map(([status, m]) => `${m} x ${status}`).join(', ');
      tc.diagnostic(`${kind}: ${n} refusals (${answered})`);
    }
  });
});
