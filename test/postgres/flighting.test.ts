// Flighting: the workload runs on two clones of the primary (16.13 and 16.14). Statements whose
// answer depends on the server version must be reported as incorrect; the rest must not be.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { splitSql } from '../../src/drivers/postgres/flighting.ts';
import { PostgresDriver } from '../../src/drivers/postgres/driver.ts';
import { query } from '../../src/drivers/postgres/server.ts';
import { makeTarget } from './fixtures.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-fl-'));
chmodSync(dir, 0o755);
const driver = new PostgresDriver({ dataDir: dir });
const target = makeTarget('pgfl', '16.13', { provision: true, replicas: 1, pooler: false });

before(async () => {
  const p = await driver.provision(target);
  target.nodes = p.nodes;
  target.driverConfig = p.driverConfig;
  const primary = target.nodes.find((n) => n.role === 'primary')!;
  await query(primary.port!, 'CREATE TABLE orders (id int PRIMARY KEY, amount numeric NOT NULL)');
  await query(primary.port!, 'INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 2000) g');
});

after(async () => {
  await driver.destroy(target).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('splitSql keeps quoted semicolons and drops comments', () => {
  assert.deepEqual(splitSql("SELECT ';'; -- x;\nSELECT $$a;b$$ ; /* ; */ SELECT 1"), [
    "SELECT ';'",
    'SELECT $$a;b$$',
    'SELECT 1',
  ]);
});

test('flighting 16.13 -> 16.14 reports version-dependent answers as incorrect, and only those', async () => {
  const workload = path.join(dir, 'workload.sql');
  writeFileSync(
    workload,
    [
      'SELECT count(*), sum(amount) FROM orders;',
      'SELECT id, amount FROM orders WHERE id % 97 = 0 ORDER BY id;',
      'UPDATE orders SET amount = amount + 1 WHERE id <= 10;',
      'SELECT sum(amount) FROM orders WHERE id <= 10;',
      // the server's own version string and number differ between 16.13 and 16.14
      'SELECT version();',
      "SELECT current_setting('server_version_num');",
      'SELECT no_such_column FROM orders;',
    ].join('\n'),
  );
  const result = await driver.precheck({
    target,
    toVersion: '16.14',
    hops: [{ fromVersion: '16.13', toVersion: '16.14', release: '16.14' }],
    mode: 'rolling',
    options: { flightingSql: workload },
  });
  const f = result.flighting;
  assert.ok(f, 'a flighting report');
  assert.equal(f.totalExecuted, 7);
  assert.equal(f.incorrect, 2);
  const incorrect = f.details!.filter((d) => d.kind === 'incorrect').map((d) => d.statement);
  assert.deepEqual(incorrect.sort(), ["SELECT current_setting('server_version_num')", 'SELECT version()']);
  // failing the same way on both versions is not a regression
  assert.equal(f.exceptions, 0);
  assert.ok(f.dqlSpeedup > 0);
  const item = result.items.find((i) => i.name === 'flighting');
  assert.equal(item?.status, 'warn');
  assert.ok(result.items.filter((i) => i.name !== 'flighting').every((i) => i.status === 'pass'));
  // the production primary never saw the workload's UPDATE
  const primary = target.nodes.find((n) => n.role === 'primary')!;
  const [row] = await query<{ s: string }>(primary.port!, 'SELECT sum(amount)::text AS s FROM orders WHERE id <= 10');
  assert.equal(row!.s, '82.5');
});
