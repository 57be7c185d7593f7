// Property-based fuzzing of every route of every API family, on both stores: arbitrary path
// parameters, query strings and JSON bodies (wrong types, NUL bytes, huge and non-finite numbers,
// deep nesting, long and unusual strings, prototype-pollution keys), each request authenticated
// with a valid credential of the route's family so it gets past authentication to validation and
// the handlers. Every answer is below 500; every 4xx is in the family's envelope with a stable
// code; a refused request leaves every table as it was. The routes come from the running app's
// router (test/helpers/routes.ts), so a new route is fuzzed without being added here.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { ERROR_CATALOGUE } from '../../src/domain/errors.ts';
import { familyOf, type FamilyName } from '../../src/http/error-envelopes.ts';
import { DEFAULT_RATE_LIMITS } from '../../src/http/rate-limits.ts';
import { errorCodeOf, FamilyRequester, isFamilyErrorEnvelope, type FamilyRequest } from '../helpers/family-requests.ts';
import { ADMIN_TOKEN, forEachDialect, startApp, stopBackground, until, type TestApp } from '../helpers/harness.ts';
import { apiRoutes, FAMILIES, fillPath, type ApiRoute, type JsonSchema } from '../helpers/routes.ts';
import { changedTables, storeDigest, type StoreDigest } from '../helpers/store-digest.ts';
import { seedCatalog, seedFleet, seedProject, type SeededFleet, type SeededProject } from '../helpers/two-projects.ts';

// A longer hunt: FUZZ_RUNS=200 FUZZ_SEED=$RANDOM node scripts/run-tests.mjs test/security/fuzz.test.ts
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
/** runs per route and store: about 75 routes, so some 600 requests per store */
const RUNS = Number(process.env.FUZZ_RUNS ?? 8);

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '..',
  '../../etc/passwd',
  '%',
  '%00',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  '1e400',
  '-1',
  '0',
  '99999999999999999999',
  'NaN',
  'null',
  'true',
  '[]',
  '{}',
  '<x/>',
  "' OR '1'='1",
  'ü🙂\u202e\u200b',
  '\ud800',
  'x'.repeat(300),
  'y'.repeat(100_000),
];
const HOSTILE_NUMBERS = [0, -1, 0.5, -0, 2 ** 31, 2 ** 53 + 2, 1e20, -1e20, 1e308, -1e308, Number.MIN_VALUE];
/** raw JSON numbers JSON.stringify cannot write */
const HOSTILE_NUMBER_LITERALS = ['1e400', '-1e400', '1e-400', '123456789012345678901234567890', '-0.0e0'];
const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 65, maxLength: 300 }) },
);
const hostileNumber = fc.oneof(
  fc.constantFrom(...HOSTILE_NUMBERS),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const hostileLeaf: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
);

