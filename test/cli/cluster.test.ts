// `liftgate cluster create|delete` with real PostgreSQL clusters of the postgres driver, upgraded
// from the CLI; the switchover outage the driver measured shows in /metrics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildCli, runCli } from '../helpers/cli.ts';
import { ADMIN_TOKEN, until } from '../helpers/harness.ts';
import { closePgApp, PROJECT, startPgApp, type PgApp } from '../postgres/engine-harness.ts';

let x: PgApp;
let url: string;
let build: Awaited<ReturnType<typeof buildCli>>;

before(async () => {
  build = await buildCli();
  x = await startPgApp('sqlite');
  await x.t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(x.t.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await closePgApp(x);
  build.cleanup();
});

const cli = (...args: string[]) => runCli(build.main, ['--url', url, '--token', ADMIN_TOKEN, '--project', PROJECT, ...args]);

test('cluster create, an upgrade from the CLI with its outage in /metrics, cluster delete', async () => {
  const created = await cli('cluster', 'create', 'pgc', '--engine', 'postgresql', '--version', '16.13', '--replicas', '1');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^cluster pgc created: PostgreSQL 16\.13, 2 nodes$/m);
  assert.match(created.stdout, /^pgc-1\s+primary\s+\S+\s+16\.13\s+healthy$/m);
  assert.match(created.stdout, /^pgc-2\s+replica\s+\S+\s+16\.13\s+healthy$/m);
  const target = (await x.t.call('GET', `/v1/projects/${PROJECT}/targets/pgc`)).json;
  assert.equal(target.driver, 'postgres');
  assert.deepEqual(
    { provision: target.driverConfig.provision, replicas: target.driverConfig.replicas, pooler: target.driverConfig.pooler },
    { provision: true, replicas: 1, pooler: false },
  );
  const root = path.join(x.dir, PROJECT, 'pgc');
  assert.ok(fs.existsSync(root), 'the cluster is on disk');

  const wrongEngine = await cli('cluster', 'create', 'pgx', '--engine', 'mysql', '--version', '8.0');
  assert.equal(wrongEngine.code, 2);
  assert.match(wrongEngine.stderr, /hint: use --engine postgresql/);
  const notInstalled = await cli('cluster', 'create', 'pgy', '--version', '9.6');
  assert.notEqual(notInstalled.code, 0);
  assert.match(notInstalled.stderr, /PROVISION_FAILED: .*9\.6/);
  // the driver's message says why; the server did not fail
  assert.doesNotMatch(notInstalled.stderr, /the server failed/);

  const up = await cli('upgrade', 'start', 'pgc', '16.14', '--watch', '-o', 'json');
  assert.equal(up.code, 0, up.stderr);
  const last = JSON.parse(up.stdout.trim().split('\n').at(-1) as string);
  assert.equal(last.state, 'succeeded');
  assert.equal((await x.t.call('GET', `/v1/projects/${PROJECT}/targets/pgc`)).json.version, '16.14');
  const status = await cli('upgrade', 'status', 'pgc');
  assert.match(status.stdout, /\ssucceeded\s+1\s+\S+\s+outage \d+ ms$/m);

  // the switchover's outage as the driver measured it, in the histogram
  const outage = await until(async () => {
    const body = (await x.t.app.inject({ url: '/metrics' })).body;
    const m = /^liftgate_switchover_outage_seconds_count\{engine="postgresql",driver="postgres"\} (\d+)$/m.exec(body);
    return m ? body : null;
  }, 'the outage metric');
  assert.match(outage, /^liftgate_switchover_outage_seconds_count\{engine="postgresql",driver="postgres"\} 1$/m);
  const steps = (await x.t.call('GET', `/v1/projects/${PROJECT}/upgrades/${last.id}`)).json.stages.flatMap(
    (s: { steps: unknown[] }) => s.steps,
  ) as { action: string; result: { outageMs?: number } | null }[];
  const measured = steps.find((s) => s.action === 'switchover')?.result?.outageMs as number;
  const sum = Number(
    /^liftgate_switchover_outage_seconds_sum\{engine="postgresql",driver="postgres"\} (\S+)$/m.exec(outage)?.[1],
  );
  assert.ok(Math.abs(sum - measured / 1000) < 1e-9, `${sum} s is the step's ${measured} ms`);

  const refused = await cli('cluster', 'delete', 'pgc');
  assert.equal(refused.code, 2);
  assert.ok(fs.existsSync(root));
  const deleted = await cli('cluster', 'delete', 'pgc', '--yes');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /^cluster pgc destroyed$/m);
  assert.equal((await x.t.call('GET', `/v1/projects/${PROJECT}/targets/pgc`)).status, 404);
  assert.ok(!fs.existsSync(path.join(root, 'cluster.json')), 'its data is gone');
});
