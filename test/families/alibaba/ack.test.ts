// The ACK-style family driven by Alibaba's official client @alicloud/cs20151215, unmodified,
// over a real port: whole upgrades (start, watch, retry after a failure, cancel), the seed's
// GetUpgradeStatus contract in JSON and XML, DescribeTaskInfo, cluster checks and error bodies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { signAcs3 } from '../../../src/auth/acs3.ts';
import { forEachDialect, until } from '../../helpers/harness.ts';
import { createCluster, csModule, K8S_VERSIONS, setupAlibaba, type AlibabaEnv, type SdkError } from './helpers.ts';

const STATUS = ['success', 'fail', 'pause', 'running'];
const STEP = ['not_start', 'prechecking', 'upgrading', 'pause', 'success'];
const TASK_STATUS = ['running', 'Success', 'Failed'];

function assertSeedShape(body: any): void {
  // Keys and types of the seed's example body (003): all strings, upgrade_task an object.
  assert.deepEqual(Object.keys(body).sort(), ['error_message', 'precheck_report_id', 'status', 'upgrade_step', 'upgrade_task']);
  for (const k of ['error_message', 'precheck_report_id', 'status', 'upgrade_step']) assert.equal(typeof body[k], 'string', k);
  assert.deepEqual(Object.keys(body.upgrade_task).sort(), ['message', 'status']);
  assert.ok(STATUS.includes(body.status), body.status);
  assert.ok(STEP.includes(body.upgrade_step), body.upgrade_step);
  assert.ok(TASK_STATUS.includes(body.upgrade_task.status), body.upgrade_task.status);
}