/** An object with own properties, `__proto__` included (Object.assign would set the prototype). */
function ownObject(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Values of the seeded world, by parameter or property name, so requests reach real resources. */
type Pool = Record<string, string[]>;

function poolFor(a: SeededProject, f: SeededFleet, obPassword: string, method: string): Pool {
  // A DELETE only ever names resources nothing else needs (the fuzz's own credentials stay alive).
  const targets = method === 'DELETE' ? [f.batchTarget] : [a.cluster, a.instance, a.ob, f.batchTarget];
  const upgrades = [a.upgradeId];
  const versions = ['7.9.3', '7.10.2', '7.10.3', '2.0.48.231200', '2.0.58.250100', '4.2.1.0', '4.2.1.1'];
  return {
    project: [a.projectId],
    project_id: [a.projectId],
    target: targets,
    targetId: targets,
    targetIds: targets,
    ClusterId: targets,
    cluster_id: targets,
    instanceId: targets,
    instance_id: targets,
    upgrade: upgrades,
    task_id: upgrades,
    action_id: upgrades,
    id: ['1', '2', '11', '12', `1${a.upgradeId}`],
    report: [a.reportId],
    check_id: [a.reportId],
    batch: [f.batchId],
    webhook: [f.webhookId],
    token: [f.spareTokenId],
    accessKey: [f.spareKeyId],
    engine: ['elasticsearch', 'gaussdb', 'oceanbase'],
    version: versions,
    toVersion: versions,
    target_version: versions,
    release: versions.map((v) => `r${v}`),
    password: [obPassword],
    current_version: versions,
    inst_type: ['all', 'ess', 'ess-master'],
    upgrade_type: ['same', 'cross', 'cross-engine'],
    target_image_id: versions.map((v) => `img-elasticsearch-${v}`),
    delay: ['true', 'false'],
    start_time: ['02:00', '22:00'],
    end_time: ['06:00', '23:59'],
    job_ids: upgrades,
    next_version: versions,
  };
}

/**
 * Values that fit a schema, or the seeded world's values for the name. `strict`: only those;
 * otherwise a property is now and then anything at all, and an object gets an unknown key.
 */
function fromSchema(s: JsonSchema | undefined, name: string, pool: Pool, depth: number, strict: boolean): fc.Arbitrary<unknown> {
  if (!s || depth > 5) return strict ? fc.constant('x') : hostileLeaf;
  const known = pool[name];
  const pooled = known && (s.type === 'string' || s.type === undefined) ? fc.constantFrom(...known) : null;
  const sub = (x: JsonSchema | undefined, n: string) => fromSchema(x, n, pool, depth + 1, strict);
  let fitting: fc.Arbitrary<unknown>;
  if (Array.isArray(s.enum)) fitting = fc.constantFrom(...(s.enum as unknown[]));
  else if ('const' in s) fitting = fc.constant(s.const);
  else if (Array.isArray(s.anyOf ?? s.oneOf))
    fitting = fc.oneof(...((s.anyOf ?? s.oneOf) as JsonSchema[]).map((x) => sub(x, name)));
  else if (s.type === 'object') {
    const props = Object.entries((s.properties ?? {}) as Record<string, JsonSchema>);
    const value = (v: JsonSchema, k: string) =>
      strict ? sub(v, k) : fc.oneof({ weight: 12, arbitrary: sub(v, k) }, { weight: 1, arbitrary: hostileLeaf });
    const model = Object.fromEntries(props.map(([k, v]) => [k, value(v, k)]));
    const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...POLLUTION_KEYS), hostileString), hostileLeaf), { maxLength: 2 });
    fitting = fc
      .tuple(
        fc.record(model, { requiredKeys: (s.required ?? []) as string[] }),
        strict
          ? fc.constant(undefined)
          : fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: extra }),
      )
      .map(([o, more]) => ownObject([...Object.entries(o as Record<string, unknown>), ...(more ?? [])]));
  } else if (s.type === 'array') {
    fitting = fc.array(s.items ? sub(s.items as JsonSchema, name) : hostileLeaf, {
      minLength: Math.min(s.minItems ?? 0, 4),
      maxLength: 4,
    });
  } else if (s.type === 'string') {
    const min = Number(s.minLength ?? 0);
    const max = Math.min(Number(s.maxLength ?? 64), 64);
    if (s.format === 'date-time')
      fitting = fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString());
    else if (typeof s.pattern === 'string')
      fitting = fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= min && x.length <= max);
    else fitting = fc.string({ minLength: Math.min(min, max), maxLength: max });
  } else if (s.type === 'integer') {
    fitting = fc.integer({ min: Math.max(s.minimum ?? -1000, -(2 ** 31)), max: Math.min(s.maximum ?? 1000, 2 ** 31) });
  } else if (s.type === 'number') {
    fitting = fc.double({ min: s.minimum ?? -1000, max: s.maximum ?? 1000, noNaN: true });
  } else if (s.type === 'boolean') fitting = fc.boolean();
  else fitting = strict ? fc.constant('x') : hostileLeaf;
  return pooled ? fc.oneof({ weight: 3, arbitrary: pooled }, { weight: 1, arbitrary: fitting }) : fitting;
}

