// The demo fleet of `npm start` gets one real PostgreSQL cluster when the binaries are installed, and
// a machine where it cannot be provisioned still gets the rest of the demo (logged, not fatal).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { seedDemo } from '../../src/service/demo.ts';
import { getTarget, listTargets } from '../../src/service/targets.ts';
import { closePgApp, startPgApp, type PgApp } from './engine-harness.ts';

let x: PgApp | undefined;
afterEach(async () => {
  await closePgApp(x);
  x = undefined;
});

test('first start: the demo project holds pg-demo, a running 3-node 16.13 cluster; later starts keep it', async () => {
  x = await startPgApp('sqlite');
  // startPgApp made a project; seedDemo only seeds an empty store, so start from one
  await x.t.ctx.store.db.deleteFrom('projects').execute();
  const lines: string[] = [];
  x.t.ctx.config.log = (l) => lines.push(l);
  assert.equal(await seedDemo(x.t.ctx), true);
  const t = await getTarget(x.t.ctx, 'demo', 'pg-demo');
  assert.equal(t.driver, 'postgres');
  assert.equal(t.version, '16.13');
  assert.equal(t.nodes.length, 3);
  assert.deepEqual(t.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
  const real = await x.driver.inspect(t);
  assert.ok(
    real.nodes.every((n) => n.health === 'healthy' && n.version === '16.13'),
    JSON.stringify(real.nodes),
  );
  assert.ok(
    lines.some((l) => l.includes('pg-demo')),
    lines.join('\n'),
  );
  // a second start does not seed again: the running cluster stays the one in the store
  const before = readFileSync(path.join(x.driver.rootOf(t), 'cluster.json'), 'utf8');
  assert.equal(await seedDemo(x.t.ctx), false);
  assert.equal(readFileSync(path.join(x.driver.rootOf(t), 'cluster.json'), 'utf8'), before);
});

test('a cluster that cannot be provisioned is logged and skipped, and what is on disk is left alone', async () => {
  x = await startPgApp('sqlite');
  await x.t.ctx.store.db.deleteFrom('projects').execute();
  // a cluster left behind at pg-demo's folder (e.g. the store was wiped): provisioning must refuse
  const root = path.join(x.dir, 'demo', 'pg-demo');
  mkdirSync(root, { recursive: true });
  writeFileSync(path.join(root, 'cluster.json'), '{"nodes":[],"left":"behind"}');
  const lines: string[] = [];
  x.t.ctx.config.log = (l) => lines.push(l);
  assert.equal(await seedDemo(x.t.ctx), true);
  const { items } = await listTargets(x.t.ctx, 'demo', {});
  assert.ok(items.length > 5, 'the simulated fleet is there');
  assert.ok(!items.some((t) => t.id === 'pg-demo'));
  assert.ok(
    lines.some((l) => /could not be created.*CLUSTER_EXISTS|already exists/.test(l)),
    lines.join('\n'),
  );
  assert.equal(readFileSync(path.join(root, 'cluster.json'), 'utf8'), '{"nodes":[],"left":"behind"}');
});
