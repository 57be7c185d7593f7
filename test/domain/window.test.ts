// Maintenance windows on given instants (the clock is an argument): weekly windows in several
// zones, windows across midnight, both DST changes, the daily UTC form, exclusions and the words
// of pending reasons. Expected instants are written out by hand from the zones' offsets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../src/domain/errors.ts';
import type { MaintenanceWindow } from '../../src/domain/types.ts';
import {
  formatDuration,
  isOpen,
  nextRunSpan,
  nextWindowStart,
  parseExclusions,
  parseWindow,
  waitReason,
  withinWindow,
  type RunPolicy,
} from '../../src/domain/window.ts';

const at = (iso: string) => new Date(iso);
const inWindow = (window: MaintenanceWindow, exclusions: RunPolicy['exclusions'] = []): RunPolicy => ({
  window,
  useWindow: true,
  exclusions,
});
const span = (p: RunPolicy, iso: string) => {
  const s = nextRunSpan(p, at(iso));
  return s && { start: s.start.toISOString(), end: s.end?.toISOString() ?? null };
};

const shanghai = inWindow({ days: ['sat', 'sun'], start: '02:00', durationMinutes: 120, timeZone: 'Asia/Shanghai' });

test('weekly window in Asia/Shanghai (UTC+8): Saturday 02:00 local is Friday 18:00 UTC', () => {
  // 2026-12-04 is a Friday
  assert.deepEqual(span(shanghai, '2026-12-04T14:48:00Z'), {
    start: '2026-12-04T18:00:00.000Z',
    end: '2026-12-04T20:00:00.000Z',
  });
  assert.equal(waitReason(shanghai, at('2026-12-04T14:48:00Z')), 'waiting for window Sat 02:00 Asia/Shanghai (opens in 3h12m)');
  // inside: open now, until the window's end
  assert.ok(isOpen(shanghai, at('2026-12-04T19:59:00Z')));
  assert.deepEqual(span(shanghai, '2026-12-04T19:00:00Z'), {
    start: '2026-12-04T19:00:00.000Z',
    end: '2026-12-04T20:00:00.000Z',
  });
  assert.equal(waitReason(shanghai, at('2026-12-04T19:00:00Z')), null);
  // after Saturday's window closes, Sunday's is next; after Sunday's, the next Saturday's
  assert.equal(span(shanghai, '2026-12-04T20:00:00Z')?.start, '2026-12-05T18:00:00.000Z');
  assert.equal(waitReason(shanghai, at('2026-12-04T20:00:00Z')), 'waiting for window Sun 02:00 Asia/Shanghai (opens in 22h)');
  assert.equal(span(shanghai, '2026-12-05T20:00:00Z')?.start, '2026-12-11T18:00:00.000Z');
});

test('the same weekly window read in other zones: New York (UTC-5 in winter) and UTC', () => {
  const ny = inWindow({ days: ['tue'], start: '09:00', durationMinutes: 30, timeZone: 'America/New_York' });
  assert.deepEqual(span(ny, '2026-12-01T00:00:00Z'), { start: '2026-12-01T14:00:00.000Z', end: '2026-12-01T14:30:00.000Z' });
  const utc = inWindow({ days: ['tue'], start: '09:00', durationMinutes: 30, timeZone: 'UTC' });
  assert.equal(span(utc, '2026-12-01T00:00:00Z')?.start, '2026-12-01T09:00:00.000Z');
});

