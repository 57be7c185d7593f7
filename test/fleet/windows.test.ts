// Maintenance windows through the engine, on the injected clock: a weekly window in a time zone,
// a DST change, a window that closes mid-upgrade (the step in flight finishes, nothing new starts,
// it continues in the next window by itself), an exclusion period, reschedule, labels.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, until } from '../helpers/harness.ts';
import { P, events, fleetEnv, type FleetEnv } from './helpers.ts';

forEachDialect('maintenance windows', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    // Friday 2026-12-04 14:48 UTC; the sim's steps take ~1-3 ms x their realistic seconds
    env = await fleetEnv(dialect, { start: '2026-12-04T14:48:00Z', simTimeScale: 0.004 });
  });
  after(async () => env.close());

  const start = async (target: string, schedule: Record<string, unknown>) => {
    const res = await env.call('POST', `/v1/projects/${P}/upgrades`, { targetId: target, toVersion: '7.10.3', schedule });
    assert.equal(res.status, 202, res.body);
    return res.json;
  };

  test('weekly window in Asia/Shanghai: waits with a readable reason, starts only when it opens', async () => {
    await env.at('2026-12-04T14:48:00Z');
    await env.addTarget('sh-1', {
      maintenanceWindow: { days: ['sat', 'sun'], start: '02:00', durationMinutes: 120, timeZone: 'Asia/Shanghai' },
    });
    const u = await start('sh-1', { kind: 'window' });
    assert.equal(u.state, 'scheduled');
    assert.equal(u.notBefore, '2026-12-04T18:00:00.000Z', 'Saturday 02:00 in Shanghai is Friday 18:00 UTC');
    assert.equal(u.pendingReason, 'waiting for window Sat 02:00 Asia/Shanghai (opens in 3h12m)');
    await env.at('2026-12-04T17:59:00Z');
    const waiting = await env.upgrade(u.id);
    assert.equal(waiting.state, 'scheduled', 'one minute before the window it has not started');
    assert.equal(waiting.pendingReason, 'waiting for window Sat 02:00 Asia/Shanghai (opens in 1m)');
    await env.at('2026-12-04T18:00:00Z');
    const done = await env.waitUpgrade(u.id, ['succeeded', 'failed']);
    assert.equal(done.state, 'succeeded');
    assert.equal(done.startedAt, '2026-12-04T18:00:00.000Z', 'started at the opening, by the injected clock');
    assert.equal(done.pendingReason, null);
  });

  test('DST: a Sunday 02:30 New York window on the spring-forward night opens at 03:30 EDT', async () => {
    await env.at('2027-03-14T06:00:00Z'); // 01:00 EST
    await env.addTarget('ny-1', {
      maintenanceWindow: { days: ['sun'], start: '02:30', durationMinutes: 60, timeZone: 'America/New_York' },
    });
    const u = await start('ny-1', { kind: 'window' });
    assert.equal(u.notBefore, '2027-03-14T07:30:00.000Z');
    assert.equal(u.pendingReason, 'waiting for window Sun 03:30 America/New_York (opens in 1h30m)');
    await env.at('2027-03-14T07:29:00Z');
    assert.equal((await env.upgrade(u.id)).state, 'scheduled');
    await env.at('2027-03-14T07:30:00Z');
    assert.equal((await env.waitUpgrade(u.id, ['succeeded'])).startedAt, '2027-03-14T07:30:00.000Z');
  });

  test('a window closing mid-upgrade: the running step finishes, no new step starts, it continues next window', async () => {
    // Saturday 2027-04-03 01:00-01:30 UTC, weekly
    await env.at('2027-04-03T01:00:00Z');
    await env.addTarget('cl-1', { maintenanceWindow: { days: ['sat'], start: '01:00', durationMinutes: 30, timeZone: 'UTC' } });
    const u = await start('cl-1', { kind: 'window' });
    await env.at('2027-04-03T01:00:00Z');
    // wait for a node step in flight, then close the window under it
    const inflight = await until(
      async () => {
        const d = await env.upgrade(u.id);
        const steps = d.stages.flatMap((s: any) => s.steps);
        return steps.find((s: any) => s.state === 'running' && s.node !== null && s.action === 'install');
      },
      'an install step running',
      1000,
      5,
    );
    await env.at('2027-04-03T01:30:00Z');
    const paused = await env.waitUpgrade(u.id, ['paused']);
    assert.equal(paused.hold, 'window');
    assert.match(
      paused.pendingReason,
      /^paused: its window closed at 2027-04-03T01:30:00.000Z; waiting for window Sat 01:00 UTC \(opens in 6d23h\)$/,
    );
    const settled = await until(async () => {
      const d = await env.upgrade(u.id);
      const steps = d.stages.flatMap((s: any) => s.steps);
      return steps.every((s: any) => s.state !== 'running') && steps;
    }, 'the step in flight to finish');
    assert.equal(settled.find((s: any) => s.id === inflight.id).state, 'succeeded', 'the step in flight finished');
    assert.ok(
      settled.some((s: any) => s.state === 'pending'),
      'work is left for the next window',
    );
    // a week later the window opens again and the upgrade continues by itself
    await env.at('2027-04-10T01:00:00Z');
    const done = await env.waitUpgrade(u.id, ['succeeded', 'failed']);
    assert.equal(done.state, 'succeeded');
    const steps = done.stages.flatMap((s: any) => s.steps);
    const between = steps.filter(
      (s: any) => s.startedAt >= '2027-04-03T01:30:00.000Z' && s.startedAt < '2027-04-10T01:00:00.000Z',
    );
    assert.deepEqual(between, [], 'no step started while the window was closed');
    assert.ok(
      steps.some((s: any) => s.startedAt >= '2027-04-10T01:00:00.000Z'),
      'steps ran in the next window',
    );
    const types = (await events(env)).filter((e) => e.upgradeId === u.id).map((e) => e.type);
    assert.ok(types.includes('upgrade.window_closed') && types.includes('upgrade.window_opened'));
  });

  test('an exclusion period: an upgrade asked for now waits it out, then runs', async () => {
    await env.at('2027-05-01T00:00:00Z');
    await env.addTarget('ex-1', {
      maintenanceExclusions: [{ from: '2027-04-30T00:00:00Z', to: '2027-05-02T00:00:00Z', reason: 'freeze' }],
    });
    const u = await start('ex-1', { kind: 'now' });
    assert.equal(u.state, 'scheduled');
    assert.equal(u.pendingReason, 'in maintenance exclusion "freeze" until 2027-05-02T00:00:00.000Z (ends in 1d)');
    await env.at('2027-05-01T23:59:00Z');
    assert.equal((await env.upgrade(u.id)).state, 'scheduled');
    await env.at('2027-05-02T00:00:00Z');
    assert.equal((await env.waitUpgrade(u.id, ['succeeded'])).startedAt, '2027-05-02T00:00:00.000Z');
    // a malformed exclusion is refused with a stable code
    const bad = await env.call('PATCH', `/v1/projects/${P}/targets/ex-1`, {
      maintenanceExclusions: [{ from: '2027-06-02T00:00:00Z', to: '2027-06-01T00:00:00Z' }],
    });
    assert.deepEqual([bad.status, bad.json.error.code], [400, 'INVALID_WINDOW']);
  });

  test('reschedule: a window upgrade moved to now starts at once; to a time, it waits for that time', async () => {
    await env.at('2027-06-01T10:00:00Z');
    await env.addTarget('rs-1', {
      maintenanceWindow: { days: ['sun'], start: '03:00', durationMinutes: 60, timeZone: 'Europe/Paris' },
    });
    await env.addTarget('rs-2', {
      maintenanceWindow: { days: ['sun'], start: '03:00', durationMinutes: 60, timeZone: 'Europe/Paris' },
    });
    const a = await start('rs-1', { kind: 'window' });
    const b = await start('rs-2', { kind: 'window' });
    const act = (id: string, body: unknown) => env.call('POST', `/v1/projects/${P}/upgrades/${id}/actions`, body);
    const now = await act(a.id, { action: 'reschedule', schedule: { kind: 'now' } });
    assert.equal(now.status, 200, now.body);
    assert.deepEqual(now.json.schedule, { kind: 'now' });
    await env.at('2027-06-01T10:00:00Z');
    assert.equal((await env.waitUpgrade(a.id, ['succeeded'])).startedAt, '2027-06-01T10:00:00.000Z');
    const later = await act(b.id, { action: 'reschedule', schedule: { kind: 'at', at: '2027-06-01T12:00:00Z' } });
    assert.equal(later.json.notBefore, '2027-06-01T12:00:00.000Z');
    assert.equal(later.json.pendingReason, 'scheduled for 2027-06-01T12:00:00.000Z (starts in 2h)');
    await env.at('2027-06-01T11:59:00Z');
    assert.equal((await env.upgrade(b.id)).state, 'scheduled');
    await env.at('2027-06-01T12:00:00Z');
    await env.waitUpgrade(b.id, ['succeeded']);
    // refused: a finished upgrade, and a reschedule without its schedule
    const done = await act(b.id, { action: 'reschedule', schedule: { kind: 'now' } });
    assert.deepEqual([done.status, done.json.error.code], [409, 'INVALID_STATE']);
    const missing = await act(b.id, { action: 'reschedule' });
    assert.deepEqual([missing.status, missing.json.error.code], [400, 'VALIDATION_FAILED']);
  });

  test('labels: set on create and patch, filtered with ?label=key=value', async () => {
    await env.addTarget('lb-1', { labels: { env: 'prod', tier: 'db' } });
    await env.addTarget('lb-2', { labels: { env: 'staging' } });
    const ids = async (q: string) =>
      (await env.call('GET', `/v1/projects/${P}/targets?${q}`)).json.items.map((t: any) => t.id).sort();
    assert.deepEqual(await ids('label=env=prod'), ['lb-1']);
    assert.deepEqual(await ids('label=env=prod&label=tier=db'), ['lb-1']);
    assert.deepEqual(await ids('label=tier=web'), []);
    await env.call('PATCH', `/v1/projects/${P}/targets/lb-2`, { labels: { env: 'prod' } });
    assert.deepEqual(await ids('label=env=prod'), ['lb-1', 'lb-2']);
    assert.deepEqual((await env.call('GET', `/v1/projects/${P}/targets/lb-2`)).json.labels, { env: 'prod' });
    const bad = await env.call('GET', `/v1/projects/${P}/targets?label=env`);
    assert.equal(bad.status, 400);
  });
});
