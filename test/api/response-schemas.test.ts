// Every native route's answers against the response schema it declares. The app is the real one
// (store, executor, HTTP); a hook on every route records the payload its handler (or error
// handler) hands to the serializer, before serialization, and checks it with a strict validator:
// an object may hold only the fields its schema names (unless the schema opens it with a record
// or additionalProperties), so a field a schema omits, which the serializer would silently drop,
// fails here, as does a value of the wrong type or outside its enum. The answer as written (after
// the serializer) must then say exactly what the handler answered.
//
// Coverage: every /v1 route the app has must be called here at least once (and every answer it
// gave must have a schema for its status); a new route without a case fails the last test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { RouteOptions } from 'fastify';
import { forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

type Validate = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string; params?: unknown }[] | null;
};

/** Routes whose answers are not checked here, and why (none today; the SSE stream is a mode of GET .../events). */
const NOT_CHECKED = new Map<string, string>();

const compile = AjvCompiler()(
  {},
  // nothing may change the payload under test: no defaults filled, no fields removed, no coercion
  { customOptions: { allErrors: true, removeAdditional: false, useDefaults: false, coerceTypes: false, strict: false } },
);

/** The schema with every object closed that does not say otherwise (additionalProperties: false). */
export function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = strict(v);
  if (out.type === 'object' && out.properties && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

export function compileStrict(schema: unknown, url = '/check'): Validate {
  const clone = strict(JSON.parse(JSON.stringify(schema)));
  return compile({ schema: clone as object, method: 'GET', url, httpPart: 'body' }) as Validate;
}

/** The schema fastify's serializer picks for a status: the code, then 2xx/4xx/5xx, then default. */
function schemaFor(response: Record<string, unknown>, status: number): unknown {
  return response[String(status)] ?? response[`${String(status)[0]}xx`] ?? response.default;
}

interface Answer {
  route: string;
  status: number;
  problems: string[];
}

interface Recorder {
  routes: Map<string, Record<string, unknown> | undefined>;
  called: Set<string>;
  answers: Answer[];
  onRoute(route: RouteOptions): void;
}

function recorder(): Recorder {
  const routes = new Map<string, Record<string, unknown> | undefined>();
  const called = new Set<string>();
  const answers: Answer[] = [];
  const validators = new Map<string, Validate>();
  // what each handler answered, as JSON: the written answer must say exactly that
  const handed = new WeakMap<object, unknown>();
  const toArray = <T>(h: T | T[] | undefined): T[] => (h === undefined ? [] : Array.isArray(h) ? h : [h]);
  return {
    routes,
    called,
    answers,
    onRoute(route) {
      if (!route.url.startsWith('/v1/') || route.method === 'HEAD') return;
      const key = `${String(route.method)} ${route.url}`;
      const response = route.schema?.response as Record<string, unknown> | undefined;
      routes.set(key, response);
      route.onResponse = [
        ...toArray(route.onResponse),
        async () => {
          called.add(key);
        },
      ] as RouteOptions['onResponse'];
      route.preSerialization = [
        ...toArray(route.preSerialization),
        async (req: object, reply: { statusCode: number }, payload: unknown) => {
          const status = reply.statusCode;
          handed.set(req, JSON.parse(JSON.stringify(payload)));
          const schema = response ? schemaFor(response, status) : undefined;
          if (!schema) {
            answers.push({ route: key, status, problems: [`no response schema for status ${status}`] });
            return payload;
          }
          const vkey = `${key} ${status}`;
          let validate = validators.get(vkey);
          if (!validate) {
            validate = compileStrict(schema, route.url);
            validators.set(vkey, validate);
          }
          const ok = validate(payload);
          answers.push({
            route: key,
            status,
            problems: ok
              ? []
              : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`),
          });
          return payload;
        },
      ] as RouteOptions['preSerialization'];
      route.onSend = [
        ...toArray(route.onSend),
        async (req: object, reply: { statusCode: number; getHeader(n: string): unknown }, payload: unknown) => {
          const sent = handed.get(req);
          const json = String(reply.getHeader('content-type') ?? '').startsWith('application/json');
          if (sent !== undefined && json && typeof payload === 'string' && !isDeepStrictEqual(JSON.parse(payload), sent)) {
            answers.push({
              route: key,
              status: reply.statusCode,
              problems: [`written as ${payload}, answered ${JSON.stringify(sent)}`],
            });
          }
          return payload;
        },
      ] as RouteOptions['onSend'];
    },
  };
}

test('the strict check fails an answer with a field its schema omits, or a value of the wrong type', async () => {
  const { UpgradeOut } = await import('../../src/api/upgrade-shapes.ts');
  const validate = compileStrict(UpgradeOut);
  const good = {
    id: '5f0c6f1e-7a7e-4a53-9a53-7f4f7e0b7c11',
    targetId: 't',
    fromEngine: null,
    toEngine: null,
    fromVersion: '1',
    toVersion: '2',
    release: '',
    mode: 'rolling',
    state: 'running',
    allowedActions: ['pause'],
    currentStage: 0,
    stageCount: 3,
    hops: [],
    force: false,
    schedule: { kind: 'now' },
    notBefore: null,
    batchId: null,
    waveIndex: null,
    pendingReason: null,
    hold: null,
    runUntil: null,
    precheckReportId: null,
    error: null,
    errorCode: null,
    retries: 0,
    createdBy: 'admin',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    endedAt: null,
  };
  assert.equal(validate(good), true, JSON.stringify(validate.errors));
  assert.equal(validate({ ...good, secretField: 1 }), false);
  assert.match(JSON.stringify(validate.errors), /additional properties/);
  assert.equal(validate({ ...good, currentStage: 'zero' }), false);
  assert.equal(validate({ ...good, state: 'exploded' }), false);
  assert.equal(validate({ ...good, schedule: { kind: 'now', extra: true } }), false);
});

forEachDialect('native API answers match their schemas', (dialect) => {
  let t: TestApp;
  const rec = recorder();
  before(async () => {
    t = await startApp(dialect, { webhooks: { allowedHosts: ['127.0.0.1'] } }, { onRoute: rec.onRoute });
  });
  after(async () => t?.close());

  const ok = async (method: string, url: string, body?: unknown, headers?: Record<string, string>) => {
    const res = await t.call(method, url, body, headers);
    assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${res.body}`);
    return res.json;
  };

  test('every route, on success and on error', async () => {
    const P = '/v1/projects/acme';
    await seedSim(t, { target: 'es-1' });
    await seedSim(t, { target: 'es-2' });
    await seedSim(t, { target: 'es-3' });
    await ok('GET', '/v1/projects');
    await ok('GET', P);
    await ok('GET', '/v1/catalog/elasticsearch/versions');
    await ok('GET', '/v1/catalog/versions?fromEngine=elasticsearch');
    await ok('GET', `${P}/targets?label=env=prod`);
    await ok('PATCH', `${P}/targets/es-1`, {
      labels: { env: 'prod' },
      maintenanceWindow: { days: ['sat'], start: '02:00', durationMinutes: 120, timeZone: 'Asia/Shanghai' },
      maintenanceExclusions: [{ from: '2030-01-01T00:00:00Z', to: '2030-01-02T00:00:00Z', reason: 'freeze' }],
    });
    await ok('PATCH', `${P}/targets/es-2`, { maintenanceWindow: { start: '22:00', end: '02:00' } });
    await ok('GET', `${P}/targets`);
    await ok('GET', `${P}/targets/es-1`);
    await ok('POST', `${P}/targets/es-3/faults`, { step: 'install', kind: 'fail', node: 'es-3-2', transient: true });
    await ok('POST', `${P}/targets/es-3/faults`, {
      step: 'verify',
      kind: 'regress',
      sli: 'failed_connections',
      value: 3,
      times: 1,
    });

    // prechecks
    const report = await ok('POST', `${P}/targets/es-1/prechecks`, { toVersion: '7.10.3', wait: true });
    await ok('GET', `${P}/targets/es-1/prechecks`);
    await ok('GET', `${P}/prechecks/${report.id}`);

    // upgrades: one to its end, one that fails and is acted on
    const done = await ok('POST', `${P}/upgrades`, { targetId: 'es-1', toVersion: '7.10.3' });
    await until(async () => (await t.call('GET', `${P}/upgrades/${done.id}`)).json.state === 'succeeded', 'upgrade succeeds');
    const failing = await ok('POST', `${P}/upgrades`, {
      targetId: 'es-3',
      toVersion: '7.10.3',
      options: { retry: { attempts: 1 } },
    });
    await until(async () => (await t.call('GET', `${P}/upgrades/${failing.id}`)).json.state === 'failed', 'upgrade fails');
    await ok('GET', `${P}/upgrades/${failing.id}`);
    await ok('POST', `${P}/upgrades/${failing.id}/actions`, { action: 'cancel' });
    await until(async () => (await t.call('GET', `${P}/upgrades/${failing.id}`)).json.state === 'cancelled', 'upgrade cancelled');
    await ok('GET', `${P}/upgrades/${failing.id}`);
    await ok('GET', `${P}/upgrades?state=succeeded,cancelled`);

    // batches: the preview of one, then the batch
    await ok('POST', `${P}/batches/preview`, {
      name: 'b1',
      targetIds: ['es-2'],
      toVersion: '7.10.3',
      waves: [{ name: 'all', targets: '100%', approval: true }],
    });
    const batch = await ok('POST', `${P}/batches`, {
      name: 'b1',
      targetIds: ['es-2'],
      toVersion: '7.10.3',
      schedule: { kind: 'at', at: '2099-01-01T00:00:00Z' },
      waves: [
        {
          name: 'all',
          targets: '100%',
          approval: true,
          bakeMinutes: 5,
          analysis: [
            { name: 'lag', sli: 'replication_lag_seconds', max: 5 },
            { name: 'errors', prometheus: { url: 'http://127.0.0.1:9', query: 'up', min: 1 }, onError: 'fail' },
          ],
        },
      ],
    });
    await ok('GET', `${P}/batches`);
    await ok('GET', `${P}/batches/${batch.id}`);
    await ok('GET', `${P}/batches/${batch.id}/upgrades`);
    await ok('POST', `${P}/batches/${batch.id}/actions`, { action: 'cancel' });

    // events, executors, estimates
    await ok('GET', `${P}/events?limit=50`);
    await ok('GET', '/v1/executors');
    await ok('GET', '/v1/estimates');

    // credentials
    await ok('GET', '/v1/whoami');
    const token = await ok('POST', `${P}/tokens`, { name: 'ci', role: 'viewer' });
    await ok('GET', `${P}/tokens`);
    await ok('GET', `${P}/tokens/${token.id}`);
    // a viewer: its own whoami, and a refusal (403) of a change
    await ok('GET', '/v1/whoami', undefined, { authorization: `Bearer ${token.token}` });
    const refused = await t.call(
      'POST',
      `${P}/upgrades`,
      { targetId: 'es-2', toVersion: '7.10.3' },
      {
        authorization: `Bearer ${token.token}`,
      },
    );
    assert.equal(refused.status, 403);
    await ok('DELETE', `${P}/tokens/${token.id}`);
    const key = await ok('POST', `${P}/access-keys`, { name: 'sdk' });
    await ok('GET', `${P}/access-keys`);
    await ok('GET', `${P}/access-keys/${key.id}`);
    await ok('DELETE', `${P}/access-keys/${key.id}`);
    await ok('PUT', `${P}/targets/es-2/obshell-password`, { password: 'Correct-Horse-Battery-9' });

    // admin tokens and the events of no project
    const admin = await ok('POST', '/v1/admin-tokens', { name: 'second' });
    await ok('GET', '/v1/admin-tokens');
    await ok('POST', `/v1/admin-tokens/${admin.id}/rotate`, { expiresAt: '2099-01-01T00:00:00Z' });
    await ok('DELETE', `/v1/admin-tokens/${admin.id}`);
    await ok('GET', '/v1/system/events');

    // webhooks
    const hook = await ok('POST', `${P}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['upgrade.*'] });
    await ok('GET', `${P}/webhooks`);
    await ok('GET', `${P}/webhooks/${hook.id}`);
    await ok('GET', `${P}/webhooks/${hook.id}/deliveries`);
    await ok('DELETE', `${P}/webhooks/${hook.id}`);

    // projects and catalog writes, then errors in the envelope
    await ok('POST', '/v1/projects', { id: 'other', name: 'Other' });
    await ok('POST', '/v1/catalog/redis/versions', { version: '7.2.4' });
    await ok('DELETE', `${P}/targets/es-2`);
    for (const [method, url, body] of [
      ['GET', `${P}/targets/nope`],
      ['POST', `${P}/upgrades`, { targetId: 'es-1', mode: 'fast', nope: 1 }],
      ['GET', `${P}/upgrades/00000000-0000-4000-8000-000000000000`],
      ['POST', '/v1/projects', { id: 'acme' }],
    ] as [string, string, unknown?][]) {
      const res = await t.call(method, url, body);
      assert.ok(res.status >= 400 && res.status < 500, `${method} ${url}: ${res.status}`);
    }

    const bad = rec.answers.filter((a) => a.problems.length);
    assert.deepEqual(
      bad.map((a) => `${a.route} -> ${a.status}: ${a.problems.join('; ')}`),
      [],
      'answers that their route\u2019s schema does not describe',
    );
    assert.ok(rec.answers.some((a) => a.status === 403));
    assert.ok(rec.answers.some((a) => a.status === 400));
  });

  test('every native route was called and declares its answers', () => {
    assert.ok(rec.routes.size > 40, `only ${rec.routes.size} native routes seen`);
    const missing = [...rec.routes.keys()].filter((k) => !rec.called.has(k) && !NOT_CHECKED.has(k));
    assert.deepEqual(missing, [], 'native routes no case here calls: add one');
    const undeclared = [...rec.routes.entries()]
      .filter(([k, response]) => !NOT_CHECKED.has(k) && (!response || !Object.keys(response).some((s) => s.startsWith('2'))))
      .map(([k]) => k);
    assert.deepEqual(undeclared, [], 'native routes without a success response schema');
  });
});
