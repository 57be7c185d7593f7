// The planner and the route finder are pure: tables of inputs and the DAGs they give.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AppError } from '../../src/domain/errors.ts';
import type { CatalogVersion, TargetNode } from '../../src/domain/types.ts';
import { compareVersions, planCrossEngineRoute, planRoute } from '../../src/domain/versions.ts';
import { plan } from '../../src/engine/planner.ts';

const caps = { switchover: true, azMigration: true, faults: true, provision: false };
const node = (name: string, role: string, zone = 'z1'): TargetNode => ({ name, role, zone, version: '1.0', health: 'healthy' });
const cv = (version: string, extra: Partial<CatalogVersion> = {}): CatalogVersion => ({
  engine: 'e',
  version,
  release: `r${version}`,
  imageId: version,
  displayName: version,
  description: '',
  priority: 0,
  upgradableFrom: [],
  barrier: false,
  deprecated: false,
  createdAt: '',
  ...extra,
});
const shape = (stages: ReturnType<typeof plan>) =>
  stages.map((s) => s.steps.map((st) => `${st.action}${st.node ? `@${st.node}` : ''}`).join(' '));

test('versions compare numerically, segment by segment', () => {
  const table: [string, string, number][] = [
    ['7.10.2', '7.9.3', 1],
    ['1.3.23', '1.3.24', -1],
    ['4.2.1.1', '4.2.1.1', 0],
    ['2.0.52.240300', '2.0.48.231200', 1],
    ['1.30.1-aliyun.1', '1.29.3-aliyun.1', 1],
    ['7.10.2-23.3.1', '7.10.2', 1],
    ['16.14', '16.13', 1],
  ];
  for (const [a, b, want] of table) assert.equal(Math.sign(compareVersions(a, b)), want, `${a} vs ${b}`);
});

test('routes: direct, through barriers, refusals with stable codes', () => {
  const catalog = [
    cv('1.0'),
    cv('1.1'),
    cv('1.2', { barrier: true }),
    cv('1.3'),
    cv('2.0', { upgradableFrom: ['1.3'] }),
    cv('2.1', { deprecated: true }),
  ];
  const hops = (to: string, from = '1.0') =>
    planRoute({ engine: 'e', from, to, catalog }).map((h) => `${h.fromVersion}>${h.toVersion}`);
  assert.deepEqual(hops('1.1'), ['1.0>1.1']);
  assert.deepEqual(hops('1.3'), ['1.0>1.2', '1.2>1.3']);
  assert.deepEqual(hops('2.0'), ['1.0>1.2', '1.2>1.3', '1.3>2.0']);
  assert.deepEqual(hops('1.3', '1.2'), ['1.2>1.3']);
  const code = (to: string, from = '1.0', cat = catalog) => {
    try {
      planRoute({ engine: 'e', from, to, catalog: cat });
      return 'ok';
    } catch (e) {
      return (e as AppError).code;
    }
  };
  assert.equal(code('0.9'), 'VERSION_NOT_FOUND');
  assert.equal(code('1.0', '1.1'), 'UPGRADE_DOWNGRADE');
  assert.equal(code('1.0'), 'UPGRADE_SAME_VERSION');
  assert.equal(code('2.1'), 'UPGRADE_VERSION_DEPRECATED');
  assert.equal(code('2.0', '1.0', [cv('1.0'), cv('2.0', { upgradableFrom: ['1.5'] })]), 'UPGRADE_NO_ROUTE');
  assert.equal(code('1.9', '1.0', [cv('1.0'), cv('1.5', { barrier: true, deprecated: true }), cv('1.9')]), 'UPGRADE_NO_ROUTE');
});

test('rolling: replicas first, switchover, leader last; one stage per node', () => {
  const nodes = [node('n1', 'leader'), node('n2', 'follower'), node('n3', 'follower')];
  const hops = [{ fromVersion: '1.0', toVersion: '1.1', release: 'r' }];
  const stages = plan({ target: { engine: 'e', kind: 'cluster', nodes }, hops, mode: 'rolling', capabilities: caps });
  assert.deepEqual(shape(stages), [
    'precheck',
    'backup',
    'drain@n2 stop@n2 install@n2 start@n2 verify@n2 rejoin@n2',
    'drain@n3 stop@n3 install@n3 start@n3 verify@n3 rejoin@n3',
    'switchover',
    'stop@n1 install@n1 start@n1 verify@n1 rejoin@n1',
    'finalize',
  ]);
  assert.deepEqual(stages[4].steps[0].params, { from: 'n1', to: 'n2' });
});

