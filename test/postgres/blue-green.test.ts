// Major-version upgrades by blue/green on real clusters, through the native API and the real
// executor: a 16 -> 17 upgrade under a writer behind PgBouncer (no client error, every
// acknowledged write on green, the target moved onto green's nodes), the rollback window (DDL
// refused, blue kept in step by reverse replication), a rollback after the switch that brings the
// writes made on green back to blue, a switchover timeout that undoes the cutover, a finalize that
// decommissions blue, and the precheck's refusals, each naming its object.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { poolerInstalled } from '../../src/drivers/postgres/pooler.ts';
import { until } from '../helpers/harness.ts';
import {
  allSteps,
  closePgApp,
  getTarget,
  getUpgrade,
  PROJECT,
  settled,
  startPgApp,
  type ApiTarget,
  type ApiUpgrade,
  type PgApp,
} from './engine-harness.ts';

const FROM = '16.13';
const TO = '17.10';

interface BgUpgrade extends ApiUpgrade {
  allowedActions: string[];
  rollbackWindow: { state: string; until: string | null; secondsLeft: number | null; rollbackPossible: boolean } | null;
}

let x: PgApp | undefined;

before(async () => {
  assert.ok(poolerInstalled(), 'pgbouncer is installed (.ci/run installs it)');
  x = await startPgApp('sqlite');
});
after(() => closePgApp(x));

async function createPooled(id: string): Promise<ApiTarget> {
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id,
    kind: 'cluster',
    engine: 'postgresql',
    version: FROM,
    driver: 'postgres',
    driverConfig: { provision: true, replicas: 2, pooler: true },
  });
  assert.equal(res.status, 201, res.body);
  return getTarget(x!, id);
}

async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  port: number,
  text: string,
  database = 'postgres',
): Promise<R[]> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(text)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** an application schema on blue: a database of its own with a sequence, a table without a key, a view */
async function seedApp(primaryPort: number): Promise<void> {
  await sql(primaryPort, 'CREATE DATABASE shop');
  await sql(
    primaryPort,
    `CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text NOT NULL, qty int CHECK (qty > 0));
     CREATE TABLE audit (at timestamptz NOT NULL DEFAULT now(), what text);
     CREATE SEQUENCE invoice_no START 1000;
     CREATE MATERIALIZED VIEW totals AS SELECT item, sum(qty) AS qty FROM orders GROUP BY item;
     INSERT INTO orders (item, qty) SELECT 'item-' || (g % 50), 1 + g % 7 FROM generate_series(1, 5000) g;
     INSERT INTO audit (what) SELECT 'seed ' || g FROM generate_series(1, 200) g;
     SELECT nextval('invoice_no') FROM generate_series(1, 25);`,
    'shop',
  );
}

/** the port of the node of `t` that is primary now (a switchover may have moved it) */
async function primaryOf(t: ApiTarget): Promise<number> {
  for (const n of t.nodes) {
    const [r] = await sql<{ rec: boolean }>(n.port!, 'SELECT pg_is_in_recovery() AS rec');
    if (r && !r.rec) return n.port!;
  }
  throw new Error(`no primary among ${t.nodes.map((n) => n.name).join(', ')}`);
}

async function upgradeOf(id: string): Promise<BgUpgrade> {
  return (await getUpgrade(x!, id)) as BgUpgrade;
}

/** where an upgrade stands, for a failure message: each step's state, and the log of the one that runs */
async function where(id: string): Promise<string> {
  const u = await upgradeOf(id);
  const steps = allSteps(u);
  const running = steps.find((s) => s.state === 'running' || s.state === 'failed');
  return `${u.state} ${steps.map((s) => `${s.action}:${s.state}`).join(' ')}\n${(running?.log ?? []).slice(-15).join('\n')}`;
}

async function windowOpen(id: string): Promise<BgUpgrade> {
  return explained(
    id,
    until(
      async () => {
        const u = await upgradeOf(id);
        if (['failed', 'succeeded', 'cancelled', 'rolled_back'].includes(u.state)) {
          throw new Error(`upgrade ended ${u.state}: ${u.errorCode ?? ''} ${u.error ?? ''}`);
        }
        return u.rollbackWindow?.state === 'open' ? u : null;
      },
      `the rollback window of ${id} to open`,
      1200,
      100,
    ),
  );
}

