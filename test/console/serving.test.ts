// How the server serves the console and the API additions it reads: its pages (with a CSP), its
// routes answering with index.html, hashed assets cached for good, a clear page when the console
// is not built; events newest first with paging back; the actions an upgrade allows.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-console-dist-'));
let t: TestApp;

before(async () => {
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console index</title>');
  fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  t = await startApp('sqlite');
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the console is served at / and at its own routes, API paths are untouched', async () => {
  const app = await buildApp(t.ctx, { consoleDir: dir });
  try {
    for (const url of ['/', '/login', '/projects/acme', '/projects/acme/upgrades/x']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.body, /console index/);
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
      assert.equal(res.headers['cache-control'], 'no-cache');
    }
    const js = await app.inject({ url: '/assets/index-abc123.js' });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ url: '/favicon.svg' })).statusCode, 200);
    const api = await app.inject({ url: '/v1/projects' });
    assert.equal(api.statusCode, 401, 'the API still wants a token');
    const missing = await app.inject({ url: '/nothing-here' });
    assert.equal(missing.statusCode, 404);
    assert.equal(JSON.parse(missing.body).error.code, 'ROUTE_NOT_FOUND');
  } finally {
    await app.close();
  }
});

test('an unbuilt console answers with a page that says how to build it', async () => {
  const app = await buildApp(t.ctx, { consoleDir: path.join(dir, 'absent') });
  try {
    const res = await app.inject({ url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /npm run build:console/);
  } finally {
    await app.close();
  }
});

test('events newest first, paged back with before; upgrades list the actions their state allows', async () => {
  await seedSim(t, { target: 'c-1' });
  const u = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'c-1', toVersion: '7.10.3' });
  assert.equal(u.json.state, 'ready');
  assert.deepEqual(u.json.allowedActions, ['pause', 'cancel'], 'an upgrade not yet started can be paused or cancelled');
  await until(async () => (await t.call('GET', `/v1/projects/acme/upgrades/${u.json.id}`)).json.state === 'succeeded', 'upgrade');
  const done = await t.call('GET', `/v1/projects/acme/upgrades/${u.json.id}`);
  assert.deepEqual(done.json.allowedActions, []);

  const asc = (await t.call('GET', '/v1/projects/acme/events?limit=1000')).json.items.map((e: any) => e.id);
  assert.ok(asc.length > 10);
  const page1 = (await t.call('GET', '/v1/projects/acme/events?order=desc&limit=5')).json.items.map((e: any) => e.id);
  assert.deepEqual(page1, asc.slice(-5).reverse());
  const page2 = (await t.call('GET', `/v1/projects/acme/events?order=desc&limit=5&before=${page1[4]}`)).json.items.map(
    (e: any) => e.id,
  );
  assert.deepEqual(page2, asc.slice(-10, -5).reverse());
});
