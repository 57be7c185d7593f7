// One upgrade, three views: started through ACK (official SDK), read through the Hologres family
// (official SDK's ROA callApi) and the native API; they agree on state, versions and ids.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachDialect, until } from '../../helpers/harness.ts';
import { createCluster, csModule, K8S_VERSIONS, setupAlibaba, type AlibabaEnv } from './helpers.ts';

forEachDialect('Alibaba families and the native API see the same upgrade', (dialect) => {
  let env: AlibabaEnv;
  before(async () => {
    env = await setupAlibaba(dialect);
    await createCluster(env, 'c-x');
  });
  after(() => env.close());

  async function views(taskId: string) {
    const [ack, task, holo, native] = await Promise.all([
      env.cs().getUpgradeStatus('c-x'),
      env.cs().describeTaskInfo(taskId),
      env.hologresStatus('c-x', { RegionId: 'cn-hangzhou' }),
      env.native('GET', `/v1/projects/acme/upgrades/${taskId}`),
    ]);
    return { ack: ack.body!, task: task.body!, holo: holo.body.Data[0], native: native.json };
  }

  test('an ACK upgrade that fails, then is retried through ACK, looks the same everywhere', async () => {
    await env.fault('c-x', { node: 'c-x-worker-2', step: 'install', kind: 'fail', times: 1 });
    const taskId = String(
      (await env.cs().upgradeCluster('c-x', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }))).body?.taskId,
    );
    await env.waitState(taskId, 'failed');

    let v = await views(taskId);
    assert.equal(v.native.state, 'failed');
    assert.equal(v.ack.status, 'fail');
    assert.equal(v.task.state, 'fail');
    assert.equal(v.holo.Status, 'failed');
    assert.equal(JSON.parse(v.holo.Details).StatusCode, 'FollowerInstallFailed');
    assert.equal(v.ack.errorMessage, v.native.error);
    assert.equal(v.task.error?.message, v.native.error);
    assert.equal(v.ack.precheckReportId, v.native.precheckReportId);
    for (const [from, to] of [
      [v.holo.FromVersion, v.holo.ToVersion],
      [v.task.parameters?.current_version, v.task.parameters?.next_version],
    ]) {
      assert.equal(from, v.native.fromVersion);
      assert.equal(to, v.native.toVersion);
    }
    assert.equal(v.native.toVersion, K8S_VERSIONS[1]);
    assert.equal(v.task.currentStage, v.native.stages[v.native.currentStage].name);

    await env.cs().upgradeCluster('c-x', new csModule.UpgradeClusterRequest({ nextVersion: K8S_VERSIONS[1] }));
    await env.waitState(taskId, 'succeeded');
    v = await views(taskId);
    assert.equal(v.ack.status, 'success');
    assert.equal(v.task.state, 'success');
    assert.equal(v.holo.Status, 'success');
    assert.equal(v.native.retries, 1);
    assert.equal((await env.native('GET', '/v1/projects/acme/targets/c-x')).json.version, K8S_VERSIONS[1]);
  });

  test('an upgrade started through the native API is an ACK task and a Hologres DAG run', async () => {
    const started = await env.native('POST', '/v1/projects/acme/upgrades', { targetId: 'c-x', toVersion: K8S_VERSIONS[2] });
    assert.equal(started.status, 202);
    const id = started.json.id;
    await env.waitState(id, 'succeeded');
    const task = (await env.cs().describeTaskInfo(id)).body!;
    assert.equal(task.state, 'success');
    assert.equal(task.parameters?.next_version, K8S_VERSIONS[2]);
    const data = (await env.hologresStatus('c-x')).body.Data;
    assert.deepEqual(
      data.map((d: any) => [d.ToVersion, d.Status]),
      [
        [K8S_VERSIONS[2], 'success'],
        [K8S_VERSIONS[1], 'archived'],
      ],
    );
    const status = await until(async () => (await env.cs().getUpgradeStatus('c-x')).body, 'status');
    assert.equal(status.upgradeStep, 'success');
  });
});