test('rolling without switchover drains the leader; parallelism groups nodes; hops repeat', () => {
  const nodes = [node('p', 'primary'), node('r1', 'replica'), node('r2', 'replica'), node('r3', 'replica')];
  const hops = [
    { fromVersion: '1.0', toVersion: '1.1', release: 'r' },
    { fromVersion: '1.1', toVersion: '1.2', release: 'r' },
  ];
  const stages = plan({
    target: { engine: 'e', kind: 'cluster', nodes },
    hops,
    mode: 'rolling',
    capabilities: { ...caps, switchover: false },
    options: { parallelism: 2 },
  });
  const s = shape(stages);
  assert.equal(s.length, 2 + 2 * 3 + 1);
  assert.equal(stages[2].steps.filter((x) => x.action === 'drain').length, 2);
  assert.ok(s[4].startsWith('drain@p'));
  assert.equal(stages[5].steps[2].params.version, '1.2');
  assert.ok(!s.some((x) => x.includes('switchover')));
});

test('kubernetes: control plane first; master_only leaves workers alone', () => {
  const nodes = [node('w1', 'worker'), node('m1', 'master'), node('w2', 'worker'), node('m2', 'master')];
  const hops = [{ fromVersion: '1.0', toVersion: '1.1', release: 'r' }];
  const all = shape(
    plan({ target: { engine: 'kubernetes', kind: 'cluster', nodes }, hops, mode: 'rolling', capabilities: caps }),
  );
  assert.deepEqual(
    all.slice(2, 6).map((x) => x.split(' ')[0]),
    ['drain@m1', 'drain@m2', 'drain@w1', 'drain@w2'],
  );
  const masters = shape(
    plan({
      target: { engine: 'kubernetes', kind: 'cluster', nodes },
      hops,
      mode: 'rolling',
      capabilities: caps,
      options: { masterOnly: true },
    }),
  );
  assert.equal(masters.length, 2 + 2 + 1);
});

test('stop_service: every node together, stage by stage', () => {
  const nodes = [node('a', 'leader'), node('b', 'follower')];
  const s = shape(
    plan({
      target: { engine: 'e', kind: 'cluster', nodes },
      hops: [{ fromVersion: '1', toVersion: '2', release: '' }],
      mode: 'stop_service',
      capabilities: caps,
    }),
  );
  assert.deepEqual(s, [
    'precheck',
    'backup',
    'stop@a stop@b',
    'install@a install@b',
    'start@a start@b',
    'verify@a verify@b',
    'finalize',
  ]);
});

test('a bake (a lone upgrade\u2019s analysis) is one target-level step in a stage of its own, before the finalize that commits the upgrade', () => {
  const nodes = [node('a', 'leader'), node('b', 'follower')];
  const check = {
    name: 'lag',
    source: { kind: 'sli' as const, sli: 'replication_lag_seconds' as const },
    min: null,
    max: 5,
    onError: 'pause' as const,
    intervalSeconds: 10,
    last: null,
  };
  const input = {
    target: { engine: 'e', kind: 'cluster' as const, nodes },
    hops: [{ fromVersion: '1', toVersion: '2', release: '' }],
    mode: 'stop_service' as const,
    capabilities: caps,
  };
  const stages = plan({ ...input, bake: { minutes: 30, checks: [check] } });
  const without = shape(plan(input));
  assert.equal(without[without.length - 1], 'finalize');
  assert.deepEqual(shape(stages), [...without.slice(0, -1), 'bake', 'finalize']);
  const bake = stages[stages.length - 2];
  assert.equal(bake.name, 'Bake (30 min)');
  assert.deepEqual(bake.steps[0].params, { bakeMinutes: 30, checks: [check], timeoutSeconds: 30 * 60 + 3600 });
  assert.equal(bake.steps[0].node, null);
});

