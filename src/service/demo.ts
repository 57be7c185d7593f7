// The demo project: a simulated fleet shaped after the seed examples, with catalogs of newer
// versions for every engine. Created on first start with an empty store (LIFTGATE_DEMO=0 skips).
import type { CatalogInput } from './catalog.ts';
import { addCatalogVersion } from './catalog.ts';
import type { AppContext } from './app-context.ts';
import { createProject } from './projects.ts';
import { createTarget, type TargetInput } from './targets.ts';

const CATALOG: Record<string, CatalogInput[]> = {
  hologres: [
    { version: '1.3.23', release: 'r1.3.23', displayName: 'Hologres 1.3.23' },
    {
      version: '1.3.24',
      release: 'r1.3.24',
      displayName: 'Hologres 1.3.24',
      description: 'Fixes leader restart on large catalogs.',
    },
    { version: '1.3.37', release: 'r1.3.37', displayName: 'Hologres 1.3.37' },
    { version: '2.0.12', release: 'r2.0.12', displayName: 'Hologres 2.0.12', upgradableFrom: ['1.3.*'], barrier: true },
    { version: '2.1.1', release: 'r2.1.1', displayName: 'Hologres 2.1.1' },
  ],
  elasticsearch: [
    { version: '7.9.3', release: '21.8.0_0830', deprecated: true },
    { version: '7.10.2', release: '22.5.1_1230', displayName: '7.10.2_22.5.1_1230', priority: 16 },
    {
      version: '7.10.2-23.3.1',
      release: '23.3.1_0310',
      displayName: '7.10.2_23.3.1_0310',
      priority: 17,
      description:
        'The latest image of version 7.10.2: cluster stability optimised. It is recommended that you upgrade to this version.',
    },
    { version: '7.10.2-24.1.0', release: '24.1.0_0115', displayName: '7.10.2_24.1.0_0115', priority: 18 },
  ],
  oceanbase: [
    { version: '4.2.1.0', release: '100000102023092807.el7' },
    { version: '4.2.1.1', release: '101000062023110109.el7' },
    { version: '4.2.2.0', release: '100000192024011915.el7', barrier: true },
    { version: '4.2.5.1', release: '101000102024103110.el7' },
  ],
  kubernetes: [
    { version: '1.28.9-aliyun.1', release: 'v1.28.9-aliyun.1' },
    { version: '1.29.3-aliyun.1', release: 'v1.29.3-aliyun.1', barrier: true },
    { version: '1.30.1-aliyun.1', release: 'v1.30.1-aliyun.1', barrier: true },
    { version: '1.31.1-aliyun.1', release: 'v1.31.1-aliyun.1' },
  ],
  gaussdb: [
    { version: '2.0.48.231200', release: '8.201' },
    { version: '2.0.52.240300', release: '8.202', description: 'Minor version: stability and security fixes.' },
    { version: '2.0.58.250100', release: '8.203', description: 'Minor version: performance and security fixes.' },
  ],
};

const TARGETS: TargetInput[] = [
  {
    id: 'hgprecn-cn-uqm30ptv6004',
    name: 'ERP instance',
    kind: 'instance',
    engine: 'hologres',
    version: '1.3.23',
    release: 'r1.3.23',
    region: 'cn-hangzhou',
    nodes: [
      { name: 'hg-leader', role: 'leader', zone: 'cn-hangzhou-h' },
      { name: 'hg-follower-tms', role: 'follower', zone: 'cn-hangzhou-h' },
      { name: 'hg-follower-wms', role: 'follower', zone: 'cn-hangzhou-j' },
    ],
  },
  {
    id: 'ea244205-d641-45d9-9dcb-ab2236bcd07e',
    name: 'css-test',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.10.2',
    release: '22.5.1_1230',
    region: 'cn-north-4',
    nodes: [
      { name: 'css-test-ess-esn-1-1', role: 'data', zone: 'cn-north-4a' },
      { name: 'css-test-ess-esn-2-1', role: 'data', zone: 'cn-north-4b' },
      { name: 'css-test-ess-esn-3-1', role: 'data', zone: 'cn-north-4a' },
    ],
  },
  {
    id: 'ob-cluster-1',
    name: 'obcluster',
    kind: 'cluster',
    engine: 'oceanbase',
    version: '4.2.1.0',
    release: '100000102023092807.el7',
    region: 'local',
    nodes: [
      { name: '10.0.0.1:2882', role: 'leader', zone: 'zone1' },
      { name: '10.0.0.2:2882', role: 'follower', zone: 'zone2' },
      { name: '10.0.0.3:2882', role: 'follower', zone: 'zone3' },
    ],
  },
  {
    id: 'c106f377e16f34eb1808d6b9362c9',
    name: 'ack-prod',
    kind: 'cluster',
    engine: 'kubernetes',
    version: '1.28.9-aliyun.1',
    release: 'v1.28.9-aliyun.1',
    region: 'cn-hangzhou',
    nodes: [
      { name: 'master-1', role: 'master', zone: 'cn-hangzhou-h' },
      { name: 'master-2', role: 'master', zone: 'cn-hangzhou-i' },
      { name: 'master-3', role: 'master', zone: 'cn-hangzhou-j' },
      { name: 'worker-1', role: 'worker', zone: 'cn-hangzhou-h' },
      { name: 'worker-2', role: 'worker', zone: 'cn-hangzhou-i' },
    ],
  },
  ...['6754902da1f447269c6979b0590102a5in07', '8c1e4f0b2d7a4c3e9f6a5b4c3d2e1f00in07', 'a3f9d2c1b0e84f7d8c6b5a4e3d2c1b0ain07'].map(
    (id, i): TargetInput => ({
      id,
      name: `gauss-${i + 1}`,
      kind: 'instance',
      engine: 'gaussdb',
      version: '2.0.48.231200',
      release: '8.201',
      region: 'cn-north-4',
      maintenanceWindow: { start: '18:00', end: '22:00' },
      nodes: [
        { name: `gauss-${i + 1}-dn-1`, role: 'primary', zone: 'cn-north-4a' },
        { name: `gauss-${i + 1}-dn-2`, role: 'replica', zone: 'cn-north-4b' },
        { name: `gauss-${i + 1}-dn-3`, role: 'replica', zone: 'cn-north-4c' },
      ],
    }),
  ),
];

