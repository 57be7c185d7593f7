// The docs keep up with the code: every LIFTGATE_* setting the code reads is declared in the
// settings module (src/domain/settings.ts, from which docs/settings.md's table is printed: see
// test/app/settings.test.ts) and is in that table; no module but the settings module reads a
// variable of the environment by hand; and docs/SECURITY.md has a row for every API family saying its
// credential, what it reaches, its rate limits and how it is revoked, with the rate limits' real
// defaults.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SETTING_NAMES } from '../../src/domain/settings.ts';
import { DEFAULT_RATE_LIMITS } from '../../src/http/rate-limits.ts';
import { FAMILIES } from '../helpers/routes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|tsx|mjs|js)$/.test(e.name) ? [p] : [];
  });
}

/** Settings read in code: `env.LIFTGATE_X`, or the name as a string of its own (`intFromEnv('LIFTGATE_X')`). */
function settingsRead(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/\benv\.(LIFTGATE_[A-Z0-9_]+)/g)) found.add(m[1]!);
  for (const m of code.matchAll(/\benv\[\s*['"`](LIFTGATE_[A-Z0-9_]+)['"`]\s*\]/g)) found.add(m[1]!);
  for (const m of code.matchAll(/['"`](LIFTGATE_[A-Z0-9_]+)['"`]/g)) found.add(m[1]!);
  return [...found].sort();
}

/** A line that reads one variable of the environment itself (`process.env.X`, `env.X`, `env['X']`). */
function envReadBy(line: string): boolean {
  return /\b(process\.)?env(\.[A-Z_][A-Z0-9_]*\b|\[)/.test(line);
}

/** The rows of the first Markdown table after a heading, as arrays of trimmed cells. */
function tableAfter(markdown: string, heading: RegExp): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && heading.test(l));
  assert.ok(start >= 0, `no heading ${heading}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,6} /.test(line)) break;
    if (line.startsWith('|'))
      rows.push(
        line
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    else if (rows.length > 0) break;
  }
  assert.ok(rows.length > 2, `no table after ${heading}`);
  return rows.filter((r) => !r.every((c) => /^:?-+:?$/.test(c)));
}

describe('docs complete', () => {
  it('every LIFTGATE_* setting the code reads is in the settings table of docs/settings.md', () => {
    const read_ = new Set(['src', 'bin'].flatMap((d) => sourceFiles(d)).flatMap((f) => settingsRead(read(f))));
    assert.ok(read_.has('LIFTGATE_DATA_DIR') && read_.has('LIFTGATE_RATE_LIMIT_CREDENTIAL'), [...read_].join(', '));
    const [, ...rows] = tableAfter(read('docs/settings.md'), /^## Every setting$/);
    const listed = new Set(rows.flatMap((r) => [...(r[0] ?? '').matchAll(/LIFTGATE_[A-Z0-9_]+/g)].map((m) => m[0])));
    assert.deepEqual(
      [...read_].filter((v) => !listed.has(v)),
      [],
      'read in the code but missing from the settings table of docs/settings.md',
    );
  });

  it('every setting the code reads is declared in the settings module', () => {
    const read_ = new Set(['src', 'bin'].flatMap((d) => sourceFiles(d)).flatMap((f) => settingsRead(read(f))));
    const declared = new Set<string>(SETTING_NAMES);
    assert.deepEqual(
      [...read_].filter((v) => !declared.has(v)),
      [],
      'read in the code but not declared in src/domain/settings.ts',
    );
  });

  it('no module but the settings module reads a variable of the environment by hand', () => {
    const offenders = sourceFiles('src')
      .filter((f) => f !== path.join('src', 'domain', 'settings.ts'))
      .flatMap((f) =>
        read(f)
          .split('\n')
          .map((line, i) => ({ line, at: `${f}:${i + 1}` }))
          .filter(({ line }) => envReadBy(line)),
      )
      .map(({ line, at }) => `${at}: ${line.trim()}`);
    assert.deepEqual(offenders, [], 'read these through setting() (src/domain/settings.ts)');
    // the finder's oracle can fail
    assert.ok(envReadBy('const v = process.env.LIFTGATE_X;') && envReadBy("process.env['PORT']") && envReadBy('env.NO_COLOR'));
    assert.ok(!envReadBy('env = process.env') && !envReadBy('{ ...process.env, X: 1 }') && !envReadBy("setting('PORT', env)"));
  });

  it('the settings finder sees each way the code reads one (its oracle can fail)', () => {
    const code = `process.env.LIFTGATE_A; env['LIFTGATE_B']; intFromEnv("LIFTGATE_C", 1); '(see LIFTGATE_D)'; // LIFTGATE_E`;
    assert.deepEqual(settingsRead(code), ['LIFTGATE_A', 'LIFTGATE_B', 'LIFTGATE_C']);
  });

  it('docs/SECURITY.md has a row for every family: credential, reach, rate limits, revocation', () => {
    const doc = read('docs/SECURITY.md');
    const [header, ...rows] = tableAfter(doc, /^## Credentials of every family/);
    const columns = ['family', 'credential', 'reaches', 'rate limits', 'revoked by'];
    for (const c of columns) assert.ok(header!.includes(c), `the table has a "${c}" column: ${header!.join(' | ')}`);
    for (const family of FAMILIES) {
      const row = rows.find((r) => r[0]!.includes(`\`${family}\``));
      assert.ok(row, `no row for the ${family} family`);
      for (const c of columns) {
        assert.ok((row[header!.indexOf(c)] ?? '') !== '', `the ${family} row says nothing under "${c}"`);
      }
    }
    // The real figures and setting names (src/http/rate-limits.ts).
    const { perAddress, perCredential, failedAuth } = DEFAULT_RATE_LIMITS;
    for (const figure of [`${perAddress.max} requests a minute`, `${perCredential.max} a minute`, `${failedAuth.max} failed`]) {
      assert.ok(doc.includes(figure), `SECURITY.md says "${figure}"`);
    }
    assert.equal(perAddress.windowMs, 60_000);
    assert.equal(perCredential.windowMs, 60_000);
    assert.equal(failedAuth.windowMs, 5 * 60_000);
    const limits = settingsRead(read('src/http/rate-limits.ts'));
    assert.ok(limits.length >= 4, limits.join(', '));
    for (const name of limits) assert.ok(doc.includes(name), `SECURITY.md names ${name}`);
  });
});
