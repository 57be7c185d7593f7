// Names wherever a name exists, and the schedule commands, as a user runs them: the compiled CLI
// in child processes against a real server (SQLite store, executor, simulated fleet). An upgrade
// is taken by its short reference (up-N) and shown with its target's name; the events and the
// upgrade say which token acted by its name; TARGET_BUSY names the upgrade in the way; an upgrade
// started with --on-failure rollback rolls itself back; a scheduled upgrade is rescheduled; a
// target's weekly window and exclusions are set, listed and removed; TZ changes every time shown.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { buildCli, runCli } from '../helpers/cli.ts';
import { ADMIN_TOKEN, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

let t: TestApp;
let url: string;
let build: Awaited<ReturnType<typeof buildCli>>;
let botToken: string;
let botId: string;

before(async () => {
  build = await buildCli();
  t = await startApp('sqlite');
  await seedSim(t, { target: 'seed-1' });
  for (const [id, name] of [
    ['t-orders', 'orders-db'],
    ['t-policy', 'policy-db'],
    ['t-later', 'later-db'],
  ]) {
    const res = await t.call('POST', '/v1/projects/acme/targets', {
      id,
      name,
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      driver: 'sim',
      nodes: [
        { name: `${id}-1`, role: 'leader', zone: 'az1' },
        { name: `${id}-2`, role: 'follower', zone: 'az2' },
        { name: `${id}-3`, role: 'follower', zone: 'az3' },
      ],
    });
    assert.equal(res.status, 201, res.body);
  }
  const tok = await t.call('POST', '/v1/projects/acme/tokens', { name: 'ci-bot', role: 'operator' });
  assert.equal(tok.status, 201, tok.body);
  botToken = (tok.json as { token: string }).token;
  botId = (tok.json as { id: string }).id;
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await t.close();
  build.cleanup();
});

const cliAs = (token: string, args: string[], env: Record<string, string> = {}) =>
  runCli(build.main, ['--url', url, '--token', token, '--project', 'acme', ...args], { env });
const cli = (...args: string[]) => cliAs(ADMIN_TOKEN, args);
const json = async (...args: string[]) => {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const settle = (ref: string, states: string[]) =>
  until(
    async () => {
      const u = await json('upgrade', 'status', ref);
      return states.includes(u.state) && u;
    },
    `${ref} to become ${states.join(' or ')}`,
  );
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC';

test('an upgrade by its target’s name and its up-N, with the name of the token that started it; TARGET_BUSY names the upgrade in the way', async () => {
  await json('faults', 'add', 'orders-db', '--step', 'install', '--node', 't-orders-3');
  const started = await cliAs(botToken, ['upgrade', 'start', 'orders-db', '7.10.3']);
  assert.equal(started.code, 0, started.stderr);
  const m = /^upgrade (up-\d+) \(([0-9a-f-]{36})\) \S+: orders-db \(t-orders\) 7\.10\.2 -> 7\.10\.3$/m.exec(started.stdout);
  assert.ok(m, started.stdout);
  const [, ref, id] = m;
  const failed = await settle(ref, ['failed']);
  assert.equal(failed.id, id);
  assert.equal(failed.ref, ref);
  assert.equal(failed.createdBy, `token:${botId}`, 'the stored actor is still the token’s id');
  assert.equal(failed.createdByName, 'ci-bot');

  const list = await cli('upgrade', 'list', '--target', 'orders-db');
  assert.match(list.stdout, /^REF\s+UPGRADE\s+TARGET\s+FROM\s+TO\s+MODE\s+STATE\s+CREATED\s+TOOK$/m);
  assert.match(
    list.stdout,
    new RegExp(
      `^${ref}\\s+${id.slice(0, 8)}\\s+orders-db \\(t-orders\\)\\s+7\\.10\\.2\\s+7\\.10\\.3\\s+rolling\\s+failed\\s+${TIME}\\s`,
      'm',
    ),
  );
  const status = await cli('upgrade', 'status', ref);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^upgrade:\\s+${ref}\\s+${id}$`, 'm'));
  assert.match(status.stdout, /^target:\s+orders-db \(t-orders\)$/m);
  assert.match(status.stdout, new RegExp(`^created:\\s+${TIME} by ci-bot$`, 'm'));

  // the events of it: the actor by the token's name in the table, both in JSON
  const events = await cli('events', '--upgrade', ref, '--type', 'upgrade.created');
  assert.match(events.stdout, new RegExp(`^${TIME}\\s+upgrade\\.created\\s+t-orders\\s+${id.slice(0, 8)}\\s+ci-bot\\s`, 'm'));
  const asJson = await json('events', '--upgrade', ref, '--type', 'upgrade.created');
  assert.deepEqual(
    asJson.items.map((e: { actor: string; actorName?: string }) => [e.actor, e.actorName]),
    [[`token:${botId}`, 'ci-bot']],
  );

  const busy = await cli('upgrade', 'start', 'orders-db', '7.11.0');
  assert.equal(busy.code, 1, busy.stderr);
  assert.match(
    busy.stderr,
    new RegExp(
      `^error: TARGET_BUSY: target orders-db \\(t-orders\\) is busy with upgrade ${ref} \\(failed, 7\\.10\\.2 -> 7\\.10\\.3\\); wait for it, or cancel it$`,
      'm',
    ),
  );
  assert.match(
    busy.stderr,
    new RegExp(
      `^hint: follow it with \`liftgate upgrade watch ${ref}\`, or cancel it with \`liftgate upgrade cancel ${ref}\`$`,
      'm',
    ),
  );

  const cancelled = await cli('upgrade', 'cancel', ref, '--yes');
  assert.equal(cancelled.code, 0, cancelled.stderr);
  const unknown = await cli('upgrade', 'status', 'up-99999');
  assert.equal(unknown.code, 5);
  assert.match(unknown.stderr, /no upgrade up-99999 in project acme/);
});

