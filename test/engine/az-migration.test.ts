// An AZ migration never collapses zones: on a target in several zones it moves the nodes of one
// named zone (sourceAz) and touches no other; a request that does not name it, names a zone the
// target does not use, goes nowhere, or would leave fewer zones without allowZoneReduction is
// refused with a 4xx that says what to fix, and writes nothing. The precheck shows the zones
// before and after. Through the native API, on both stores.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { forEachDialect, seedSim, startApp, stopBackground, until, type TestApp } from '../helpers/harness.ts';
import { changedTables, storeDigest } from '../helpers/store-digest.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const THREE_ZONES = (id: string) => [
  { name: `${id}-1`, role: 'leader', zone: 'az1' },
  { name: `${id}-2`, role: 'follower', zone: 'az2' },
  { name: `${id}-3`, role: 'follower', zone: 'az3' },
];

forEachDialect('az migration', (dialect) => {
  describe('refusals', () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(dialect);
      await seedSim(t, { target: 'tri' });
      await seedSim(t, {
        target: 'solo',
        nodes: [
          { name: 'solo-1', role: 'leader', zone: 'az1' },
          { name: 'solo-2', role: 'follower', zone: 'az1' },
        ],
      });
      // From here on the requests are the store's only writers, so its digest sees any write.
      await stopBackground(t);
    });
    after(async () => t.close());

    /** Sends the request and checks its 4xx answer and that no table changed. */
    async function refused(
      url: string,
      body: Record<string, unknown>,
      want: { status?: number; code: string; message: RegExp | string },
    ): Promise<Record<string, unknown>> {
      const digest = await storeDigest(t.ctx);
      const res = await t.call('POST', url, body);
      assert.equal(res.status, want.status ?? 400, res.body);
      assert.equal(res.json.error.code, want.code, res.body);
      if (typeof want.message === 'string') assert.equal(res.json.error.message, want.message);
      else assert.match(res.json.error.message, want.message);
      assert.deepEqual(changedTables(digest, await storeDigest(t.ctx)), [], `${want.code} wrote nothing`);
      return res.json.error;
    }
    const upgrade = (options: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      targetId: 'tri',
      mode: 'az_migration',
      options,
      ...extra,
    });
    const precheck = (options: Record<string, unknown>) => ({ mode: 'az_migration', options, wait: true });
    const UPGRADES = '/v1/projects/acme/upgrades';
    const PRECHECKS = '/v1/projects/acme/targets/tri/prechecks';

    test('without sourceAz on az1/az2/az3: refused, naming the zones and the option (upgrade and precheck)', async () => {
      const message = 'this cluster spans az1, az2, az3: name the zone to move with options.sourceAz';
      const e = await refused(UPGRADES, upgrade({ targetAz: 'az4' }), { code: 'AZ_SOURCE_REQUIRED', message });
      assert.deepEqual(e.details, { zones: { az1: ['tri-1'], az2: ['tri-2'], az3: ['tri-3'] } });
      await refused(PRECHECKS, precheck({ targetAz: 'az4' }), { code: 'AZ_SOURCE_REQUIRED', message });
    });

    test('a sourceAz the target has no node in, or equal to targetAz: refused', async () => {
      for (const url of [UPGRADES, PRECHECKS]) {
        const body = (o: Record<string, unknown>) => (url === UPGRADES ? upgrade(o) : precheck(o));
        await refused(url, body({ sourceAz: 'az9', targetAz: 'az4' }), {
          code: 'AZ_SOURCE_EMPTY',
          message: 'no node of this cluster is in az9 (options.sourceAz); it spans az1, az2, az3: name one of them',
        });
        await refused(url, body({ sourceAz: 'az2', targetAz: 'az2' }), {
          code: 'AZ_SAME_ZONE',
          message: /options\.sourceAz and options\.targetAz are both az2/,
        });
        await refused(url, body({ sourceAz: 'az2' }), { code: 'INVALID_MODE', message: /needs options\.targetAz/ });
      }
    });

    test('a targetAz another zone of the target uses (3 zones -> 2): refused unless allowZoneReduction', async () => {
      const message =
        'moving az1 to az2 would leave this cluster in 2 zones (az2, az3) instead of 3 (az1, az2, az3), because az2 ' +
        'already holds tri-2: name a options.targetAz this cluster does not use, or set options.allowZoneReduction: true ' +
        'to accept fewer zones';
      const e = await refused(UPGRADES, upgrade({ sourceAz: 'az1', targetAz: 'az2' }), { code: 'AZ_ZONE_REDUCTION', message });
      assert.deepEqual(e.details, {
        zones: { az1: ['tri-1'], az2: ['tri-2'], az3: ['tri-3'] },
        after: { az2: ['tri-1', 'tri-2'], az3: ['tri-3'] },
      });
      await refused(UPGRADES, upgrade({ sourceAz: 'az1', targetAz: 'az2', allowZoneReduction: false }), {
        code: 'AZ_ZONE_REDUCTION',
        message,
      });
      await refused(PRECHECKS, precheck({ sourceAz: 'az1', targetAz: 'az2' }), { code: 'AZ_ZONE_REDUCTION', message });
      // a single-zone target's only zone is its default sourceAz, so moving to it goes nowhere
      await refused(
        '/v1/projects/acme/upgrades',
        { targetId: 'solo', mode: 'az_migration', options: { targetAz: 'az1' } },
        { code: 'AZ_SAME_ZONE', message: /both az1/ },
      );
    });

    test('zone options on a version upgrade, a version with a zone move, and an az_migration batch: refused', async () => {
      await refused(
        UPGRADES,
        { targetId: 'tri', toVersion: '7.10.3', mode: 'rolling', options: { targetAz: 'az4' } },
        { code: 'INVALID_MODE', message: /options\.targetAz belongs to an az_migration/ },
      );
      await refused(
        PRECHECKS,
        { toVersion: '7.10.3', options: { sourceAz: 'az1', allowZoneReduction: true } },
        { code: 'INVALID_MODE', message: /options\.sourceAz, options\.allowZoneReduction belong to an az_migration/ },
      );
      await refused(
        PRECHECKS,
        { toVersion: '7.10.3', mode: 'az_migration', options: { sourceAz: 'az1', targetAz: 'az4' } },
        { code: 'INVALID_MODE', message: /keeps the version/ },
      );
      await refused(PRECHECKS, { mode: 'rolling' }, { code: 'VALIDATION_FAILED', message: /toVersion is required/ });
      await refused(
        '/v1/projects/acme/batches',
        { name: 'zones', targetIds: ['tri'], toVersion: '7.10.2', mode: 'az_migration', waves: [{ name: 'all', targets: 1 }] },
        { code: 'UPGRADE_MODE_NOT_SUPPORTED', message: /a batch cannot move zones: start an az_migration per target/ },
      );
    });
  });

  describe('moves', () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(dialect);
    });
    after(async () => t.close());

    const start = async (body: Record<string, unknown>) => {
      const res = await t.call('POST', '/v1/projects/acme/upgrades', { mode: 'az_migration', ...body });
      assert.equal(res.status, 202, res.body);
      return res.json;
    };
    const settle = (id: string) =>
      until(async () => {
        const u = (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json;
        return ['succeeded', 'failed', 'cancelled'].includes(u.state) ? u : null;
      }, `upgrade ${id} to end`);
    const zones = async (target: string) =>
      Object.fromEntries(
        (await t.call('GET', `/v1/projects/acme/targets/${target}`)).json.nodes.map((n: { name: string; zone: string }) => [
          n.name,
          n.zone,
        ]),
      );
    const reportOf = async (u: { precheckReportId: string }) =>
      (await t.call('GET', `/v1/projects/acme/prechecks/${u.precheckReportId}`)).json;
    /** what the simulator did to each node: every driver call that named it */
    const callsOn = async (target: string) => {
      const rows = await simDb(t.ctx.store.db)
        .selectFrom('sim_invocations')
        .select(['node', 'action'])
        .where('target_id', '=', target)
        .orderBy('id')
        .execute();
      const by: Record<string, string[]> = {};
      for (const r of rows) if (r.node) (by[r.node] ??= []).push(r.action);
      return by;
    };

    test('with sourceAz: only its nodes move; the other zones keep their nodes, none stopped or moved', async () => {
      await seedSim(t, { target: 'm-1' });
      const created = await start({ targetId: 'm-1', options: { sourceAz: 'az1', targetAz: 'az4' } });
      assert.deepEqual(created.azMigration, { sourceAz: 'az1', targetAz: 'az4', allowZoneReduction: false });
      const nodeSteps = created.stages.flatMap((s: any) => s.steps).filter((s: any) => s.node !== null);
      assert.deepEqual([...new Set(nodeSteps.map((s: any) => s.node))], ['m-1-1'], 'the plan has steps for az1 only');
      const u = await settle(created.id);
      assert.equal(u.state, 'succeeded', u.error);
      assert.deepEqual(await zones('m-1'), { 'm-1-1': 'az4', 'm-1-2': 'az2', 'm-1-3': 'az3' });
      const calls = await callsOn('m-1');
      assert.deepEqual(calls['m-1-1'], ['drain', 'stop', 'relocate', 'start', 'verify', 'rejoin']);
      assert.deepEqual(Object.keys(calls).sort(), ['m-1-1'], 'no step ran on a node of az2 or az3');
      const simZones = await simDb(t.ctx.store.db)
        .selectFrom('sim_nodes')
        .select(['node', 'zone', 'running'])
        .where('target_id', '=', 'm-1')
        .orderBy('node')
        .execute();
      assert.deepEqual(
        simZones.map((n) => [n.node, n.zone, Boolean(n.running)]),
        [
          ['m-1-1', 'az4', true],
          ['m-1-2', 'az2', true],
          ['m-1-3', 'az3', true],
        ],
      );
      const item = (await reportOf(u)).items.find((i: any) => i.name === 'zone_layout');
      assert.equal(item.status, 'pass');
      assert.equal(
        item.message,
        'moving az1 to az4 (m-1-1) keeps 3 zones: before az1 [m-1-1], az2 [m-1-2], az3 [m-1-3]; after az2 [m-1-2], az3 [m-1-3], az4 [m-1-1]',
      );
      assert.deepEqual(item.zones, {
        before: { az1: ['m-1-1'], az2: ['m-1-2'], az3: ['m-1-3'] },
        after: { az2: ['m-1-2'], az3: ['m-1-3'], az4: ['m-1-1'] },
      });
    });

    test('allowZoneReduction: the precheck warns 3 -> 2 zones, and the move is done', async () => {
      await seedSim(t, { target: 'r-1' });
      const created = await start({ targetId: 'r-1', options: { sourceAz: 'az3', targetAz: 'az2', allowZoneReduction: true } });
      const u = await settle(created.id);
      assert.equal(u.state, 'succeeded', u.error);
      assert.deepEqual(await zones('r-1'), { 'r-1-1': 'az1', 'r-1-2': 'az2', 'r-1-3': 'az2' });
      const report = await reportOf(u);
      assert.equal(report.state, 'warned');
      const item = report.items.find((i: any) => i.name === 'zone_layout');
      assert.equal(item.status, 'warn');
      assert.match(item.message, /^moving az3 to az2 \(r-1-3\) leaves 2 zones instead of 3, as allowZoneReduction accepts/);
    });

    test('a single-zone target: sourceAz defaults to its zone, is recorded, and every node moves', async () => {
      await seedSim(t, {
        target: 's-1',
        nodes: [
          { name: 's-1-1', role: 'leader', zone: 'az1' },
          { name: 's-1-2', role: 'follower', zone: 'az1' },
        ],
      });
      const created = await start({ targetId: 's-1', options: { targetAz: 'az2' } });
      assert.deepEqual(created.azMigration, { sourceAz: 'az1', targetAz: 'az2', allowZoneReduction: false });
      const u = await settle(created.id);
      assert.equal(u.state, 'succeeded', u.error);
      assert.deepEqual(await zones('s-1'), { 's-1-1': 'az2', 's-1-2': 'az2' });
      const item = (await reportOf(u)).items.find((i: any) => i.name === 'zone_layout');
      assert.equal(item.status, 'pass');
      assert.match(item.message, /keeps 1 zone: before az1 \[s-1-1, s-1-2\]; after az2 \[s-1-1, s-1-2\]$/);
    });

    test('a precheck of a zone move shows the layout before and after, at the current version, and moves nothing', async () => {
      await seedSim(t, { target: 'p-1', nodes: THREE_ZONES('p-1') });
      const res = await t.call('POST', '/v1/projects/acme/targets/p-1/prechecks', {
        mode: 'az_migration',
        options: { sourceAz: 'az2', targetAz: 'az5' },
        wait: true,
      });
      assert.equal(res.status, 201, res.body);
      assert.equal(res.json.toVersion, '7.10.2');
      assert.equal(res.json.state, 'passed');
      const item = res.json.items.find((i: any) => i.name === 'zone_layout');
      assert.deepEqual(item, {
        name: 'zone_layout',
        status: 'pass',
        message:
          'moving az2 to az5 (p-1-2) keeps 3 zones: before az1 [p-1-1], az2 [p-1-2], az3 [p-1-3]; after az1 [p-1-1], az3 [p-1-3], az5 [p-1-2]',
        zones: {
          before: { az1: ['p-1-1'], az2: ['p-1-2'], az3: ['p-1-3'] },
          after: { az1: ['p-1-1'], az3: ['p-1-3'], az5: ['p-1-2'] },
        },
      });
      assert.deepEqual(await zones('p-1'), { 'p-1-1': 'az1', 'p-1-2': 'az2', 'p-1-3': 'az3' });
      // a version upgrade's precheck has no zone item
      const rolling = await t.call('POST', '/v1/projects/acme/targets/p-1/prechecks', { toVersion: '7.10.3', wait: true });
      assert.equal(rolling.status, 201, rolling.body);
      assert.ok(!rolling.json.items.some((i: any) => i.name === 'zone_layout'));
    });

    test('a layout that changed before the upgrade started fails its precheck, even forced: force never collapses zones', async () => {
      await seedSim(t, { target: 'x-1', nodes: THREE_ZONES('x-1') });
      const at = new Date(Date.now() + 3_600_000).toISOString();
      const created = await start({
        targetId: 'x-1',
        force: true,
        schedule: { kind: 'at', at },
        options: { sourceAz: 'az1', targetAz: 'az4' },
      });
      assert.equal(created.state, 'scheduled');
      // The target's record changes meanwhile (as a refresh of its topology would): az4 now holds a node.
      await t.ctx.store.db
        .updateTable('nodes')
        .set({ zone: 'az4' })
        .where('project_id', '=', 'acme')
        .where('target_id', '=', 'x-1')
        .where('name', '=', 'x-1-2')
        .execute();
      const now = await t.call('POST', `/v1/projects/acme/upgrades/${created.id}/actions`, {
        action: 'reschedule',
        schedule: { kind: 'now' },
      });
      assert.equal(now.status, 200, now.body);
      const u = await settle(created.id);
      assert.equal(u.state, 'failed');
      assert.equal(u.errorCode, 'PRECHECK_FAILED');
      const item = (await reportOf(u)).items.find((i: any) => i.name === 'zone_layout');
      assert.equal(item.status, 'fail');
      assert.match(item.message, /^moving az1 to az4 would leave this cluster in 2 zones \(az3, az4\) instead of 3/);
      assert.deepEqual(await callsOn('x-1'), {}, 'no node was touched');
      assert.deepEqual(await zones('x-1'), { 'x-1-1': 'az1', 'x-1-2': 'az4', 'x-1-3': 'az3' });
    });
  });
});