/** OBShell declares no body schema (its bodies are encrypted): fields by the names the seed uses. */
const OBSHELL_BODY: JsonSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    release: { type: 'string' },
    mode: { enum: ['ROLLING', 'STOPSERVICE', 'rolling', 'Rolling'] },
    upgradeDir: { enum: ['/tmp/upgrade', '', 'relative', '/a/../b'] },
    freeze_server: { type: 'boolean' },
    operator: { enum: ['retry', 'rollback', 'cancel', 'pass', 'RETRY', 'ROLLBACK', 'CANCEL', 'PASS'] },
  },
};

const nest = (open: string, close: string, n: number, inner: string) => open.repeat(n) + inner + close.repeat(n);

const bodySchema = (route: ApiRoute) => route.body ?? (route.family === 'obshell' ? OBSHELL_BODY : undefined);

/** A JSON body that fits the schema, or (mostly) none at all when the route declares none. */
function validBody(route: ApiRoute, pool: Pool): fc.Arbitrary<unknown> {
  const schema = bodySchema(route);
  return schema ? fromSchema(schema, '', pool, 0, true) : fc.constant(undefined);
}

/** A JSON body that mostly fits the schema, or JSON text no serializer would write. */
function hostileBody(route: ApiRoute, pool: Pool): fc.Arbitrary<unknown> {
  const schema = bodySchema(route);
  const fitting = schema ? fromSchema(schema, '', pool, 0, false) : fc.dictionary(hostileString, hostileLeaf, { maxKeys: 3 });
  const props = Object.keys((schema?.properties ?? { value: {} }) as object);
  const raw = fc.oneof(
    fc.constantFrom(...[31, 33, 2000].flatMap((n) => [nest('[', ']', n, '1'), nest('{"a":', '}', n, '1')])),
    fc.tuple(fc.constantFrom(...props), fc.constantFrom(...HOSTILE_NUMBER_LITERALS)).map(([k, v]) => `{"${k}":${v}}`),
    fitting.map((b) => {
      const text = JSON.stringify(b) ?? 'null';
      const pollution = '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}';
      return text.startsWith('{') && text !== '{}' ? `{${pollution},${text.slice(1)}` : `{${pollution}}`;
    }),
    fc.constantFrom('{"a":', '[1,]', 'nul', '"just a string"', '42', 'null', '[]', '{"a":"\\u0000"}', '\u0000'),
  );
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 5, arbitrary: fitting },
    { weight: 2, arbitrary: raw },
    { weight: 1, arbitrary: hostileLeaf },
  );
}

function encode(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
  try {
    return encodeURIComponent(s);
  } catch {
    // a lone surrogate: send its replacement character
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
  }
}

/** Headers a family reads besides its credential: the answer's format and language. */
const HEADERS: Partial<Record<FamilyName, Record<string, string[]>>> = {
  ack: { accept: ['application/xml', 'application/json', 'text/xml;q=0.9, */*', '*/*'] },
  hologres: { accept: ['application/xml', 'application/json'] },
  gaussdb: { 'x-language': ['zh-cn', 'en-us', 'fr-fr', 'ZH-CN'] },
  css: { 'x-language': ['zh-cn', 'en-us'] },
  obshell: { 'accept-language': ['zh-CN', 'zh', 'en-US,en;q=0.9', 'de'] },
};

const headerValue = (known: string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) },
  );

/**
 * The whole request for one route: path parameters, query string, headers, body. Each request
 * makes one part hostile and keeps the others valid (or none, so it can succeed), so that a
 * hostile body gets past path and query validation to the handler.
 */
