// The settings module (src/domain/settings.ts) is the one place the environment is read:
// - every setting is classified here: one with a value it refuses has a bad value below, one that
//   takes any text is listed as such, so a new setting cannot go untested;
// - `liftgate serve` started with each bad value alone exits 2 before it opens anything (its data
//   folder is never made) and names the variable; the CLI's client commands do the same for theirs;
// - several bad values at once are all named; defaults and valid values parse to typed values;
// - the tables of docs/settings.md and the README are the ones printed from the module.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  readSettings,
  setting,
  SETTING_NAMES,
  SETTINGS,
  SettingsError,
  settingsProblems,
  type SettingName,
} from '../../src/domain/settings.ts';
import { readmeRows, settingsRows, TABLE_FILES, tableIn } from '../../scripts/settings-table.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** One value each setting refuses (a setting that takes any text is in ANY_TEXT instead). */
const BAD: Partial<Record<SettingName, string>> = {
  PORT: '70000',
  LIFTGATE_OBSHELL_PORTS: '3000-2000',
  LIFTGATE_DATABASE_URL: 'mysql://db.example/liftgate',
  LIFTGATE_DATABASE_SCHEMA: 'Bad-Schema',
  LIFTGATE_DEMO: 'yes',
  LIFTGATE_SIM_TIME_SCALE: '-1',
  LIFTGATE_LEASE_MS: 'abc',
  LIFTGATE_EXECUTOR_TIMEOUT_MS: '10',
  LIFTGATE_STEP_RECOVERY_LIMIT: '2.5',
  LIFTGATE_EVENT_RETENTION_DAYS: '7d',
  LIFTGATE_MASTER_KEY: 'not-a-key-at-all',
  LIFTGATE_URL: 'ftp://localhost:8080',
  LIFTGATE_PROJECT: 'no spaces',
  LIFTGATE_RATE_LIMITS: 'maybe',
  LIFTGATE_RATE_LIMIT_ADDRESS: '6000',
  LIFTGATE_RATE_LIMIT_CREDENTIAL: '0/1m',
  LIFTGATE_RATE_LIMIT_FAILED_AUTH: '20/5d',
  LIFTGATE_RATE_LIMIT_STORE: 'redis',
  LIFTGATE_LOG_LEVEL: 'loud',
  LIFTGATE_LOG: 'off',
  LIFTGATE_SHUTDOWN_TIMEOUT_MS: '-5',
  LIFTGATE_SSE_MAX_STREAMS: '0',
  LIFTGATE_SSE_HEARTBEAT_MS: '1.5s',
  LIFTGATE_POSTGRES: 'false',
  LIFTGATE_REDIS: 'no',
  LIFTGATE_WEBHOOK_ALLOWED_HOSTS: 'https://hooks.example.com/x',
  LIFTGATE_WEBHOOK_TIMEOUT_MS: 'soon',
  LIFTGATE_WEBHOOK_RETRY_HOURS: '1h',
  LIFTGATE_QUERY_PROFILE: 'true',
  LIFTGATE_FAULT_POINT: 'step.nowhere:1',
};

/** Settings that take any text: no value is refused. */
const ANY_TEXT: SettingName[] = [
  'HOST',
  'LIFTGATE_DATA_DIR',
  'LIFTGATE_ADMIN_TOKEN',
  'LIFTGATE_CONSOLE_DIR',
  'LIFTGATE_METRICS_TOKEN',
  'LIFTGATE_TOKEN',
  'NO_COLOR',
  'FORCE_COLOR',
  'TERM',
  'TZ',
  'LIFTGATE_PG_DATA_DIR',
  'LIFTGATE_REDIS_SERVER',
  'LIFTGATE_VALKEY_SERVER',
  'LIFTGATE_PGBOUNCER',
];

const badNames = Object.keys(BAD) as SettingName[];

/** `NAME=value` or, for a secret, `NAME (n characters, not shown)`: what names the variable in a message */
const named = (name: SettingName) => new RegExp(`(^|\\s)${name}(=| \\()`, 'm');

