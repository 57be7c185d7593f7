// Webhooks against real HTTP receivers on loopback: signatures checked by the test's own
// HMAC code, exactly the subscribed event types, retries with exponential backoff on an
// injected clock, and undelivered outbox rows delivered after a restart.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../src/domain/clock.ts';
import { buildApp } from '../../src/http/app.ts';
import { createContext } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { ensureAdminToken } from '../../src/service/tokens.ts';
import { ADMIN_TOKEN, forEachDialect, freshStore, seedSim, until, type StoreConfig, type TestApp } from '../helpers/harness.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver on a random loopback port; `answer` decides each response's status. */
// Receivers a failed test leaves open are closed at the end, so the file's process can exit.
const receivers = new Set<http.Server>();
after(() => {
  for (const s of receivers) {
    s.closeAllConnections();
    s.close();
  }
});

async function receiver(answer: (n: number) => number = () => 200) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(answer(got.length)).end('ok');
    });
  });
  receivers.add(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = () => {
    receivers.delete(server);
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { got, url: `http://127.0.0.1:${port}/hook`, port, close };
}

/** The test's own reading of `Liftgate-Signature: t=...,v1=...` (not the product's code). */
function signatureValid(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`, 'utf8').digest('hex');
  return expected === m[2];
}

async function boot(store: StoreConfig, clock: ManualClock, retry = {}): Promise<TestApp> {
  const ctx: AppContext = await createContext({
    ...store.config,
    executor: { pollMs: 20 },
    simTimeScale: 0,
    clock,
    webhooks: { baseDelayMs: 10_000, maxDelayMs: 3600_000, timeoutMs: 2000, ...retry },
  });
  await ensureAdminToken(ctx, ADMIN_TOKEN);
  const app: FastifyInstance = await buildApp(ctx);
  await app.ready();
  return {
    ctx,
    app,
    dataDir: store.dataDir,
    async call(method, url, body) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      return { status: res.statusCode, json: res.body ? JSON.parse(res.body) : null, headers: res.headers, body: res.body };
    },
    async close() {
      await app.close();
      await ctx.close();
    },
  };
}

forEachDialect('webhooks', (dialect) => {
  let store: StoreConfig;
  let t: TestApp;
  const clock = new ManualClock(new Date());
  before(async () => {
    store = await freshStore(dialect);
    t = await boot(store, clock);
    await seedSim(t, { target: 'wh-1' });
  });
  after(async () => {
    await t.close();
    await store.cleanup();
  });

  const upgrade = async (target: string) => {
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: target, toVersion: '7.10.3', mode: 'rolling' });
    assert.equal(res.status, 202, res.body);
    return until(async () => {
      const u = (await t.call('GET', `/v1/projects/acme/upgrades/${res.json.id}`)).json;
      return u.state === 'succeeded' ? u : null;
    }, 'upgrade to succeed');
  };

  test('create, list, get, delete; bad URLs and patterns are refused with a stable code', async () => {
    const bad = await t.call('POST', '/v1/projects/acme/webhooks', { url: 'ftp://x/y', events: ['upgrade.*'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'WEBHOOK_URL_NOT_ALLOWED');
    const pattern = await t.call('POST', '/v1/projects/acme/webhooks', { url: 'http://127.0.0.1:1/x', events: ['upgrade.**'] });
    assert.equal(pattern.status, 400);
    const created = await t.call('POST', '/v1/projects/acme/webhooks', { url: 'http://127.0.0.1:1/x', events: ['*'] });
    assert.equal(created.status, 201, created.body);
    assert.match(created.json.secret, /^whsec_/, 'a generated secret is shown once');
    const one = await t.call('GET', `/v1/projects/acme/webhooks/${created.json.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.secret, undefined, 'never shown again');
    assert.ok((await t.call('GET', '/v1/projects/acme/webhooks')).json.items.some((w: any) => w.id === created.json.id));
    assert.equal((await t.call('DELETE', `/v1/projects/acme/webhooks/${created.json.id}`)).status, 204);
    assert.equal((await t.call('GET', `/v1/projects/acme/webhooks/${created.json.id}`)).json.error.code, 'WEBHOOK_NOT_FOUND');
    assert.equal((await t.call('GET', '/v1/projects/nope/webhooks')).status, 404);
  });

  test('signed payloads of exactly the subscribed event types', async () => {
    const rx = await receiver();
    const secret = 'a-test-secret-of-enough-length';
    const all = await t.call('POST', '/v1/projects/acme/webhooks', { url: rx.url, events: ['upgrade.*'], secret });
    assert.equal(all.status, 201, all.body);
    const rx2 = await receiver();
    const done = await t.call('POST', '/v1/projects/acme/webhooks', { url: rx2.url, events: ['upgrade.succeeded'], secret });
    const u = await upgrade('wh-1');
    const events = (await t.call('GET', `/v1/projects/acme/events?upgrade=${u.id}&limit=1000`)).json;
    const list = (Array.isArray(events) ? events : events.items) as any[];
    const expected = list.filter((e) => e.type.startsWith('upgrade.')).map((e) => e.id);
    assert.ok(expected.length >= 3, 'created, started, succeeded at least');
    await until(async () => rx.got.length >= expected.length && rx2.got.length >= 1, 'deliveries', 2000);
    await new Promise((r) => setTimeout(r, 500)); // nothing more arrives
    assert.deepEqual(
      rx.got.map((g) => JSON.parse(g.body).id).sort((a, b) => a - b),
      expected.sort((a, b) => a - b),
    );
    for (const g of rx.got) {
      assert.ok(signatureValid(secret, g.headers['liftgate-signature'] as string, g.body), 'signature verifies');
      assert.ok(!signatureValid('another-secret-entirely', g.headers['liftgate-signature'] as string, g.body));
      assert.equal(g.headers['content-type'], 'application/json');
      assert.equal(g.headers['liftgate-event'], JSON.parse(g.body).type);
    }
    assert.deepEqual(
      rx2.got.map((g) => JSON.parse(g.body).type),
      ['upgrade.succeeded'],
    );
    const log = (await t.call('GET', `/v1/projects/acme/webhooks/${all.json.id}/deliveries`)).json;
    assert.equal(log.total, expected.length);
    assert.ok(log.items.every((d: any) => d.state === 'delivered' && d.attempts === 1 && d.log[0].status === 200));
    await t.call('DELETE', `/v1/projects/acme/webhooks/${all.json.id}`);
    await t.call('DELETE', `/v1/projects/acme/webhooks/${done.json.id}`);
    await rx.close();
    await rx2.close();
  });

  test('a failing receiver is retried with exponential backoff on the injected clock', async () => {
    const rx = await receiver((n) => (n <= 2 ? 500 : 204));
    const hook = await t.call('POST', '/v1/projects/acme/webhooks', {
      url: rx.url,
      events: ['upgrade.created'],
      secret: 'a-test-secret-of-enough-length',
    });
    await seedSim(t, { target: 'wh-2' });
    await upgrade('wh-2');
    const deliveries = async () => (await t.call('GET', `/v1/projects/acme/webhooks/${hook.json.id}/deliveries`)).json.items;
    let d = await until(async () => ((await deliveries())[0]?.attempts === 1 ? (await deliveries())[0] : null), 'first attempt');
    assert.equal(d.state, 'pending');
    assert.equal(Date.parse(d.nextAttemptAt) - Date.parse(d.log[0].at), 10_000, 'first retry after the base delay');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(rx.got.length, 1, 'no retry before the clock reaches it');
    clock.advance(10_000);
    d = await until(async () => ((await deliveries())[0]?.attempts === 2 ? (await deliveries())[0] : null), 'second attempt');
    assert.equal(Date.parse(d.nextAttemptAt) - Date.parse(d.log[1].at), 20_000, 'then twice as long');
    clock.advance(19_000);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(rx.got.length, 2, 'not before 20 s');
    clock.advance(1_000);
    d = await until(async () => ((await deliveries())[0]?.state === 'delivered' ? (await deliveries())[0] : null), 'delivered');
    assert.deepEqual(
      d.log.map((a: any) => a.status),
      [500, 500, 204],
    );
    assert.equal(rx.got.length, 3);
    assert.equal(new Set(rx.got.map((g) => g.headers['liftgate-delivery'])).size, 1, 'one delivery id across attempts');
    await t.call('DELETE', `/v1/projects/acme/webhooks/${hook.json.id}`);
    await rx.close();
  });

  test('retries stop once the retry period is over: the delivery is failed', async () => {
    const rx = await receiver(() => 503);
    await t.close();
    t = await boot(store, clock, { retryForMs: 25_000 });
    const hook = await t.call('POST', '/v1/projects/acme/webhooks', {
      url: rx.url,
      events: ['upgrade.created'],
      secret: 'a-test-secret-of-enough-length',
    });
    await seedSim(t, { target: 'wh-3' });
    await upgrade('wh-3');
    const first = async () => (await t.call('GET', `/v1/projects/acme/webhooks/${hook.json.id}/deliveries`)).json.items[0];
    await until(async () => (await first())?.attempts === 1, 'first attempt');
    clock.advance(10_000); // retry 1 at +10 s; the next would be at +30 s, past the 25 s period
    const d = await until(async () => ((await first())?.state === 'failed' ? first() : null), 'given up');
    assert.equal(d.attempts, 2);
    assert.equal(d.lastStatus, 503);
    await t.call('DELETE', `/v1/projects/acme/webhooks/${hook.json.id}`);
    await rx.close();
  });

  test('undelivered rows survive a restart and are delivered after it', async () => {
    // a receiver that is down: the port is taken then released, so connections are refused
    const probe = await receiver();
    const url = probe.url;
    await probe.close();
    const secret = 'a-test-secret-of-enough-length';
    const hook = await t.call('POST', '/v1/projects/acme/webhooks', { url, events: ['upgrade.*'], secret });
    await seedSim(t, { target: 'wh-4' });
    const u = await upgrade('wh-4');
    const pending = async () =>
      (await t.call('GET', `/v1/projects/acme/webhooks/${hook.json.id}/deliveries?state=pending`)).json.items as any[];
    await until(async () => {
      const p = await pending();
      return p.length >= 3 && p.every((d) => d.attempts >= 1);
    }, 'failed first attempts');
    await t.close();
    // the receiver comes back on the same port while the server is down
    const got: Received[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(probe.port, '127.0.0.1', r));
    t = await boot(store, clock);
    clock.advance(10_000);
    const events = (await t.call('GET', `/v1/projects/acme/events?upgrade=${u.id}&limit=1000`)).json;
    const list = (Array.isArray(events) ? events : events.items) as any[];
    const expected = list
      .filter((e) => e.type.startsWith('upgrade.'))
      .map((e) => e.id)
      .sort((a, b) => a - b);
    await until(async () => got.length >= expected.length, 'deliveries after the restart');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      got.map((g) => JSON.parse(g.body).id).sort((a, b) => a - b),
      expected,
      'each once',
    );
    assert.ok(got.every((g) => signatureValid(secret, g.headers['liftgate-signature'] as string, g.body)));
    await new Promise<void>((r) => server.close(() => r()));
  });
});
