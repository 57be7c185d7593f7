// A batch over real PostgreSQL clusters whose canary wave is judged during its bake by a
// replication lag check the postgres driver measures. The canary upgrades, its check passes on
// the healthy cluster; then its replica stops replaying (pg_wal_replay_pause()) while a client
// writes to the primary, the lag passes the bound, and the batch halts with a reason naming the
// check, the value and the bound; the next wave never starts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { until } from '../helpers/harness.ts';
import { closePgApp, getTarget, PROJECT, startPgApp, type PgApp } from './engine-harness.ts';

let x: PgApp | undefined;
const clients: pg.Client[] = [];

before(async () => {
  x = await startPgApp('sqlite');
});
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await closePgApp(x);
});

async function client(port: number): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

async function createCluster(id: string, replicas: number): Promise<void> {
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id,
    kind: 'cluster',
    engine: 'postgresql',
    version: '16.13',
    driver: 'postgres',
    driverConfig: { provision: true, replicas, pooler: false },
  });
  assert.equal(res.status, 201, res.body);
}

const batchOf = async (id: string): Promise<any> => (await x!.t.call('GET', `/v1/projects/${PROJECT}/batches/${id}`)).json;

/** polls the batch until `ok` holds */
async function batchUntil(id: string, ok: (b: any) => boolean, what: string): Promise<any> {
  let last: any = null;
  return until(
    async () => {
      last = await batchOf(id);
      return ok(last) ? last : null;
    },
    `${what} (batch ${id} is ${last?.state}: ${last?.pendingReason}, analysis ${JSON.stringify(last?.waves?.[0]?.analysis)})`,
    6000,
    50,
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}; last seen ${last?.state}: ${last?.pendingReason} ${JSON.stringify(last?.waves?.[0]?.analysis)}`,
    );
  });
}

test('a canary whose replica lags during the bake halts the batch, naming the lag check, its value and its bound', async () => {
  await createCluster('pga-canary', 1);
  await createCluster('pga-rest', 0);
  const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/batches`, {
    name: 'pg 16.14',
    toVersion: '16.14',
    mode: 'rolling',
    targetIds: ['pga-canary', 'pga-rest'],
    waves: [
      {
        name: 'canary',
        targets: 1,
        bakeMinutes: 30,
        analysis: [{ name: 'lag', sli: 'replication_lag_seconds', max: 5, intervalSeconds: 1 }],
      },
      { name: 'rest', targets: '100%' },
    ],
  });
  assert.equal(res.status, 201, res.body);
  const batchId = res.json.id as string;
  assert.deepEqual(
    res.json.waves.map((w: any) => w.name),
    ['canary', 'rest'],
  );

  // the canary is upgraded and baking; on a healthy cluster the check passes
  const passing = await batchUntil(
    batchId,
    (b) => b.state === 'baking' && b.waves[0].analysis[0].outcome === 'pass',
    'the canary to bake with its lag check passing',
  );
  assert.ok(passing.waves[0].analysis[0].lastValue < 5, `lag ${passing.waves[0].analysis[0].lastValue} on a healthy cluster`);
  const canary = await getTarget(x!, 'pga-canary');
  assert.ok(canary.nodes.every((n) => n.version === '16.14'));
  const primary = canary.nodes.find((n) => n.role === 'primary')!;
  const replica = canary.nodes.find((n) => n.role === 'replica')!;

  // the replica stops replaying while a client keeps writing to the primary
  const r = await client(replica.port!);
  const w = await client(primary.port!);
  await w.query('CREATE TABLE IF NOT EXISTS ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
  await r.query('SELECT pg_wal_replay_pause()');
  let writing = true;
  const writes = (async () => {
    while (writing) {
      await w.query('INSERT INTO ticks DEFAULT VALUES');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    const halted = await batchUntil(batchId, (b) => b.state === 'halted', 'the batch to halt');
    const m = /^halted: analysis "lag": ([\d.]+) > max 5; 1 of 1 allowed failures$/.exec(halted.pendingReason);
    assert.ok(m, `reason: ${halted.pendingReason}`);
    assert.ok(Number(m[1]) > 5, `the lag that halted it: ${m[1]}`);
    const wave = halted.waves[0];
    assert.equal(wave.state, 'failed');
    assert.equal(wave.analysis[0].outcome, 'fail');
    assert.ok(wave.analysis[0].lastValue > 5);
    assert.deepEqual(
      wave.analysisFailures.map((f: any) => [f.target, f.check]),
      [['pga-canary', 'lag']],
    );
    assert.match(wave.analysisFailures[0].reason, /^analysis "lag": [\d.]+ > max 5$/);
    assert.equal(halted.waves[1].state, 'scheduled', 'the next wave never started');
    const rest = await getTarget(x!, 'pga-rest');
    assert.equal(rest.version, '16.13', 'the rest of the fleet is not upgraded');
  } finally {
    writing = false;
    await writes;
    await r.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
  }
});
