// Maintenance windows and exclusions: when may an upgrade of a target start or continue?
//
// Two window forms are accepted:
//   weekly  {"days":["sat","sun"],"start":"02:00","durationMinutes":120,"timeZone":"Asia/Shanghai"}
//   daily   {"start":"18:00","end":"22:00"}  (UTC, may wrap past midnight; the original form)
// and a list of exclusions [{"from","to","reason"}] during which nothing starts or continues.
//
// All calendar arithmetic is Luxon's (IANA time zones), none of it hand-written offsets. The rules,
// chosen to match what a person reading the window expects:
//   - `start` is a wall-clock time in the window's zone, on each listed day (the day the window
//     opens; a window from Sat 23:00 for 180 minutes runs into Sunday 02:00).
//   - `durationMinutes` is elapsed time: a 120-minute window is open 120 minutes even on the night
//     the clocks change.
//   - a start time that does not exist that day (spring forward, e.g. 02:30 when 02:00 jumps to
//     03:00) opens at the same distance past the gap (03:30), as Luxon and most calendars do;
//   - a start time that occurs twice (fall back) opens at its first occurrence.
// Every function is pure and takes the time explicitly, so callers pass their (injectable) clock.
import { DateTime, IANAZone } from 'luxon';
import { AppError } from './errors.ts';
import type { MaintenanceExclusion, MaintenanceWindow, WeeklyWindow } from './types.ts';
import { WEEK_DAYS } from './types.ts';

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const WEEK_MINUTES = 7 * 24 * 60;
/** how far ahead an opening is searched for (a window excluded for longer never opens) */
const HORIZON_DAYS = 400;

