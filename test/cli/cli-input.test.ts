// What the CLI makes of what a person types and what it prints, as pure functions: every time
// with its zone (UTC, or TZ's zone with its abbreviation), weekly windows from "sat 02:00-04:00",
// the reschedule body, and the batch body with --on-failure and --analysis on the right waves.
// The expected values are written out here, not computed by the code under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analysisChecks, batchBody } from '../../src/cli/commands/batches.ts';
import { describeWindow, parseDays, weeklyWindow } from '../../src/cli/commands/target-windows.ts';
import { rescheduleBody } from '../../src/cli/commands/upgrades.ts';
import { CliError } from '../../src/cli/errors.ts';
import { when } from '../../src/cli/output.ts';

const usage = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof CliError && e.exitCode === 2 && message.test(e.message));

test('times: 24-hour with the zone; UTC without TZ, TZ’s zone and abbreviation with it, DST included', () => {
  const at = '2026-12-07T14:03:12.345Z';
  assert.equal(when(at, 'date', {}), '2026-12-07 14:03:12 UTC');
  assert.equal(when(at, 'clock', {}), '14:03:12 UTC');
  assert.equal(when(at, 'date', { TZ: 'Europe/Berlin' }), '2026-12-07 15:03:12 CET');
  assert.equal(when('2026-07-07T14:03:12Z', 'date', { TZ: 'Europe/Berlin' }), '2026-07-07 16:03:12 CEST');
  assert.equal(when(at, 'date', { TZ: 'America/New_York' }), '2026-12-07 09:03:12 EST');
  // a zone with no abbreviation shows its offset
  assert.equal(when(at, 'date', { TZ: 'Asia/Shanghai' }), '2026-12-07 22:03:12 GMT+8');
  // an unknown TZ is not guessed at: UTC, said so
  assert.equal(when(at, 'date', { TZ: 'Mars/Olympus' }), '2026-12-07 14:03:12 UTC');
  assert.equal(when(null), '-');
});

test('weekly windows: days, ranges and a window past midnight, in the API’s shape', () => {
  assert.deepEqual(weeklyWindow('sat 02:00-04:00', 'Europe/Berlin'), {
    days: ['sat'],
    start: '02:00',
    durationMinutes: 120,
    timeZone: 'Europe/Berlin',
  });
  assert.deepEqual(weeklyWindow('sun,sat 23:00-01:00', 'UTC'), {
    days: ['sat', 'sun'],
    start: '23:00',
    durationMinutes: 120,
    timeZone: 'UTC',
  });
  assert.deepEqual(parseDays('mon-fri'), ['mon', 'tue', 'wed', 'thu', 'fri']);
  assert.deepEqual(parseDays('fri-mon'), ['mon', 'fri', 'sat', 'sun']);
  assert.deepEqual(parseDays('Saturday'), ['sat']);
  usage(() => weeklyWindow('sat 02:00', 'UTC'), /is not "<days> HH:MM-HH:MM"/);
  usage(() => weeklyWindow('someday 02:00-04:00', 'UTC'), /"someday" is not a day/);
  usage(() => weeklyWindow('sat 02:00-02:00', 'UTC'), /is empty/);
  assert.equal(
    describeWindow({ days: ['sat', 'sun'], start: '23:00', durationMinutes: 120, timeZone: 'Europe/Berlin' }),
    'sat,sun 23:00-01:00 Europe/Berlin',
  );
  assert.equal(describeWindow({ start: '02:00', end: '04:00' }), '02:00-04:00 UTC daily');
});

test('reschedule: exactly one of --at (a time with its zone), --window, --now', () => {
  assert.deepEqual(rescheduleBody({ at: '2026-12-08T03:00:00+01:00' }), {
    action: 'reschedule',
    schedule: { kind: 'at', at: '2026-12-08T02:00:00.000Z' },
  });
  assert.deepEqual(rescheduleBody({ window: true }), { action: 'reschedule', schedule: { kind: 'window' } });
  assert.deepEqual(rescheduleBody({ now: true }), { action: 'reschedule', schedule: { kind: 'now' } });
  usage(() => rescheduleBody({}), /exactly one of --at <time>, --window or --now/);
  usage(() => rescheduleBody({ now: true, window: true }), /exactly one/);
  usage(() => rescheduleBody({ at: '2026-12-08 03:00' }), /is not a time with its zone/);
});

test('batch body: --on-failure in upgradeOptions beside the file’s, --analysis on the baking waves or the named ones', () => {
  const checks = analysisChecks(
    [
      { name: 'error rate', prometheus: { url: 'http://prom:9090', query: 'rate(errors[5m])', max: 0.01 } },
      { name: 'lag', sli: 'replication_lag_seconds', max: 5 },
    ],
    'checks.json',
  );
  const o = {
    to: '7.10.3',
    engine: 'elasticsearch',
    onFailure: 'rollback',
    wave: ['name=canary,targets=1,bake=30', 'name=rest,targets=100%'],
  };
  const body = batchBody({ upgradeOptions: { retry: { attempts: 2 } } }, 'es', o, undefined, checks);
  assert.deepEqual(body, {
    name: 'es',
    toVersion: '7.10.3',
    selector: { engine: 'elasticsearch' },
    upgradeOptions: { retry: { attempts: 2 }, onFailure: 'rollback' },
    waves: [
      { name: 'canary', targets: 1, bakeMinutes: 30, analysis: checks },
      { name: 'rest', targets: '100%' },
    ],
  });
  const named = batchBody({}, 'es', { ...o, analysisWave: ['rest'] }, undefined, checks);
  assert.deepEqual(
    (named.waves as { name: string; analysis?: unknown }[]).map((w) => [w.name, w.analysis !== undefined]),
    [
      ['canary', false],
      ['rest', true],
    ],
  );
  usage(() => batchBody({}, 'es', { to: '1', engine: 'x' }, undefined, checks), /no wave bakes/);
  usage(() => batchBody({}, 'es', { ...o, analysisWave: ['late'] }, undefined, checks), /--analysis-wave late: no such wave/);
  usage(() => batchBody({}, 'es', { ...o, analysisWave: ['rest'] }, undefined, undefined), /goes with --analysis/);
  usage(() => analysisChecks({ name: 'lag' }, '-'), /is not a list of checks/);
  usage(() => analysisChecks([{ sli: 'x', max: 1 }], 'a.json'), /check 1 of --analysis a\.json needs a "name"/);
});
