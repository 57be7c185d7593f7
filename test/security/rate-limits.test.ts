// Rate limits (issue 8 item 2): per client address, per credential, and far stricter for failed
// authentications, each refusal a 429 with Retry-After in the envelope (and throttling code) of
// the family asked. The limits are small in these apps' settings and the tests count answers;
// the windows are an hour long, so no answer depends on timing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import type { FamilyName } from '../../src/http/error-envelopes.ts';
import { loadFamilies } from '../../src/http/families.ts';
import { DEFAULT_RATE_LIMITS, rateLimitSettingsFromEnv, type RateLimitSettings } from '../../src/http/rate-limits.ts';
import { createContext } from '../../src/app/context.ts';
import { FamilyRequester, isFamilyErrorEnvelope, type Answer } from '../helpers/family-requests.ts';
import { ADMIN_TOKEN, forEachDialect, freshStore, startApp, type TestApp } from '../helpers/harness.ts';
import { seedCatalog, seedProject, type SeededProject } from '../helpers/two-projects.ts';

const HOUR = 3_600_000;
const BIG = { max: 1_000_000, windowMs: HOUR };
const settings = (over: Partial<RateLimitSettings>): RateLimitSettings => ({
  enabled: true,
  perAddress: BIG,
  perCredential: BIG,
  failedAuth: BIG,
  store: 'memory',
  ...over,
});

const THROTTLE_CODE: Record<FamilyName, (a: Answer) => string> = {
  native: (a) => a.json.error.code,
  ack: (a) => a.json.code,
  hologres: (a) => a.json.Code,
  css: (a) => a.json.error_code,
  gaussdb: (a) => a.json.error_code,
  obshell: (a) => a.json.error.errCode,
};
const EXPECTED_CODE: Record<FamilyName, string> = {
  native: 'RATE_LIMITED',
  ack: 'Throttling',
  hologres: 'Throttling',
  css: 'APIGW.0308',
  gaussdb: 'APIGW.0308',
  obshell: 'Common.TooManyRequests',
};

function throttled(family: FamilyName, a: Answer): void {
  assert.equal(a.status, 429, `${family}: ${a.status} ${a.body}`);
  assert.ok(isFamilyErrorEnvelope(family, a), `${family} envelope: ${a.body}`);
  assert.equal(THROTTLE_CODE[family](a), EXPECTED_CODE[family]);
  assert.match(String(a.headers['retry-after']), /^[1-9]\d*$/);
}

/** One authenticated read per family for a project. */
function reads(p: SeededProject): Record<FamilyName, { method: string; url: string }> {
  return {
    native: { method: 'GET', url: `/v1/projects/${p.projectId}/targets` },
    ack: { method: 'GET', url: `/api/v2/clusters/${p.cluster}/upgrade/status` },
    hologres: { method: 'GET', url: `/api/v1/instances/${p.instance}/upgrade/status` },
    css: { method: 'GET', url: `/v1.0/${p.projectId}/clusters/${p.cluster}/upgrade/detail` },
    gaussdb: { method: 'GET', url: `/v3/${p.projectId}/instances/${p.instance}/database-version` },
    obshell: { method: 'GET', url: '/api/v1/task/dag/ob/unfinish' },
  };
}
const FAMILIES: FamilyName[] = ['native', 'ack', 'hologres', 'css', 'gaussdb', 'obshell'];
const PROBE = { projectId: 'p', cluster: 'c', instance: 'i' } as SeededProject;

describe('rate-limit settings', () => {
  it('parse "hits/window" and refuse anything else with a message that says the format', () => {
    const perAddress = (v: string) => rateLimitSettingsFromEnv({ LIFTGATE_RATE_LIMIT_ADDRESS: v }).perAddress;
    assert.deepEqual(perAddress('6000/1m'), { max: 6000, windowMs: 60_000 });
    assert.deepEqual(perAddress('20/5m'), { max: 20, windowMs: 300_000 });
    assert.deepEqual(perAddress(' 10/30s '), { max: 10, windowMs: 30_000 });
    for (const bad of ['6000', '0/1m', '5/0s', '5/1d', 'x/1m'])
      assert.throws(
        () => perAddress(bad),
        new RegExp(`: LIFTGATE_RATE_LIMIT_ADDRESS=${bad}: must be hits per window, like 6000/1m`),
      );
    assert.deepEqual(rateLimitSettingsFromEnv({}), DEFAULT_RATE_LIMITS);
    const s = rateLimitSettingsFromEnv({
      LIFTGATE_RATE_LIMITS: 'off',
      LIFTGATE_RATE_LIMIT_FAILED_AUTH: '3/1h',
      LIFTGATE_RATE_LIMIT_STORE: 'database',
    });
    assert.equal(s.enabled, false);
    assert.deepEqual(s.failedAuth, { max: 3, windowMs: HOUR });
    assert.equal(s.store, 'database');
    assert.throws(() => rateLimitSettingsFromEnv({ LIFTGATE_RATE_LIMIT_STORE: 'redis' }), /one of memory, database/);
    assert.throws(() => rateLimitSettingsFromEnv({ LIFTGATE_RATE_LIMITS: 'maybe' }), /on or off/);
  });

  it('the defaults are on and far above what a client polling every second sends', () => {
    assert.equal(DEFAULT_RATE_LIMITS.enabled, true);
    assert.ok(DEFAULT_RATE_LIMITS.perCredential.max / (DEFAULT_RATE_LIMITS.perCredential.windowMs / 1000) >= 10);
    assert.ok(DEFAULT_RATE_LIMITS.perAddress.max >= DEFAULT_RATE_LIMITS.perCredential.max);
    assert.ok(DEFAULT_RATE_LIMITS.failedAuth.max < DEFAULT_RATE_LIMITS.perCredential.max / 10);
  });
});

