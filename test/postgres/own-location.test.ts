// A Liftgate clone the PostgreSQL service user cannot reach (in /root, mode 0700, run as root): its
// data folder and its node_modules are both out of reach. The driver keeps the cluster in a
// folder of its own and runs binaries it linked there; a new driver (a restart) still reads the
// cluster, tells each node's version from its link, and moves a node to the other version's
// binaries. An operator's explicit folder is used as it is and explained. A normal user's run is
// unchanged: servers run as that user, in the configured folder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Target } from '../../src/domain/types.ts';
import { DriverError } from '../../src/drivers/driver.ts';
import { scanInstalledVersions } from '../../src/drivers/postgres/binaries.ts';
import * as cl from '../../src/drivers/postgres/cluster.ts';
import { PostgresDriver, type PostgresDriverOptions } from '../../src/drivers/postgres/driver.ts';
import * as ops from '../../src/drivers/postgres/node-ops.ts';
import { serviceUser } from '../../src/drivers/postgres/os-user.ts';
import { ownDataDir } from '../../src/drivers/postgres/placement.ts';
import { makeTarget } from './fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const asRoot = (process.getuid?.() ?? 1) === 0;

/** the private folder (like /root), the clone inside it, and the driver's own location (like /var/lib/liftgate) */
const priv = mkdtempSync(path.join(tmpdir(), 'liftgate-private-'));
const home = mkdtempSync(path.join(tmpdir(), 'liftgate-home-'));
const clone = path.join(priv, 'clone');
const nodeModules = path.join(clone, 'node_modules');
const configured = path.join(clone, 'data', 'pg');
const opts: PostgresDriverOptions = { dataDir: configured, home, nodeModules };
let target: Target | undefined;

before(() => {
  chmodSync(priv, 0o700);
  chmodSync(home, 0o755);
  // the clone's own binary packages (16.13 and 16.14), as `npm ci` leaves them
  for (const v of scanInstalledVersions().filter((x) => x.version === '16.13' || x.version === '16.14')) {
    const pkg = path.dirname(v.nativeDir);
    cpSync(realpathSync(pkg), path.join(nodeModules, `pg-${v.version}`), { recursive: true, verbatimSymlinks: true });
  }
  mkdirSync(path.dirname(configured), { recursive: true });
});