async function explained<T>(id: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await where(id).catch(() => '')}`);
  }
}

async function act(id: string, action: string): Promise<BgUpgrade> {
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action });
  assert.equal(res.status, 200, res.body);
  return res.json as BgUpgrade;
}

test('a major route in place is refused with a message that names blue_green', async () => {
  await createPooled('pg-refuse');
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, { targetId: 'pg-refuse', toVersion: TO });
  assert.equal(res.status, 400, res.body);
  assert.equal(res.json.error.code, 'UPGRADE_NO_ROUTE');
  assert.match(res.json.error.message, /blue_green/);
  // options of another mode are refused, not ignored
  const bad = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
    targetId: 'pg-refuse',
    toVersion: '16.14',
    options: { retentionSeconds: 60 },
  });
  assert.equal(bad.status, 400, bad.body);
  assert.match(bad.json.error.message, /retentionSeconds belongs to a blue_green upgrade/);
});

test('precheck failures name each object: a large object, a table without a key when FULL is forbidden', async () => {
  const t = await getTarget(x!, 'pg-refuse');
  const primary = t.nodes.find((n) => n.role === 'primary')!;
  await sql(primary.port!, `CREATE TABLE events_nokey (at timestamptz, what text); SELECT lo_create(424242);`);
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets/pg-refuse/prechecks`, {
    toVersion: TO,
    mode: 'blue_green',
    wait: true,
    options: { allowReplicaIdentityFull: false },
  });
  assert.equal(res.status, 201, res.body);
  const items = res.json.items as { name: string; status: string; message: string }[];
  const failed = items.filter((i) => i.status === 'fail');
  assert.ok(
    failed.some((i) => i.name === 'replica_identity' && i.message.includes('public.events_nokey')),
    JSON.stringify(failed),
  );
  assert.ok(
    failed.some((i) => i.name === 'schema_copy' && i.message.includes('424242')),
    JSON.stringify(failed),
  );
  assert.ok(
    items.some((i) => i.name === 'ddl_freeze'),
    'the precheck says DDL is refused during the window',
  );
  assert.equal(res.json.state, 'failed');
});

