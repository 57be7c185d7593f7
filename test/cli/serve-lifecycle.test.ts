// `liftgate serve` as a real process: with a data folder the PostgreSQL service user cannot reach
// (a clone in /root), the demo cluster goes to the driver's own folder under /var/lib/liftgate;
// clusters it cannot reach are refused with what to change; the demo PostgreSQL cluster is stopped
// with the server and started again with it, one created while it runs stops with it, and one
// deleted while it runs is not looked for; SIGTERM ends a server with a hung step within its
// bound, and the step is recovered by the next start; request logs are on by default.
import { destroyGroup } from '../../src/drivers/redis/group.ts';
import { running, type Proc } from '../../src/drivers/redis/server.ts';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { destroyCluster } from '../../src/drivers/postgres/cluster.ts';
import { DEFAULT_HOME, ownDataDir } from '../../src/drivers/postgres/placement.ts';
import { isRunning } from '../../src/drivers/postgres/server.ts';
import { until, within } from '../helpers/harness.ts';

const TOKEN = 'serve-lifecycle-token';

interface Server {
  proc: ChildProcess;
  url: string;
  out: () => string;
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function serve(dataDir: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LIFTGATE_DATA_DIR: dataDir,
    LIFTGATE_ADMIN_TOKEN: TOKEN,
    LIFTGATE_DEMO: '0',
    LIFTGATE_SIM_TIME_SCALE: '0',
    ...env,
  };
  if (env.LIFTGATE_LOG === undefined) delete childEnv.LIFTGATE_LOG; // the default: request logs on
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { env: childEnv, stdio: 'pipe' });
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, url: `http://127.0.0.1:${port}`, out: () => out, exited };
}

async function listening(s: Server): Promise<void> {
  let gone = false;
  void s.exited.then(() => (gone = true));
  await until(async () => gone || s.out().includes('liftgate: listening'), 'the server to listen', 3000, 50);
  assert.ok(!gone, `the server exited:\n${s.out()}`);
}