/** A real cluster for the `postgres` driver: provisioned on first start, stopped and started with the server. */
const PG_DEMO: TargetInput = {
  id: 'pg-demo',
  name: 'PostgreSQL demo cluster',
  kind: 'cluster',
  engine: 'postgresql',
  version: '16.13',
  release: '16.13',
  region: 'local',
  driver: 'postgres',
  driverConfig: { provision: true, replicas: 2, pooler: false },
};

/**
 * Adds pg-demo when the postgres driver can run 16.13 and upgrade it to 16.14. It is created once,
 * with the rest of the demo project; `liftgate serve` stops its servers when it stops and starts
 * them again on the next start (src/service/local-clusters.ts). A machine that cannot provision it (no
 * service user, ports, disk) still gets the simulated fleet: the failure is logged, not fatal.
 */
async function seedPostgresCluster(ctx: AppContext): Promise<void> {
  const versions = new Set(
    (ctx.drivers.get('postgres')?.catalogEntries?.() ?? []).filter((e) => e.engine === 'postgresql').map((e) => e.version),
  );
  if (!versions.has('16.13') || !versions.has('16.14')) return;
  const log = ctx.config.log ?? console.log;
  try {
    const t = await createTarget(ctx, 'demo', PG_DEMO, 'demo-seed');
    const ports = t.nodes.map((n) => `${n.name} ${n.role} :${n.port}`).join(', ');
    log(
      `liftgate: created the demo PostgreSQL cluster pg-demo (16.13: ${ports}); Liftgate stops its servers when it stops and starts them when it starts`,
    );
  } catch (err) {
    log(`liftgate: the demo PostgreSQL cluster could not be created, continuing without it: ${(err as Error).message}`);
  }
}

/** A real Redis OSS group for the `redis` driver (a primary, a replica, three Sentinels): the demo of Redis -> Valkey. */
const REDIS_DEMO: TargetInput = {
  id: 'redis-demo',
  name: 'Redis demo group',
  kind: 'cluster',
  engine: 'redis',
  version: '7.0.15',
  release: '7.0.15',
  region: 'local',
  driver: 'redis',
  driverConfig: { provision: true, topology: 'sentinel', replicas: 1 },
};

/**
 * Adds redis-demo when the redis driver has Redis 7.0.15 and Valkey 8.0.1 installed (Debian's
 * redis-server, and valkey-server from bookworm-backports); else says which package is missing.
 */
async function seedRedisGroup(ctx: AppContext): Promise<void> {
  const log = ctx.config.log ?? console.log;
  const have = new Set((ctx.drivers.get('redis')?.catalogEntries?.() ?? []).map((e) => `${e.engine} ${e.version}`));
  const missing = ['redis 7.0.15', 'valkey 8.0.1'].filter((v) => !have.has(v));
  if (missing.length > 0) {
    log(
      `liftgate: the demo fleet has no Redis group: ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not installed (Debian packages redis-server, and valkey-server from bookworm-backports)`,
    );
    return;
  }
  try {
    const t = await createTarget(ctx, 'demo', REDIS_DEMO, 'demo-seed');
    const ports = t.nodes.map((n) => `${n.name} ${n.role} :${n.port}`).join(', ');
    log(`liftgate: created the demo Redis group redis-demo (7.0.15: ${ports}, three Sentinels); it upgrades to Valkey 8.0.1`);
  } catch (err) {
    log(`liftgate: the demo Redis group could not be created, continuing without it: ${(err as Error).message}`);
  }
}

/** `noPostgres`: why pg-demo cannot be created here (said once at start), to skip it quietly. */
export async function seedDemo(ctx: AppContext, noPostgres?: string): Promise<boolean> {
  const any = await ctx.store.db.selectFrom('projects').select('id').limit(1).executeTakeFirst();
  if (any) return false;
  await createProject(ctx, { id: 'demo', name: 'Demo fleet' });
  for (const [engine, versions] of Object.entries(CATALOG)) {
    for (const v of versions) await addCatalogVersion(ctx, engine, v);
  }
  for (const t of TARGETS) await createTarget(ctx, 'demo', t, 'demo-seed');
  if (noPostgres) (ctx.config.log ?? console.log)('liftgate: the demo fleet has no PostgreSQL cluster (see above)');
  else await seedPostgresCluster(ctx);
  await seedRedisGroup(ctx);
  return true;
}
