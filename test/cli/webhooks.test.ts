// `liftgate webhook ...` as an operator runs it: the compiled CLI against a real `liftgate serve`
// process, with a real HTTP receiver on loopback. A webhook created by the CLI (its generated
// secret printed once) receives the events of an upgrade, and each delivery is verified with the
// recipe of docs/fleet.md ("Verifying a signature") written here with node:crypto alone, not the
// product's signing code. A webhook whose receiver is down shows its failing delivery in `list`,
// `show` and `deliveries --state pending`; `delete` removes it.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { buildCli, runCli } from '../helpers/cli.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { freePort, killAll, SERVER_TOKEN, startServer, type Server } from '../helpers/servers.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

let store: StoreConfig;
let server: Server;
let build: Awaited<ReturnType<typeof buildCli>>;
let receiver: http.Server;
const got: Received[] = [];

before(async () => {
  build = await buildCli();
  store = await freshStore('sqlite');
  server = await startServer(store);
  receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  await server.waitUp();
  const ok = (r: { status: number; json: any }) => assert.ok(r.status < 300, JSON.stringify(r.json));
  ok(await server.api('POST', '/v1/projects', { id: 'ops', name: 'ops' }));
  for (const v of ['7.10.2', '7.10.3']) {
    ok(await server.api('POST', '/v1/catalog/elasticsearch/versions', { version: v, release: `r${v}`, priority: 1 }));
  }
  ok(
    await server.api('POST', '/v1/projects/ops/targets', {
      id: 'hook-es',
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      driver: 'sim',
      nodes: [
        { name: 'hook-es-1', role: 'leader', zone: 'az1' },
        { name: 'hook-es-2', role: 'follower', zone: 'az2' },
      ],
    }),
  );
});
after(async () => {
  killAll([server]);
  await server.ended();
  receiver.closeAllConnections();
  receiver.close();
  await store.cleanup();
  build.cleanup();
});

const cli = (...args: string[]) =>
  runCli(build.main, ['--url', `http://127.0.0.1:${server.port}`, '--token', SERVER_TOKEN, '--project', 'ops', ...args]);
