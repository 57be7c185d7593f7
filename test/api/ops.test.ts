// OpenAPI, docs, health, metrics and the event stream.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

forEachDialect('operations endpoints', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
  });
  after(async () => t.close());

  test('openapi.json is generated from the route schemas and /docs serves it', async () => {
    const res = await t.app.inject({ url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = JSON.parse(res.body);
    assert.equal(doc.openapi.slice(0, 2), '3.');
    assert.ok(doc.paths['/v1/projects/{project}/upgrades']?.post?.requestBody, 'upgrade creation is documented with its body');
    assert.ok(doc.paths['/v1/projects/{project}/upgrades/{upgrade}/actions']);
    const got = doc.paths['/v1/projects/{project}/upgrades/{upgrade}'].get.responses;
    assert.ok(got['200'].content['application/json'].schema.properties.stages, 'the upgrade DAG response is documented');
    // every 4xx and 5xx answers in the error envelope
    assert.ok(got['4XX'].content['application/json'].schema.properties.error, 'error responses are documented');
    assert.ok(got['5XX'].content['application/json'].schema.properties.error);
    // every native operation documents its success answer
    const undocumented = Object.entries(doc.paths as Record<string, Record<string, { responses?: Record<string, unknown> }>>)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ at: `${method} ${path}`, op })))
      .filter(({ op }) => !Object.keys(op.responses ?? {}).some((s) => s.startsWith('2')))
      .map(({ at }) => at);
    assert.deepEqual(undocumented, []);
    const docs = await t.app.inject({ url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });

  test('healthz and metrics', async () => {
    const h = await t.app.inject({ url: '/healthz' });
    assert.deepEqual(JSON.parse(h.body), { status: 'ok', store: dialect });
    await seedSim(t, { target: 'm-1' });
    const u = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'm-1', toVersion: '7.10.3' });
    await until(
      async () => (await t.call('GET', `/v1/projects/acme/upgrades/${u.json.id}`)).json.state === 'succeeded',
      'upgrade',
    );
    const m = await t.app.inject({ url: '/metrics' });
    assert.equal(m.statusCode, 200);
    assert.match(m.body, /liftgate_upgrades\{state="succeeded"\} 1/);
    assert.match(m.body, /liftgate_step_transitions_total \d+/);
    const n = Number(/liftgate_step_transitions_total (\d+)/.exec(m.body)?.[1]);
    assert.ok(n >= 40, `transitions counted: ${n}`);
  });

  test('events as JSON and as a Server-Sent Events stream that resumes from Last-Event-ID', async () => {
    const list = await t.call('GET', '/v1/projects/acme/events?limit=5');
    assert.equal(list.json.items.length, 5);
    const third = list.json.items[2].id;
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as { port: number }).port;
    const got = await new Promise<string>((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/projects/acme/events',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'text/event-stream', 'last-event-id': String(third) },
        },
        (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
          let buf = '';
          res.on('data', (d) => {
            buf += d;
            if (buf.includes('event: upgrade.succeeded')) {
              req.destroy();
              resolve(buf);
            }
          });
        },
      );
      req.on('error', reject);
    });
    const ids = [...got.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(ids[0], third + 1);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]));
  });
});
