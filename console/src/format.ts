// How times, durations and states read in the console.

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Sub-second precision for short things (a step of a fast simulated fleet, a switchover's outage). */
export function shortDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return duration(ms / 1000);
}

export function elapsed(from: string | null, to: string | null, now = Date.now()): string {
  if (!from) return '-';
  return shortDuration(Math.max(0, (to ? Date.parse(to) : now) - Date.parse(from)));
}

// 24-hour times that name their zone (the browser's, e.g. "14:03:12 UTC" or "15:03:12 CET"), the same
// in every view: a 12-hour time without a zone is ambiguous to operators in other places.
const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'short',
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'short',
});

/** A time of today as "14:03:12 UTC", an older or farther one with its date; see `iso` for the tooltip. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Date.now() - d.getTime() < 12 * 3600_000 && d.getTime() <= Date.now() + 3600_000
    ? timeFmt.format(d)
    : dateTimeFmt.format(d);
}

export const fullTime = (iso: string | null | undefined) => (iso ? dateTimeFmt.format(new Date(iso)) : '');

/** The exact instant, for a tooltip: ISO-8601 in UTC. */
export const isoTitle = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString() : undefined);

export function relative(iso: string, now = Date.now()): string {
  const s = (Date.parse(iso) - now) / 1000;
  return s >= 0 ? `in ${duration(s)}` : `${duration(-s)} ago`;
}

export const stateLabel = (s: string) => s.replace(/_/g, ' ');

/** A colour family per state, shared by badges, timeline bars and charts. */
export function tone(state: string): 'ok' | 'bad' | 'run' | 'warn' | 'idle' {
  switch (state) {
    case 'succeeded':
    case 'passed':
    case 'pass':
    case 'healthy':
    case 'rolled_back':
    case 'completed':
      return 'ok';
    case 'failed':
    case 'fail':
    case 'error':
    case 'unhealthy':
    case 'halted':
      return 'bad';
    case 'running':
    case 'prechecking':
    case 'rolling_back':
    case 'cancelling':
      return 'run';
    case 'paused':
    case 'warn':
    case 'warned':
    case 'scheduled':
    case 'ready':
    case 'stopped':
    case 'baking':
    case 'awaiting_approval':
      return 'warn';
    default:
      return 'idle';
  }
}

/** An upgrade as people name it: its short reference ("up-12"), as the API and the CLI do. */
export function upgradeRef(u: { id: string; ref?: string; number?: number }): string {
  return u.ref ?? (u.number ? `up-${u.number}` : u.id.slice(0, 8));
}

/**
 * An actor ("token:<id>", "admin:<id>", "system", "policy", ...) by a name a person knows: the
 * name the API gave with it (an event's actorName, an upgrade's createdByName), else the
 * credential's name when the console knows it (`names`, by id), else its kind and the id's first
 * eight characters ("admin:e8cbcce7"), which is what the CLI prints too.
 */
export function actorLabel(actor: string | null | undefined, names?: ReadonlyMap<string, string>, given?: string | null): string {
  if (given) return given;
  if (!actor) return '-';
  const m = /^(token|admin|access_key|key):(.+)$/.exec(actor);
  if (!m) return actor;
  const name = names?.get(m[2]);
  return name ? name : `${m[1]}:${m[2].slice(0, 8)}`;
}