after(async () => {
  if (target) await new PostgresDriver(opts).destroy(target).catch((e: unknown) => console.error('destroying the cluster:', e));
  rmSync(priv, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

const owner = (p: string) => statSync(p).uid;
const mode = (p: string) => statSync(p).mode & 0o777;

test('a cluster of a clone in a 0700 folder lives in the driver own folder, runs linked binaries, and survives a restart', async () => {
  assert.ok(asRoot, 'this test runs as root: servers run as the service user only then');
  const u = serviceUser();
  const driver = new PostgresDriver(opts);
  const own = ownDataDir(home, configured);
  assert.equal(driver.dataDir, own);
  assert.ok(!own.startsWith(priv + path.sep));
  assert.match(
    driver.placementNote ?? '',
    new RegExp(
      `keeps its clusters in ${own} and runs PostgreSQL 16\\.13, 16\\.14 from ${home}/binaries, because the system user liftgate-pg .*cannot pass ${priv} \\(mode 0700\\)`,
    ),
  );
  // each build was linked once, keyed by its package version; the originals still resolve
  const builds = readdirSync(path.join(home, 'binaries')).sort();
  assert.equal(builds.length, 2, builds.join(', '));
  for (const v of ['16.13', '16.14']) {
    const dir = driver.catalog.nativeDir(v);
    assert.equal(path.dirname(dir), path.join(home, 'binaries'));
    assert.equal(driver.catalog.versionOf(path.join(nodeModules, `pg-${v}`, 'native')), v);
    assert.deepEqual(readdirSync(dir).sort(), ['bin', 'lib', 'share']);
  }

  target = makeTarget('own-1', '16.13', { provision: true, replicas: 1, pooler: false });
  const p = await driver.provision(target);
  target = { ...target, nodes: p.nodes, driverConfig: p.driverConfig };
  const root = p.driverConfig.root as string;
  assert.equal(root, path.join(own, 'test', 'own-1'));
  assert.deepEqual(
    p.nodes.map((n) => [n.role, n.version, n.health]),
    [
      ['primary', '16.13', 'healthy'],
      ['replica', '16.13', 'healthy'],
    ],
  );
  // every folder on the way is root's, 0755; the cluster's data is the service user's
  for (const d of [path.dirname(own), own, path.dirname(root), root]) {
    assert.equal(mode(d), 0o755, d);
    assert.equal(owner(d), 0, d);
  }
  assert.equal(readFileSync(path.join(path.dirname(own), 'source'), 'utf8'), `${configured}\n`);
  const state = await cl.loadCluster(root);
  for (const n of state.nodes) {
    const data = cl.dataDir(n);
    assert.ok(!data.startsWith(priv + path.sep), data);
    assert.equal(owner(data), u.uid, data);
    for (const f of ['PG_VERSION', 'postgresql.conf', 'liftgate.conf', 'global'])
      assert.equal(owner(path.join(data, f)), u.uid, f);
    assert.equal(await readlink(cl.binLink(n)), driver.catalog.nativeDir('16.13'));
  }
  assert.deepEqual(readdirSync(path.dirname(configured)), [], 'nothing was written in the private folder');

  // a restart: a new driver makes no second copy, finds the cluster and reads every node
  const again = new PostgresDriver(opts);
  assert.deepEqual(readdirSync(path.join(home, 'binaries')).sort(), builds);
  assert.equal(again.rootOf(target), root);
  const topo = await again.inspect(target);
  assert.deepEqual(
    topo.nodes.map((n) => [n.role, n.version, n.health]),
    [
      ['primary', '16.13', 'healthy'],
      ['replica', '16.13', 'healthy'],
    ],
  );
  // a stopped node's version comes from its link, into the copy; it moves to 16.14's copy and runs it
  const replica = state.nodes[1]!;
  await ops.stopMember(replica, () => undefined);
  assert.equal(await cl.linkedVersion(replica, again.catalog), '16.13');
  await ops.swapBinaries(replica, '16.14', again.catalog, () => undefined);
  assert.equal(await cl.linkedVersion(replica, again.catalog), '16.14');
  await ops.startMember(state, replica, () => undefined);
  const after = await again.inspect(target);
  assert.deepEqual(
    after.nodes.map((n) => [n.name, n.version, n.health]),
    [
      ['own-1-1', '16.13', 'healthy'],
      ['own-1-2', '16.14', 'healthy'],
    ],
  );
});

test('a folder an operator chose is used as it is: out of reach, provisioning says what to change', async () => {
  const pinned = new PostgresDriver({ ...opts, pinDataDir: true });
  assert.equal(pinned.dataDir, configured);
  const problem = pinned.reachProblem() ?? '';
  assert.ok(problem.includes(`data folder ${configured}: ${priv} is mode 0700`), problem);
  assert.ok(problem.includes(`chmod o+x ${priv}`), problem);
  assert.match(problem, /set LIFTGATE_PG_DATA_DIR to a folder it can reach/);
  await assert.rejects(
    pinned.provision(makeTarget('own-2', '16.13', { provision: true, replicas: 0, pooler: false })),
    (e: unknown) => e instanceof DriverError && e.code === 'PROVISION_FAILED' && e.message.includes(`chmod o+x ${priv}`),
  );
  assert.deepEqual(readdirSync(path.dirname(configured)), []);
});

test('a normal user: nothing moves, the server runs as that user in the configured folder', () => {
  // the same private folder, owned by a normal user this time, driven by a process of that user
  const user = { uid: 65534, gid: 65534 };
  const mine = mkdtempSync(path.join(tmpdir(), 'liftgate-user-'));
  try {
    chmodSync(mine, 0o700);
    spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, mine]);
    const script = `
      import { PostgresDriver } from ${JSON.stringify(path.join(ROOT, 'src/drivers/postgres/driver.ts'))};
      const d = new PostgresDriver({ dataDir: ${JSON.stringify(path.join(mine, 'pg'))}, home: ${JSON.stringify(home)} });
      const t = { projectId: 'p', id: 'mine', version: '16.13', driverConfig: { provision: true, replicas: 0, pooler: false } };
      const r = await d.provision(t);
      const topo = await d.inspect({ ...t, driverConfig: r.driverConfig });
      await d.destroy({ ...t, driverConfig: r.driverConfig });
      console.log(JSON.stringify({ dataDir: d.dataDir, note: d.placementNote, root: r.driverConfig.root, nodes: topo.nodes, bin: d.catalog.nativeDir('16.13') }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      uid: user.uid,
      gid: user.gid,
      encoding: 'utf8',
      env: { ...process.env, HOME: mine },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      dataDir: string;
      note: string | null;
      root: string;
      nodes: { health: string; version: string }[];
      bin: string;
    };
    assert.equal(out.dataDir, path.join(mine, 'pg'));
    assert.equal(out.note, null);
    assert.equal(out.root, path.join(mine, 'pg', 'p', 'mine'));
    assert.deepEqual(
      out.nodes.map((n) => [n.version, n.health]),
      [['16.13', 'healthy']],
    );
    assert.equal(out.bin, scanInstalledVersions().find((v) => v.version === '16.13')!.nativeDir);
  } finally {
    rmSync(mine, { recursive: true, force: true });
  }
});