describe('settings: every one classified', () => {
  it('each setting has a bad value here or is listed as taking any text, never both', () => {
    assert.deepEqual([...badNames, ...ANY_TEXT].sort(), [...SETTING_NAMES].sort());
    for (const n of ANY_TEXT) assert.equal(SETTINGS[n].allowed, null, `${n} is checked: give it a bad value in BAD`);
    for (const n of badNames) assert.notEqual(SETTINGS[n].allowed, null, `${n} takes any text: list it in ANY_TEXT`);
  });

  it('each bad value is refused alone, with a message naming the variable and what is allowed', () => {
    for (const n of badNames) {
      const bad = BAD[n]!;
      assert.throws(
        () => setting(n, { [n]: bad }),
        (err: unknown) => {
          assert.ok(err instanceof SettingsError);
          assert.deepEqual(
            err.problems.map((p) => p.name),
            [n],
          );
          assert.match(err.message, named(n));
          assert.ok(err.message.endsWith(`: must be ${SETTINGS[n].allowed}`), err.message);
          if (SETTINGS[n].secret) assert.ok(!err.message.includes(bad), `a secret is not repeated: ${err.message}`);
          else assert.ok(err.message.startsWith(`${n}=${bad}: `), err.message);
          return true;
        },
        n,
      );
    }
  });

  it('several bad values are all reported at once, in the table order', () => {
    const env = { LIFTGATE_LEASE_MS: 'abc', PORT: '-1', LIFTGATE_RATE_LIMIT_STORE: 'redis', LIFTGATE_DEMO: '0' };
    assert.throws(
      () => readSettings(env),
      (err: unknown) => {
        assert.ok(err instanceof SettingsError);
        assert.deepEqual(
          err.problems.map((p) => p.name),
          ['PORT', 'LIFTGATE_LEASE_MS', 'LIFTGATE_RATE_LIMIT_STORE'],
        );
        assert.equal(
          err.message,
          [
            '3 settings are not valid:',
            '  PORT=-1: must be an integer from 0 to 65535',
            '  LIFTGATE_LEASE_MS=abc: must be an integer from 1000 to 3600000',
            '  LIFTGATE_RATE_LIMIT_STORE=redis: must be one of memory, database',
          ].join('\n'),
        );
        return true;
      },
    );
    // a scope checks only its own: the server does not read LIFTGATE_URL, the CLI not LIFTGATE_LEASE_MS
    const both = { LIFTGATE_URL: 'nope', LIFTGATE_LEASE_MS: 'nope' };
    assert.deepEqual(
      settingsProblems(both, 'server').map((p) => p.name),
      ['LIFTGATE_LEASE_MS'],
    );
    assert.deepEqual(
      settingsProblems(both, 'cli').map((p) => p.name),
      ['LIFTGATE_URL'],
    );
  });

  it('unset and empty give the defaults, typed', () => {
    const defaults = readSettings({});
    assert.deepEqual(readSettings({ PORT: '', LIFTGATE_LEASE_MS: '  ', LIFTGATE_DEMO: '' }), defaults);
    assert.deepEqual(defaults, {
      PORT: 8080,
      HOST: 'localhost',
      LIFTGATE_OBSHELL_PORTS: { from: 2886, to: 2985 },
      LIFTGATE_DATA_DIR: './data',
      LIFTGATE_DATABASE_URL: undefined,
      LIFTGATE_DATABASE_SCHEMA: undefined,
      LIFTGATE_DEMO: true,
      LIFTGATE_ADMIN_TOKEN: undefined,
      LIFTGATE_SIM_TIME_SCALE: 0.05,
      LIFTGATE_LEASE_MS: 30_000,
      LIFTGATE_EXECUTOR_TIMEOUT_MS: 5000,
      LIFTGATE_STEP_RECOVERY_LIMIT: 5,
      LIFTGATE_EVENT_RETENTION_DAYS: undefined,
      LIFTGATE_MASTER_KEY: undefined,
      LIFTGATE_CONSOLE_DIR: undefined,
      LIFTGATE_METRICS_TOKEN: undefined,
      LIFTGATE_URL: 'http://localhost:8080',
      LIFTGATE_TOKEN: undefined,
      LIFTGATE_PROJECT: 'demo',
      NO_COLOR: undefined,
      FORCE_COLOR: undefined,
      TERM: undefined,
      TZ: undefined,
      LIFTGATE_RATE_LIMITS: true,
      LIFTGATE_RATE_LIMIT_ADDRESS: { max: 6000, windowMs: 60_000 },
      LIFTGATE_RATE_LIMIT_CREDENTIAL: { max: 3000, windowMs: 60_000 },
      LIFTGATE_RATE_LIMIT_FAILED_AUTH: { max: 20, windowMs: 300_000 },
      LIFTGATE_RATE_LIMIT_STORE: 'memory',
      LIFTGATE_LOG_LEVEL: 'info',
      LIFTGATE_LOG: true,
      LIFTGATE_SHUTDOWN_TIMEOUT_MS: 10_000,
      LIFTGATE_SSE_MAX_STREAMS: 10,
      LIFTGATE_SSE_HEARTBEAT_MS: 15_000,
      LIFTGATE_POSTGRES: true,
      LIFTGATE_PG_DATA_DIR: undefined,
      LIFTGATE_REDIS: true,
      LIFTGATE_REDIS_SERVER: '/usr/bin/redis-server',
      LIFTGATE_VALKEY_SERVER: '/usr/bin/valkey-server',
      LIFTGATE_WEBHOOK_ALLOWED_HOSTS: [],
      LIFTGATE_WEBHOOK_TIMEOUT_MS: 10_000,
      LIFTGATE_WEBHOOK_RETRY_HOURS: 24,
      LIFTGATE_PGBOUNCER: '/usr/sbin/pgbouncer',
      LIFTGATE_QUERY_PROFILE: false,
      LIFTGATE_FAULT_POINT: undefined,
    });
  });

  it('valid values parse to typed values', () => {
    const cases: [SettingName, string, unknown][] = [
      ['PORT', '0', 0],
      ['LIFTGATE_OBSHELL_PORTS', ' 4000-4009 ', { from: 4000, to: 4009 }],
      ['LIFTGATE_OBSHELL_PORTS', '4000', { from: 4000, to: 4000 }],
      ['LIFTGATE_OBSHELL_PORTS', 'auto', 'auto'],
      ['LIFTGATE_DATABASE_URL', 'postgresql://u:p@127.0.0.1/db', 'postgresql://u:p@127.0.0.1/db'],
      ['LIFTGATE_DEMO', '0', false],
      ['LIFTGATE_SIM_TIME_SCALE', '0', 0],
      ['LIFTGATE_SIM_TIME_SCALE', '0.003', 0.003],
      ['LIFTGATE_LEASE_MS', '1500', 1500],
      ['LIFTGATE_EVENT_RETENTION_DAYS', '36500', 36500],
      ['LIFTGATE_MASTER_KEY', 'aB'.repeat(32), 'aB'.repeat(32)],
      ['LIFTGATE_RATE_LIMITS', 'off', false],
      ['LIFTGATE_RATE_LIMITS', '1', true],
      ['LIFTGATE_RATE_LIMIT_FAILED_AUTH', '3/1h', { max: 3, windowMs: 3_600_000 }],
      ['LIFTGATE_LOG_LEVEL', 'silent', 'silent'],
      ['LIFTGATE_LOG', '0', false],
      ['LIFTGATE_SHUTDOWN_TIMEOUT_MS', '0', 0],
      [
        'LIFTGATE_WEBHOOK_ALLOWED_HOSTS',
        'hooks.example.com, *.corp.example ,[::1]',
        ['hooks.example.com', '*.corp.example', '[::1]'],
      ],
      ['LIFTGATE_WEBHOOK_RETRY_HOURS', '0.5', 0.5],
      ['LIFTGATE_QUERY_PROFILE', '1', true],
      ['LIFTGATE_FAULT_POINT', 'step.driver_done', { point: 'step.driver_done', at: 1 }],
      ['LIFTGATE_FAULT_POINT', 'recovery.reconciled:2@install', { point: 'recovery.reconciled', at: 2, action: 'install' }],
      ['LIFTGATE_URL', 'https://liftgate.example:8443/', 'https://liftgate.example:8443/'],
      ['LIFTGATE_PROJECT', 'team-a.prod_1', 'team-a.prod_1'],
      ['HOST', ' 0.0.0.0', ' 0.0.0.0'],
    ];
    for (const [name, text, want] of cases) assert.deepEqual(setting(name, { [name]: text }), want, `${name}=${text}`);
  });
});