const json = async (...args: string[]) => {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

/**
 * The documented recipe, step by step: read t and v1 from Liftgate-Signature, refuse a timestamp
 * more than 5 minutes from now, HMAC-SHA256 the text "<t>.<raw body>" with the secret, and
 * compare the hex digests in constant time.
 */
function verifyDelivery(secret: string, header: string | undefined, rawBody: string, nowSeconds: number): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
  const given = Buffer.from(String(parts.v1 ?? ''), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

test('create prints the secret once; every delivery verifies with the documented recipe; list and show say how the last went', async () => {
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const created = await cli('webhook', 'create', url, '--events', 'upgrade.*', 'batch.succeeded');
  assert.equal(created.code, 0, created.stderr);
  const m = /^webhook (wh-\S+) created: upgrade\.\*, batch\.succeeded -> (\S+)\n.*shown only now.*\n(\S{16,})$/m.exec(
    created.stdout,
  );
  assert.ok(m, created.stdout);
  const [, id, shownUrl, secret] = m;
  assert.equal(shownUrl, url);

  const listed = await json('webhook', 'list');
  assert.deepEqual(
    listed.items.map((h: { id: string; events: string[] }) => [h.id, h.events]),
    [[id, ['upgrade.*', 'batch.succeeded']]],
  );
  assert.ok(!JSON.stringify(listed).includes(secret), 'a list never shows the secret');
  assert.equal(listed.items[0].lastDelivery, null);

  const started = await json('upgrade', 'start', 'hook-es', '7.10.3');
  await until(async () => got.some((g) => g.headers['liftgate-event'] === 'upgrade.succeeded'), 'the upgrade.succeeded delivery');
  const now = Math.floor(Date.now() / 1000);
  for (const g of got) {
    assert.ok(
      verifyDelivery(secret, g.headers['liftgate-signature'] as string, g.body, now),
      `${g.headers['liftgate-event']} verifies`,
    );
    assert.ok(!verifyDelivery(`${secret}x`, g.headers['liftgate-signature'] as string, g.body, now), 'another secret does not');
    assert.ok(!verifyDelivery(secret, g.headers['liftgate-signature'] as string, `${g.body} `, now), 'a changed body does not');
    assert.ok(
      !verifyDelivery(secret, g.headers['liftgate-signature'] as string, g.body, now + 3600),
      'an hour-old delivery is refused as a replay',
    );
    const event = JSON.parse(g.body);
    assert.deepEqual([event.upgradeId, event.webhookId, event.type], [started.id, id, g.headers['liftgate-event']]);
  }

  // the receiver answered 204 to each: the last delivery shows it, in the table and in JSON
  await until(async () => (await json('webhook', 'show', id.slice(3, 11))).lastDelivery?.state === 'delivered', 'delivered');
  const table = await cli('webhook', 'list');
  assert.match(table.stdout, /^WEBHOOK\s+URL\s+EVENTS\s+LAST DELIVERY\s+AT\s+CREATED BY$/m);
  assert.match(
    table.stdout,
    new RegExp(
      `^${id}\\s+${url}\\s+upgrade\\.\\*,batch\\.succeeded\\s+delivered \\(204\\)\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\s+`,
      'm',
    ),
  );
  const shown = await cli('webhook', 'show', id);
  assert.match(shown.stdout, /^last delivery:\s+upgrade\.\S+: delivered \(204\), 1 attempt\(s\)$/m);
});

test('a receiver that is down: the pending delivery and its error in list, show and deliveries --state; delete', async () => {
  const down = `http://127.0.0.1:${await freePort()}/gone`;
  const hook = await json('webhook', 'create', down, '--events', 'upgrade.started', '--secret', 'a-secret-of-my-own-0123');
  assert.equal(hook.secret, undefined, 'a secret the user gave is not echoed back');
  // the first test left the target on 7.10.3
  await server.api('POST', '/v1/catalog/elasticsearch/versions', { version: '7.11.0', release: 'r7.11.0', priority: 1 });
  await json('upgrade', 'start', 'hook-es', '7.11.0');
  const pending = await until(async () => {
    const d = await json('webhook', 'deliveries', hook.id, '--state', 'pending');
    return d.items.find((x: { attempts: number }) => x.attempts >= 1);
  }, 'a failed attempt');
  assert.equal(pending.eventType, 'upgrade.started');
  assert.match(pending.lastError, /ECONNREFUSED/);
  const none = await json('webhook', 'deliveries', hook.id, '--state', 'delivered');
  assert.equal(none.total, 0);

  const table = await cli('webhook', 'deliveries', hook.id, '--state', 'pending');
  assert.match(table.stdout, /^DELIVERY\s+EVENT\s+STATE\s+ATTEMPTS\s+LAST ATTEMPT\s+NEXT ATTEMPT$/m);
  assert.match(table.stdout, /upgrade\.started #\d+\s+pending \(ECONNREFUSED\)\s+\d+\s+\d{4}-\S+ \S+ UTC\s+\d{4}-\S+ \S+ UTC$/m);
  const listed = await cli('webhook', 'list');
  assert.match(listed.stdout, new RegExp(`^${hook.id}\\s+\\S+\\s+upgrade\\.started\\s+pending \\(ECONNREFUSED\\)`, 'm'));

  const badState = await cli('webhook', 'deliveries', hook.id, '--state', 'lost');
  assert.equal(badState.code, 2);
  assert.match(badState.stderr, /Allowed choices are pending, delivered, failed/);

  const refused = await cli('webhook', 'delete', hook.id);
  assert.equal(refused.code, 2, refused.stderr);
  const deleted = await cli('webhook', 'delete', hook.id, '--yes');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, new RegExp(`^webhook ${hook.id} deleted$`, 'm'));
  const gone = await cli('webhook', 'show', hook.id);
  assert.equal(gone.code, 5, gone.stderr);
  assert.match(gone.stderr, /no webhook "wh-\S+" in project ops/);
});
