// The Hologres-style instance upgrade status, called through the official Alibaba SDK's generic
// ROA callApi: the seed example's keys, types and enums (with Details a JSON string that
// parses), history newest first with archived runs, a failed run's StatusCode, and error bodies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachDialect } from '../../helpers/harness.ts';
import { createInstance, HOLO_VERSIONS, setupAlibaba, type AlibabaEnv, type SdkError } from './helpers.ts';

// The seed's example Details (000), verbatim, with the vendor's slips: two missing commas, a
// trailing comma, and a third missing comma in FollowerInstances.
const SEED_DETAILS =
  '{"UpgradePhase":"Upgrade","StatusCode":"LeaderRestartFailed","FlightingReport":{"SQLResultStat":{"TotalExecuted":9000"Exceptions":0,"Incorrect":1,"Slow":1,"DQLSpeedup":2}"SegmentFormatStat":[{"Database":"test_db","TableUsingSegmentCount":5},{"Database":"user_order","TableUsingSegmentCount":7}],"EstimatedUpgradeTime":{"StopInstance":30,"BackupData":120,"UpgradeInstance":600},"ReadPermissionCheckStat":[{"db":"tst0","user":"v4_300433463265624129","schema":"dim_db","table":"it_rpt_org_tree_info_partition_all"},{"db":"tst1","user":"v4_300433463265624129","schema":"dim_db","table":"it_rpt_org_tree_info_partition_all_2"},]},"UpgradingSteps":{"Stop":{"Status":"Success","StartTime":"2023-05-09T06:48:28.843Z","StopTime":"2023-05-09T06:48:28.843Z"},"Backup":{"Status":"Success","StartTime":"2023-05-09T06:48:28.843Z","StopTime":"2023-05-09T06:48:28.843Z"},"DoUpgrade":{"Status":"Success","StartTime":"2023-05-09T06:48:28.843Z","StopTime":"2023-05-09T06:48:28.843Z"},"Rollback":{"Status":"Success","StartTime":"2023-05-09T06:48:28.843Z","StopTime":"2023-05-09T06:48:28.843Z"}},"Instances":{"LeaderInstanceId":"hgxxx","LeaderInstanceName":"ERP instance","LeaderInstanceStatus":"Running","FollowerInstances":[{"InstanceId":"hgxxx","InstanceName":"TMSinstance","Status":"Running"},{"InstanceId":"hxxx""InstanceName":"WMS readonly","Status":"Unavailable"}]}}';

function repairedSeed(): any {
  assert.throws(() => JSON.parse(SEED_DETAILS)); // the vendor's own example is not JSON
  return JSON.parse(
    SEED_DETAILS.replace('9000"Exceptions"', '9000,"Exceptions"')
      .replace('"DQLSpeedup":2}"SegmentFormatStat"', '"DQLSpeedup":2},"SegmentFormatStat"')
      .replace('_all_2"},]', '_all_2"}]')
      .replace('"hxxx""InstanceName"', '"hxxx","InstanceName"'),
  );
}