test('a window that crosses midnight is open into the next day, and only from the listed day', () => {
  // Saturday 23:00 Berlin (UTC+1 in December) for 3 hours: Sat 22:00Z - Sun 01:00Z
  const berlin = inWindow({ days: ['sat'], start: '23:00', durationMinutes: 180, timeZone: 'Europe/Berlin' });
  assert.ok(isOpen(berlin, at('2026-12-05T23:30:00Z')), 'open at Sunday 00:30 local');
  assert.deepEqual(span(berlin, '2026-12-05T23:30:00Z'), { start: '2026-12-05T23:30:00.000Z', end: '2026-12-06T01:00:00.000Z' });
  assert.ok(!isOpen(berlin, at('2026-12-06T22:30:00Z')), 'Sunday 23:30 is not in a Saturday window');
  // the daily UTC form wrapping past midnight
  const daily: MaintenanceWindow = { start: '22:00', end: '02:00' };
  assert.ok(withinWindow(daily, at('2026-12-02T01:00:00Z')));
  assert.ok(!withinWindow(daily, at('2026-12-02T03:00:00Z')));
  assert.equal(nextWindowStart(daily, at('2026-12-02T03:00:00Z')).toISOString(), '2026-12-02T22:00:00.000Z');
  assert.deepEqual(span(inWindow(daily), '2026-12-02T01:00:00Z')?.end, '2026-12-02T02:00:00.000Z');
});

test('spring forward: same wall-clock start before and after, a missing start time opens past the gap', () => {
  // Europe/London: clocks go forward on Sunday 2027-03-28 (01:00 GMT -> 02:00 BST)
  const london = inWindow({ days: ['sat'], start: '02:00', durationMinutes: 60, timeZone: 'Europe/London' });
  assert.equal(span(london, '2027-03-26T00:00:00Z')?.start, '2027-03-27T02:00:00.000Z', 'Saturday before: 02:00 GMT');
  assert.equal(span(london, '2027-03-28T00:00:00Z')?.start, '2027-04-03T01:00:00.000Z', 'Saturday after: 02:00 BST');
  // America/New_York: Sunday 2027-03-14 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day
  const ny = inWindow({ days: ['sun'], start: '02:30', durationMinutes: 60, timeZone: 'America/New_York' });
  assert.equal(span(ny, '2027-03-07T00:00:00Z')?.start, '2027-03-07T07:30:00.000Z', 'week before: 02:30 EST');
  assert.deepEqual(span(ny, '2027-03-13T00:00:00Z'), { start: '2027-03-14T07:30:00.000Z', end: '2027-03-14T08:30:00.000Z' });
  assert.equal(waitReason(ny, at('2027-03-14T06:30:00Z')), 'waiting for window Sun 03:30 America/New_York (opens in 1h)');
  assert.equal(span(ny, '2027-03-15T00:00:00Z')?.start, '2027-03-21T06:30:00.000Z', 'week after: 02:30 EDT');
  // the duration is elapsed time: 01:00 EST + 120 minutes ends at 04:00 EDT on the wall
  const night = inWindow({ days: ['sun'], start: '01:00', durationMinutes: 120, timeZone: 'America/New_York' });
  assert.deepEqual(span(night, '2027-03-13T00:00:00Z'), { start: '2027-03-14T06:00:00.000Z', end: '2027-03-14T08:00:00.000Z' });
});

test('fall back: a start time that occurs twice opens at its first occurrence', () => {
  // America/New_York: Sunday 2026-11-01 02:00 EDT falls back to 01:00 EST; 01:30 happens twice
  const ny = inWindow({ days: ['sun'], start: '01:30', durationMinutes: 60, timeZone: 'America/New_York' });
  assert.deepEqual(span(ny, '2026-10-31T00:00:00Z'), { start: '2026-11-01T05:30:00.000Z', end: '2026-11-01T06:30:00.000Z' });
  assert.ok(isOpen(ny, at('2026-11-01T06:00:00Z')), 'open during the second 01:00-02:00 hour too (elapsed duration)');
  assert.ok(!isOpen(ny, at('2026-11-01T06:45:00Z')));
  assert.equal(span(ny, '2026-11-02T00:00:00Z')?.start, '2026-11-08T06:30:00.000Z', 'next week: 01:30 EST');
});

