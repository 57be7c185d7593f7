// Whole upgrades driven through the OBShell-style family: retry after an injected failure,
// pass (skip) a failed step, cancel, rollback; each checked through the DAG, its nodes and
// sub tasks, and the native API.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect } from '../../helpers/harness.ts';
import {
  CURRENT,
  errorOf,
  injectFault,
  LATEST,
  NEXT,
  startObshell,
  startUpgrade,
  waitDag,
  type Json,
  type ObshellEnv,
} from './helpers.ts';

const tasks = (dag: Json): Json[] => dag.nodes.flatMap((n: Json) => n.sub_tasks);

forEachDialect('OBShell upgrade lifecycle', (dialect) => {
  let env: ObshellEnv;
  before(async () => {
    env = await startObshell(dialect);
  });
  after(() => env.close());

  const operate = (id: string, operator: string) => env.client.request('POST', `/api/v1/task/dag/${id}`, { operator });
  const targetVersion = async () => (await env.t.call('GET', '/v1/projects/acme/targets/ob-1')).json.version as string;

  it('retry after an injected failure: FAILED, then RETRY to SUCCEED', async () => {
    await injectFault(env.t, { node: 'ob-1-z2', step: 'install', kind: 'fail' });
    const dag = await startUpgrade(env.client, NEXT);
    const failed = await waitDag(env.client, dag.id, ['FAILED', 'SUCCEED']);
    assert.equal(failed.state, 'FAILED');
    assert.equal(failed.operator, 'RUN');
    const bad = tasks(failed).find((s) => s.state === 'FAILED');
    assert.ok(bad, 'one sub task failed');
    assert.equal(bad.additional_data.node, 'ob-1-z2');
    assert.match(bad.additional_data.error, /injected failure of install/);
    const failedNode = failed.nodes.find((n: Json) => n.state === 'FAILED');
    assert.equal(failed.stage, failed.nodes.indexOf(failedNode) + 1, 'stage points at the failed node');

    const retry = await operate(dag.id, 'Retry');
    assert.equal(retry.status, 200, JSON.stringify(retry.json));
    assert.equal((retry.json as Json).successful, true);
    const done = await waitDag(env.client, dag.id, ['SUCCEED', 'FAILED']);
    assert.equal(done.state, 'SUCCEED');
    assert.equal(done.operator, 'RETRY');
    const again = tasks(done).find((s) => s.id === bad.id);
    assert.equal(again.state, 'SUCCEED');
    assert.equal(again.execute_times, 2);
    assert.equal(again.operator, 'RETRY');
    const logs = ((await env.client.request('GET', `/api/v1/task/sub_task/${bad.id}/logs`)).json as Json).data.contents as Json[];
    assert.deepEqual([...new Set(logs.map((l) => l.execute_times))], [1, 2], 'log lines carry their attempt');
    assert.equal(await targetVersion(), NEXT.version);

    const e = errorOf(await operate(dag.id, 'retry'));
    assert.equal(e.errCode, 'Task.Dag.Operator.RetryNotFailedDag');
    assert.equal(errorOf(await operate(dag.id, 'cancel')).errCode, 'Task.Dag.Operator.CancelFinishedDag');
  });

  it('pass a failed step: PASS skips it and the DAG goes on to SUCCEED', async () => {
    await injectFault(env.t, { node: 'ob-1-z1', step: 'rejoin', kind: 'fail' });
    const dag = await startUpgrade(env.client, { version: '4.2.2.0', release: '100000222023121918.el7' }, 'Rolling');
    const failed = await waitDag(env.client, dag.id, ['FAILED', 'SUCCEED']);
    assert.equal(failed.state, 'FAILED');
    const bad = tasks(failed).find((s) => s.state === 'FAILED');
    assert.equal(errorOf(await operate(dag.id, 'bogus')).errCode, 'Task.Dag.Operator.NotSupport');
    const pass = await operate(dag.id, 'PASS');
    assert.equal(pass.status, 200, JSON.stringify(pass.json));
    const done = await waitDag(env.client, dag.id, ['SUCCEED', 'FAILED']);
    assert.equal(done.state, 'SUCCEED');
    assert.equal(done.operator, 'PASS');
    const skipped = tasks(done).find((s) => s.id === bad.id);
    assert.equal(skipped.state, 'SUCCEED');
    assert.equal(skipped.operator, 'PASS');
    assert.equal(await targetVersion(), '4.2.2.0');
  });

  it('cancel a failed upgrade: FAILED with operator CANCEL, and the cluster leaves maintenance', async () => {
    await injectFault(env.t, { step: 'backup', kind: 'fail' });
    const dag = await startUpgrade(env.client, LATEST);
    await waitDag(env.client, dag.id, ['FAILED']);
    const unfinished = ((await env.client.request('GET', '/api/v1/task/dag/ob/unfinish')).json as Json).data.contents as Json[];
    assert.deepEqual(
      unfinished.map((d) => d.id),
      [dag.id],
    );
    const res = await operate(dag.id, 'CANCEL');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const after = ((await env.client.request('GET', `/api/v1/task/dag/${dag.id}`)).json as Json).data;
    assert.equal(after.state, 'FAILED');
    assert.equal(after.operator, 'CANCEL');
    assert.notEqual(after.end_time, '0001-01-01T00:00:00Z');
    assert.ok(tasks(after).some((s) => s.operator === 'CANCEL'));
    assert.deepEqual(((await env.client.request('GET', '/api/v1/task/dag/ob/unfinish')).json as Json).data, { contents: [] });
    assert.equal(await targetVersion(), '4.2.2.0');
    // The native API sees the same upgrade, cancelled.
    const native = await env.t.call('GET', `/v1/projects/acme/upgrades?target=ob-1`);
    assert.equal(native.status, 200, native.body);
    const items = native.json.items as Json[];
    assert.ok(
      items.some((u) => u.state === 'cancelled' && u.toVersion === LATEST.version),
      native.body,
    );
  });

  it('rollback a failed upgrade: ROLLBACK runs to SUCCEED and the cluster keeps its version', async () => {
    await injectFault(env.t, { node: 'ob-1-z3', step: 'install', kind: 'fail' });
    const dag = await startUpgrade(env.client, LATEST);
    const failed = await waitDag(env.client, dag.id, ['FAILED', 'SUCCEED']);
    assert.equal(failed.state, 'FAILED');
    const res = await operate(dag.id, 'rollback');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const done = await waitDag(env.client, dag.id, ['SUCCEED', 'FAILED']);
    assert.equal(done.state, 'SUCCEED');
    assert.equal(done.operator, 'ROLLBACK');
    assert.ok(tasks(done).some((s) => s.operator === 'ROLLBACK' && s.state === 'SUCCEED'));
    assert.equal(await targetVersion(), '4.2.2.0');
    assert.equal(errorOf(await operate(dag.id, 'rollback')).errCode, 'Task.Dag.Operator.RollbackNotFailedDag');
    // A fresh upgrade is possible again and reaches the latest version.
    const next = await startUpgrade(env.client, LATEST);
    assert.equal((await waitDag(env.client, next.id, ['SUCCEED', 'FAILED'])).state, 'SUCCEED');
    assert.equal(await targetVersion(), LATEST.version);
    assert.notEqual(CURRENT.version, LATEST.version);
  });
});