test('az_migration: nodes of the source zone move one by one; refused without the capability', () => {
  const nodes = [node('a', 'data', 'z1'), node('b', 'data', 'z2'), node('c', 'data', 'z1')];
  const stages = plan({
    target: { engine: 'e', kind: 'cluster', nodes },
    hops: [],
    mode: 'az_migration',
    capabilities: caps,
    options: { sourceAz: 'z1', targetAz: 'z3' },
  });
  assert.deepEqual(shape(stages), [
    'precheck',
    'drain@a stop@a relocate@a start@a verify@a rejoin@a',
    'drain@c stop@c relocate@c start@c verify@c rejoin@c',
    'finalize',
  ]);
  assert.deepEqual(stages[1].steps[2].params, { fromZone: 'z1', toZone: 'z3' });
  assert.throws(
    () =>
      plan({
        target: { engine: 'e', kind: 'cluster', nodes },
        hops: [],
        mode: 'az_migration',
        capabilities: { ...caps, azMigration: false },
        options: { targetAz: 'z3' },
      }),
    (e: AppError) => e.code === 'UPGRADE_MODE_NOT_SUPPORTED',
  );
  assert.throws(
    () =>
      plan({
        target: { engine: 'e', kind: 'cluster', nodes },
        hops: [],
        mode: 'az_migration',
        capabilities: caps,
        options: { sourceAz: 'z9', targetAz: 'z3' },
      }),
    (e: AppError) => e.code === 'AZ_SOURCE_EMPTY',
  );
});

test('az_migration on az1/az2/az3: sourceAz is required, and only its nodes get steps', () => {
  const nodes = [node('n1', 'leader', 'az1'), node('n2', 'follower', 'az2'), node('n3', 'follower', 'az3')];
  const planAz = (options: Record<string, unknown>) =>
    plan({ target: { engine: 'e', kind: 'cluster', nodes }, hops: [], mode: 'az_migration', capabilities: caps, options });
  const refused = (options: Record<string, unknown>, code: string, message: RegExp) =>
    assert.throws(
      () => planAz(options),
      (e: AppError) => {
        assert.equal(e.code, code);
        assert.match(e.message, message);
        assert.equal(e.status, 400);
        return true;
      },
    );

  // The issue's case: targetAz alone would have moved every node into az4.
  refused(
    { targetAz: 'az4' },
    'AZ_SOURCE_REQUIRED',
    /^this cluster spans az1, az2, az3: name the zone to move with options\.sourceAz$/,
  );
  refused({ sourceAz: 'az9', targetAz: 'az4' }, 'AZ_SOURCE_EMPTY', /no node of this cluster is in az9 .*spans az1, az2, az3/);
  refused({ sourceAz: 'az1', targetAz: 'az1' }, 'AZ_SAME_ZONE', /both az1/);
  refused(
    { sourceAz: 'az1', targetAz: 'az2' },
    'AZ_ZONE_REDUCTION',
    /in 2 zones \(az2, az3\) instead of 3 \(az1, az2, az3\), because az2 already holds n2: .*options\.allowZoneReduction: true/,
  );
  refused({ sourceAz: 'az1', targetAz: 'az2', allowZoneReduction: false }, 'AZ_ZONE_REDUCTION', /allowZoneReduction/);
  refused({ sourceAz: 'az1' }, 'INVALID_MODE', /options\.targetAz/);

  // Moving the leader's zone: the leader hands over first, to a node of a zone that stays; no
  // node of az2 or az3 is drained, stopped or moved.
  const moved = planAz({ sourceAz: 'az1', targetAz: 'az4' });
  assert.deepEqual(shape(moved), [
    'precheck',
    'switchover',
    'drain@n1 stop@n1 relocate@n1 start@n1 verify@n1 rejoin@n1',
    'finalize',
  ]);
  assert.deepEqual(moved[1]?.steps[0]?.params, { from: 'n1', to: 'n2' });
  assert.deepEqual(moved[2]?.steps[2]?.params, { fromZone: 'az1', toZone: 'az4' });

  const other = planAz({ sourceAz: 'az3', targetAz: 'az4' });
  assert.deepEqual(shape(other), ['precheck', 'drain@n3 stop@n3 relocate@n3 start@n3 verify@n3 rejoin@n3', 'finalize']);

  // Fewer zones only when asked for
  const reduced = planAz({ sourceAz: 'az3', targetAz: 'az2', allowZoneReduction: true });
  assert.deepEqual(shape(reduced), ['precheck', 'drain@n3 stop@n3 relocate@n3 start@n3 verify@n3 rejoin@n3', 'finalize']);
  assert.deepEqual(reduced[1]?.steps[2]?.params, { fromZone: 'az3', toZone: 'az2' });
});

