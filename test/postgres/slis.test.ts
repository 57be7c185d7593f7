// The postgres driver's service-level indicators on a real primary and replica: replication lag
// that grows while the replica's replay is paused under writes and falls back once it resumes (and
// stays at zero on an idle primary, however old its last commit), a rollback rate that follows a
// client's ROLLBACKs, a conflict rate that counts a replica query cancelled by recovery, refused
// connections counted from the servers' own refusals (behind PgBouncer too), and a stopped node
// that makes the sample fail naming it. The load comes from plain `pg` clients.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { SliName } from '../../src/domain/types.ts';
import { DriverError } from '../../src/drivers/driver.ts';
import { loadCluster, stopNode } from '../../src/drivers/postgres/cluster.ts';
import { PostgresDriver } from '../../src/drivers/postgres/driver.ts';
import { until } from '../helpers/harness.ts';
import { makeTarget } from './fixtures.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-sli-'));
chmodSync(dir, 0o755);
const driver = new PostgresDriver({ dataDir: dir });
const target = makeTarget('pgsli', '16.13', { provision: true, replicas: 1, pooler: false });
let primaryPort = 0;
let replicaPort = 0;
const clients: pg.Client[] = [];

async function client(port: number): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  // the last test stops a node under its clients
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

/** runs `fn` over and over on its own until the returned stop() is awaited */
function loop(fn: () => Promise<void>): () => Promise<void> {
  let running = true;
  const done = (async () => {
    while (running) await fn();
  })();
  return async () => {
    running = false;
    await done;
  };
}

type Sample = Partial<Record<SliName, number>>;
const sample = (): Promise<Sample> => driver.slis(target);