test('16 -> 17 blue/green under a writer behind PgBouncer: no client error, every write on green; rollback brings green\u2019s writes back to blue', async () => {
  const blue = await createPooled('pg-bg');
  const bluePrimary = blue.nodes.find((n) => n.role === 'primary')!;
  await seedApp(bluePrimary.port!);
  const endpoint = blue.endpoint!;
  const load = new WriteLoad(() => [endpoint.port], 3);
  await load.start();
  let stopped = false;
  try {
    const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: 'pg-bg',
      toVersion: TO,
      mode: 'blue_green',
      // flighting on green: the read is compared on both sides, the write is never replayed
      options: {
        retentionSeconds: 3600,
        flightingSql: 'SELECT count(*) > 0 AS loaded FROM liftgate_load; INSERT INTO liftgate_load (id) VALUES (-1)',
      },
    });
    assert.equal(res.status, 202, res.body);
    const id = res.json.id as string;
    assert.deepEqual(
      (res.json.stages as { name: string }[]).map((s) => s.name.split(' (')[0]),
      [
        'Precheck',
        'Enable logical decoding',
        'Provision green',
        'Copy roles and schema',
        'Initial data copy',
        'Catch-up',
        'Flighting on green',
        'Cutover',
        'Rollback window',
        'Decommission blue',
      ],
    );
    const open = await windowOpen(id);
    assert.deepEqual(open.allowedActions.sort(), ['finalize', 'rollback']);
    assert.ok(open.rollbackWindow!.secondsLeft! > 3000, JSON.stringify(open.rollbackWindow));
    const copy = allSteps(open).find((s) => s.action === 'initial_copy')! as ApiUpgrade['stages'][0]['steps'][0] & {
      progress: Record<string, number> | null;
    };
    assert.ok(copy.progress && copy.progress.bytesTotal > 0, `copy progress: ${JSON.stringify(copy.progress)}`);
    assert.equal(copy.progress.bytesDone, copy.progress.bytesTotal);
    const flight = allSteps(open).find((s) => s.action === 'flight_green')! as ApiUpgrade['stages'][0]['steps'][0] & {
      result: Record<string, number> | null;
    };
    assert.equal(flight.state, 'succeeded');
    assert.equal(flight.result?.totalExecuted, 1, JSON.stringify(flight.result));
    assert.equal(flight.result?.skippedWrites, 1);
    assert.deepEqual(
      await sql(bluePrimary.port!, 'SELECT id FROM liftgate_load WHERE id = -1'),
      [],
      'the write was not replayed on blue',
    );

    // the target is green now: three nodes on 17.10, new names, the same endpoint
    const green = await getTarget(x!, 'pg-bg');
    assert.equal(green.nodes.length, 3);
    assert.ok(
      green.nodes.every((n) => n.version === TO && n.health === 'healthy'),
      JSON.stringify(green.nodes),
    );
    assert.deepEqual(green.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
    const blueNames = new Set(blue.nodes.map((n) => n.name));
    assert.ok(
      green.nodes.every((n) => !blueNames.has(n.name)),
      'green has nodes of its own',
    );
    assert.deepEqual(green.endpoint, endpoint);
    const [v] = await sql<{ v: string }>(endpoint.port, `SELECT current_setting('server_version') AS v`);
    assert.equal(v!.v.split(' ')[0], TO, 'clients of the pooler reach green');

    // schema changes are refused on green during the window
    await assert.rejects(sql(endpoint.port, 'CREATE TABLE late (id int)', 'shop'), /refused while this database is replicated/);

    // the application's data and sequences came over
    const greenPrimary = green.nodes.find((n) => n.role === 'primary')!;
    const [o] = await sql<{ n: string }>(greenPrimary.port!, 'SELECT count(*)::text AS n FROM orders', 'shop');
    assert.equal(o!.n, '5000');
    // blue's value (a promotion may have moved it on: PostgreSQL logs sequences ahead), then green's next
    const bluePrimaryNow = await primaryOf(blue);
    const [bs] = await sql<{ n: string }>(
      bluePrimaryNow,
      `SELECT last_value::text AS n FROM pg_sequences WHERE sequencename = 'invoice_no'`,
      'shop',
    );
    assert.ok(Number(bs!.n) >= 1024, `blue's sequence is at ${bs!.n}`);
    const [s] = await sql<{ n: string }>(greenPrimary.port!, `SELECT nextval('invoice_no')::text AS n`, 'shop');
    assert.equal(Number(s!.n), Number(bs!.n) + 1, 'the sequence goes on from blue\u2019s value');
    const [m] = await sql<{ n: string }>(greenPrimary.port!, 'SELECT count(*)::text AS n FROM totals', 'shop');
    assert.equal(m!.n, '50', 'the materialized view was refreshed on green');

    // writes go on on green for a while, then every acknowledged one is on green and on blue
    const onGreen = load.stats.acked.length;
    await until(async () => load.stats.acked.length > onGreen + 200, 'writes on green', 600, 20);
    await sql(greenPrimary.port!, `INSERT INTO audit (what) VALUES ('made on green')`, 'shop');
    const greenAcked = [...load.stats.acked];
    assert.deepEqual(await missingOn(greenPrimary.port!, greenAcked), []);
    await until(
      async () => (await missingOn(bluePrimaryNow, greenAcked)).length === 0,
      'blue to have every write made on green (reverse replication)',
      600,
      50,
    );

    // rollback within the window: a second cutover, back to blue, with the same promise
    const rb = await act(id, 'rollback');
    assert.equal(rb.state, 'rolling_back');
    const done = await settled(x!, id);
    assert.equal(done.state, 'rolled_back', `${done.errorCode ?? ''} ${done.error ?? ''}`);
    const back = await getTarget(x!, 'pg-bg');
    assert.deepEqual(back.nodes.map((n) => n.name).sort(), blue.nodes.map((n) => n.name).sort());
    assert.equal(back.version, FROM);
    const [bv] = await sql<{ v: string }>(endpoint.port, `SELECT current_setting('server_version') AS v`);
    assert.equal(bv!.v.split(' ')[0], FROM, 'clients of the pooler reach blue again');
    const afterBack = load.stats.acked.length;
    await until(async () => load.stats.acked.length > afterBack + 100, 'writes on blue again', 600, 20);
    const stats = await load.stop();
    stopped = true;
    assert.equal(stats.errors, 0, `client errors: ${JSON.stringify(stats.errorLog)}`);
    const primaryNow = back.nodes.find((n) => n.role === 'primary')!;
    assert.deepEqual(await missingOn(primaryNow.port!, stats.acked), [], 'every acknowledged write is on blue');
    const [a] = await sql<{ n: string }>(
      primaryNow.port!,
      `SELECT count(*)::text AS n FROM audit WHERE what = 'made on green'`,
      'shop',
    );
    assert.equal(a!.n, '1', 'the row written on green is on blue');
    // green is gone, and blue takes DDL again
    assert.ok(!existsSync(path.join(x!.dir, PROJECT, 'pg-bg', `bg-${id}`)), 'green\u2019s files are removed');
    await sql(endpoint.port, 'CREATE TABLE after_rollback (id int)', 'shop');
  } finally {
    if (!stopped) await load.stop();
  }
});