test('az_migration of a single-zone target: sourceAz defaults to its zone; every node moves, the leader last', () => {
  const nodes = [node('n1', 'leader', 'az1'), node('n2', 'follower', 'az1'), node('n3', 'follower', 'az1')];
  const stages = plan({
    target: { engine: 'e', kind: 'instance', nodes },
    hops: [],
    mode: 'az_migration',
    capabilities: caps,
    options: { targetAz: 'az4' },
  });
  assert.deepEqual(shape(stages), [
    'precheck',
    'drain@n2 stop@n2 relocate@n2 start@n2 verify@n2 rejoin@n2',
    'drain@n3 stop@n3 relocate@n3 start@n3 verify@n3 rejoin@n3',
    'switchover',
    'drain@n1 stop@n1 relocate@n1 start@n1 verify@n1 rejoin@n1',
    'finalize',
  ]);
  assert.deepEqual(stages[3]?.steps[0]?.params, { from: 'n1', to: 'n2' }, 'the leader hands over to a node already in az4');
  assert.throws(
    () =>
      plan({
        target: { engine: 'e', kind: 'instance', nodes },
        hops: [],
        mode: 'az_migration',
        capabilities: caps,
        options: { sourceAz: 'az2', targetAz: 'az4' },
      }),
    (e: AppError) => e.code === 'AZ_SOURCE_EMPTY' && /this instance .*spans az1/.test(e.message),
  );
});

test('a route across engines: one hop, allowed by an "engine:version" pattern; a shard fails over inside itself', () => {
  const valkey = [cv('8.0.1', { engine: 'valkey', release: '8.0.1', upgradableFrom: ['redis:7.*'] })];
  const hops = planCrossEngineRoute({ fromEngine: 'redis', from: '7.0.15', toEngine: 'valkey', to: '8.0.1', catalog: valkey });
  assert.deepEqual(hops, [
    { fromVersion: '7.0.15', toVersion: '8.0.1', release: '8.0.1', fromEngine: 'redis', toEngine: 'valkey' },
  ]);
  assert.throws(
    () => planCrossEngineRoute({ fromEngine: 'redis', from: '6.2.14', toEngine: 'valkey', to: '8.0.1', catalog: valkey }),
    (e: AppError) => e.code === 'UPGRADE_NO_ROUTE' && /takes redis 7\.\*/.test(e.message),
  );
  // a pattern naming another engine does not narrow the routes within valkey
  assert.equal(planRoute({ engine: 'valkey', from: '7.2.5', to: '8.0.1', catalog: valkey }).length, 1);
  const shard = (name: string, role: string, s: string): TargetNode => ({ ...node(name, role), shard: s });
  const nodes = [
    shard('a1', 'primary', '1'),
    shard('a2', 'replica', '1'),
    shard('b1', 'primary', '2'),
    shard('b2', 'replica', '2'),
  ];
  const stages = plan({ target: { engine: 'redis', kind: 'cluster', nodes }, hops, mode: 'rolling', capabilities: caps });
  const switchovers = stages.flatMap((s) => s.steps).filter((st) => st.action === 'switchover');
  assert.deepEqual(
    switchovers.map((st) => `${String(st.params.from)}->${String(st.params.to)}`),
    ['a1->a2', 'b1->b2'],
  );
  // every replica before any primary; names say the engine the hop lands on
  assert.deepEqual(stages.map((s) => s.name).slice(2, 4), ['Upgrade a2 to valkey 8.0.1', 'Upgrade b2 to valkey 8.0.1']);
});
