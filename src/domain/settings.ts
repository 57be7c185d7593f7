// Every environment variable the server and the CLI read, declared once: its TypeBox schema (the
// typed value), how its text becomes that value, its default, what it means and who reads it.
// `liftgate serve` checks them all before it opens anything and refuses to start with one line per
// bad variable; each module reads its own through `setting()`, so none parses the environment by
// hand. docs/settings.md's table and the README's are printed from this table
// (scripts/settings-table.ts) and a test keeps them equal (test/app/settings.test.ts).
//
// An unset variable and one set to the empty string (or only spaces) are the same: the default.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { FAULT_POINTS } from './fault-point-names.ts';

/** who reads a setting: the server (`liftgate serve`) or the CLI's client commands */
export type SettingScope = 'server' | 'cli';

/** How a variable's text becomes a value, and which values its schema allows. */
interface Kind<S extends TSchema> {
  /** the typed value */
  schema: S;
  /** text -> a candidate value, checked against the schema (text that cannot be read stays text and fails) */
  decode: (text: string) => unknown;
  /** what is allowed, in words ("an integer from 1 to 1000"); null: any text */
  allowed: string | null;
}

export interface Setting<S extends TSchema = TSchema> extends Kind<S> {
  /** the value when the variable is unset or empty */
  default: Static<S>;
  /** the default as the docs show it */
  shown: string;
  /** one line: what it does (docs/settings.md) */
  meaning: string;
  scope: SettingScope;
  /** for tests or profiling, not for operators */
  internal?: boolean;
  /** a secret: a bad value is not repeated in the message */
  secret?: boolean;
  /** in the README's short table (the settings a first run needs), with this shorter meaning */
  readme?: string;
}

// --- kinds ---------------------------------------------------------------------------------------

const integer = (min: number, max: number, allowed = `an integer from ${min} to ${max}`) => ({
  schema: Type.Integer({ minimum: min, maximum: max }),
  decode: (t: string) => (/^[+-]?\d+$/.test(t) ? Number(t) : t),
  allowed,
});

const decimal = (min: number, max: number) => ({
  schema: Type.Number({ minimum: min, maximum: max }),
  decode: (t: string) => (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? Number(t) : t),
  allowed: `a number from ${min} to ${max}`,
});

/** `1` on, `0` off */
const flag = () => ({
  schema: Type.Boolean(),
  decode: (t: string) => (t === '1' ? true : t === '0' ? false : t),
  allowed: '0 or 1',
});

/** `on`/`1` on, `off`/`0` off */
const onOff = () => ({
  schema: Type.Boolean(),
  decode: (t: string) => (t === 'on' || t === '1' ? true : t === 'off' || t === '0' ? false : t),
  allowed: 'on or off (or 1 or 0)',
});

const oneOf = <const T extends readonly string[]>(values: T) => ({
  schema: Type.Union(values.map((v) => Type.Literal(v))) as unknown as TSchema & { static: T[number] },
  decode: (t: string) => t,
  allowed: `one of ${values.join(', ')}`,
});

const text = () => ({ schema: Type.String(), decode: (t: string) => t, allowed: null });

const matching = (pattern: RegExp, allowed: string) => ({
  schema: Type.String({ pattern: pattern.source }),
  decode: (t: string) => t,
  allowed,
});

const httpUrl = () => ({
  schema: Type.String({ pattern: '^https?://' }),
  decode: (t: string) => {
    try {
      const u = new URL(t);
      return u.protocol === 'http:' || u.protocol === 'https:' ? t : null;
    } catch {
      return null;
    }
  },
  allowed: 'an http:// or https:// URL',
});

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** "6000/1m" -> 6000 hits per minute */
const rateLimit = () => ({
  schema: Type.Object({ max: Type.Integer({ minimum: 1 }), windowMs: Type.Integer({ minimum: 1000 }) }),
  decode: (t: string) => {
    const m = /^(\d{1,9})\/(\d{1,6})(s|m|h)$/.exec(t);
    return m ? { max: Number(m[1]), windowMs: Number(m[2]) * UNITS[m[3]!]! } : t;
  },
  allowed: 'hits per window, like 6000/1m (at least 1, the window in s, m or h)',
});

