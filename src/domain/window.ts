// Maintenance windows: "HH:MM"-"HH:MM" in UTC, possibly wrapping past midnight.
import { AppError } from './errors.ts';
import type { MaintenanceWindow } from './types.ts';

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutes(hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new AppError('INVALID_WINDOW', `"${hhmm}" is not a time of day; use HH:MM (UTC)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function parseWindow(w: MaintenanceWindow): MaintenanceWindow {
  const s = minutes(w.start);
  const e = minutes(w.end);
  if (s === e) throw new AppError('INVALID_WINDOW', 'a maintenance window must not be empty (start equals end)');
  return { start: w.start, end: w.end };
}

export function withinWindow(w: MaintenanceWindow, at: Date): boolean {
  const s = minutes(w.start);
  const e = minutes(w.end);
  const t = at.getUTCHours() * 60 + at.getUTCMinutes();
  return s < e ? t >= s && t < e : t >= s || t < e;
}

/** The next moment the window is open (now, if it is open now). */
export function nextWindowStart(w: MaintenanceWindow, from: Date): Date {
  if (withinWindow(w, from)) return from;
  const s = minutes(w.start);
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate(), Math.floor(s / 60), s % 60));
  if (d.getTime() <= from.getTime()) d.setUTCDate(d.getUTCDate() + 1);
  return d;
}