forEachDialect('ACK family with the official SDK', (dialect) => {
  let env: AlibabaEnv;
  before(async () => {
    env = await setupAlibaba(dialect);
    for (const c of ['c-life', 'c-retry', 'c-cancel', 'c-err', 'c-xml', 'c-check']) await createCluster(env, c);
    await createCluster(env, 'c-foreign', 'other');
  });
  after(() => env.close());

  test('a cluster never upgraded reports not_start', async () => {
    const res = await env.cs().getUpgradeStatus('c-life');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body?.upgradeStep, 'not_start');
    assert.equal(res.body?.precheckReportId, '');
  });

  test('UpgradeCluster, then watch GetUpgradeStatus and DescribeTaskInfo to success', async () => {
    const cs = env.cs();
    const req = new csModule.UpgradeClusterRequest({
      nextVersion: K8S_VERSIONS[1],
      version: K8S_VERSIONS[0],
      masterOnly: false,
      rollingPolicy: new csModule.UpgradeClusterRequestRollingPolicy({ maxParallelism: 2 }),
    });
    const started = await cs.upgradeCluster('c-life', req);
    assert.equal(started.body?.clusterId, 'c-life');
    assert.match(String(started.body?.requestId), /^[0-9A-F-]{36}$/);
    const taskId = String(started.body?.taskId);

    const done = await until(async () => {
      const s = (await cs.getUpgradeStatus('c-life')).body!;
      assertSeedShape(s.toMap());
      return s.status === 'success' ? s : null;
    }, 'ACK status success');
    assert.equal(done.upgradeStep, 'success');
    assert.equal(done.upgradeTask?.status, 'Success');
    assert.equal(done.errorMessage, '');
    assert.match(String(done.precheckReportId), /^[0-9a-f]{32}$/);

    const task = (await cs.describeTaskInfo(taskId)).body!;
    assert.equal(task.taskId, taskId);
    assert.equal(task.clusterId, 'c-life');
    assert.equal(task.taskType, 'cluster_upgrade');
    assert.equal(task.state, 'success');
    assert.equal(task.target?.id, 'c-life');
    assert.equal(task.target?.type, 'cluster');
    assert.equal(task.parameters?.next_version, K8S_VERSIONS[1]);
    assert.equal(task.parameters?.max_parallelism, 2);
    assert.ok(task.stages && task.stages.length >= 3);
    assert.ok(task.stages.every((s) => s.state === 'success' && s.startTime && s.endTime));
    // two nodes in one stage: max_parallelism 2 (control plane first)
    assert.ok(task.stages.some((s) => /c-life-master-1, c-life-worker-1/.test(String(s.message))));
    assert.deepEqual(task.taskResult?.map((r) => [r.data, r.status]).sort(), [
      ['c-life-master-1', 'success'],
      ['c-life-worker-1', 'success'],
      ['c-life-worker-2', 'success'],
    ]);
    assert.ok(task.events?.some((e) => e.reason === 'UpgradeSucceeded' && /^\d+$/.test(String(e.timestamp))));
    assert.equal(task.error, undefined);

    // the precheck report of the upgrade is an ACK cluster check
    const check = (await cs.getClusterCheck('c-life', String(done.precheckReportId))).body!;
    assert.equal(check.status, 'Succeeded');
    assert.ok(check.checkItems && Object.keys(check.checkItems).includes('node_health'));

    // the native API agrees: same upgrade, succeeded, and the cluster runs the new version
    const native = await env.native('GET', `/v1/projects/acme/upgrades/${taskId}`);
    assert.equal(native.json.state, 'succeeded');
    assert.equal((await env.native('GET', '/v1/projects/acme/targets/c-life')).json.version, K8S_VERSIONS[1]);
  });

  test('retry after an injected failure: re-issuing UpgradeCluster retries the same task', async () => {
    const cs = env.cs();
    await env.fault('c-retry', { node: 'c-retry-worker-1', step: 'start', kind: 'fail', times: 1 });
    const first = await cs.upgradeCluster('c-retry', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }));
    const taskId = String(first.body?.taskId);
    const failed = await until(async () => {
      const s = (await cs.getUpgradeStatus('c-retry')).body!;
      return s.status === 'fail' ? s : null;
    }, 'ACK status fail');
    assertSeedShape(failed.toMap());
    assert.equal(failed.upgradeStep, 'upgrading');
    assert.equal(failed.upgradeTask?.status, 'Failed');
    assert.match(String(failed.errorMessage), /c-retry-worker-1/);
    const task = (await cs.describeTaskInfo(taskId)).body!;
    assert.equal(task.state, 'fail');
    assert.ok(task.error?.code && task.error.message);
    assert.ok(task.taskResult?.some((r) => r.data === 'c-retry-worker-1' && r.status === 'failed'));

    const again = await cs.upgradeCluster('c-retry', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }));
    assert.equal(again.body?.taskId, taskId);
    const native = await env.waitState(taskId, 'succeeded');
    assert.equal(native.retries, 1);
    assert.equal((await cs.getUpgradeStatus('c-retry')).body?.status, 'success');
  });

  test('CancelClusterUpgrade ends a failed upgrade; the task reports it', async () => {
    const cs = env.cs();
    // drain fails before anything is stopped, so the cluster stays healthy for the next upgrade
    await env.fault('c-cancel', { node: 'c-cancel-worker-1', step: 'drain', kind: 'fail', times: 1 });
    const taskId = String(
      (await cs.upgradeCluster('c-cancel', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))).body?.taskId,
    );
    await env.waitState(taskId, 'failed');
    await cs.cancelClusterUpgrade('c-cancel');
    // the failed drain's node is brought back into traffic first (running/upgrading meanwhile)
    await env.waitState(taskId, 'cancelled');
    const s = (await cs.getUpgradeStatus('c-cancel')).body!;
    assertSeedShape(s.toMap());
    assert.equal(s.status, 'fail');
    assert.match(String(s.errorMessage), /cancelled/);
    const task = (await cs.describeTaskInfo(taskId)).body!;
    assert.equal(task.state, 'fail');
    assert.equal(task.error?.code, 'Cancelled');
    assert.equal((await env.native('GET', `/v1/projects/acme/upgrades/${taskId}`)).json.state, 'cancelled');
    // nothing left to cancel: the SDK raises our 404 body
    await assert.rejects(
      cs.cancelClusterUpgrade('c-cancel'),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorTaskNotFound',
    );
    // the cluster is free again: a new upgrade gets a new task id
    const next = await cs.upgradeCluster('c-cancel', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }));
    assert.notEqual(next.body?.taskId, taskId);
    await env.waitState(String(next.body?.taskId), 'succeeded');
  });

  test('error bodies reach the SDK error classes', async () => {
    const cs = env.cs();
    // wrong secret
    await assert.rejects(env.cs({ ...env.key, accessKeySecret: 'nope' }).getUpgradeStatus('c-err'), (e: SdkError) => {
      assert.equal(e.code, 'SignatureDoesNotMatch');
      assert.equal(e.statusCode, 400);
      return true;
    });
    // unknown key
    await assert.rejects(
      env.cs({ accessKeyId: 'LTAI-NOBODY', accessKeySecret: 'x' }).getUpgradeStatus('c-err'),
      (e: SdkError) => e.code === 'InvalidAccessKeyId.NotFound' && e.statusCode === 404,
    );
    // a cluster of another project is not found, whichever call
    await assert.rejects(
      cs.getUpgradeStatus('c-foreign'),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorClusterNotFound',
    );
    await assert.rejects(
      cs.upgradeCluster('c-foreign', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] })),
      (e: SdkError) => e.statusCode === 404,
    );
    await assert.rejects(
      env.cs(env.otherKey).getUpgradeStatus('c-err'),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorClusterNotFound',
    );
    // bad next_version
    await assert.rejects(
      cs.upgradeCluster('c-err', new csModule.UpgradeClusterRequest({ nextVersion: '9.99.9' })),
      (e: SdkError) => {
        assert.equal(e.statusCode, 400);
        assert.equal(e.code, 'InvalidParameter.NextVersion.NotFound');
        return true;
      },
    );
    await assert.rejects(
      cs.upgradeCluster('c-err', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[0] })),
      (e: SdkError) => e.statusCode === 400 && e.code === 'InvalidParameter.NextVersion.Same',
    );
    // a stale `version` is refused, nothing is started
    await assert.rejects(
      cs.upgradeCluster('c-err', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1], version: '1.29.0' })),
      (e: SdkError) => e.statusCode === 400 && e.code === 'InvalidParameter',
    );
    assert.equal((await cs.getUpgradeStatus('c-err')).body?.upgradeStep, 'not_start');
    // pause without an upgrade in progress; unknown task
    await assert.rejects(
      cs.pauseClusterUpgrade('c-err'),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorTaskNotFound',
    );
    await assert.rejects(
      cs.describeTaskInfo('T-not-a-task'),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorTaskNotFound',
    );
    // a task of another project is not found either
    const foreignTask = String(
      (
        await env
          .cs(env.otherKey)
          .upgradeCluster('c-foreign', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))
      ).body?.taskId,
    );
    await assert.rejects(
      cs.describeTaskInfo(foreignTask),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorTaskNotFound',
    );
    // a second upgrade while one is active is a conflict
    await env.fault('c-err', { node: 'c-err-worker-2', step: 'stop', kind: 'fail', times: 1 });
    const active = String(
      (await cs.upgradeCluster('c-err', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))).body?.taskId,
    );
    await env.waitState(active, 'failed');
    await assert.rejects(
      cs.upgradeCluster('c-err', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[2] })),
      (e: SdkError) => e.statusCode === 409 && e.code === 'ErrorClusterUpgrading',
    );
    // resume is for paused upgrades; a failed one is an incorrect status
    await assert.rejects(
      cs.resumeUpgradeCluster('c-err'),
      (e: SdkError) => e.statusCode === 409 && e.code === 'IncorrectUpgradeStatus',
    );
  });

  test('raw requests: replayed nonce, missing signature, body errors keep the {code,message,requestId} body', async () => {
    const path = '/api/v2/clusters/c-xml/upgrade/status';
    const nonce = `n-${Math.random()}`;
    assert.equal((await env.signed('GET', path, { nonce })).status, 200);
    const replayed = await env.signed('GET', path, { nonce });
    assert.equal(replayed.status, 400);
    assert.equal(JSON.parse(replayed.body).code, 'SignatureNonceUsed');
    const unsigned = await env.t.app.inject({ method: 'GET', url: path });
    assert.equal(unsigned.statusCode, 400);
    assert.deepEqual(Object.keys(JSON.parse(unsigned.body)).sort(), ['code', 'message', 'requestId']);
    assert.equal(JSON.parse(unsigned.body).code, 'MissingAuthorization');
    // a correctly signed body that is not JSON: parsed only after verification, then refused
    const raw = '{"next_version":';
    const headers = signAcs3({
      method: 'POST',
      rawUrl: '/api/v2/clusters/c-xml/upgrade',
      headers: { host: 'localhost', 'content-type': 'application/json' },
      body: raw,
      accessKeyId: env.key.accessKeyId,
      accessKeySecret: env.key.accessKeySecret,
    });
    const badJson = await env.t.app.inject({ method: 'POST', url: '/api/v2/clusters/c-xml/upgrade', payload: raw, headers });
    assert.equal(badJson.statusCode, 400);
    assert.equal(JSON.parse(badJson.body).code, 'InvalidParameter');
    const noVersion = await env.signed('POST', '/api/v2/clusters/c-xml/upgrade', { body: { master_only: true } });
    assert.equal(noVersion.status, 400);
    assert.equal(JSON.parse(noVersion.body).code, 'InvalidParameter');
  });

  test('GetUpgradeStatus answers the documented XML when the client asks for XML', async () => {
    const cs = env.cs();
    const taskId = String(
      (await cs.upgradeCluster('c-xml', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))).body?.taskId,
    );
    await env.waitState(taskId, 'succeeded');
    const res = await env.signed('GET', '/api/v2/clusters/c-xml/upgrade/status', { headers: { accept: 'application/xml' } });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/xml/);
    const parsed = new XMLParser({ parseTagValue: false }).parse(res.body);
    const x = parsed.GetUpgradeStatusResponse;
    assert.ok(x, res.body);
    const json = JSON.parse((await env.signed('GET', '/api/v2/clusters/c-xml/upgrade/status')).body);
    assert.equal(x.status, json.status);
    assert.equal(x.upgrade_step, 'success');
    assert.equal(x.precheck_report_id, json.precheck_report_id);
    assert.equal(x.upgrade_task.status, 'Success');
    assert.equal(x.upgrade_task.message, json.upgrade_task.message);
    // errors follow the client's choice too
    const missing = await env.signed('GET', '/api/v2/clusters/nope/upgrade/status', { headers: { accept: 'application/xml' } });
    assert.equal(missing.status, 404);
    assert.equal(new XMLParser().parse(missing.body).Error.code, 'ErrorClusterNotFound');
  });

  test('RunClusterCheck, GetClusterCheck and ListClusterChecks', async () => {
    const cs = env.cs();
    const run = await cs.runClusterCheck(
      'c-check',
      new csModule.RunClusterCheckRequest({ type: 'ClusterUpgrade', options: { next_version: K8S_VERSIONS[1] } }),
    );
    const checkId = String(run.body?.checkId);
    assert.match(checkId, /^[0-9a-f]{32}$/);
    const check = await until(async () => {
      const c = (await cs.getClusterCheck('c-check', checkId)).body!;
      return c.status !== 'Running' ? c : null;
    }, 'check done');
    assert.equal(check.status, 'Succeeded');
    assert.equal(check.type, 'ClusterUpgrade');
    assert.ok(check.createdAt && check.finishedAt);
    const health = check.checkItems?.node_health as { Level: string; Targets: string[] }[];
    assert.equal(health.length, 3);
    assert.ok(health.every((i) => i.Level === 'normal' && i.Targets.length === 1));
    const list = (await cs.listClusterChecks('c-check', new csModule.ListClusterChecksRequest({ type: 'ClusterUpgrade' }))).body!;
    assert.ok(list.checks?.some((c) => c.checkId === checkId && c.status === 'Succeeded'));
    assert.equal(
      (await cs.listClusterChecks('c-check', new csModule.ListClusterChecksRequest({ type: 'NodePoolUpgrade' }))).body?.checks
        ?.length,
      0,
    );
    await assert.rejects(
      cs.getClusterCheck('c-life', checkId),
      (e: SdkError) => e.statusCode === 404 && e.code === 'ErrorCheckNotFound',
    );
    await assert.rejects(
      cs.runClusterCheck(
        'c-check',
        new csModule.RunClusterCheckRequest({ type: 'ClusterUpgrade', options: { next_version: '0.0.1' } }),
      ),
      (e: SdkError) => e.statusCode === 400 && /^InvalidParameter\.NextVersion/.test(String(e.code)),
    );
  });
});