function requestFor(route: ApiRoute, pool: Pool): fc.Arbitrary<FamilyRequest> {
  const known = (name: string) => pool[name];
  const validParams = fc.record(
    Object.fromEntries(
      route.params.map((name) => [
        name,
        (known(name) ? fc.constantFrom(...known(name)!) : fc.stringMatching(/^[a-z0-9]{1,12}$/)).map(encode),
      ]),
    ),
  );
  const hostileParams = fc.record(
    Object.fromEntries(
      route.params.map((name) => {
        const arb = fc.oneof(
          ...(known(name) ? [{ weight: 2, arbitrary: fc.constantFrom(...known(name)!) }] : []),
          { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }) },
          { weight: 3, arbitrary: hostileString },
        );
        return [name, arb.map(encode)];
      }),
    ),
  );
  // `stream` turns an events read into an endless Server-Sent Events answer (test/api/sse-logs.test.ts).
  const declared = route.query.filter((q) => q.name !== 'stream');
  const queryOf = (strict: boolean) =>
    fc.record(
      Object.fromEntries(
        declared.map((q) => [
          q.name,
          strict
            ? fromSchema(q.schema, q.name, pool, 1, true)
            : fc.oneof(
                { weight: 3, arbitrary: fromSchema(q.schema, q.name, pool, 1, false) },
                { weight: 1, arbitrary: hostileLeaf },
              ),
        ]),
      ),
      { requiredKeys: [] },
    );
  const noExtra = fc.constant([] as [string, string][]);
  const extra = fc.array(fc.tuple(fc.constantFrom(...POLLUTION_KEYS, 'x', 'limit', 'a[b]'), hostileString), {
    minLength: 1,
    maxLength: 2,
  });
  const headers = fc.record(
    Object.fromEntries(Object.entries(HEADERS[route.family] ?? {}).map(([name, values]) => [name, headerValue(values)])),
    { requiredKeys: [] },
  );
  const write = route.method !== 'GET';
  const none = fc.constant(undefined);
  const part = (hostile: 'none' | 'path' | 'query' | 'body') =>
    fc.record({
      params: hostile === 'path' ? hostileParams : validParams,
      query: fc.tuple(queryOf(hostile !== 'query'), hostile === 'query' ? fc.oneof(noExtra, extra) : noExtra),
      headers,
      body: !write ? none : hostile === 'body' ? hostileBody(route, pool) : validBody(route, pool),
    });
  const arb = fc.oneof(
    { weight: 2, arbitrary: part('none') },
    { weight: 1, arbitrary: part('path') },
    { weight: 1, arbitrary: part('query') },
    ...(write ? [{ weight: 2, arbitrary: part('body') }] : []),
  );
  return arb.map((g) => {
    const pairs: string[] = [];
    for (const [k, v] of [...Object.entries(g.query[0]), ...g.query[1]]) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) pairs.push(`${encode(k)}=${encode(item)}`);
    }
    const url = fillPath(route, g.params) + (pairs.length ? `?${pairs.join('&')}` : '');
    const hs = Object.fromEntries(Object.entries(g.headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return {
      method: route.method,
      url,
      ...(Object.keys(hs).length ? { headers: hs } : {}),
      ...(g.body !== undefined ? { body: g.body } : {}),
    };
  });
}

const STABLE = /^[A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+)*$/;