test('--on-failure rollback: the failed upgrade rolls itself back', async () => {
  await json('faults', 'add', 'policy-db', '--step', 'start', '--node', 't-policy-3');
  const started = await json('upgrade', 'start', 'policy-db', '7.10.3', '--on-failure', 'rollback');
  const u = await settle(started.ref, ['rolled_back', 'failed', 'succeeded']);
  assert.equal(u.state, 'rolled_back');
  const rollback = (await json('events', '--upgrade', started.ref, '--type', 'upgrade.rollback')).items;
  assert.deepEqual(
    rollback.map((e: { actor: string }) => e.actor),
    ['policy'],
  );
  const bad = await cli('upgrade', 'start', 'policy-db', '7.10.3', '--on-failure', 'retry');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Allowed choices are stop, rollback/);
});

test('reschedule a waiting upgrade: to a time, to its window, to now', async () => {
  const at = new Date(Date.now() + 3 * 86_400_000);
  at.setUTCMilliseconds(0);
  const started = await cli('upgrade', 'start', 'later-db', '7.10.3', '--at', at.toISOString());
  assert.equal(started.code, 0, started.stderr);
  const when = (d: Date) => `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  assert.match(
    started.stdout,
    new RegExp(`scheduled: later-db \\(t-later\\) 7\\.10\\.2 -> 7\\.10\\.3, starts ${when(at)}$`, 'm'),
  );
  const ref = /^upgrade (up-\d+) /m.exec(started.stdout)?.[1] as string;

  const later = new Date(at.getTime() + 86_400_000);
  const moved = await cli('upgrade', 'reschedule', ref, '--at', later.toISOString().replace('Z', '+00:00'));
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(moved.stdout.trim(), `upgrade ${ref} scheduled: starts ${when(later)}`);
  const status = await cli('upgrade', 'status', ref);
  assert.match(status.stdout, new RegExp(`^starts:\\s+${when(later)}$`, 'm'));

  const both = await cli('upgrade', 'reschedule', ref, '--now', '--window');
  assert.equal(both.code, 2);
  assert.match(both.stderr, /reschedule needs exactly one of --at <time>, --window or --now/);

  const now = await json('upgrade', 'reschedule', ref, '--now');
  assert.deepEqual(now.schedule, { kind: 'now' });
  await settle(ref, ['succeeded']);
  const over = await cli('upgrade', 'reschedule', ref, '--now');
  assert.equal(over.code, 1, over.stderr);
  assert.match(over.stderr, /INVALID_STATE: cannot reschedule upgrade/);
});

test('a weekly window in a zone and exclusions: set, shown, listed and removed; TZ changes the times shown', async () => {
  const set = await cli('target', 'window', 'set', 'orders-db', '--weekly', 'sat,sun 23:00-01:00', '--zone', 'Europe/Berlin');
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout.trim(), 'target t-orders window: sat,sun 23:00-01:00 Europe/Berlin');
  const stored = (await t.call('GET', '/v1/projects/acme/targets/t-orders')).json as any;
  assert.deepEqual(stored.maintenanceWindow, {
    days: ['sat', 'sun'],
    start: '23:00',
    durationMinutes: 120,
    timeZone: 'Europe/Berlin',
  });

  const badZone = await cli('target', 'window', 'set', 'orders-db', '--weekly', 'sat 02:00-04:00', '--zone', 'Berlin');
  assert.equal(badZone.code, 1, badZone.stderr);
  assert.match(badZone.stderr, /INVALID_WINDOW: "Berlin" is not an IANA time zone/);
  const neither = await cli('target', 'window', 'set', 'orders-db');
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /give one of --weekly or --daily/);

  const added = await cli(
    'target',
    'exclusion',
    'add',
    'orders-db',
    '--from',
    '2026-12-24T00:00:00+01:00',
    '--to',
    '2026-12-27T00:00:00+01:00',
    '--reason',
    'holidays',
  );
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^target t-orders: excluded 2026-12-23 23:00:00 UTC to 2026-12-26 23:00:00 UTC$/m);
  await json('target', 'exclusion', 'add', 'orders-db', '--from', '2027-01-10T00:00:00Z', '--to', '2027-01-11T00:00:00Z');
  const listed = await cli('target', 'exclusion', 'list', 'orders-db');
  assert.match(listed.stdout, /^#\s+FROM\s+TO\s+REASON$/m);
  assert.match(listed.stdout, /^1\s+2026-12-23 23:00:00 UTC\s+2026-12-26 23:00:00 UTC\s+holidays$/m);
  assert.match(listed.stdout, /^2\s+2027-01-10 00:00:00 UTC\s+2027-01-11 00:00:00 UTC\s+-$/m);
  // the same times in the reader's zone, with its abbreviation
  const berlin = await cliAs(ADMIN_TOKEN, ['target', 'exclusion', 'list', 'orders-db'], { TZ: 'Europe/Berlin' });
  assert.match(berlin.stdout, /^1\s+2026-12-24 00:00:00 CET\s+2026-12-27 00:00:00 CET\s+holidays$/m);

  const badTime = await cli('target', 'exclusion', 'add', 'orders-db', '--from', '2026-12-24', '--to', '2026-12-25T00:00:00Z');
  assert.equal(badTime.code, 2);
  assert.match(badTime.stderr, /--from "2026-12-24" is not a time with its zone/);
  const noSuch = await cli('target', 'exclusion', 'remove', 'orders-db', '3', '--yes');
  assert.equal(noSuch.code, 2);
  assert.match(noSuch.stderr, /target t-orders has no exclusion 3\nhint: give a number from 1 to 2/);

  const removed = await cli('target', 'exclusion', 'remove', 'orders-db', '1', '--yes');
  assert.equal(removed.code, 0, removed.stderr);
  const left = (await json('target', 'exclusion', 'list', 'orders-db')).items;
  assert.deepEqual(left, [{ from: '2027-01-10T00:00:00.000Z', to: '2027-01-11T00:00:00.000Z' }]);

  const shown = await cli('target', 'window', 'show', 'orders-db');
  assert.match(shown.stdout, /^window: sat,sun 23:00-01:00 Europe\/Berlin$/m);
  const cleared = await cli('target', 'window', 'clear', 'orders-db');
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.equal(((await t.call('GET', '/v1/projects/acme/targets/t-orders')).json as any).maintenanceWindow, null);
});
