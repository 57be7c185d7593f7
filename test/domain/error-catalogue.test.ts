// The two code catalogues (HTTP errors, step failure codes) and docs/errors.md agree in both
// directions, and every code the engine or a driver names is in one of the catalogues.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ERROR_CATALOGUE } from '../../src/domain/errors.ts';
import { FAILURE_CODES } from '../../src/domain/failure-codes.ts';

const doc = fs.readFileSync('docs/errors.md', 'utf8');
const [httpPart, failurePart = ''] = doc.split(/^## Step failure codes$/m);
/** the first column of every table row of a part of the document, with the rest of the row */
const rows = (part: string) =>
  new Map([...part.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]));

test('docs/errors.md lists exactly the HTTP error catalogue, each code with its status', () => {
  const documented = rows(httpPart as string);
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    const row = documented.get(code);
    assert.ok(row, `docs/errors.md is missing ${code} (${status})`);
    assert.match(row, new RegExp(`^\\s*${status}\\s*\\|`), `docs/errors.md gives ${code} another status than ${status}`);
  }
  for (const code of documented.keys())
    assert.ok(code in ERROR_CATALOGUE, `docs/errors.md lists ${code}, which src/domain/errors.ts does not have`);
});

test('docs/errors.md lists exactly the step failure codes', () => {
  const documented = rows(failurePart);
  assert.ok(documented.size > 0, 'docs/errors.md has a "## Step failure codes" table');
  for (const code of Object.keys(FAILURE_CODES))
    assert.ok(documented.has(code), `docs/errors.md is missing the failure code ${code}`);
  for (const code of documented.keys())
    assert.ok(code in FAILURE_CODES, `docs/errors.md lists ${code}, which src/domain/failure-codes.ts does not have`);
});

test('every code the engine and the drivers name is in a catalogue', () => {
  const files: string[] = [];
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.endsWith('.ts')) files.push(f);
    }
  };
  ['src/engine', 'src/drivers'].forEach(walk);
  assert.ok(files.length > 5);
  const missing = new Set<string>();
  for (const f of files) {
    // CODE_LIKE string literals; environment variables and SQLite's own error codes are not ours
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'/g)) {
      const code = m[1] as string;
      if (/^(LIFTGATE|SQLITE)_/.test(code)) continue;
      if (!(code in ERROR_CATALOGUE) && !(code in FAILURE_CODES)) missing.add(`${code} (${f})`);
    }
  }
  assert.deepEqual([...missing], [], 'add these to src/domain/failure-codes.ts (or errors.ts) and docs/errors.md');
});
