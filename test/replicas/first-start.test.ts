// Replicas started at the same moment on an empty PostgreSQL schema all come up: migrations,
// the driver catalog and the first admin token are first-start work that exactly one of them
// does (the token is generated and printed once), and none crashes on a unique key. The
// in-process test interleaves three openers at every await, so it finds the race every time.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createContext } from '../../src/app/context.ts';
import { firstStart } from '../../src/service/first-start.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';

const servers: Server[] = [];
const stores: StoreConfig[] = [];
after(async () => {
  killAll(servers);
  for (const s of stores) await s.cleanup();
});

test('three replicas started at once on an empty schema all come up; one first admin token', async () => {
  const store = await freshStore('postgres');
  stores.push(store);
  // no LIFTGATE_ADMIN_TOKEN: each would generate the first admin token if it found none
  const started = await Promise.all([1, 2, 3].map(() => startServer(store, { LIFTGATE_ADMIN_TOKEN: '' })));
  servers.push(...started);
  await Promise.all(started.map((s) => s.waitUp()));
  const printed = started.map((s) => /first admin token[^\n]*\n\s+(\S+)/.exec(s.output())?.[1]).filter(Boolean) as string[];
  assert.equal(
    printed.length,
    1,
    `exactly one replica prints the first admin token:\n${started.map((s) => s.output()).join('\n---\n')}`,
  );
  const token = printed[0];
  for (const s of started) {
    const res = await fetch(`http://127.0.0.1:${s.port}/v1/executors`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, 'the one token works on every replica');
  }
  const res = await until(async () => {
    const r = await fetch(`http://127.0.0.1:${started[0].port}/v1/executors`, { headers: { authorization: `Bearer ${token}` } });
    const items = ((await r.json()) as { items: { pid: number; state: string }[] }).items;
    return items.filter((e) => e.state === 'running').length === 3 ? items : null;
  }, 'three running executors');
  assert.deepEqual(new Set(res.map((e) => e.pid)), new Set(started.map((s) => s.pid)));
});

test('first-start work racing in three contexts on one schema: one token, one demo fleet, no error', async () => {
  const store = await freshStore('postgres');
  stores.push(store);
  const ctxs = await Promise.all([1, 2, 3].map(() => createContext({ ...store.config, noExecutor: true })));
  try {
    const generated = await Promise.all(ctxs.map((c) => firstStart(c, { demo: true })));
    assert.equal(generated.filter((r) => r.createdToken).length, 1, 'one first admin token');
    assert.equal(generated.filter((r) => r.seededDemo).length, 1, 'the demo fleet is created once');
    const fixed = await Promise.all(ctxs.map((c) => firstStart(c, { adminToken: 'same-for-all', demo: true })));
    assert.ok(fixed.every((r) => !r.createdToken && !r.seededDemo));
    const admins = await ctxs[0].store.db.selectFrom('api_tokens').select('name').where('kind', '=', 'admin').execute();
    assert.equal(admins.length, 2, 'the generated token and the configured one, each stored once');
    const projects = await ctxs[0].store.db.selectFrom('projects').select('id').execute();
    assert.deepEqual(projects, [{ id: 'demo' }]);
  } finally {
    for (const c of ctxs) await c.close();
  }
});
