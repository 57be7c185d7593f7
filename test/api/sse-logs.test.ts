// Event streams start from now unless history is asked for, send heartbeats, are capped per
// credential and end when the server closes; request logs are structured and a 500 quotes the
// request id that its log lines carry.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { forEachDialect, seedSim, startApp, ADMIN_TOKEN, type TestApp } from '../helpers/harness.ts';

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** resolves with everything received once `until` matches (or the stream ends) */
  read(until: RegExp): Promise<string>;
  ended: Promise<void>;
  close(): void;
}

function open(port: number, path: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'text/event-stream', ...headers },
      },
      (res) => {
        let buf = '';
        const waiters: { re: RegExp; done: (s: string) => void }[] = [];
        const ended = new Promise<void>((r) => res.on('close', () => r()));
        res.on('data', (d) => {
          buf += d;
          for (const w of [...waiters]) {
            if (!w.re.test(buf)) continue;
            waiters.splice(waiters.indexOf(w), 1);
            w.done(buf);
          }
        });
        res.on('close', () => waiters.splice(0).forEach((w) => w.done(buf)));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          read: (re) => (re.test(buf) ? Promise.resolve(buf) : new Promise((done) => waiters.push({ re, done }))),
          ended,
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
  });
}

const ids = (s: string) => [...s.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

forEachDialect('event streams', (dialect) => {
  let t: TestApp;
  let port: number;
  before(async () => {
    process.env.LIFTGATE_SSE_HEARTBEAT_MS = '50';
    process.env.LIFTGATE_SSE_MAX_STREAMS = '2';
    t = await startApp(dialect);
    delete process.env.LIFTGATE_SSE_HEARTBEAT_MS;
    delete process.env.LIFTGATE_SSE_MAX_STREAMS;
    await seedSim(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
  });
  after(() => t.close());

  const newTarget = (id: string) =>
    t.call('POST', '/v1/projects/acme/targets', {
      id,
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      nodes: [{ name: 'n' }],
    });

  test('a live stream says what runs now: every step is seen starting before it ends', async () => {
    await seedSim(t, { target: 'running-now' });
    const s = await open(port, '/v1/projects/acme/events');
    try {
      const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'running-now', toVersion: '7.10.3' });
      assert.equal(res.status, 202, res.body);
      const id = res.json.id as string;
      const text = await s.read(new RegExp(`^data: (?=.*"upgrade\\.succeeded")(?=.*${id}).*$`, 'm'));
      const events = [...text.matchAll(/^data: (.*)$/gm)]
        .map((m) => JSON.parse(m[1]!) as { type: string; upgradeId: string | null; stepId: string | null; actor: string })
        .filter((e) => e.upgradeId === id);
      const ended = events.filter((e) => e.type === 'step.succeeded');
      assert.ok(ended.length >= 10, `${ended.length} steps ended`);
      for (const e of ended) {
        const i = events.indexOf(e);
        const began = events.findIndex((x) => x.type === 'step.started' && x.stepId === e.stepId);
        assert.ok(began >= 0 && began < i, `step ${e.stepId} was seen starting before it ended`);
      }
      assert.ok(events.some((e) => e.type === 'stage.started') && events.some((e) => e.type === 'stage.succeeded'));
    } finally {
      s.close();
    }
  });

  test('a stream starts from now; since=<time> and Last-Event-ID replay history', async () => {
    const history = (await t.call('GET', '/v1/projects/acme/events?limit=1000')).json.items as { id: number }[];
    assert.ok(history.length > 0);
    const newest = Math.max(...history.map((e) => e.id));
    const live = await open(port, '/v1/projects/acme/events');
    assert.equal(live.status, 200);
    await live.read(/retry: 2000/);
    assert.equal((await newTarget('live-1')).status, 201);
    const got = ids(await live.read(/^id: \d+$/m));
    live.close();
    assert.ok(got.length > 0 && got.every((id) => id > newest), `only new events: ${got.join(',')} after ${newest}`);

    const all = await open(port, '/v1/projects/acme/events?since=1970-01-01T00:00:00Z');
    const replay = ids(await all.read(new RegExp(`^id: ${newest}$`, 'm')));
    all.close();
    assert.equal(replay[0], Math.min(...history.map((e) => e.id)));
    const resumed = await open(port, '/v1/projects/acme/events', { 'last-event-id': String(newest - 1) });
    const next = ids(await resumed.read(/^id: \d+$/m));
    resumed.close();
    assert.equal(next[0], newest);
  });

  test('heartbeats keep an idle stream alive; streams are capped per credential; closing the server ends them', async () => {
    const a = await open(port, '/v1/projects/acme/events');
    assert.match(await a.read(/: heartbeat/), /: heartbeat\n\n/);
    const b = await open(port, '/v1/projects/acme/events');
    assert.equal(b.status, 200);
    const c = await open(port, '/v1/projects/acme/events');
    assert.equal(c.status, 429);
    assert.equal(c.headers['retry-after'], '5');
    const body = JSON.parse(await c.read(/\}\s*$/));
    assert.equal(body.error.code, 'RATE_LIMITED');
    // another credential has its own allowance
    const tok = (await t.call('POST', '/v1/projects/acme/tokens', { role: 'viewer' })).json.token;
    const d = await open(port, '/v1/projects/acme/events', { authorization: `Bearer ${tok}` });
    assert.equal(d.status, 200);
    // a closed stream gives its place back
    b.close();
    await b.ended;
    const again = await (async () => {
      for (;;) {
        const s = await open(port, '/v1/projects/acme/events');
        if (s.status === 200) return s;
        s.close();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await t.app.close();
    await Promise.all([a.ended, d.ended, again.ended]);
  });
});

forEachDialect('request logs', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
  });
  after(() => t.close());

  test('structured lines carry the request id, which a 500 body quotes', async () => {
    const lines: string[] = [];
    const app = await buildApp(t.ctx, { logger: 'info', logStream: { write: (l) => lines.push(l) } });
    app.get('/v1-test/boom', async () => {
      throw new Error('kaboom in a handler');
    });
    await app.ready();
    try {
      const ok = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(ok.statusCode, 200);
      const okId = ok.headers['x-request-id'] as string;
      assert.ok(okId);
      const okLines = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === okId);
      assert.ok(okLines.some((l) => l.req?.url === '/healthz'));
      assert.ok(okLines.some((l) => l.res?.statusCode === 200 && typeof l.responseTime === 'number'));

      const res = await app.inject({ method: 'GET', url: '/v1-test/boom', headers: { authorization: 'Bearer secret-value' } });
      assert.equal(res.statusCode, 500);
      const id = res.headers['x-request-id'] as string;
      const body = JSON.parse(res.body);
      assert.equal(body.error.code, 'INTERNAL');
      assert.ok(body.error.message.includes(id), body.error.message);
      assert.equal(body.error.details.requestId, id);
      assert.doesNotMatch(res.body, /kaboom/);
      const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === id);
      assert.ok(logged.some((l) => l.level === 50 && /kaboom in a handler/.test(l.err?.stack ?? '')));
      assert.ok(!lines.join('\n').includes('secret-value'), 'the Authorization header is redacted');
    } finally {
      await app.close();
    }
  });
});