forEachDialect('rate limits', (dialect) => {
  it('per address: after the limit every family answers 429 in its own envelope', async () => {
    const t = await startApp(dialect, {}, { rateLimits: settings({ perAddress: { max: 6, windowMs: HOUR } }) });
    try {
      const q = new FamilyRequester(t.app);
      let ok = 0;
      for (let i = 0; i < 6; i++) if ((await q.native({ method: 'GET', url: '/v1/projects' }, ADMIN_TOKEN)).status === 200) ok++;
      assert.equal(ok, 6);
      // The address limit comes before authentication: unauthenticated requests are enough.
      for (const family of FAMILIES) throttled(family, await q.raw(reads(PROBE)[family]));
      // Another address is not affected.
      const other = await t.app.inject({
        method: 'GET',
        url: '/v1/projects',
        remoteAddress: '10.0.0.9',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(other.statusCode, 200, other.body);
    } finally {
      await t.close();
    }
  });

  describe('per credential and failed authentications', () => {
    let t: TestApp;
    let q: FamilyRequester;
    let a: SeededProject;
    let b: SeededProject;
    let limited: Awaited<ReturnType<typeof buildApp>>;
    before(async () => {
      // Seeded through an app without limits; the app under test shares its context.
      t = await startApp(dialect);
      await seedCatalog(t);
      a = await seedProject(t, 'acme');
      b = await seedProject(t, 'beta');
      limited = await buildApp(t.ctx, {
        families: await loadFamilies(),
        rateLimits: settings({ perCredential: { max: 30, windowMs: HOUR }, failedAuth: { max: 4, windowMs: HOUR } }),
      });
      q = new FamilyRequester(limited);
    });
    after(async () => {
      await limited.close();
      await t.close();
    });

    it('per credential: one credential is stopped at its limit in every family; another goes on', async () => {
      // ACK and Hologres (and CSS and GaussDB) share one access key, so the second of each pair
      // finds it spent already; each family still answers in its own envelope.
      for (const family of FAMILIES) {
        const r = reads(a)[family];
        let ok = 0;
        let answers = 0;
        for (;;) {
          const res = await q.as(family, r, a);
          answers++;
          if (res.status === 429) {
            throttled(family, res);
            break;
          }
          assert.equal(res.status, 200, res.body);
          ok++;
          assert.ok(answers <= 31, 'the limit holds');
        }
        if (family === 'native' || family === 'ack' || family === 'obshell') assert.equal(ok, 30, family);
        // The other project's credential of the same family is not affected.
        assert.equal((await q.as(family, reads(b)[family], b)).status, 200);
      }
    });

    it('failed authentications: after 4 from an address, even a valid credential is refused, before its lookup', async () => {
      const addr = '10.0.0.77';
      const inj = (headers: Record<string, string>, url = '/v1/projects') =>
        limited
          .inject({ method: 'GET', url, remoteAddress: addr, headers })
          .then((r) => ({ status: r.statusCode, body: r.body, headers: r.headers, json: JSON.parse(r.body) }));
      const good = { authorization: `Bearer ${b.token}` };
      assert.equal((await inj(good)).status, 200, 'a success counts nothing');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await inj({ authorization: 'Bearer wrong-token' })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401]);
      const refused = await inj(good);
      throttled('native', refused);
      assert.match(refused.json.error.message, /failed authentications/);
      // The same address in another family, with that family's valid credential: refused too.
      const css = reads(b).css;
      const headers = q.huaweiHeaders(css, b.accessKey, b.projectId);
      throttled('css', await inj(headers, css.url));
      // Another address still authenticates.
      assert.equal((await q.native({ method: 'GET', url: '/v1/projects' }, b.token)).status, 200);
    });
  });

  it('failed authentications are counted in the store, so another replica refuses them too', async () => {
    const store = await freshStore(dialect);
    const config = { ...store.config, simTimeScale: 0, noExecutor: true };
    const rateLimits = settings({ failedAuth: { max: 3, windowMs: HOUR } });
    const ctx1 = await createContext(config);
    const app1 = await buildApp(ctx1, { families: await loadFamilies(), rateLimits });
    const ctx2 = dialect === 'postgres' ? await createContext(config) : ctx1;
    const app2 = await buildApp(ctx2, { families: await loadFamilies(), rateLimits });
    try {
      const send = (app: typeof app1) =>
        app.inject({ method: 'GET', url: '/v1/projects', remoteAddress: '10.1.1.1', headers: { authorization: 'Bearer nope' } });
      const first = [await send(app1), await send(app1), await send(app1)].map((r) => r.statusCode);
      assert.deepEqual(first, [401, 401, 401]);
      const onOther = await send(app2);
      assert.equal(onOther.statusCode, 429, onOther.body);
    } finally {
      await app1.close();
      await app2.close();
      await ctx1.close();
      if (ctx2 !== ctx1) await ctx2.close();
      await store.cleanup();
    }
  });

  it('off: no limit applies', async () => {
    const t = await startApp(
      dialect,
      {},
      { rateLimits: { ...settings({ perAddress: { max: 1, windowMs: HOUR } }), enabled: false } },
    );
    try {
      const statuses = new Set<number>();
      for (let i = 0; i < 5; i++) statuses.add((await t.call('GET', '/v1/projects')).status);
      assert.deepEqual([...statuses], [200]);
    } finally {
      await t.close();
    }
  });
});
