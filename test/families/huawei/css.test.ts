// The CSS-style family through the real Huawei core SDK (AK/SK) and through X-Auth-Token:
// the seed examples' shapes, whole upgrades (start, watch, retry after a failure, abort), AZ moves,
// authentication and project isolation, and upgrades started elsewhere seen here.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, until } from '../../helpers/harness.ts';
import {
  CLUSTER,
  CSS_NODES,
  IMAGE_CROSS,
  IMAGE_SAME,
  OTHER,
  PROJECT,
  setupHuawei,
  type HuaweiEnv,
  type SendOptions,
} from './helpers.ts';

const CSS_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/;
const VERSION_KEYS = [
  'id',
  'startTime',
  'endTime',
  'status',
  'agencyName',
  'imageInfo',
  'totalNodes',
  'completedNodes',
  'currentNodeName',
  'executeTimes',
  'currentNodeDetail',
];
const AZ_KEYS = [
  'id',
  'startTime',
  'endTime',
  'status',
  'agencyName',
  'totalNodes',
  'completedNodes',
  'currentNodeName',
  'executeTimes',
  'migrateParam',
  'finalAzInfoMap',
  'currentNodeDetail',
];
const STEP_KEYS = ['order', 'name', 'status', 'desc', 'beginTime', 'endTime'];

const detail = (cluster: string, query: Record<string, string | number> = {}) => ({
  method: 'GET',
  url: '/v1.0/{project_id}/clusters/{cluster_id}/upgrade/detail',
  pathParams: { cluster_id: cluster },
  queryParams: query,
});
const upgrade = (cluster: string, body: Record<string, unknown>) => ({
  method: 'POST',
  url: '/v1.0/{project_id}/clusters/{cluster_id}/inst-type/{inst_type}/image/upgrade',
  pathParams: { cluster_id: cluster, inst_type: 'all' },
  data: { indices_backup_check: true, agency: 'css_test_agency', cluster_load_check: true, ...body },
});
const retry = (cluster: string, id: string, abort = false): SendOptions => ({
  method: 'PUT',
  url: '/v1.0/{project_id}/clusters/{cluster_id}/upgrade/{action_id}/retry',
  pathParams: { cluster_id: cluster, action_id: id },
  queryParams: abort ? { retry_mode: 'abort' } : ({} as Record<string, string>),
});

async function sdkError(
  p: Promise<unknown>,
): Promise<{ httpStatusCode: number; errorCode: string; errorMsg: string; requestId?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { httpStatusCode: number; errorCode: string; errorMsg: string };
  }
  throw new Error('the call succeeded but should have failed');
}

function assertStepShape(s: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(s).sort(), [...STEP_KEYS].sort());
  assert.equal(typeof s.order, 'number');
  assert.equal(typeof s.name, 'string');
  assert.equal(typeof s.desc, 'string');
  assert.ok(['SUCCESS', 'RUNNING', 'WAITING', 'FAILED'].includes(s.status as string), `status ${String(s.status)}`);
  for (const k of ['beginTime', 'endTime']) assert.ok(s[k] === '' || CSS_TIME.test(s[k] as string), `${k} ${String(s[k])}`);
}