describe('settings: checked at start', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'liftgate-settings-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** the environment without any setting of the parent (a developer's LIFTGATE_* must not leak in) */
  const cleanEnv = (): NodeJS.ProcessEnv =>
    Object.fromEntries(Object.entries(process.env).filter(([k]) => !(SETTING_NAMES as string[]).includes(k)));

  let started = 0;
  /** `liftgate <args>` from the sources, as `npm start` runs it; resolves when it exits */
  function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; dataDir: string }> {
    const dataDir = path.join(tmp, `data-${++started}`);
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: ROOT,
        env: { ...cleanEnv(), LIFTGATE_DATA_DIR: dataDir, LIFTGATE_LOG: '0', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr, dataDir }));
    });
  }

  /** runs `jobs` at most `limit` at a time (the machine is small) */
  async function limited<T>(jobs: (() => Promise<T>)[], limit = 3): Promise<T[]> {
    const out: T[] = new Array(jobs.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: limit }, async () => {
        while (next < jobs.length) {
          const i = next++;
          out[i] = await jobs[i]!();
        }
      }),
    );
    return out;
  }

  it('`liftgate serve` with one bad server setting exits 2 before it opens anything, naming it', async () => {
    const server = badNames.filter((n) => SETTINGS[n].scope === 'server');
    assert.ok(server.length >= 25, server.join(', '));
    const results = await limited(server.map((n) => () => run(['serve'], { [n]: BAD[n]! })));
    server.forEach((n, i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${n}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /^error: cannot start: /, n);
      assert.match(r.stderr, named(n), r.stderr);
      assert.ok(r.stderr.includes(`must be ${SETTINGS[n].allowed}`), r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
      // refused before the store (or even the data folder's lock) was opened
      assert.ok(!existsSync(r.dataDir), `${n}: ${r.dataDir} was made`);
    });
  });

  it('`liftgate serve` with every bad server setting at once names each of them', async () => {
    const server = badNames.filter((n) => SETTINGS[n].scope === 'server');
    const r = await run(['serve'], Object.fromEntries(server.map((n) => [n, BAD[n]!])));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: cannot start: ${server.length} settings are not valid:\n`));
    for (const n of server) assert.match(r.stderr, named(n), n);
    assert.ok(!existsSync(r.dataDir));
  });

  it('a CLI command with a bad CLI setting exits 2 before it calls the server, naming it', async () => {
    const cli = badNames.filter((n) => SETTINGS[n].scope === 'cli');
    assert.deepEqual(cli.sort(), ['LIFTGATE_PROJECT', 'LIFTGATE_URL']);
    const results = await limited(cli.map((n) => () => run(['targets', 'list'], { [n]: BAD[n]! })));
    cli.forEach((n, i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${n}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error: cannot start: ${n}=${BAD[n]}: must be `), r.stderr);
      assert.doesNotMatch(r.stderr, /is the server running/, 'it did not try to call the server');
    });
  });
});

