// One upgrade, started through the OBShell family, seen consistently through the other four
// families and the native API: failed after an injected fault, then retried to success.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { signAcs3 } from '../../src/auth/acs3.ts';
import { ObshellClient } from '../../src/clients/obshell-client.ts';
import { forEachDialect, startApp, until, type TestApp } from '../helpers/harness.ts';

const P = 'f3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8';
const T = 'ob-cluster-x';

forEachDialect('five families, one upgrade', (dialect) => {
  let t: TestApp;
  let port: number;
  let key: { accessKeyId: string; accessKeySecret: string };
  let token: string;
  let ob: ObshellClient;
  before(async () => {
    t = await startApp(dialect);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    await t.call('POST', '/v1/projects', { id: P });
    await t.call('POST', '/v1/catalog/oceanbase/versions', { version: '4.2.1.0', release: '100000192023080316.el7' });
    await t.call('POST', '/v1/catalog/oceanbase/versions', { version: '4.2.1.1', release: '101000062023110109.el7' });
    const created = await t.call('POST', `/v1/projects/${P}/targets`, {
      id: T,
      kind: 'cluster',
      engine: 'oceanbase',
      version: '4.2.1.0',
      release: '100000192023080316.el7',
      nodes: [
        { name: 'obs-1', role: 'leader', zone: 'zone1' },
        { name: 'obs-2', role: 'follower', zone: 'zone2' },
        { name: 'obs-3', role: 'follower', zone: 'zone3' },
      ],
    });
    assert.equal(created.status, 201, created.body);
    const set = await t.call('PUT', `/v1/projects/${P}/targets/${T}/obshell-password`, { password: 'cluster-x-secret' });
    assert.equal(set.status, 200, set.body);
    key = (await t.call('POST', `/v1/projects/${P}/access-keys`)).json;
    token = (await t.call('POST', `/v1/projects/${P}/tokens`, {})).json.token;
    // the cluster's own OBShell agent address
    ob = new ObshellClient({ baseUrl: `http://127.0.0.1:${set.json.obshellAgent.port}`, password: 'cluster-x-secret' });
  });
  after(async () => t.close());

  const acs3 = async (url: string) => {
    const headers = signAcs3({
      method: 'GET',
      rawUrl: url,
      headers: { host: `127.0.0.1:${port}`, accept: 'application/json' },
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
    });
    const res = await fetch(`http://127.0.0.1:${port}${url}`, { headers });
    assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
    return (await res.json()) as any;
  };
  const huawei = async (url: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { 'x-auth-token': token } });
    assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
    return (await res.json()) as any;
  };

  /** what every family says about the upgrade, in its own words */
  async function views(upgradeId: string, dagId: string) {
    const native = (await t.call('GET', `/v1/projects/${P}/upgrades/${upgradeId}`)).json;
    const dag = ((await ob.request('GET', `/api/v1/task/dag/${dagId}`)).json as any).data;
    const ack = await acs3(`/api/v2/clusters/${T}/upgrade/status`);
    const task = await acs3(`/tasks/${upgradeId}`);
    const holo = (await acs3(`/api/v1/instances/${T}/upgrade/status?RegionId=local`)).Data[0];
    const css = (await huawei(`/v1.0/${P}/clusters/${T}/upgrade/detail`)).detailList[0];
    const job = await huawei(`/v3/${P}/jobs?id=${upgradeId}`);
    return { native, dag, ack, task, holo, css, job };
  }

  test('failed, then retried to success: every family agrees', async () => {
    await t.call('POST', `/v1/projects/${P}/targets/${T}/faults`, { node: 'obs-2', step: 'start', kind: 'fail' });
    const started = await ob.request('POST', '/api/v1/ob/upgrade', {
      version: '4.2.1.1',
      release: '101000062023110109.el7',
      mode: 'rolling',
    });
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const dagId = String((started.json as any).data.id);
    const list = (await t.call('GET', `/v1/projects/${P}/upgrades?target=${T}`)).json.items;
    assert.equal(list.length, 1);
    const upgradeId = list[0].id as string;
    await until(async () => (await t.call('GET', `/v1/projects/${P}/upgrades/${upgradeId}`)).json.state === 'failed', 'failure');

    let v = await views(upgradeId, dagId);
    assert.equal(v.native.state, 'failed');
    assert.equal(v.dag.state, 'FAILED');
    assert.equal(v.ack.status, 'fail');
    assert.equal(v.task.state, 'fail');
    assert.equal(v.holo.Status, 'failed');
    assert.equal(v.holo.FromVersion, '4.2.1.0');
    assert.equal(v.holo.ToVersion, '4.2.1.1');
    assert.ok(['FAILED', 'PARTIAL_FAILED'].includes(v.css.status));
    assert.equal(v.css.id, upgradeId);
    assert.equal(v.css.currentNodeName, 'obs-2');
    assert.equal(v.job.job.status, 'Failed');
    assert.equal(v.ack.precheck_report_id, v.native.precheckReportId);

    const retried = await ob.request('POST', `/api/v1/task/dag/${dagId}`, { operator: 'retry' });
    assert.equal(retried.status, 200, JSON.stringify(retried.json));
    await until(
      async () => (await t.call('GET', `/v1/projects/${P}/upgrades/${upgradeId}`)).json.state === 'succeeded',
      'success',
    );

    v = await views(upgradeId, dagId);
    assert.equal(v.dag.state, 'SUCCEED');
    assert.equal(v.ack.status, 'success');
    assert.equal(v.ack.upgrade_step, 'success');
    assert.equal(v.task.state, 'success');
    assert.equal(v.holo.Status, 'success');
    assert.equal(v.css.status, 'SUCCESS');
    assert.equal(v.css.executeTimes, '2');
    assert.equal(v.job.job.status, 'Completed');
    const target = (await t.call('GET', `/v1/projects/${P}/targets/${T}`)).json;
    assert.equal(target.version, '4.2.1.1');
  });
});
