// Replicas on one PostgreSQL, as real processes: each registers and heartbeats, GET /v1/executors
// lists them with their state from any replica, exactly one leads housekeeping, a frozen replica
// (SIGSTOP) is declared lost and loses the lead, and when it wakes (SIGCONT) it rejoins under a
// new id; a cleanly stopped one says stopped.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';

const servers: Server[] = [];
const stores: StoreConfig[] = [];
after(async () => {
  killAll(servers);
  for (const s of stores) await s.cleanup();
});

interface Executor {
  id: string;
  host: string;
  pid: number;
  state: string;
  leader: boolean;
  heartbeatAt: string;
}

const list = async (s: Server): Promise<Executor[]> => {
  const r = await s.api('GET', '/v1/executors');
  assert.equal(r.status, 200);
  return r.json.items as Executor[];
};

test('replicas register, one leads, a frozen one is declared lost and rejoins under a new id', async () => {
  const store = await freshStore('postgres');
  stores.push(store);
  // short, but well above a heartbeat's delay on a loaded machine (a live replica is never declared lost)
  const env = { LIFTGATE_EXECUTOR_TIMEOUT_MS: '2500' };
  const a = await startServer(store, env);
  servers.push(a);
  await a.waitUp();
  const b = await startServer(store, env);
  servers.push(b);
  await b.waitUp();

  const both = await until(async () => {
    const items = await list(b);
    // a leader is chosen on the housekeeping's own beat: wait for one, then there must be only one
    return items.filter((e) => e.state === 'running').length === 2 && items.some((e) => e.leader) ? items : null;
  }, 'two running executors, one of them leading');
  assert.deepEqual(new Set(both.map((e) => e.pid)), new Set([a.pid, b.pid]));
  assert.equal(both.filter((e) => e.leader).length, 1, 'exactly one leader');
  const idOf = (s: Server) => (both.find((e) => e.pid === s.pid) as Executor).id;
  // heartbeats move on
  const first = (await list(a)).find((e) => e.id === idOf(b)) as Executor;
  await until(
    async () => ((await list(a)).find((e) => e.id === idOf(b)) as Executor).heartbeatAt > first.heartbeatAt,
    'a newer heartbeat',
  );

  // freeze the leader: the other replica declares it lost and takes the lead
  const leader = both.find((e) => e.leader) as Executor;
  const [frozen, other] = leader.pid === a.pid ? [a, b] : [b, a];
  frozen.child.kill('SIGSTOP');
  const afterFreeze = await until(async () => {
    const items = await list(other);
    const f = items.find((e) => e.id === leader.id) as Executor;
    return f.state === 'lost' && items.some((e) => e.pid === other.pid && e.leader) ? items : null;
  }, 'the frozen leader declared lost and the other leading');
  assert.equal(afterFreeze.filter((e) => e.leader).length, 1);

  // wake it: it finds itself lost, keeps the old row lost and registers again
  frozen.child.kill('SIGCONT');
  const rejoined = await until(async () => {
    const items = await list(other);
    return items.some((e) => e.pid === frozen.pid && e.state === 'running') ? items : null;
  }, 'the woken replica registered again');
  const again = rejoined.find((e) => e.pid === frozen.pid && e.state === 'running') as Executor;
  assert.notEqual(again.id, leader.id, 'it rejoins under a new id');
  assert.equal((rejoined.find((e) => e.id === leader.id) as Executor).state, 'lost');
  assert.ok(!again.leader, 'the woken replica does not take the lead back');
  // its log line follows the registration: wait for the pipe to carry it
  await until(async () => /declared lost/.test(frozen.output()), 'the woken replica to log that it was declared lost');

  // a clean stop says stopped
  other.child.kill('SIGTERM');
  assert.equal(await other.ended(), 0);
  const stopped = await until(async () => {
    const items = await list(frozen);
    const o = items.find((e) => e.pid === other.pid) as Executor;
    return o.state === 'stopped' && items.some((e) => e.id === again.id && e.leader) ? items : null;
  }, 'the stopped replica shown stopped and the lead handed on');
  assert.ok(stopped.length >= 3);

  // only admins see the executors
  const proj = await frozen.api('POST', '/v1/projects', { id: 'p1' });
  assert.equal(proj.status, 201);
  const tok = await frozen.api('POST', '/v1/projects/p1/tokens', {});
  const res = await fetch(`http://127.0.0.1:${frozen.port}/v1/executors`, {
    headers: { authorization: `Bearer ${tok.json.token}` },
  });
  assert.equal(res.status, 403);
});
