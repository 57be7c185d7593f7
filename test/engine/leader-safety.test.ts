// No node is drained or stopped while it leads, when the driver can switch over: whole upgrades
// run on the simulated fleet over barrier routes (several hops) and every mode, and the oracle is
// the simulator's own effect log replayed in the order the effects were applied, starting from
// the roles the target was created with. The replayed roles are checked against the roles the
// simulator ends with, so the replay itself cannot drift from what really happened.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, startApp, until, type TestApp } from '../helpers/harness.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const LEADS = new Set(['leader', 'primary']);

interface Case {
  name: string;
  engine: string;
  roles: [string, string];
  nodes: number;
  /** each node's zone (default z1, z2, ...) */
  zones?: string[];
  toVersion: string;
  mode: 'rolling' | 'az_migration' | 'stop_service';
  options?: Record<string, unknown>;
  hops: number;
}

const CASES: Case[] = [
  {
    name: 'rolling, two hops through a barrier',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 3,
    toVersion: '4.2.5.1',
    mode: 'rolling',
    hops: 2,
  },
  {
    name: 'rolling, three hops',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 3,
    toVersion: '4.3.0.0',
    mode: 'rolling',
    hops: 3,
  },
  {
    name: 'rolling, three hops, two nodes at a time',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 5,
    toVersion: '4.3.0.0',
    mode: 'rolling',
    options: { parallelism: 2 },
    hops: 3,
  },
  {
    name: 'rolling, primary and replicas, two hops',
    engine: 'mysql',
    roles: ['primary', 'replica'],
    nodes: 3,
    toVersion: '4.2.5.1',
    mode: 'rolling',
    hops: 2,
  },
  {
    name: 'rolling, two nodes, three hops',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 2,
    toVersion: '4.3.0.0',
    mode: 'rolling',
    hops: 3,
  },
  {
    name: 'az_migration of the leader\u2019s zone',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 3,
    toVersion: '4.2.1.0',
    mode: 'az_migration',
    options: { sourceAz: 'z1', targetAz: 'z9' },
    hops: 0,
  },
  {
    name: 'az_migration of a single-zone cluster (every node moves)',
    engine: 'oceanbase',
    roles: ['leader', 'follower'],
    nodes: 3,
    zones: ['z1', 'z1', 'z1'],
    toVersion: '4.2.1.0',
    mode: 'az_migration',
    options: { targetAz: 'z9' },
    hops: 0,
  },
];