/** Every key path of `expected` exists in `actual` with the same JSON type (arrays: first element). */
function assertSameShape(actual: unknown, expected: unknown, path = '$'): void {
  const kind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  assert.equal(kind(actual), kind(expected), `${path} type`);
  if (Array.isArray(expected) && expected.length > 0) {
    assert.ok((actual as unknown[]).length > 0, `${path} is empty`);
    assertSameShape((actual as unknown[])[0], expected[0], `${path}[0]`);
  } else if (kind(expected) === 'object') {
    for (const [k, v] of Object.entries(expected as object)) {
      assert.ok(k in (actual as object), `${path}.${k} missing`);
      assertSameShape((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    }
  }
}

const DAG = ['queued', 'running', 'success', 'failed', 'archived'];
const STEP_STATUS = ['NotStart', 'Running', 'Success', 'Failed', 'Cancelled'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

forEachDialect('Hologres family through the official SDK', (dialect) => {
  const id = 'hgprecn-cn-uqm30ptv6004';
  let env: AlibabaEnv;
  let firstUpgrade: string;
  before(async () => {
    env = await setupAlibaba(dialect);
    await createInstance(env, id);
    await createInstance(env, 'hg-foreign', 'other');
  });
  after(() => env.close());

  test('an instance without upgrades answers an empty Data list', async () => {
    const res = await env.hologresStatus(id, { RegionId: 'cn-hangzhou' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.body.Data, []);
    assert.equal(res.body.Success, true);
  });

  test('the seed example: keys, types, enums, and Details is a JSON string', async () => {
    const started = await env.native('POST', '/v1/projects/acme/upgrades', {
      targetId: id,
      toVersion: HOLO_VERSIONS[1],
      mode: 'rolling',
    });
    assert.equal(started.status, 202);
    firstUpgrade = started.json.id;
    const done = await env.waitState(firstUpgrade, 'succeeded');
    // Engine check lists, as a Hologres-aware driver reports them (see docs/api-compat/hologres.md).
    const items = [
      { name: 'segment_format', status: 'warn', node: 'test_db', message: 'orders' },
      { name: 'segment_format', status: 'warn', node: 'test_db', message: 'lines' },
      { name: 'segment_format', status: 'warn', node: 'user_order', message: 'payments' },
      {
        name: 'read_permission',
        status: 'warn',
        node: 'tst0',
        message: 'user=v4_300433463265624129 schema=dim_db table=it_rpt_org_tree_info_partition_all',
      },
    ];
    await env.t.ctx.store.db
      .updateTable('precheck_reports')
      .set({ items: JSON.stringify(items) })
      .where('id', '=', done.precheckReportId)
      .execute();

    const res = await env.hologresStatus(id, { RegionId: 'cn-hangzhou' });
    assert.equal(res.statusCode, 200);
    const body = res.body;
    assert.deepEqual(Object.keys(body).sort(), ['Data', 'ErrorCode', 'ErrorMessage', 'HttpStatusCode', 'RequestId', 'Success']);
    assert.match(body.RequestId, /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    assert.equal(body.Success, true);
    assert.equal(body.HttpStatusCode, '200');
    assert.equal(typeof body.ErrorCode, 'string');
    assert.equal(typeof body.ErrorMessage, 'string');
    assert.equal(body.Data.length, 1);
    const entry = body.Data[0];
    assert.deepEqual(Object.keys(entry).sort(), ['Details', 'FromVersion', 'PrepareFinishTime', 'Status', 'ToVersion']);
    assert.equal(entry.FromVersion, HOLO_VERSIONS[0]);
    assert.equal(entry.ToVersion, HOLO_VERSIONS[1]);
    assert.equal(entry.Status, 'success');
    assert.match(entry.PrepareFinishTime, ISO);
    assert.equal(typeof entry.Details, 'string');

    const details = JSON.parse(entry.Details);
    assertSameShape(details, repairedSeed());
    assert.deepEqual(details.EstimatedUpgradeTime, details.FlightingReport.EstimatedUpgradeTime);
    assert.equal(details.UpgradePhase, 'Finished');
    assert.equal(details.StatusCode, 'Success');
    const sql = details.FlightingReport.SQLResultStat;
    assert.ok(sql.TotalExecuted >= 9000, 'sim flighting replays ~9000 statements');
    assert.deepEqual(details.FlightingReport.SegmentFormatStat, [
      { Database: 'test_db', TableUsingSegmentCount: 2 },
      { Database: 'user_order', TableUsingSegmentCount: 1 },
    ]);
    assert.deepEqual(details.FlightingReport.ReadPermissionCheckStat, [
      { db: 'tst0', user: 'v4_300433463265624129', schema: 'dim_db', table: 'it_rpt_org_tree_info_partition_all' },
    ]);
    // from the duration model (test/estimates/hologres-estimate.test.ts checks the figures)
    for (const k of ['StopInstance', 'BackupData', 'UpgradeInstance']) {
      assert.ok(Number.isInteger(details.EstimatedUpgradeTime[k]) && details.EstimatedUpgradeTime[k] >= 0, k);
    }
    for (const g of ['Stop', 'Backup', 'DoUpgrade']) {
      assert.equal(details.UpgradingSteps[g].Status, 'Success', g);
      assert.match(details.UpgradingSteps[g].StartTime, ISO);
      assert.match(details.UpgradingSteps[g].StopTime, ISO);
    }
    assert.equal(details.UpgradingSteps.Rollback.Status, 'NotStart');
    // The rolling upgrade switched the leader role over to an upgraded follower; Instances shows
    // the roles as they are now, as the native API does.
    const nodes = (await env.native('GET', `/v1/projects/acme/targets/${id}`)).json.nodes as { name: string; role: string }[];
    const leader = nodes.find((n) => n.role === 'leader')!;
    assert.equal(details.Instances.LeaderInstanceId, leader.name);
    assert.equal(details.Instances.LeaderInstanceStatus, 'Running');
    assert.deepEqual(
      details.Instances.FollowerInstances.map((f: any) => f.InstanceId).sort(),
      nodes
        .filter((n) => n !== leader)
        .map((n) => n.name)
        .sort(),
    );
    assert.ok(details.Instances.FollowerInstances.every((f: any) => f.Status === 'Running' && f.InstanceName === f.InstanceId));
  });

  test('a failed run: StatusCode names the failed step; older runs are archived; retry succeeds', async () => {
    const nodes = (await env.native('GET', `/v1/projects/acme/targets/${id}`)).json.nodes as { name: string; role: string }[];
    const leader = nodes.find((n) => n.role === 'leader')!.name;
    await env.native('POST', `/v1/projects/acme/targets/${id}/faults`, { node: leader, step: 'start', kind: 'fail', times: 1 });
    const started = await env.native('POST', '/v1/projects/acme/upgrades', {
      targetId: id,
      toVersion: HOLO_VERSIONS[2],
      mode: 'stop_service',
    });
    const upgradeId = started.json.id;
    await env.waitState(upgradeId, 'failed');

    let body = (await env.hologresStatus(id)).body;
    assert.deepEqual(
      body.Data.map((d: any) => [d.ToVersion, d.Status]),
      [
        [HOLO_VERSIONS[2], 'failed'],
        [HOLO_VERSIONS[1], 'archived'],
      ],
    );
    const details = JSON.parse(body.Data[0].Details);
    assert.equal(details.StatusCode, 'LeaderRestartFailed');
    assert.equal(details.UpgradePhase, 'Upgrade');
    assert.equal(details.UpgradingSteps.Stop.Status, 'Success');
    assert.equal(details.UpgradingSteps.DoUpgrade.Status, 'Failed');
    assert.equal(details.UpgradingSteps.DoUpgrade.StopTime.length > 0, true);
    for (const d of body.Data) {
      assert.ok(DAG.includes(d.Status));
      const x = JSON.parse(d.Details);
      for (const g of Object.values(x.UpgradingSteps) as { Status: string }[])
        assert.ok(STEP_STATUS.includes(g.Status), g.Status);
    }

    assert.equal((await env.native('POST', `/v1/projects/acme/upgrades/${upgradeId}/actions`, { action: 'retry' })).status, 200);
    await env.waitState(upgradeId, 'succeeded');
    body = (await env.hologresStatus(id)).body;
    assert.deepEqual(
      body.Data.map((d: any) => d.Status),
      ['success', 'archived'],
    );
    assert.equal(JSON.parse(body.Data[0].Details).UpgradingSteps.DoUpgrade.Status, 'Success');
  });

  test('errors: the vendor envelope with Success false, and 404 for anything not the caller\u2019s', async () => {
    const expect404 = (e: SdkError) => e.statusCode === 404 && e.code === 'InstanceNotFound';
    await assert.rejects(env.hologresStatus('hg-nope'), expect404);
    await assert.rejects(env.hologresStatus('hg-foreign'), expect404);
    await assert.rejects(env.hologresStatus(id, {}, env.otherKey), expect404);
    await assert.rejects(env.hologresStatus(id, { RegionId: 'cn-beijing' }), expect404);
    await assert.rejects(
      env.hologresStatus(id, {}, { ...env.key, accessKeySecret: 'wrong' }),
      (e: SdkError) => e.statusCode === 400 && e.code === 'SignatureDoesNotMatch',
    );

    const raw = await env.signed('GET', '/api/v1/instances/hg-nope/upgrade/status');
    assert.equal(raw.status, 404);
    const err = JSON.parse(raw.body);
    assert.equal(err.Success, false);
    assert.equal(err.ErrorCode, 'InstanceNotFound');
    assert.equal(err.HttpStatusCode, '404');
    assert.equal(typeof err.ErrorMessage, 'string');
    assert.equal(typeof err.RequestId, 'string');
    const unsigned = await env.t.app.inject({ method: 'GET', url: `/api/v1/instances/${id}/upgrade/status` });
    assert.equal(unsigned.statusCode, 400);
    assert.equal(JSON.parse(unsigned.body).ErrorCode, 'MissingAuthorization');
  });

  test('a replayed request is refused by the store-backed nonce guard', async () => {
    const nonce = `replay-${Date.now()}`;
    assert.equal((await env.signed('GET', `/api/v1/instances/${id}/upgrade/status`, { nonce })).status, 200);
    const again = await env.signed('GET', `/api/v1/instances/${id}/upgrade/status`, { nonce });
    assert.equal(again.status, 400);
    assert.equal(JSON.parse(again.body).ErrorCode, 'SignatureNonceUsed');
  });
});