function minutes(hhmm: string, what: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new AppError('INVALID_WINDOW', `${what} "${hhmm}" is not a time of day; use HH:MM (00:00-23:59)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export const isWeekly = (w: MaintenanceWindow): w is WeeklyWindow => 'days' in w;

/** Validates a window and returns it in its canonical form (days in week order, no extra keys). */
export function parseWindow(w: MaintenanceWindow): MaintenanceWindow {
  if (!isWeekly(w)) {
    const s = minutes(w.start, 'start');
    const e = minutes(w.end, 'end');
    if (s === e) throw new AppError('INVALID_WINDOW', 'a maintenance window must not be empty (start equals end)');
    return { start: w.start, end: w.end };
  }
  minutes(w.start, 'start');
  if (!Array.isArray(w.days) || w.days.length === 0) {
    throw new AppError('INVALID_WINDOW', `days must list at least one of ${WEEK_DAYS.join(', ')}`);
  }
  for (const d of w.days) {
    if (!WEEK_DAYS.includes(d)) throw new AppError('INVALID_WINDOW', `"${String(d)}" is not a day; use ${WEEK_DAYS.join(', ')}`);
  }
  if (!Number.isInteger(w.durationMinutes) || w.durationMinutes < 1 || w.durationMinutes > WEEK_MINUTES) {
    throw new AppError('INVALID_WINDOW', `durationMinutes must be a whole number from 1 to ${WEEK_MINUTES} (one week)`);
  }
  if (typeof w.timeZone !== 'string' || !IANAZone.isValidZone(w.timeZone)) {
    throw new AppError('INVALID_WINDOW', `"${String(w.timeZone)}" is not an IANA time zone (e.g. "Asia/Shanghai", "UTC")`);
  }
  const days = WEEK_DAYS.filter((d) => w.days.includes(d));
  return { days, start: w.start, durationMinutes: w.durationMinutes, timeZone: w.timeZone };
}

/** Validates exclusions: ISO-8601 instants with `from` before `to`; returned sorted by `from`. */
export function parseExclusions(list: MaintenanceExclusion[]): MaintenanceExclusion[] {
  const out = list.map((x, i) => {
    const from = Date.parse(x.from);
    const to = Date.parse(x.to);
    if (Number.isNaN(from) || Number.isNaN(to)) {
      throw new AppError('INVALID_WINDOW', `maintenanceExclusions[${i}]: from and to must be ISO-8601 times`);
    }
    if (from >= to) throw new AppError('INVALID_WINDOW', `maintenanceExclusions[${i}]: from must be before to`);
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      ...(x.reason ? { reason: x.reason } : {}),
    };
  });
  return out.sort((a, b) => a.from.localeCompare(b.from));
}

/** Minutes from one time of day to the next occurrence of another ("22:00" to "02:00" is 240). */
export function minutesFromTo(start: string, end: string): number {
  return (minutes(end, 'end') - minutes(start, 'start') + 1440) % 1440;
}

/** The weekly form of either window (a daily UTC window is open every day). */
function asWeekly(w: MaintenanceWindow): WeeklyWindow {
  if (isWeekly(w)) return w;
  return { days: [...WEEK_DAYS], start: w.start, durationMinutes: minutesFromTo(w.start, w.end), timeZone: 'UTC' };
}

interface Span {
  start: number;
  end: number;
}

/** The opening of `w` on one local calendar day, or null when the window is closed that day. */
function openingOn(w: WeeklyWindow, day: DateTime): Span | null {
  if (!w.days.includes(WEEK_DAYS[day.weekday - 1])) return null;
  const [h, m] = w.start.split(':').map(Number);
  const local = DateTime.fromObject({ year: day.year, month: day.month, day: day.day, hour: h, minute: m }, { zone: w.timeZone });
  // fall back: the wall time exists twice; the earliest instant is the one a reader means
  const first = Math.min(...local.getPossibleOffsets().map((d) => d.toMillis()));
  return { start: first, end: first + w.durationMinutes * 60_000 };
}

/** Openings of the window that end after `from`, in order, up to the search horizon. */
function* openings(w: MaintenanceWindow, from: number): Generator<Span> {
  const weekly = asWeekly(w);
  // start a week back: a window that opened up to a week ago may still be open
  let day = DateTime.fromMillis(from, { zone: weekly.timeZone }).startOf('day').minus({ days: 7 });
  for (let i = 0; i < HORIZON_DAYS + 7; i++, day = day.plus({ days: 1 })) {
    const o = openingOn(weekly, day);
    if (o && o.end > from) yield o;
  }
}

/** Removes the exclusions from a span; the pieces that are left, in order. */
function minus(span: Span, exclusions: readonly MaintenanceExclusion[]): Span[] {
  let pieces: Span[] = [span];
  for (const x of exclusions) {
    const xs = Date.parse(x.from);
    const xe = Date.parse(x.to);
    pieces = pieces.flatMap((p) => {
      if (xe <= p.start || xs >= p.end) return [p];
      const left = xs > p.start ? [{ start: p.start, end: xs }] : [];
      const right = xe < p.end ? [{ start: xe, end: p.end }] : [];
      return [...left, ...right];
    });
  }
  return pieces;
}

export interface RunSpan {
  /** when work may begin (the instant asked about, if it may begin now) */
  start: Date;
  /** when it must stop starting new steps; null = no bound */
  end: Date | null;
}

export interface RunPolicy {
  /** the target's window; null or unused = any time */
  window: MaintenanceWindow | null;
  /** true: the upgrade waits for the window (schedule kind "window") */
  useWindow: boolean;
  exclusions: readonly MaintenanceExclusion[];
}

/**
 * The first span at or after `at` in which an upgrade under `policy` may run, or null when none
 * opens within the search horizon (e.g. an exclusion that never ends). A span that is open at
 * `at` starts at `at`.
 */
export function nextRunSpan(policy: RunPolicy, at: Date): RunSpan | null {
  const t = at.getTime();
  if (!policy.useWindow || !policy.window) {
    // no window: open except during exclusions
    const free = minus({ start: t, end: Number.MAX_SAFE_INTEGER }, policy.exclusions);
    const first = free.find((p) => p.end > t);
    if (!first) return null;
    return { start: new Date(Math.max(first.start, t)), end: first.end === Number.MAX_SAFE_INTEGER ? null : new Date(first.end) };
  }
  for (const o of openings(policy.window, t)) {
    const piece = minus(o, policy.exclusions).find((p) => p.end > t);
    if (piece) return { start: new Date(Math.max(piece.start, t)), end: new Date(piece.end) };
  }
  return null;
}

/** Is the policy open at `at`? */
export function isOpen(policy: RunPolicy, at: Date): boolean {
  return nextRunSpan(policy, at)?.start.getTime() === at.getTime();
}

/** The exclusion in force at `at`, if any. */
export function exclusionAt(exclusions: readonly MaintenanceExclusion[], at: Date): MaintenanceExclusion | null {
  const t = at.getTime();
  return exclusions.find((x) => Date.parse(x.from) <= t && t < Date.parse(x.to)) ?? null;
}

// ---- the original daily-window API, kept for its callers ----

export function withinWindow(w: MaintenanceWindow, at: Date): boolean {
  return isOpen({ window: w, useWindow: true, exclusions: [] }, at);
}

/** The next moment the window is open (now, if it is open now). */
export function nextWindowStart(w: MaintenanceWindow, from: Date): Date {
  return nextRunSpan({ window: w, useWindow: true, exclusions: [] }, from)?.start ?? from;
}

// ---- words for people ----

/** "3h12m", "2d4h", "45m", "20s" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24 ? `${h % 24}h` : ''}`;
}

/** The opening as its reader knows it: "Sat 02:00 Asia/Shanghai", in the window's own zone. */
export function describeOpening(w: MaintenanceWindow, opensAt: Date): string {
  const zone = asWeekly(w).timeZone;
  return `${DateTime.fromJSDate(opensAt, { zone }).toFormat('ccc HH:mm')} ${zone}`;
}

/** Why an upgrade under `policy` is not running at `at`, or null when it may run now. */
export function waitReason(policy: RunPolicy, at: Date): string | null {
  const span = nextRunSpan(policy, at);
  if (span && span.start.getTime() === at.getTime()) return null;
  const x = exclusionAt(policy.exclusions, at);
  if (!span) {
    return x ? `in maintenance exclusion${x.reason ? ` "${x.reason}"` : ''}; no window opens afterwards` : 'no window opens';
  }
  const opensIn = formatDuration(span.start.getTime() - at.getTime());
  if (policy.useWindow && policy.window) {
    const why = x ? ` after maintenance exclusion${x.reason ? ` "${x.reason}"` : ''}` : '';
    return `waiting for window ${describeOpening(policy.window, span.start)}${why} (opens in ${opensIn})`;
  }
  return `in maintenance exclusion${x?.reason ? ` "${x.reason}"` : ''} until ${span.start.toISOString()} (ends in ${opensIn})`;
}