/** `2886-2985`, one port, or `auto` */
const portRange = () => ({
  schema: Type.Union([
    Type.Literal('auto'),
    Type.Object({ from: Type.Integer({ minimum: 1, maximum: 65535 }), to: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  ]),
  decode: (t: string) => {
    if (t === 'auto') return t;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(t);
    if (!m) return t;
    const from = Number(m[1]);
    const to = Number(m[2] ?? m[1]);
    return from <= to ? { from, to } : t;
  },
  allowed: 'a port range such as 2886-2985 (1-65535), one port, or auto',
});

/** `name[:n][@action]` */
const faultPoint = () => ({
  schema: Type.Object({
    point: Type.Union(FAULT_POINTS.map((p) => Type.Literal(p))),
    at: Type.Integer({ minimum: 1 }),
    action: Type.Optional(Type.String({ pattern: '^[a-z0-9_-]+$' })),
  }),
  decode: (t: string) => {
    const m = /^([^:@]+)(?::(\d+))?(?:@(.+))?$/.exec(t);
    return m ? { point: m[1], at: m[2] === undefined ? 1 : Number(m[2]), ...(m[3] ? { action: m[3] } : {}) } : t;
  },
  allowed: `name[:n][@action] with a name from ${FAULT_POINTS.join(', ')}`,
});

/** comma-separated host names (`*.example.com` allows its subdomains) */
const hosts = () => ({
  schema: Type.Array(Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9._-]+$|^\\[?[0-9A-Fa-f:.]+\\]?$' })),
  decode: (t: string) =>
    t
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  allowed: 'comma-separated host names or addresses (*.example.com allows its subdomains)',
});

/** a kind that may stay unset (no default) */
const maybe = <S extends TSchema>(k: Kind<S>) => ({
  schema: Type.Union([k.schema, Type.Undefined()]) as unknown as TSchema & { static: Static<S> | undefined },
  decode: k.decode,
  allowed: k.allowed,
});

function def<S extends TSchema>(
  kind: Kind<S>,
  d: Omit<Setting<S>, keyof Kind<S> | 'shown' | 'default'> & { default: Static<S>; shown?: string },
): Setting<S> {
  const shown = d.shown ?? (d.default === undefined ? '-' : `\`${String(d.default)}\``);
  return { ...kind, ...d, shown };
}

// --- the settings --------------------------------------------------------------------------------

export const SETTINGS = {
  PORT: def(integer(0, 65535), {
    default: 8080,
    meaning: 'the port the server listens on (0: one the system picks)',
    scope: 'server',
    readme: 'the port the server listens on',
  }),
  HOST: def(text(), {
    default: 'localhost',
    meaning: 'the address the server listens on (loopback only by default; set `HOST=0.0.0.0` to expose it)',
    scope: 'server',
    readme: 'where the server listens (`0.0.0.0` exposes it)',
  }),
  LIFTGATE_OBSHELL_PORTS: def(portRange(), {
    default: { from: 2886, to: 2985 },
    shown: '`2886-2985`',
    meaning:
      "each OceanBase cluster's own OBShell agent port is taken from this range (`auto`: a free port the system picks, recorded and reused at restart); agents listen on `HOST`",
    scope: 'server',
    readme: "where OBShell clusters' own agent ports come from",
  }),
  LIFTGATE_DATA_DIR: def(text(), {
    default: './data',
    meaning: 'SQLite store, master key, PostgreSQL clusters of the `postgres` driver (in `pg/`; see `LIFTGATE_PG_DATA_DIR`)',
    scope: 'server',
    readme: 'SQLite store, master key, PostgreSQL clusters',
  }),
  LIFTGATE_DATABASE_URL: def(
    maybe(matching(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL, or unset for SQLite')),
    {
      default: undefined,
      shown: '(SQLite)',
      meaning: '`postgres://...` switches the store to PostgreSQL',
      scope: 'server',
      secret: true,
      readme: '`postgres://...` stores in PostgreSQL (for replicas)',
    },
  ),
  LIFTGATE_DATABASE_SCHEMA: def(maybe(matching(/^[a-z_][a-z0-9_]*$/, 'a schema name: lower-case letters, digits and _')), {
    default: undefined,
    shown: '`public`',
    meaning: "PostgreSQL schema for Liftgate's tables",
    scope: 'server',
  }),
  LIFTGATE_DEMO: def(flag(), {
    default: true,
    shown: '`1`',
    meaning: '`0` skips the demo project on first start',
    scope: 'server',
    readme: '`0` skips the demo project on first start',
  }),
  LIFTGATE_ADMIN_TOKEN: def(maybe(text()), {
    default: undefined,
    shown: 'generated',
    meaning: 'an admin bearer token, registered at start if new; one revoked or rotated away stops the start (docs/SECURITY.md)',
    scope: 'server',
    secret: true,
    readme: 'an admin token to register at start',
  }),
  LIFTGATE_SIM_TIME_SCALE: def(decimal(0, 1000), {
    default: 0.05,
    meaning: "multiplies the simulated fleet's realistic step durations (0 = instant, 1 = real time)",
    scope: 'server',
  }),
  LIFTGATE_LEASE_MS: def(integer(1000, 3_600_000), {
    default: 30_000,
    meaning: 'how long a claimed step stays leased without a heartbeat',
    scope: 'server',
  }),
  LIFTGATE_EXECUTOR_TIMEOUT_MS: def(integer(1000, 3_600_000), {
    default: 5000,
    meaning:
      'a replica whose heartbeat (every second) stops this long is lost: another replica takes its steps over at once (PostgreSQL)',
    scope: 'server',
  }),
  LIFTGATE_STEP_RECOVERY_LIMIT: def(integer(1, 1000), {
    default: 5,
    meaning:
      'recoveries of one step (its executor died while it ran) before it fails with `STEP_RECOVERY_LIMIT` instead of being re-queued again',
    scope: 'server',
  }),
  LIFTGATE_EVENT_RETENTION_DAYS: def(
    maybe(integer(1, 36_500, 'a whole number of days from 1 to 36500, or unset to keep every event')),
    {
      default: undefined,
      shown: '(unset: keep all)',
      meaning:
        'delete events (and ended webhook deliveries) older than this many days, 1 to 36500; unset keeps them: they are the audit trail',
      scope: 'server',
    },
  ),
  LIFTGATE_MASTER_KEY: def(maybe(matching(/^[0-9a-fA-F]{64}$/, '64 hex characters')), {
    default: undefined,
    shown: 'key file in the data folder',
    meaning: '64 hex chars; encrypts access-key secrets',
    scope: 'server',
    secret: true,
  }),
  LIFTGATE_CONSOLE_DIR: def(maybe(text()), {
    default: undefined,
    shown: '`dist/console`',
    meaning: 'the built web console the server serves at `/`',
    scope: 'server',
  }),
  LIFTGATE_METRICS_TOKEN: def(maybe(text()), {
    default: undefined,
    shown: '(unset: open)',
    meaning: 'when set, `GET /metrics` needs `Authorization: Bearer <this token>`',
    scope: 'server',
    secret: true,
  }),
  LIFTGATE_URL: def(httpUrl(), {
    default: 'http://localhost:8080',
    meaning: 'the server the CLI calls (`--url`)',
    scope: 'cli',
    readme: "the CLI's server",
  }),
  LIFTGATE_TOKEN: def(maybe(text()), {
    default: undefined,
    meaning: 'the token the CLI sends (`--token`)',
    scope: 'cli',
    secret: true,
    readme: "the CLI's token",
  }),
  LIFTGATE_PROJECT: def(matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a project id: letters, digits, . _ - (max 64)'), {
    default: 'demo',
    meaning: 'the project of the CLI’s commands (`--project`)',
    scope: 'cli',
    readme: "the CLI's project",
  }),
  NO_COLOR: def(maybe(text()), {
    default: undefined,
    meaning: 'set to anything, the CLI prints no colours (https://no-color.org; also `--no-color`)',
    scope: 'cli',
  }),
  FORCE_COLOR: def(maybe(text()), {
    default: undefined,
    meaning: 'set to anything but `0`, the CLI prints colours even when not on a terminal',
    scope: 'cli',
  }),
  TERM: def(maybe(text()), {
    default: undefined,
    meaning: '`dumb`: the CLI prints no colours',
    scope: 'cli',
  }),
  TZ: def(maybe(text()), {
    default: undefined,
    meaning:
      'an IANA time zone (e.g. `Europe/Berlin`): the CLI prints times in it, with its abbreviation; unset or unknown, in UTC',
    scope: 'cli',
  }),
  LIFTGATE_RATE_LIMITS: def(onOff(), {
    default: true,
    shown: '`on`',
    meaning: '`off` disables every rate limit (docs/SECURITY.md, "Rate limits")',
    scope: 'server',
  }),
  LIFTGATE_RATE_LIMIT_ADDRESS: def(rateLimit(), {
    default: { max: 6000, windowMs: 60_000 },
    shown: '`6000/1m`',
    meaning: 'requests per client address and window (`s`, `m`, `h`)',
    scope: 'server',
  }),
  LIFTGATE_RATE_LIMIT_CREDENTIAL: def(rateLimit(), {
    default: { max: 3000, windowMs: 60_000 },
    shown: '`3000/1m`',
    meaning: 'authenticated requests per token, access key or OBShell password',
    scope: 'server',
  }),
  LIFTGATE_RATE_LIMIT_FAILED_AUTH: def(rateLimit(), {
    default: { max: 20, windowMs: 5 * 60_000 },
    shown: '`20/5m`',
    meaning: 'failed authentications per client address, counted across replicas',
    scope: 'server',
  }),
  LIFTGATE_RATE_LIMIT_STORE: def(oneOf(['memory', 'database'] as const), {
    default: 'memory',
    meaning: '`database` shares the address and credential counters between replicas',
    scope: 'server',
  }),
  LIFTGATE_LOG_LEVEL: def(oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), {
    default: 'info',
    meaning: 'request log level (JSON lines with `reqId` on stdout); `silent` turns them off',
    scope: 'server',
  }),
  LIFTGATE_LOG: def(flag(), {
    default: true,
    shown: '`1`',
    meaning: '`0` turns request logs off (the test runner does)',
    scope: 'server',
  }),
  LIFTGATE_SHUTDOWN_TIMEOUT_MS: def(integer(0, 3_600_000), {
    default: 10_000,
    meaning: 'on SIGTERM, exit after this even if steps still run (recovery takes them over)',
    scope: 'server',
  }),
  LIFTGATE_SSE_MAX_STREAMS: def(integer(1, 10_000), {
    default: 10,
    meaning: 'open event streams per credential on each server; one more answers 429',
    scope: 'server',
  }),
  LIFTGATE_SSE_HEARTBEAT_MS: def(integer(10, 3_600_000), {
    default: 15_000,
    meaning: 'a comment line on an idle event stream this often',
    scope: 'server',
  }),
  LIFTGATE_POSTGRES: def(flag(), {
    default: true,
    shown: '`1`',
    meaning: '`0` leaves the `postgres` driver out (no PostgreSQL clusters started or created)',
    scope: 'server',
  }),
  LIFTGATE_PG_DATA_DIR: def(maybe(text()), {
    default: undefined,
    shown: "`$LIFTGATE_DATA_DIR/pg`, or the driver's own folder",
    meaning:
      "the folder of the `postgres` driver's clusters. Unset, it is `$LIFTGATE_DATA_DIR/pg`, except when Liftgate runs as root and the servers' user `liftgate-pg` cannot reach that folder (a clone in `/root`, mode 0700): new clusters then go to `/var/lib/liftgate/<data folder>-<hash>/pg`, said once at start ([postgres-driver.md](postgres-driver.md#where-clusters-and-binaries-live)). Set, it is used as it is; out of that user's reach, creating a cluster fails saying what to change",
    scope: 'server',
  }),
  LIFTGATE_REDIS: def(flag(), {
    default: true,
    shown: '`1`',
    meaning: '`0` leaves the `redis` driver out (no Redis or Valkey groups started or created)',
    scope: 'server',
  }),
  LIFTGATE_REDIS_SERVER: def(text(), {
    default: '/usr/bin/redis-server',
    meaning:
      'the Redis server binary of the `redis` driver; the version it reports is what the catalog offers ([redis-driver.md](redis-driver.md))',
    scope: 'server',
  }),
  LIFTGATE_VALKEY_SERVER: def(text(), {
    default: '/usr/bin/valkey-server',
    meaning:
      'the Valkey server binary of the `redis` driver; the version it reports is what the catalog offers ([redis-driver.md](redis-driver.md))',
    scope: 'server',
  }),
  LIFTGATE_WEBHOOK_ALLOWED_HOSTS: def(hosts(), {
    default: [],
    shown: '(any host)',
    meaning: 'comma-separated hosts webhook URLs may name; unset allows any http(s) URL, loopback included',
    scope: 'server',
  }),
  LIFTGATE_WEBHOOK_TIMEOUT_MS: def(integer(100, 3_600_000), {
    default: 10_000,
    meaning: "one delivery attempt's time limit",
    scope: 'server',
  }),
  LIFTGATE_WEBHOOK_RETRY_HOURS: def(decimal(0, 8760), {
    default: 24,
    meaning: 'how long a failing delivery is retried (exponential backoff from 10 s, at most 1 h apart)',
    scope: 'server',
  }),
  LIFTGATE_PGBOUNCER: def(text(), {
    default: '/usr/sbin/pgbouncer',
    meaning: 'the PgBouncer binary the `postgres` driver starts in front of a cluster that asks for a pooler',
    scope: 'server',
  }),
  LIFTGATE_QUERY_PROFILE: def(flag(), {
    default: false,
    shown: '(off)',
    meaning: '`1` counts every store statement and prints the slowest ones at exit (a profiling aid)',
    scope: 'server',
    internal: true,
  }),
  LIFTGATE_FAULT_POINT: def(maybe(faultPoint()), {
    default: undefined,
    shown: '(off)',
    meaning: 'for crash tests only: `name[:n][@action]` kills the process at a named fault point (`src/engine/fault-points.ts`)',
    scope: 'server',
    internal: true,
  }),
};

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The settings as one TypeBox schema: the typed object `readSettings` returns. */
export const SettingsSchema = Type.Object(
  Object.fromEntries(SETTING_NAMES.map((n) => [n, SETTINGS[n].schema])) as {
    [K in SettingName]: (typeof SETTINGS)[K]['schema'];
  },
);
export type Settings = { [K in SettingName]: Static<(typeof SETTINGS)[K]['schema']> };

/** One bad variable: its name, what it held and what is allowed. */
export interface SettingProblem {
  name: SettingName;
  value: string;
  allowed: string;
  /** `LIFTGATE_LEASE_MS=abc: must be an integer from 1000 to 3600000` */
  message: string;
}

/** Thrown with every bad variable at once; its message has one line per variable. */
export class SettingsError extends Error {
  constructor(readonly problems: SettingProblem[]) {
    super(
      problems.length === 1
        ? problems[0]!.message
        : `${problems.length} settings are not valid:\n${problems.map((p) => `  ${p.message}`).join('\n')}`,
    );
    this.name = 'SettingsError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function parse<K extends SettingName>(name: K, env: Env): { value: Settings[K] } | { problem: SettingProblem } {
  const s: Setting = SETTINGS[name];
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return { value: s.default as Settings[K] };
  const candidate = s.decode(s.allowed === null ? raw : raw.trim());
  if (Value.Check(s.schema, candidate)) return { value: candidate as Settings[K] };
  const allowed = s.allowed ?? 'text';
  const shown = s.secret ? `${name} (${raw.length} characters, not shown)` : `${name}=${raw}`;
  return { problem: { name, value: raw, allowed, message: `${shown}: must be ${allowed}` } };
}

/** One setting from the environment (its default when unset or empty); throws SettingsError when bad. */
export function setting<K extends SettingName>(name: K, env: Env = process.env): Settings[K] {
  const r = parse(name, env);
  if ('problem' in r) throw new SettingsError([r.problem]);
  return r.value;
}

/**
 * Every setting, typed, and every problem (of one scope, when given), in the table's order, in one
 * pass; a bad setting is at its default in the values.
 */
function parseAll(env: Env, scope?: SettingScope): { values: Settings; problems: SettingProblem[] } {
  const values = {} as Record<SettingName, unknown>;
  const problems: SettingProblem[] = [];
  for (const n of SETTING_NAMES) {
    const r = parse(n, env);
    if ('value' in r) values[n] = r.value;
    else {
      values[n] = SETTINGS[n].default;
      if (scope === undefined || SETTINGS[n].scope === scope) problems.push(r.problem);
    }
  }
  return { values: values as Settings, problems };
}

/** Every bad variable of the environment (of one scope, when given), in the table's order. */
export function settingsProblems(env: Env = process.env, scope?: SettingScope): SettingProblem[] {
  return parseAll(env, scope).problems;
}

/** Every setting, typed; throws one SettingsError naming every bad variable (of `scope`, when given). */
export function readSettings(env: Env = process.env, scope?: SettingScope): Settings {
  const { values, problems } = parseAll(env, scope);
  if (problems.length > 0) throw new SettingsError(problems);
  return values;
}