forEachDialect('Huawei CSS family', (dialect) => {
  let env: HuaweiEnv;
  before(async () => {
    env = await setupHuawei(dialect);
  });
  after(async () => env.close());

  const waitDetail = (cluster: string, pred: (d: any) => boolean, query: Record<string, string> = {}) =>
    until(async () => {
      const res = await env.sdk(detail(cluster, query));
      return res.detailList?.[0] && pred(res.detailList[0]) ? res : null;
    }, `detail of ${cluster}`);

  test('target images: same = newer builds of the engine version, cross = newer engine versions; wrong types refused', async () => {
    const same = await env.sdk({
      method: 'GET',
      url: '/v1.0/{project_id}/clusters/{cluster_id}/target/{upgrade_type}/images',
      pathParams: { cluster_id: CLUSTER, upgrade_type: 'same' },
    });
    assert.equal(same.needUploadUpgradePlugin, false);
    assert.deepEqual(same.imageInfoList, [
      {
        id: IMAGE_SAME,
        displayName: '7.10.2_23.3.1_0310',
        imageDesc: 'Same-version image.',
        datastoreType: 'elasticsearch',
        datastoreVersion: '7.10.2',
        priority: 17,
      },
    ]);
    const cross = await env.sdk({
      method: 'GET',
      url: '/v1.0/{project_id}/clusters/{cluster_id}/target/{upgrade_type}/images',
      pathParams: { cluster_id: CLUSTER, upgrade_type: 'cross' },
    });
    assert.deepEqual(
      cross.imageInfoList.map((i: { id: string }) => i.id),
      [IMAGE_CROSS],
    );
    assert.equal(cross.imageInfoList[0].datastoreVersion, '7.11.0');

    const wrongType = await sdkError(env.sdk(upgrade(CLUSTER, { target_image_id: IMAGE_CROSS, upgrade_type: 'same' })));
    assert.equal(wrongType.httpStatusCode, 400);
    assert.equal(wrongType.errorCode, 'CSS.0001');
    assert.match(wrongType.errorMsg, /cross upgrade, not same/);
    const noImage = await sdkError(env.sdk(upgrade(CLUSTER, { target_image_id: 'no-such-image', upgrade_type: 'same' })));
    assert.equal(noImage.errorCode, 'CSS.0001');
    const badBody = await sdkError(
      env.sdk(upgrade(CLUSTER, { target_image_id: IMAGE_SAME, upgrade_type: 'same', batch_size: 0 })),
    );
    assert.equal(badBody.httpStatusCode, 400);
    assert.equal(badBody.errorCode, 'CSS.0001');
    const none = await env.sdk(detail(CLUSTER));
    assert.deepEqual(none, { totalSize: 0, detailList: [] }, 'refused requests start nothing');
  });

  test('seed example: a version upgrade in flight, the same through SDK and X-Auth-Token, then aborted', async () => {
    await env.native('POST', `/v1/projects/${PROJECT}/targets/${CLUSTER}/faults`, {
      node: CSS_NODES[0],
      step: 'stop',
      kind: 'hang',
    });
    assert.deepEqual(await env.sdk(upgrade(CLUSTER, { target_image_id: IMAGE_SAME, upgrade_type: 'same' })), {});
    const res = await waitDetail(CLUSTER, (d) =>
      d.currentNodeDetail.some((s: any) => s.name === 'Stop node' && s.status === 'RUNNING'),
    );

    assert.equal(res.totalSize, 1);
    const d = res.detailList[0];
    assert.deepEqual(Object.keys(d).sort(), [...VERSION_KEYS].sort());
    for (const k of [
      'id',
      'startTime',
      'endTime',
      'status',
      'agencyName',
      'totalNodes',
      'completedNodes',
      'currentNodeName',
      'executeTimes',
    ]) {
      assert.equal(typeof d[k], 'string', k);
    }
    assert.match(d.startTime, CSS_TIME);
    assert.equal(d.endTime, '');
    assert.equal(d.status, 'RUNNING');
    assert.equal(d.agencyName, 'css_test_agency');
    assert.deepEqual(d.imageInfo, {
      id: IMAGE_SAME,
      displayName: '7.10.2_23.3.1_0310',
      imageDesc: 'Same-version image.',
      datastoreType: 'elasticsearch',
      datastoreVersion: '7.10.2',
      priority: 17,
    });
    assert.equal(d.totalNodes, CSS_NODES.join(','));
    assert.equal(d.completedNodes, '');
    assert.equal(d.currentNodeName, CSS_NODES[0]);
    assert.equal(d.executeTimes, '1');
    d.currentNodeDetail.forEach(assertStepShape);
    assert.deepEqual(
      d.currentNodeDetail.map((s: any) => [s.name, s.status]),
      [
        ['Data migration', 'SUCCESS'],
        ['Stop node', 'RUNNING'],
        ['Install 7.10.2-23.3.1', 'WAITING'],
        ['Start node', 'WAITING'],
        ['Health check', 'WAITING'],
        ['Rejoin cluster', 'WAITING'],
        ['Task status update', 'WAITING'],
      ],
    );
    const first = d.currentNodeDetail[0];
    assert.match(first.beginTime, CSS_TIME);
    assert.match(first.endTime, CSS_TIME);
    const last = d.currentNodeDetail.at(-1);
    assert.equal(last.beginTime, '');
    assert.equal(last.endTime, '');
    assert.ok(last.order > first.order);

    const viaToken = await env.fetchToken('GET', `/v1.0/${PROJECT}/clusters/${CLUSTER}/upgrade/detail`);
    assert.equal(viaToken.status, 200);
    assert.deepEqual(viaToken.json, res);

    const busy = await sdkError(env.sdk(upgrade(CLUSTER, { target_image_id: IMAGE_CROSS, upgrade_type: 'cross' })));
    assert.equal(busy.httpStatusCode, 409);
    assert.equal(busy.errorCode, 'CSS.0011');

    assert.deepEqual(await env.sdk(retry(CLUSTER, d.id, true)), {});
    const native = await env.waitState(d.id, ['cancelled']);
    assert.equal(native.state, 'cancelled');
    const aborted = (await env.sdk(detail(CLUSTER))).detailList[0];
    assert.equal(aborted.status, 'FAILED');
    assert.match(aborted.endTime, CSS_TIME);
  });

  test('a whole cross-version upgrade: fails on an injected fault, PARTIAL_FAILED, retried to SUCCESS', async () => {
    const cluster = 'css-retry';
    await env.addCluster(cluster);
    await env.native('POST', `/v1/projects/${PROJECT}/targets/${cluster}/faults`, {
      node: `${cluster}-2`,
      step: 'install',
      kind: 'fail',
    });
    await env.sdk(upgrade(cluster, { target_image_id: IMAGE_CROSS, upgrade_type: 'cross', batch_size: 1 }));
    const failed = (await waitDetail(cluster, (x) => x.status !== 'RUNNING')).detailList[0];
    assert.equal(failed.status, 'PARTIAL_FAILED');
    assert.equal(failed.completedNodes, `${cluster}-1`);
    assert.equal(failed.currentNodeName, `${cluster}-2`);
    assert.deepEqual(
      failed.currentNodeDetail.filter((s: any) => s.status === 'FAILED').map((s: any) => s.name),
      ['Install 7.11.0'],
    );
    assert.equal(failed.imageInfo.id, IMAGE_CROSS);
    assert.equal((await env.native('GET', `/v1/projects/${PROJECT}/upgrades/${failed.id}`)).json.state, 'failed');

    await env.sdk(retry(cluster, failed.id));
    const done = (await waitDetail(cluster, (x) => x.status === 'SUCCESS')).detailList[0];
    assert.equal(done.executeTimes, '2');
    assert.equal(done.completedNodes, [1, 2, 3].map((i) => `${cluster}-${i}`).join(','));
    assert.match(done.endTime, CSS_TIME);
    assert.ok(done.currentNodeDetail.every((s: any) => s.status === 'SUCCESS'));
    const target = (await env.native('GET', `/v1/projects/${PROJECT}/targets/${cluster}`)).json;
    assert.equal(target.version, '7.11.0');

    // Through X-Auth-Token: the same signed PUT within one second would be refused as a replay.
    const again = await env.fetchToken('PUT', `/v1.0/${PROJECT}/clusters/${cluster}/upgrade/${failed.id}/retry`);
    assert.equal(again.status, 409, 'a finished task cannot be retried');
    assert.equal(again.json.error_code, 'CSS.0011');
  });

  test('retry_mode=abort cancels a failed task; pages list newest first with start/offset from 1', async () => {
    const cluster = 'css-abort';
    await env.addCluster(cluster);
    await env.native('POST', `/v1/projects/${PROJECT}/targets/${cluster}/faults`, {
      node: `${cluster}-1`,
      step: 'drain',
      kind: 'fail',
    });
    await env.sdk(upgrade(cluster, { target_image_id: IMAGE_SAME, upgrade_type: 'same' }));
    const failed = (await waitDetail(cluster, (x) => x.status !== 'RUNNING')).detailList[0];
    assert.equal(failed.status, 'FAILED', 'no node was done');
    await env.sdk(retry(cluster, failed.id, true));
    assert.equal((await env.waitState(failed.id, ['cancelled'])).state, 'cancelled');

    // A different body: two identical signed requests within one second would look like a replay.
    await env.sdk(upgrade(cluster, { target_image_id: IMAGE_SAME, upgrade_type: 'same', agency: 'css_test_agency_2' }));
    const second = (await waitDetail(cluster, (x) => x.id !== failed.id && x.status === 'SUCCESS')).detailList[0];
    const page1 = await env.sdk(detail(cluster, { limit: 1 }));
    assert.equal(page1.totalSize, 2);
    assert.deepEqual(
      page1.detailList.map((x: any) => x.id),
      [second.id],
    );
    const page2 = await env.sdk(detail(cluster, { start: 2, limit: 1 }));
    assert.deepEqual(
      page2.detailList.map((x: any) => [x.id, x.status]),
      [[failed.id, 'FAILED']],
    );
    const viaOffset = await env.sdk(detail(cluster, { offset: 2, limit: 5 }));
    assert.deepEqual(
      viaOffset.detailList.map((x: any) => x.id),
      [failed.id],
    );
  });

  test('seed example: an AZ move (action_mode=AZ_MIGRATION) with migrateParam and finalAzInfoMap', async () => {
    const cluster = 'css-az';
    await env.addCluster(cluster);
    const started = await env.sdk({
      method: 'POST',
      url: '/v1.0/{project_id}/clusters/{cluster_id}/inst-type/{inst_type}/azmigrate',
      pathParams: { cluster_id: cluster, inst_type: 'ess' },
      data: { source_az: 'cn-north-4a', target_az: 'cn-north-4c', migrate_type: 'az_migrate', agency: 'css_test_agency' },
    });
    assert.deepEqual(started, {});
    const res = await waitDetail(cluster, (x) => x.status === 'SUCCESS', { action_mode: 'AZ_MIGRATION' });
    assert.equal(res.totalSize, 1);
    const d = res.detailList[0];
    assert.deepEqual(Object.keys(d).sort(), [...AZ_KEYS].sort());
    assert.equal(typeof d.migrateParam, 'string');
    assert.equal(typeof d.finalAzInfoMap, 'string');
    assert.deepEqual(JSON.parse(d.migrateParam), {
      instType: 'ess',
      migrateType: 'az_migrate',
      sourceAz: 'cn-north-4a',
      targetAz: 'cn-north-4c',
    });
    assert.deepEqual(JSON.parse(d.finalAzInfoMap), { 'cn-north-4c': `${cluster}-1,${cluster}-3`, 'cn-north-4b': `${cluster}-2` });
    assert.equal(d.totalNodes, `${cluster}-1,${cluster}-3`, 'only the nodes of the source AZ move');
    assert.equal(d.completedNodes, d.totalNodes);
    assert.equal(d.agencyName, 'css_test_agency');
    d.currentNodeDetail.forEach(assertStepShape);
    assert.deepEqual(await env.sdk(detail(cluster)), { totalSize: 0, detailList: [] }, 'AZ moves are not version upgrades');
    const target = (await env.native('GET', `/v1/projects/${PROJECT}/targets/${cluster}`)).json;
    assert.deepEqual(
      target.nodes.map((n: { zone: string }) => n.zone),
      ['cn-north-4c', 'cn-north-4b', 'cn-north-4c'],
    );

    const several = await sdkError(
      env.sdk({
        method: 'POST',
        url: '/v1.0/{project_id}/clusters/{cluster_id}/inst-type/{inst_type}/azmigrate',
        pathParams: { cluster_id: cluster, inst_type: 'all' },
        data: { source_az: 'cn-north-4b', target_az: 'cn-north-4a,cn-north-4c', migrate_type: 'multi_az_change', agency: 'a' },
      }),
    );
    assert.equal(several.httpStatusCode, 400);
    assert.equal(several.errorCode, 'CSS.0001');
  });

  test('azmigrate never collapses zones: a move into a zone the cluster uses, an empty or same source_az are refused in CSS\u2019s envelope; others are untouched', async () => {
    const cluster = 'css-az-guard';
    await env.addCluster(cluster); // nodes 1 and 3 in cn-north-4a, node 2 in cn-north-4b
    const az = (data: Record<string, unknown>) => ({
      method: 'POST',
      url: '/v1.0/{project_id}/clusters/{cluster_id}/inst-type/{inst_type}/azmigrate',
      pathParams: { cluster_id: cluster, inst_type: 'all' },
      data: { migrate_type: 'az_migrate', agency: 'css_test_agency', ...data },
    });
    const zonesNow = async () =>
      (await env.native('GET', `/v1/projects/${PROJECT}/targets/${cluster}`)).json.nodes.map((n: { zone: string }) => n.zone);

    const collapse = await sdkError(env.sdk(az({ source_az: 'cn-north-4a', target_az: 'cn-north-4b' })));
    assert.equal(collapse.httpStatusCode, 400);
    assert.equal(collapse.errorCode, 'CSS.0001');
    assert.equal(
      collapse.errorMsg,
      `moving cn-north-4a to cn-north-4b would leave this cluster in 1 zone (cn-north-4b) instead of 2 (cn-north-4a, cn-north-4b), because cn-north-4b already holds ${cluster}-2: name a target_az this cluster does not use (this API cannot accept fewer zones; the native API can, with options.allowZoneReduction)`,
    );
    const empty = await sdkError(env.sdk(az({ source_az: 'cn-north-4z', target_az: 'cn-north-4c' })));
    assert.deepEqual(
      [empty.httpStatusCode, empty.errorCode, empty.errorMsg],
      [
        400,
        'CSS.0001',
        'no node of this cluster is in cn-north-4z (source_az); it spans cn-north-4a, cn-north-4b: name one of them',
      ],
    );
    const same = await sdkError(env.sdk(az({ source_az: 'cn-north-4b', target_az: 'cn-north-4b' })));
    assert.deepEqual([same.httpStatusCode, same.errorCode], [400, 'CSS.0001']);
    assert.match(same.errorMsg, /^source_az and target_az are both cn-north-4b/);
    // nothing was created by the refusals
    assert.deepEqual(await env.sdk(detail(cluster, { action_mode: 'AZ_MIGRATION' })), { totalSize: 0, detailList: [] });
    assert.equal((await env.native('GET', `/v1/projects/${PROJECT}/upgrades?target=${cluster}`)).json.total, 0);
    assert.deepEqual(await zonesNow(), ['cn-north-4a', 'cn-north-4b', 'cn-north-4a']);

    // source_az names the zone that moves; the nodes of cn-north-4a keep their zone and get no step
    assert.deepEqual(await env.sdk(az({ source_az: 'cn-north-4b', target_az: 'cn-north-4c' })), {});
    const res = await waitDetail(cluster, (x) => x.status === 'SUCCESS', { action_mode: 'AZ_MIGRATION' });
    const d = res.detailList[0];
    assert.equal(d.totalNodes, `${cluster}-2`);
    assert.deepEqual(JSON.parse(d.migrateParam), {
      instType: 'all',
      migrateType: 'az_migrate',
      sourceAz: 'cn-north-4b',
      targetAz: 'cn-north-4c',
    });
    assert.deepEqual(JSON.parse(d.finalAzInfoMap), { 'cn-north-4a': `${cluster}-1,${cluster}-3`, 'cn-north-4c': `${cluster}-2` });
    assert.deepEqual(await zonesNow(), ['cn-north-4a', 'cn-north-4c', 'cn-north-4a']);
  });

  test('an upgrade started through the native API shows up in upgrade/detail', async () => {
    const cluster = 'css-native';
    await env.addCluster(cluster);
    const res = await env.native('POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: cluster,
      toVersion: '7.10.2-23.3.1',
      mode: 'rolling',
    });
    assert.equal(res.status, 202);
    await env.waitState(res.json.id, ['succeeded']);
    const d = (await env.sdk(detail(cluster))).detailList[0];
    assert.equal(d.id, res.json.id);
    assert.equal(d.status, 'SUCCESS');
    assert.equal(d.imageInfo.id, IMAGE_SAME);
    assert.equal(d.agencyName, '');
    assert.equal(d.totalNodes, [1, 2, 3].map((i) => `${cluster}-${i}`).join(','));
  });

  test('wrong credentials get 401 APIG.0301; a foreign credential gets 404 as if nothing existed', async () => {
    const wrongSk = await sdkError(
      env.sdk(detail(CLUSTER), { accessKeyId: env.key.accessKeyId, accessKeySecret: 'wrong-secret' }),
    );
    assert.equal(wrongSk.httpStatusCode, 401);
    assert.equal(wrongSk.errorCode, 'APIG.0301');
    assert.equal(wrongSk.errorMsg, 'Incorrect IAM authentication information: verify aksk signature fail');
    assert.ok(wrongSk.requestId, 'X-Request-Id reaches the SDK');

    const badToken = await env.fetchToken('GET', `/v1.0/${PROJECT}/clusters/${CLUSTER}/upgrade/detail`, undefined, {
      'X-Auth-Token': 'lg_not-a-token',
    });
    assert.equal(badToken.status, 401);
    assert.deepEqual(badToken.json, {
      error_code: 'APIG.0301',
      error_msg: 'Incorrect IAM authentication information: decrypt token fail',
    });
    const none = await fetch(`${env.base}/v1.0/${PROJECT}/clusters/${CLUSTER}/upgrade/detail`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error_code: string }).error_code, 'APIG.0301');

    const foreignKey = await sdkError(env.sdk(detail(CLUSTER), env.otherKey, PROJECT));
    assert.equal(foreignKey.httpStatusCode, 404);
    assert.equal(foreignKey.errorCode, 'CSS.0015');
    const foreignToken = await env.fetchToken('GET', `/v1.0/${PROJECT}/clusters/${CLUSTER}/upgrade/detail`, undefined, {
      'X-Auth-Token': env.otherToken,
    });
    assert.equal(foreignToken.status, 404);
    assert.equal(foreignToken.json.error_code, 'CSS.0015');
    const unknownProject = await env.fetchToken(
      'GET',
      `/v1.0/ffffffffffffffffffffffffffffffff/clusters/${CLUSTER}/upgrade/detail`,
    );
    assert.deepEqual(
      [unknownProject.status, unknownProject.json.error_code],
      [foreignToken.status, foreignToken.json.error_code],
      'foreign and unknown look alike',
    );
    const ownProject = await sdkError(env.sdk(detail(CLUSTER), env.otherKey, OTHER));
    assert.equal(ownProject.httpStatusCode, 404);
    assert.equal(ownProject.errorCode, 'CSS.3027', 'the cluster is not in the key\u2019s own project');
    const write = await env.fetchToken(
      'POST',
      `/v1.0/${PROJECT}/clusters/${CLUSTER}/inst-type/all/image/upgrade`,
      { target_image_id: IMAGE_CROSS, upgrade_type: 'cross', indices_backup_check: true, agency: 'x' },
      { 'X-Auth-Token': env.otherToken },
    );
    assert.equal(write.status, 404);
  });
});