forEachDialect('ACK pause and resume with the official SDK (sim with real-ish timings)', (dialect) => {
  let env: AlibabaEnv;
  before(async () => {
    // Steps take a few milliseconds each, so an upgrade is still under way when we pause it.
    env = await setupAlibaba(dialect, { simTimeScale: 0.004 });
    await createCluster(env, 'c-pause');
  });
  after(() => env.close());

  test('PauseClusterUpgrade holds the upgrade; ResumeUpgradeCluster carries it to success', async () => {
    const cs = env.cs();
    const taskId = String(
      (await cs.upgradeCluster('c-pause', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))).body?.taskId,
    );
    await cs.pauseClusterUpgrade('c-pause');
    const paused = await env.waitState(taskId, 'paused');
    const s = (await cs.getUpgradeStatus('c-pause')).body!;
    assertSeedShape(s.toMap());
    assert.equal(s.status, 'pause');
    assert.equal(s.upgradeStep, 'pause');
    assert.equal(s.upgradeTask?.status, 'running');
    assert.equal((await cs.describeTaskInfo(taskId)).body?.state, 'running');
    // still paused a little later: nothing new started
    await new Promise((r) => setTimeout(r, 300));
    const later = (await env.native('GET', `/v1/projects/acme/upgrades/${taskId}`)).json;
    assert.equal(later.state, 'paused');
    assert.equal(later.currentStage, paused.currentStage);
    await assert.rejects(
      cs.pauseClusterUpgrade('c-pause'),
      (e: SdkError) => e.statusCode === 409 && e.code === 'IncorrectUpgradeStatus',
    );
    await cs.resumeUpgradeCluster('c-pause');
    await env.waitState(taskId, 'succeeded');
    const task = (await cs.describeTaskInfo(taskId)).body!;
    assert.equal(task.state, 'success');
    assert.ok(task.events?.some((e) => e.action === 'pause' && e.source === `ack:${env.key.accessKeyId}`));
    assert.ok(task.events?.some((e) => e.action === 'resume'));
  });
});