test('exclusions: nothing opens inside one, a window is cut where one begins, a no-window upgrade waits it out', () => {
  const daily: MaintenanceWindow = { start: '02:00', end: '06:00' };
  const freeze = parseExclusions([{ from: '2026-12-20T00:00:00Z', to: '2027-01-04T00:00:00Z', reason: 'freeze' }]);
  const p = inWindow(daily, freeze);
  assert.equal(span(p, '2026-12-19T12:00:00Z')?.start, '2027-01-04T02:00:00.000Z', 'the first window after the freeze');
  assert.equal(
    waitReason(p, at('2026-12-25T00:00:00Z')),
    'waiting for window Mon 02:00 UTC after maintenance exclusion "freeze" (opens in 10d2h)',
  );
  // an exclusion starting at 04:00 shortens that day's window
  const cut = inWindow(daily, parseExclusions([{ from: '2026-12-02T04:00:00Z', to: '2026-12-02T05:00:00Z' }]));
  assert.deepEqual(span(cut, '2026-12-02T03:00:00Z'), { start: '2026-12-02T03:00:00.000Z', end: '2026-12-02T04:00:00.000Z' });
  assert.deepEqual(span(cut, '2026-12-02T04:10:00Z'), { start: '2026-12-02T05:00:00.000Z', end: '2026-12-02T06:00:00.000Z' });
  // no window: free except during exclusions
  const any: RunPolicy = { window: null, useWindow: false, exclusions: freeze };
  assert.deepEqual(span(any, '2026-12-01T00:00:00Z'), { start: '2026-12-01T00:00:00.000Z', end: '2026-12-20T00:00:00.000Z' });
  assert.deepEqual(span(any, '2026-12-21T00:00:00Z'), { start: '2027-01-04T00:00:00.000Z', end: null });
  assert.equal(
    waitReason(any, at('2027-01-03T22:00:00Z')),
    'in maintenance exclusion "freeze" until 2027-01-04T00:00:00.000Z (ends in 2h)',
  );
});

test('bad windows and exclusions are refused with INVALID_WINDOW and a message that says what to fix', () => {
  const refused = (fn: () => unknown, words: RegExp) =>
    assert.throws(fn, (err) => isAppError(err) && err.code === 'INVALID_WINDOW' && words.test(err.message));
  refused(() => parseWindow({ days: ['sat'], start: '02:00', durationMinutes: 60, timeZone: 'Mars/Olympus' }), /IANA time zone/);
  refused(() => parseWindow({ days: [], start: '02:00', durationMinutes: 60, timeZone: 'UTC' }), /at least one/);
  refused(() => parseWindow({ days: ['sat'], start: '24:00', durationMinutes: 60, timeZone: 'UTC' }), /HH:MM/);
  refused(() => parseWindow({ days: ['sat'], start: '02:00', durationMinutes: 0, timeZone: 'UTC' }), /durationMinutes/);
  refused(() => parseWindow({ start: '02:00', end: '02:00' }), /empty/);
  refused(() => parseExclusions([{ from: '2027-01-04T00:00:00Z', to: '2026-12-20T00:00:00Z' }]), /before/);
  // canonical form: days in week order
  assert.deepEqual(parseWindow({ days: ['sun', 'sat'], start: '02:00', durationMinutes: 60, timeZone: 'UTC' }), {
    days: ['sat', 'sun'],
    start: '02:00',
    durationMinutes: 60,
    timeZone: 'UTC',
  });
});

test('durations in pending reasons', () => {
  assert.equal(formatDuration(20_000), '20s');
  assert.equal(formatDuration(45 * 60_000), '45m');
  assert.equal(formatDuration((3 * 60 + 12) * 60_000), '3h12m');
  assert.equal(formatDuration(5 * 3600_000), '5h');
  assert.equal(formatDuration((50 * 60 + 30) * 60_000), '2d2h');
  assert.equal(formatDuration(24 * 3600_000), '1d');
});
