// What the CLI prints: one value per call as a table (for people), JSON or YAML (for scripts),
// colours only on a terminal (and never with NO_COLOR), and a quiet end when the reader of a
// pipe goes away (`liftgate upgrade status <id> | head`).
import { DateTime, IANAZone } from 'luxon';
import type * as Yaml from 'yaml';
import { setting } from '../domain/settings.ts';
import { EXIT } from './errors.ts';

export const FORMATS = ['table', 'json', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

type YamlModule = typeof Yaml;
let yamlModule: YamlModule | null = null;
/** YAML is loaded only by calls that print or read it, to keep start-up short */
export async function loadYaml(): Promise<YamlModule> {
  yamlModule ??= await import('yaml');
  return yamlModule;
}

/** Ends the process quietly (exit 0) once stdout's reader has closed the pipe. */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(EXIT.OK);
      throw err;
    });
  }
}

/** https://no-color.org: NO_COLOR set to anything non-empty turns colours off; FORCE_COLOR turns them on. */
export function colorWanted(stream: NodeJS.WriteStream, flag: boolean, env = process.env): boolean {
  if (!flag) return false;
  if (setting('NO_COLOR', env)) return false;
  const force = setting('FORCE_COLOR', env);
  if (force && force !== '0') return true;
  return stream.isTTY === true && setting('TERM', env) !== 'dumb';
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1, dim: 2 } as const;
export type Style = keyof typeof CODES;

export class Paint {
  constructor(readonly enabled: boolean) {}

  style(text: string, ...styles: (Style | undefined)[]): string {
    const codes = styles.filter((s): s is Style => s !== undefined).map((s) => CODES[s]);
    if (!this.enabled || codes.length === 0 || text === '') return text;
    return `\x1b[${codes.join(';')}m${text}\x1b[0m`;
  }

  /** the colour of a state word, the same for upgrades, steps, stages, batches and waves */
  state(state: string): string {
    return this.style(state, stateStyle(state));
  }
}

export function stateStyle(state: string): Style | undefined {
  if (['succeeded', 'passed', 'pass', 'ok', 'healthy', 'active'].includes(state)) return 'green';
  if (['failed', 'fail', 'halted', 'unhealthy', 'revoked'].includes(state)) return 'red';
  if (['running', 'prechecking', 'rolling_back', 'cancelling', 'baking'].includes(state)) return 'cyan';
  if (['paused', 'awaiting_approval', 'warn', 'scheduled', 'ready'].includes(state)) return 'yellow';
  if (['cancelled', 'skipped', 'rolled_back', 'pending'].includes(state)) return 'gray';
  return undefined;
}

/** Strips colour codes (for measuring a cell's width). */
export const plain = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Columns padded to the widest cell; cells may carry colour codes. */
export function table(head: string[], rows: string[][], paint: Paint): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => plain(r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? (c ?? '') : (c ?? '') + ' '.repeat(widths[i] - plain(c ?? '').length)))
      .join('  ')
      .trimEnd();
  const out = [paint.style(line(head), 'bold'), ...rows.map(line)];
  return out.join('\n');
}

/** `key: value` lines for one object (the table form of a single resource). */
export function fields(pairs: [string, string | number | null | undefined][], paint: Paint): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${paint.style(`${k}:`.padEnd(width + 1), 'bold')} ${v === null || v === '' ? '-' : String(v)}`)
    .join('\n');
}

export async function serialize(value: unknown, format: Exclude<Format, 'table'>): Promise<string> {
  if (format === 'json') return JSON.stringify(value, null, 2);
  const YAML = await loadYaml();
  return YAML.stringify(value, { lineWidth: 0 }).trimEnd();
}

export function write(text: string): void {
  if (text !== '') process.stdout.write(`${text}\n`);
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '-';
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/**
 * The zone times are shown in: TZ when it names a zone Luxon knows (an IANA name such as
 * Europe/Berlin, or UTC), otherwise UTC, so a time printed on a server with no TZ is never
 * mistaken for local time.
 */
export function displayZone(env = process.env): string {
  const tz = setting('TZ', env)?.replace(/^:/, '');
  return tz && IANAZone.isValidZone(tz) ? tz : 'UTC';
}

/** the zone's abbreviation at that time ("UTC", "CET", "EST"), else its offset ("GMT+8") */
function zoneName(t: DateTime): string {
  if (t.zoneName === 'UTC') return 'UTC';
  const us = t.setLocale('en-US').toFormat('ZZZZ');
  if (!us.startsWith('GMT')) return us;
  return t.setLocale('en-GB').toFormat('ZZZZ');
}

/**
 * Every time the CLI prints, to the second, 24-hour, with its zone: "2026-12-07 14:03:12 UTC",
 * or in TZ's zone with its abbreviation ("2026-12-07 15:03:12 CET"). `clock` prints the time of
 * day alone (the stamps of a live stream).
 */
export function when(at: string | Date | null | undefined, form: 'date' | 'clock' = 'date', env = process.env): string {
  if (!at) return '-';
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) return String(at);
  const t = DateTime.fromJSDate(d, { zone: displayZone(env) });
  return `${t.toFormat(form === 'clock' ? 'HH:mm:ss' : 'yyyy-MM-dd HH:mm:ss')} ${zoneName(t)}`;
}

/** who acted: the name of the token or access key when the API gives it, else the actor as stored */
export const actorLabel = (e: { actor: string; actorName?: string }): string => e.actorName ?? e.actor;