/** samples until `ok` holds for one; returns that sample */
async function sampleUntil(ok: (s: Sample) => boolean, what: string): Promise<Sample> {
  let last: Sample = {};
  return until(
    async () => {
      last = await sample();
      return ok(last) ? last : null;
    },
    `${what} (last sample ${JSON.stringify(last)})`,
    600,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last sample ${JSON.stringify(last)}`);
  });
}

before(async () => {
  const p = await driver.provision(target);
  target.nodes = p.nodes;
  target.driverConfig = p.driverConfig;
  primaryPort = target.nodes.find((n) => n.role === 'primary')!.port!;
  replicaPort = target.nodes.find((n) => n.role === 'replica')!.port!;
  const c = await client(primaryPort);
  await c.query('CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
});

after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await driver.destroy(target).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('an idle cluster: every indicator is there on the first sample, no lag however old the last commit', async () => {
  const first = await sample();
  assert.deepEqual(Object.keys(first).sort(), [
    'conflict_rate',
    'failed_connections',
    'replication_lag_seconds',
    'rollback_rate',
  ]);
  assert.equal(first.rollback_rate, 0);
  assert.equal(first.conflict_rate, 0);
  // the replica's last replayed commit grows old while nothing is written: that is no lag
  const replica = await client(replicaPort);
  await until(async () => {
    const { rows } = await replica.query<{ age: number }>(
      'SELECT EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age',
    );
    return rows[0]!.age > 3;
  }, 'the last replayed commit to be more than 3 s old');
  const idle = await sample();
  assert.ok(idle.replication_lag_seconds! < 1, `idle lag ${idle.replication_lag_seconds}`);
  assert.equal(idle.rollback_rate, 0);
});

test('replication lag grows while the replica does not replay the writes, and falls back when it does', async () => {
  const replica = await client(replicaPort);
  const writer = await client(primaryPort);
  await replica.query('SELECT pg_wal_replay_pause()');
  const stopWrites = loop(async () => {
    await writer.query('INSERT INTO ticks DEFAULT VALUES');
    await new Promise((r) => setTimeout(r, 50));
  });
  try {
    const lagging = await sampleUntil((s) => s.replication_lag_seconds! > 3, 'replication lag above 3 s');
    assert.ok(lagging.replication_lag_seconds! > 3);
    await replica.query('SELECT pg_wal_replay_resume()');
    await sampleUntil((s) => s.replication_lag_seconds! < 1, 'replication lag back under 1 s');
  } finally {
    await replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    await stopWrites();
  }
});

test('the rollback rate rises while a client rolls back its transactions', async () => {
  const quiet = await sample();
  assert.equal(quiet.rollback_rate, 0, 'no rollbacks before the load');
  const c = await client(primaryPort);
  const stop = loop(async () => {
    await c.query('BEGIN');
    await c.query('INSERT INTO ticks DEFAULT VALUES');
    await c.query('ROLLBACK');
    await new Promise((r) => setTimeout(r, 10));
  });
  try {
    await sampleUntil((s) => s.rollback_rate! > 5, 'a rollback rate above 5/s');
  } finally {
    await stop();
  }
  await sampleUntil((s) => s.rollback_rate === 0, 'the rollback rate back to 0 once the client stopped');
});

test('a connection the server refuses counts once as a failed connection', async () => {
  await sample();
  const bad = new pg.Client({ host: '127.0.0.1', port: replicaPort, user: 'postgres', database: 'no_such_db' });
  await assert.rejects(bad.connect(), /does not exist/);
  let total = 0;
  await sampleUntil((s) => (total += s.failed_connections!) >= 1, 'the refused connection to be counted');
  assert.equal(total, 1);
  const next = await sample();
  assert.equal(next.failed_connections, 0, 'a refusal is counted in one sample only');
});

test('a replica query cancelled by a conflict with recovery shows in the conflict rate', async () => {
  const admin = await client(replicaPort);
  // the replica waits a tenth of a second for its queries before cancelling them, not 30 s
  await admin.query("ALTER SYSTEM SET max_standby_streaming_delay = '100ms'");
  await admin.query('SELECT pg_reload_conf()');
  assert.equal(0, (await sample()).conflict_rate);
  const reader = await client(replicaPort);
  await reader.query('BEGIN');
  await reader.query('SELECT count(*) FROM ticks');
  // the lock taken on the primary is replayed on the replica, where the reader holds the table
  const writer = await client(primaryPort);
  await writer.query('BEGIN');
  await writer.query('LOCK TABLE ticks IN ACCESS EXCLUSIVE MODE');
  await writer.query('COMMIT');
  await sampleUntil((s) => s.conflict_rate! > 0, 'a recovery conflict in the conflict rate');
  // the reader's session was ended by the conflict
  await assert.rejects(reader.query('SELECT 1'), /conflict with recovery|terminat|connection error/);
});

test('a stopped node makes the sample fail, naming the node', async () => {
  const state = await loadCluster(String(target.driverConfig.root));
  const replica = state.nodes.find((n) => n.port === replicaPort)!;
  await stopNode(replica);
  await assert.rejects(sample(), (e: unknown) => {
    assert.ok(e instanceof DriverError, String(e));
    assert.equal(e.code, 'NODE_UNREACHABLE');
    assert.match(e.message, new RegExp(`^${replica.name} \\(:${replica.port}\\) cannot be reached`));
    return true;
  });
});

test('behind PgBouncer: a client the pooler refuses counts once, and so does one the server refuses through it', async () => {
  const pooled = makeTarget('pgslp', '16.13', { provision: true, replicas: 0, pooler: true });
  const p = await driver.provision(pooled);
  pooled.driverConfig = p.driverConfig;
  try {
    const port = Number(p.driverConfig.poolerPort);
    await driver.slis(pooled);
    const refuse = async (user: string, database: string, why: RegExp): Promise<void> => {
      const c = new pg.Client({ host: '127.0.0.1', port, user, database });
      c.on('error', () => undefined);
      await assert.rejects(c.connect(), why);
    };
    // refused by PgBouncer itself (not in its user list), then by the server behind it
    await refuse('nobody', 'postgres', /authentication failed/);
    await refuse('postgres', 'no_such_db', /does not exist/);
    let total = 0;
    let last: Sample = {};
    await until(
      async () => {
        last = await driver.slis(pooled);
        total += last.failed_connections!;
        return total >= 2;
      },
      'both refusals to be counted',
      600,
      100,
    );
    assert.equal(total, 2, `two refused clients, counted once each (last sample ${JSON.stringify(last)})`);
    assert.equal((await driver.slis(pooled)).failed_connections, 0);
  } finally {
    await driver.destroy(pooled).catch(() => undefined);
  }
});