test('a cutover that cannot finish within the switchover timeout is undone: clients resume on blue, then retry and finalize', async () => {
  const blue = await createPooled('pg-to');
  const endpoint = blue.endpoint!;
  const load = new WriteLoad(() => [endpoint.port], 5);
  await load.start();
  const holder = new pg.Client({ host: '127.0.0.1', port: endpoint.port, user: 'postgres', database: 'postgres' });
  holder.on('error', () => undefined);
  let stopped = false;
  try {
    const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: 'pg-to',
      toVersion: TO,
      mode: 'blue_green',
      options: { switchoverTimeoutSeconds: 2, retentionSeconds: 3600 },
    });
    assert.equal(res.status, 202, res.body);
    const id = res.json.id as string;
    // paused while green is built (past the restart for logical decoding), then a transaction is
    // held open through the pooler: the cutover's PAUSE waits for it, past the timeout
    await until(
      async () => allSteps(await upgradeOf(id)).find((s) => s.action === 'provision_green')?.state === 'running',
      'green to be built',
      1200,
      20,
    );
    await act(id, 'pause');
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1');
    await act(id, 'resume');
    const failed = await until(
      async () => {
        const u = await upgradeOf(id);
        return u.state === 'failed' ? u : null;
      },
      'the cutover to time out',
      1200,
      100,
    );
    assert.equal(failed.errorCode, 'CUTOVER_TIMEOUT', failed.error ?? '');
    assert.match(failed.error ?? '', /undone, clients resumed on blue/);
    const still = await getTarget(x!, 'pg-to');
    assert.deepEqual(still.nodes.map((n) => n.name).sort(), blue.nodes.map((n) => n.name).sort());
    const [v] = await sql<{ v: string }>(endpoint.port, `SELECT current_setting('server_version') AS v`);
    assert.equal(v!.v.split(' ')[0], FROM, 'clients resumed on blue');
    const n = load.stats.acked.length;
    await until(async () => load.stats.acked.length > n + 50, 'writes going on after the undo', 600, 20);

    await holder.query('COMMIT');
    await act(id, 'retry');
    await windowOpen(id);
    const fin = await act(id, 'finalize');
    assert.equal(fin.state, 'running');
    const done = await settled(x!, id);
    assert.equal(done.state, 'succeeded', `${done.errorCode ?? ''} ${done.error ?? ''}`);
    const stats = await load.stop();
    stopped = true;
    assert.equal(stats.errors, 0, `client errors: ${JSON.stringify(stats.errorLog)}`);
    const green = await getTarget(x!, 'pg-to');
    assert.equal(green.version, TO);
    const primary = green.nodes.find((nd) => nd.role === 'primary')!;
    assert.deepEqual(await missingOn(primary.port!, stats.acked), []);
    for (const nd of blue.nodes) assert.ok(!existsSync(path.join(x!.dir, PROJECT, 'pg-to', nd.name)), `${nd.name} removed`);
    assert.ok(!existsSync(path.join(x!.dir, PROJECT, 'pg-to', 'bluegreen.json')));
    // past the decommission there is no way back, and DDL is allowed again
    const after = await upgradeOf(id);
    assert.equal(after.rollbackWindow?.state, 'closed');
    assert.equal(after.rollbackWindow?.rollbackPossible, false);
    await sql(endpoint.port, 'CREATE TABLE after_finalize (id int)');
  } finally {
    await holder.end().catch(() => undefined);
    if (!stopped) await load.stop();
  }
});

test('flighting on green stops the upgrade before the cutover when a statement fails on the new major only', async () => {
  const blue = await createPooled('pg-fl');
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
    targetId: 'pg-fl',
    toVersion: TO,
    mode: 'blue_green',
    // old_snapshot_threshold exists in 16 and is gone in 17
    options: { flightingSql: 'SHOW old_snapshot_threshold' },
  });
  assert.equal(res.status, 202, res.body);
  const id = res.json.id as string;
  const failed = await explained(
    id,
    until(
      async () => {
        const u = await upgradeOf(id);
        return u.state === 'failed' ? u : null;
      },
      'the flighting to fail',
      1200,
      100,
    ),
  );
  assert.equal(failed.errorCode, 'FLIGHTING_FAILED', failed.error ?? '');
  assert.match(failed.error ?? '', /old_snapshot_threshold/);
  assert.equal(allSteps(failed).find((s) => s.action === 'cutover')?.state, 'pending', 'no client moved');
  const still = await getTarget(x!, 'pg-fl');
  assert.deepEqual(still.nodes.map((n) => n.name).sort(), blue.nodes.map((n) => n.name).sort());
  // nothing of green is left once it is rolled back
  await act(id, 'rollback');
  assert.equal((await settled(x!, id)).state, 'rolled_back');
  assert.ok(!existsSync(path.join(x!.dir, PROJECT, 'pg-fl', `bg-${id}`)));
});