async function api(s: Server, method: string, url: string, body?: unknown): Promise<any> {
  const res = await fetch(`${s.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `liftgate-${name}-`));

test('a data folder the PostgreSQL service user cannot reach: the demo cluster goes to the driver own folder; clusters it cannot reach are named with what to change; the demo cluster stops and starts with the server', async () => {
  const asRoot = (process.getuid?.() ?? 1) === 0;
  const privateDir = tmp('private');
  const outer = tmp('demo');
  const data = path.join(outer, 'data');
  const root = path.join(data, 'pg', 'demo', 'pg-demo');
  const madeRoot = path.join(data, 'pg', 'demo', 'pg-made');
  let ownRoot: string | null = null;
  const nodesRunning = (at = root) => {
    const state = JSON.parse(readFileSync(path.join(at, 'cluster.json'), 'utf8')) as { nodes: { dir: string }[] };
    return state.nodes.map((n) => isRunning(path.join(n.dir, 'data')));
  };
  const redisRoot = path.join(data, 'redis', 'demo', 'redis-demo');
  /** each node's and Sentinel's process, from the group's layout */
  const redisRunning = () => {
    const g = JSON.parse(readFileSync(path.join(redisRoot, 'group.json'), 'utf8')) as { nodes: Proc[]; sentinels: Proc[] };
    return [...g.nodes, ...g.sentinels].map((p) => running(p));
  };
  const env = { LIFTGATE_DEMO: '1', LIFTGATE_LOG: '0' };
  try {
    if (asRoot) {
      // a first start in a private folder (a clone in /root): the demo cluster is made in the
      // driver's own folder, said once at start with where and why, and stops with the server
      chmodSync(privateDir, 0o700);
      const own = ownDataDir(DEFAULT_HOME, path.join(privateDir, 'data', 'pg'));
      ownRoot = path.join(own, 'demo', 'pg-demo');
      const moved = await serve(path.join(privateDir, 'data'), env);
      await listening(moved);
      const out = moved.out();
      assert.equal(out.split(`keeps its clusters in ${own}`).length - 1, 1, out);
      assert.ok(out.includes(`cannot pass ${privateDir} (mode 0700)`), out);
      assert.match(out, /created the demo PostgreSQL cluster pg-demo/);
      assert.doesNotMatch(out, /EACCES|cannot create clusters here/);
      assert.deepEqual(nodesRunning(ownRoot), [true, true, true]);
      moved.proc.kill('SIGTERM');
      assert.equal(await within(moved.exited, 300_000, () => moved.out()), 0, moved.out());
      assert.deepEqual(nodesRunning(ownRoot), [false, false, false]);
    }
    chmodSync(outer, 0o711);
    const first = await serve(data, env);
    await listening(first);
    assert.match(first.out(), /created the demo PostgreSQL cluster pg-demo/);
    assert.deepEqual(nodesRunning(), [true, true, true]);
    // the demo Redis group (a primary, a replica, three Sentinels) runs with the server too
    assert.match(first.out(), /created the demo Redis group redis-demo/);
    assert.deepEqual(redisRunning(), [true, true, true, true, true]);
    first.proc.kill('SIGTERM');
    assert.equal(await within(first.exited, 300_000, () => first.out()), 0, first.out());
    assert.deepEqual(nodesRunning(), [false, false, false], first.out());
    assert.deepEqual(redisRunning(), [false, false, false, false, false], first.out());

    if (asRoot) {
      // the store now holds a postgres cluster: a folder it cannot reach is refused at start
      chmodSync(outer, 0o700);
      const refused = await serve(data, env);
      assert.equal(await within(refused.exited, 300_000, () => refused.out()), 1, refused.out());
      assert.match(
        refused.out(),
        /cannot start: the PostgreSQL clusters of the postgres driver run as the system user liftgate-pg/,
      );
      assert.ok(refused.out().includes(`cluster demo/pg-demo ${root}: ${outer} is mode 0700`), refused.out());
      assert.ok(refused.out().includes(`chmod o+x ${outer}`), refused.out());
      chmodSync(outer, 0o711);
    }
    const second = await serve(data, env);
    await listening(second);
    assert.match(second.out(), /started postgres cluster demo\/pg-demo/);
    assert.deepEqual(nodesRunning(), [true, true, true]);
    assert.match(second.out(), /started redis group demo\/redis-demo/);
    assert.deepEqual(redisRunning(), [true, true, true, true, true]);
    const t = await api(second, 'GET', '/v1/projects/demo/targets/pg-demo');
    assert.ok(
      t.nodes.every((n: { health: string }) => n.health === 'healthy'),
      JSON.stringify(t.nodes),
    );
    // a cluster created while it runs is this process's too: it stops with it
    await api(second, 'POST', '/v1/projects/demo/targets', {
      id: 'pg-made',
      kind: 'cluster',
      engine: 'postgresql',
      version: '16.13',
      driver: 'postgres',
      driverConfig: { provision: true, replicas: 0, pooler: false },
    });
    assert.deepEqual(nodesRunning(madeRoot), [true]);
    // and one it brought up, deleted while it runs, is not looked for when it stops
    await api(second, 'DELETE', '/v1/projects/demo/targets/pg-demo');
    assert.ok(!existsSync(root));
    second.proc.kill('SIGTERM');
    assert.equal(await within(second.exited, 300_000, () => second.out()), 0, second.out());
    assert.deepEqual(nodesRunning(madeRoot), [false], second.out());
    assert.deepEqual(redisRunning(), [false, false, false, false, false], second.out());
    assert.doesNotMatch(second.out(), /could not be stopped/);
  } finally {
    await destroyCluster(root).catch(() => undefined);
    await destroyCluster(madeRoot).catch(() => undefined);
    await destroyGroup(redisRoot).catch(() => undefined);
    if (ownRoot) {
      await destroyCluster(ownRoot).catch(() => undefined);
      rmSync(path.dirname(path.dirname(path.dirname(ownRoot))), { recursive: true, force: true });
    }
    rmSync(outer, { recursive: true, force: true });
    rmSync(privateDir, { recursive: true, force: true });
  }
});

test('SIGTERM ends a server with a hung step within its bound; the next start recovers the step; logs are on', async () => {
  const data = tmp('sigterm');
  mkdirSync(data, { recursive: true });
  const env = { LIFTGATE_SHUTDOWN_TIMEOUT_MS: '1000', LIFTGATE_LEASE_MS: '1000', LIFTGATE_POSTGRES: '0' };
  try {
    const s = await serve(data, env);
    await listening(s);
    await api(s, 'POST', '/v1/projects', { id: 'p' });
    for (const v of ['1.0.0', '1.1.0']) await api(s, 'POST', '/v1/catalog/e/versions', { version: v });
    await api(s, 'POST', '/v1/projects/p/targets', {
      id: 't',
      kind: 'cluster',
      engine: 'e',
      version: '1.0.0',
      nodes: [
        { name: 'a', role: 'leader', zone: 'z1' },
        { name: 'b', role: 'follower', zone: 'z2' },
      ],
    });
    await api(s, 'POST', '/v1/projects/p/targets/t/faults', { step: 'backup', kind: 'hang' });
    const u = await api(s, 'POST', '/v1/projects/p/upgrades', { targetId: 't', toVersion: '1.1.0' });
    await until(
      async () => {
        const d = await api(s, 'GET', `/v1/projects/p/upgrades/${u.id}`);
        return d.stages.some((st: any) => st.steps.some((x: any) => x.action === 'backup' && x.state === 'running'));
      },
      'the backup step to hang',
      1000,
      30,
    );
    // structured request logs by default, one JSON object per line with its request id (the
    // child's output pipe and its HTTP answers are read separately: wait for the line)
    const logLine = await until(
      async () =>
        s
          .out()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { reqId?: string; req?: { url?: string } })
          .find((l) => l.req?.url === `/v1/projects/p/upgrades/${u.id}`) ?? null,
      'the request log line',
    ).catch(() => null);
    assert.ok(logLine?.reqId, s.out().slice(0, 2000));

    s.proc.kill('SIGTERM');
    assert.equal(await within(s.exited, 300_000, () => s.out()), 0, s.out());
    assert.match(s.out(), /left to recovery/);

    const again = await serve(data, env);
    await listening(again);
    const done = await until(
      async () => {
        const d = await api(again, 'GET', `/v1/projects/p/upgrades/${u.id}`);
        return ['succeeded', 'failed'].includes(d.state) ? d : null;
      },
      'the upgrade to end after recovery',
      1500,
      40,
    );
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    again.proc.kill('SIGTERM');
    assert.equal(await within(again.exited, 300_000, () => again.out()), 0, again.out());
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