forEachDialect('leader safety', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
    await t.call('POST', '/v1/projects', { id: 'acme', name: 'acme' });
    for (const engine of ['oceanbase', 'mysql']) {
      for (const [version, barrier] of [
        ['4.2.1.0', false],
        ['4.2.2.0', true],
        ['4.2.5.1', false],
        ['4.2.6.0', true],
        ['4.3.0.0', false],
      ] as const) {
        const res = await t.call('POST', `/v1/catalog/${engine}/versions`, {
          version,
          release: `r${version}`,
          imageId: `img-${version}`,
          barrier,
        });
        assert.equal(res.status, 201, res.body);
      }
    }
  });
  after(async () => t.close());

  CASES.forEach((c, i) => {
    test(`${c.name}: no node is drained or stopped while it leads`, async () => {
      const id = `safe-${i}`;
      const nodes = Array.from({ length: c.nodes }, (_, k) => ({
        name: `${id}-${k + 1}`,
        role: k === 0 ? c.roles[0] : c.roles[1],
        zone: c.zones?.[k] ?? `z${k + 1}`,
      }));
      const created = await t.call('POST', '/v1/projects/acme/targets', {
        id,
        kind: 'cluster',
        engine: c.engine,
        version: '4.2.1.0',
        release: 'r4.2.1.0',
        driver: 'sim',
        nodes,
      });
      assert.equal(created.status, 201, created.body);
      const started = await t.call('POST', '/v1/projects/acme/upgrades', {
        targetId: id,
        toVersion: c.toVersion,
        mode: c.mode,
        options: c.options ?? {},
      });
      assert.equal(started.status, 202, started.body);
      const upgrade = await until(async () => {
        const u = (await t.call('GET', `/v1/projects/acme/upgrades/${started.json.id}`)).json;
        return ['succeeded', 'failed'].includes(u.state) ? u : null;
      }, `upgrade of ${id} to end`);
      assert.equal(upgrade.state, 'succeeded', JSON.stringify(upgrade.error));

      const steps = new Map<string, { action: string; params: Record<string, unknown> }>(
        upgrade.stages.flatMap((s: any) => s.steps).map((s: any) => [s.id, s]),
      );
      assert.equal(upgrade.hops.length, c.hops, 'the route has the expected hops');
      const effects = await simDb(t.ctx.store.db)
        .selectFrom('sim_effects')
        .select(['step_id', 'effect', 'node'])
        .where('target_id', '=', id)
        .orderBy('id')
        .execute();
      const role = new Map(nodes.map((n) => [n.name, n.role]));
      let switchovers = 0;
      for (const e of effects) {
        if (e.effect === 'switchover') {
          const { from, to } = steps.get(e.step_id)?.params as { from: string; to: string };
          const [a, b] = [role.get(from), role.get(to)];
          assert.ok(a && b, `switchover between known nodes ${from} and ${to}`);
          assert.ok(LEADS.has(a), `switchover from ${from}, which leads (it is ${a})`);
          role.set(from, b);
          role.set(to, a);
          switchovers++;
        }
        if ((e.effect === 'drain' || e.effect === 'stop') && e.node) {
          assert.ok(!LEADS.has(role.get(e.node) ?? ''), `${e.effect} of ${e.node} while it is ${role.get(e.node)}`);
        }
      }
      assert.ok(switchovers >= Math.max(1, c.hops) || c.mode === 'az_migration', 'a switchover per hop');
      if (c.mode === 'az_migration') assert.ok(switchovers >= 1, 'the leader was switched away before its zone moved');
      const simRoles = await simDb(t.ctx.store.db)
        .selectFrom('sim_nodes')
        .select(['node', 'role'])
        .where('target_id', '=', id)
        .execute();
      assert.deepEqual(
        Object.fromEntries(simRoles.map((r) => [r.node, r.role])),
        Object.fromEntries(role),
        'the replayed roles are the simulator\u2019s',
      );
      assert.equal([...role.values()].filter((r) => LEADS.has(r)).length, 1, 'one leader at the end');
    });
  });

  test('stop_service over a barrier route stops every node together, hop by hop', async () => {
    const id = 'safe-stop';
    const nodes = [0, 1, 2].map((k) => ({ name: `${id}-${k + 1}`, role: k === 0 ? 'leader' : 'follower', zone: `z${k + 1}` }));
    await t.call('POST', '/v1/projects/acme/targets', {
      id,
      kind: 'cluster',
      engine: 'oceanbase',
      version: '4.2.1.0',
      release: 'r4.2.1.0',
      driver: 'sim',
      nodes,
    });
    const started = await t.call('POST', '/v1/projects/acme/upgrades', {
      targetId: id,
      toVersion: '4.2.5.1',
      mode: 'stop_service',
    });
    assert.equal(started.status, 202, started.body);
    const u = await until(async () => {
      const x = (await t.call('GET', `/v1/projects/acme/upgrades/${started.json.id}`)).json;
      return ['succeeded', 'failed'].includes(x.state) ? x : null;
    }, 'stop_service upgrade to end');
    assert.equal(u.state, 'succeeded');
    const stopStages = u.stages.filter((s: any) => s.steps.some((st: any) => st.action === 'stop'));
    assert.equal(stopStages.length, 2, 'one stop stage per hop');
    for (const s of stopStages)
      assert.deepEqual(
        s.steps.map((st: any) => st.node).sort(),
        nodes.map((n) => n.name),
      );
  });
});
