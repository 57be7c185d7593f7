// Reading what the user gives: a JSON or YAML file (or `-` for stdin), key=value pairs,
// windows and times. Bad input is a usage error that says what was expected.
import fs from 'node:fs';
import { CliError, EXIT } from './errors.ts';
import { loadYaml } from './output.ts';

/** A JSON or YAML document from a file, or from stdin for `-`. */
export async function readDocument(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `cannot read ${file}: ${(e as Error).message}`,
      EXIT.USAGE,
      'give a readable JSON or YAML file, or - for stdin',
    );
  }
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both
    const YAML = await loadYaml();
    return YAML.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`${file} is neither JSON nor YAML: ${(e as Error).message}`, EXIT.USAGE);
  }
}

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(`${what} must be an object (a mapping of fields)`, EXIT.USAGE);
  }
  return value as Record<string, unknown>;
}

/** `--label env=prod` style options, collected into an object. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new CliError(`"${value}" is not key=value`, EXIT.USAGE);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A positive integer option. */
export function integer(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new CliError(`${name} must be a whole number, not "${value}"`, EXIT.USAGE);
    return n;
  };
}

/** `02:00-04:00` (UTC), or `none` to clear the window. */
export function parseWindow(value: string): { start: string; end: string } | null {
  if (value === 'none') return null;
  const m = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(value);
  if (!m) throw new CliError(`window "${value}" is not HH:MM-HH:MM`, EXIT.USAGE, 'e.g. --window 02:00-04:00 (UTC), or none');
  return { start: m[1], end: m[2] };
}

/** `name:role:zone` of a node; role and zone may be left out. */
export function parseNode(value: string): { name: string; role?: string; zone?: string } {
  const [name, role, zone] = value.split(':');
  if (!name) throw new CliError(`node "${value}" has no name`, EXIT.USAGE, 'e.g. --node es-1:leader:az1');
  return { name, ...(role ? { role } : {}), ...(zone ? { zone } : {}) };
}

/** `10m`, `2h`, `3d`, `45s` ago, or an ISO-8601 time; returns an ISO time. */
export function parseSince(value: string, now = Date.now()): string {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(value);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new CliError(
      `--since "${value}" is neither a duration nor a time`,
      EXIT.USAGE,
      'e.g. --since 10m, 2h, 3d or 2026-12-01T08:00:00Z',
    );
  }
  return new Date(t).toISOString();
}

/** A secret from stdin (its first line, without the line end): never from an argument or the history. */
export function readSecretLine(): string {
  let text: string;
  try {
    text = fs.readFileSync(0, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read stdin: ${(e as Error).message}`, EXIT.USAGE);
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '')
    throw new CliError('stdin held no password', EXIT.USAGE, 'e.g. printf \'%s\\n\' "$PASSWORD" | liftgate ... --password-stdin');
  return line;
}

/** Asks a yes/no question on the terminal; without one, `--yes` is required. */
export async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError(`refusing to ${question} without confirmation`, EXIT.USAGE, 'add --yes when not on a terminal');
  }
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question}? [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not confirmed; nothing was changed', EXIT.USAGE);
}