forEachDialect('fuzzing every route', (dialect) => {
  let t: TestApp;
  let q: FamilyRequester;
  let a: SeededProject;
  let fleet: SeededFleet;
  let routes: ApiRoute[];
  before(async () => {
    const loose = { max: 1_000_000, windowMs: 60_000 };
    t = await startApp(
      dialect,
      {},
      { rateLimits: { ...DEFAULT_RATE_LIMITS, perAddress: loose, perCredential: loose, failedAuth: loose } },
    );
    q = new FamilyRequester(t.app);
    await seedCatalog(t);
    a = await seedProject(t, 'acme');
    fleet = await seedFleet(t, a);
    routes = apiRoutes(t.app);
    // From here on the requests are the only writers: a table that changed, changed because of one.
    await stopBackground(t);
  });
  after(() => t.close());

  it('the routes fuzzed cover every family and every native resource', () => {
    for (const family of FAMILIES) {
      assert.ok(routes.filter((r) => r.family === family).length > 0, `no route of the ${family} family is fuzzed`);
    }
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const must of [
      'POST /v1/projects/:project/batches',
      'POST /v1/projects/:project/webhooks',
      'GET /v1/estimates',
      'GET /v1/executors',
      'DELETE /v1/projects/:project/access-keys/:accessKey',
      'GET /v1/projects/:project/events',
      'POST /api/v1/ob/upgrade',
      'POST /v3/:project_id/instances/database-version/upgrade',
    ]) {
      assert.ok(paths.includes(must), `${must} is fuzzed`);
    }
    assert.ok(routes.length > 60, `${routes.length} routes`);
    // The router's list (parsed from printRoutes) misses no documented operation.
    const doc = t.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    assert.deepEqual(
      documented.filter((op) => !paths.includes(op)),
      [],
    );
  });

  it('the store digest sees a write (its oracle can fail)', async () => {
    const before = await storeDigest(t.ctx);
    assert.deepEqual(changedTables(before, await storeDigest(t.ctx)), []);
    const res = await t.call('PATCH', `/v1/projects/${a.projectId}/targets/${fleet.batchTarget}`, { name: 'renamed' });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(changedTables(before, await storeDigest(t.ctx)), ['events', 'targets']);
  });

  it('no 5xx, the family envelope with a stable code, and no change from a refused write', async (tc) => {
    let known: StoreDigest | null = null;
    /**
     * The store once the work a successful write may leave running in this process has landed:
     * a precheck answers at once and records its findings later (the only such work here).
     */
    const settled = async (): Promise<StoreDigest> => {
      await until(
        async () => {
          const running = await t.ctx.store.db
            .selectFrom('precheck_reports')
            .select('id')
            .where('state', '=', 'running')
            .where('upgrade_id', 'is', null)
            .executeTakeFirst();
          return running === undefined;
        },
        'the prechecks that fuzzed requests started',
        3000,
      );
      return storeDigest(t.ctx);
    };
    const creds = (route: ApiRoute) => ({
      ...a,
      // The native routes outside a project take the admin token; the project's own, its token.
      token: route.family === 'native' && !route.params.includes('project') ? ADMIN_TOKEN : a.token,
    });
    let requests = 0;
    for (const route of routes) {
      await tc.test(`${route.method} ${route.path}`, async () => {
        const pool = poolFor(a, fleet, a.obshellPassword, route.method);
        await fc.assert(
          fc.asyncProperty(requestFor(route, pool), async (r) => {
            // Reads are not snapshotted: the refusals that must not write are the writes'.
            const write = r.method !== 'GET';
            const before = write ? (known ?? (await settled())) : null;
            if (!write) known = null;
            const res = await q.as(route.family, r, creds(route));
            requests++;
            const what = `${r.method} ${r.url.slice(0, 300)} ${JSON.stringify(r.headers ?? {})} ${typeof r.body === 'string' ? r.body.slice(0, 200) : JSON.stringify(r.body)?.slice(0, 200)}\n-> ${res.status} ${res.body.slice(0, 500)}`;
            assert.ok(res.status < 500, what);
            assert.equal(({} as Record<string, unknown>).polluted, undefined, `prototype polluted by ${what}`);
            if (res.status >= 400) {
              // inject resolves dot segments as a client would (`/v3/../jobs` is `/jobs`), then routes
              const family = familyOf(new URL(r.url, 'http://x').pathname);
              assert.ok(isFamilyErrorEnvelope(family, res), `not the ${family} envelope: ${what}`);
              const code = errorCodeOf(family, res);
              assert.ok(typeof code === 'string' && STABLE.test(code), `no stable code: ${what}`);
              if (family === 'native') assert.ok(code in ERROR_CATALOGUE, `${code} is not in the error catalogue: ${what}`);
              if (before) {
                const now = await storeDigest(t.ctx);
                assert.deepEqual(changedTables(before, now), [], `a refused write wrote: ${what}`);
                known = now;
              }
            } else if (write) {
              known = null;
              // Keep the fuzz's own OBShell password working if a request changed it.
              if (route.path.endsWith('/obshell-password')) {
                await t.call('PUT', `/v1/projects/${a.projectId}/targets/${a.ob}/obshell-password`, {
                  password: a.obshellPassword,
                });
              }
            }
          }),
          { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
        );
      });
    }
    assert.ok(requests >= routes.length * RUNS, `${requests} requests`);
  });
});