describe('settings: the docs are printed from the module', () => {
  for (const [file, rows] of Object.entries({ 'docs/settings.md': settingsRows, 'README.md': readmeRows })) {
    it(`${file}'s settings table is the generated one (npm run docs:settings writes it)`, () => {
      assert.ok(file in TABLE_FILES, `scripts/settings-table.ts writes ${file}`);
      const inFile = tableIn(readFileSync(path.join(ROOT, file), 'utf8'), file);
      assert.deepEqual(inFile, rows(), `${file} differs from the settings module: run npm run docs:settings`);
    });
  }

  it('the README lists the settings a first run needs, with the defaults of the module', () => {
    const [, ...rows] = tableIn(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), 'README.md');
    const names = rows.map((r) => r[0]!.replaceAll('`', ''));
    for (const n of ['PORT', 'HOST', 'LIFTGATE_DATA_DIR', 'LIFTGATE_DATABASE_URL', 'LIFTGATE_ADMIN_TOKEN', 'LIFTGATE_URL']) {
      assert.ok(names.includes(n), `README lists ${n}`);
    }
    for (const r of rows) {
      const n = r[0]!.replaceAll('`', '') as SettingName;
      assert.equal(r[1], SETTINGS[n].shown, n);
    }
    assert.equal(rows.find((r) => r[0] === '`PORT`')?.[1], '`8080`');
    assert.equal(rows.find((r) => r[0] === '`LIFTGATE_URL`')?.[1], '`http://localhost:8080`');
  });
});
