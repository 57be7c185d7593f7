// The GaussDB-style family through the real Huawei core SDK (AK/SK) and through X-Auth-Token:
// the seed example, the all-or-nothing batch refusal, delayed upgrades in maintenance windows and
// their cancellation, jobs, languages, authentication, and the native API seeing it all.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { nextWindowStart } from '../../../src/domain/window.ts';
import { createBatchRecord } from '../../../src/service/fleet-batches.ts';
import { getTarget } from '../../../src/service/targets.ts';
import { forEachDialect, until } from '../../helpers/harness.ts';
import { GAUSS, GAUSS_FROM, GAUSS_TO, OTHER, PROJECT, setupHuawei, windowAwayFromNow, type HuaweiEnv } from './helpers.ts';

const GAUSS_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/;
const JOB_KEYS = ['id', 'name', 'status', 'created', 'ended', 'process', 'instance', 'entities', 'fail_reason'];
const SCHEDULE_KEYS = [
  'job_id',
  'instance_id',
  'instance_name',
  'instance_status',
  'project_id',
  'job_name',
  'job_status',
  'create_time',
  'start_time',
  'end_time',
  'datastore_type',
];

const batch = (infos: { instance_id: string; current_version: string }[], delay: boolean | string) => ({
  method: 'POST',
  url: '/v3/{project_id}/instances/database-version/upgrade',
  contentType: 'application/json;charset=UTF-8',
  data: { databases_instance_infos: infos, delay },
});

async function sdkError(p: Promise<unknown>): Promise<{ httpStatusCode: number; errorCode: string; errorMsg: string }> {
  try {
    await p;
  } catch (err) {
    return err as { httpStatusCode: number; errorCode: string; errorMsg: string };
  }
  throw new Error('the call succeeded but should have failed');
}

forEachDialect('Huawei GaussDB family', (dialect) => {
  let env: HuaweiEnv;
  before(async () => {
    env = await setupHuawei(dialect);
  });
  after(async () => env.close());

  const upgradesOf = async (target: string) =>
    (await env.native('GET', `/v1/projects/${PROJECT}/upgrades?target=${target}`)).json.items as {
      id: string;
      state: string;
      batchId: string | null;
    }[];
  const job = (id: string) => env.sdk({ method: 'GET', url: '/v3/{project_id}/jobs', queryParams: { id } });

  test('seed example: batch upgrade now, seen as a job and through the native API', async () => {
    const before = await env.sdk({
      method: 'GET',
      url: '/v3/{project_id}/instances/{instance_id}/database-version',
      pathParams: { instance_id: GAUSS[0] },
    });
    assert.deepEqual(before, {
      datastore: {
        current_version: GAUSS_FROM,
        current_kernel_version: '8.201',
        latest_version: GAUSS_TO,
        latest_kernel_version: '8.203',
      },
      upgrade_flag: true,
    });

    const res = await env.sdk(batch([{ current_version: GAUSS_FROM, instance_id: GAUSS[0] }], false));
    assert.deepEqual(res, { resp: 'success' });
    const [u] = await upgradesOf(GAUSS[0]);
    assert.ok(u?.batchId, 'the upgrade belongs to a recorded batch');
    const native = await env.waitState(u.id, ['succeeded']);
    assert.equal(native.fromVersion, GAUSS_FROM);
    assert.equal(native.toVersion, GAUSS_TO, 'the newest minor version of the same major line');

    const j = await job(u.id);
    assert.deepEqual(Object.keys(j.job).sort(), [...JOB_KEYS].sort());
    assert.equal(j.job.id, u.id);
    assert.equal(j.job.status, 'Completed');
    assert.equal(j.job.name, 'UpgradeGaussDBforMySQLDatabaseVersion');
    assert.match(j.job.created, GAUSS_TIME);
    assert.match(j.job.ended, GAUSS_TIME);
    assert.equal(j.job.process, '');
    assert.deepEqual(j.job.instance, { id: GAUSS[0], name: 'gauss-1' });
    assert.equal(j.job.fail_reason, '');

    const afterUpgrade = await env.sdk({
      method: 'GET',
      url: '/v3/{project_id}/instances/{instance_id}/database-version',
      pathParams: { instance_id: GAUSS[0] },
    });
    assert.equal(afterUpgrade.datastore.current_version, GAUSS_TO);
    assert.equal(afterUpgrade.upgrade_flag, false, '3.0.1 is another major line');

    // delay=false: one kind of batch, visible (and finished) through the native batch API
    const b = await env.native('GET', `/v1/projects/${PROJECT}/batches/${u.batchId}`);
    assert.equal(b.status, 200);
    assert.equal(b.json.kind, 'gaussdb');
    const done = await until(async () => {
      const x = (await env.native('GET', `/v1/projects/${PROJECT}/batches/${u.batchId}`)).json;
      return x.state === 'succeeded' && x;
    }, 'the batch to end');
    assert.deepEqual(
      done.waves.map((w: { name: string; counts: unknown }) => [w.name, w.counts]),
      [['all', { succeeded: 1 }]],
    );
  });

  test('one bad instance refuses the whole batch, naming every bad one, in English or Chinese; nothing is scheduled', async () => {
    const infos = [
      { instance_id: GAUSS[1], current_version: GAUSS_FROM },
      { instance_id: GAUSS[2], current_version: '2.0.1.0' },
      { instance_id: 'ffffffffffffffffffffffffffffffffin07', current_version: GAUSS_FROM },
      { instance_id: GAUSS[0], current_version: GAUSS_TO },
    ];
    const en = await sdkError(env.sdk(batch(infos, false)));
    assert.equal(en.httpStatusCode, 400);
    assert.equal(en.errorCode, 'DBS.200001');
    assert.match(
      en.errorMsg,
      new RegExp(
        `${GAUSS[2]} \\(current_version 2\\.0\\.1\\.0 does not match the instance version ${GAUSS_FROM.replace(/\./g, '\\.')}\\)`,
      ),
    );
    assert.match(en.errorMsg, /ffffffffffffffffffffffffffffffffin07 \(the instance does not exist\)/);
    assert.match(en.errorMsg, new RegExp(`${GAUSS[0]} \\(no newer minor version`));
    assert.ok(!en.errorMsg.includes(GAUSS[1]), 'the good instance is not named');

    const zh = await env.fetchToken(
      'POST',
      `/v3/${PROJECT}/instances/database-version/upgrade`,
      { databases_instance_infos: infos, delay: 'false' },
      { 'X-Language': 'zh-cn' },
    );
    assert.equal(zh.status, 400);
    assert.deepEqual(Object.keys(zh.json).sort(), ['error_code', 'error_msg']);
    assert.equal(zh.json.error_code, 'DBS.200001');
    assert.match(zh.json.error_msg, /升级请求被拒绝/);
    assert.match(zh.json.error_msg, /实例不存在/);
    assert.match(zh.json.error_msg, /不一致/);

    for (const id of [GAUSS[1], GAUSS[2]]) assert.deepEqual(await upgradesOf(id), [], `nothing scheduled for ${id}`);
    const scheduled = await env.sdk({ method: 'GET', url: '/v3/{project_id}/scheduled-jobs' });
    assert.equal(scheduled.total_count, 0);

    const badDelay = await env.fetchToken('POST', `/v3/${PROJECT}/instances/database-version/upgrade`, {
      databases_instance_infos: infos.slice(0, 1),
      delay: 'later',
    });
    assert.equal(badDelay.status, 400);
    assert.equal(badDelay.json.error_code, 'DBS.200001');
  });

  test('delay=true schedules each instance into its own window; scheduled-jobs lists them, DELETE cancels them', async () => {
    const w = windowAwayFromNow();
    const put = await env.sdk({
      method: 'PUT',
      url: '/v3/{project_id}/instances/{instance_id}/ops-window',
      pathParams: { instance_id: GAUSS[2] },
      data: { start_time: w.start, end_time: w.end },
    });
    assert.deepEqual(put, {});
    assert.deepEqual((await env.native('GET', `/v1/projects/${PROJECT}/targets/${GAUSS[2]}`)).json.maintenanceWindow, w);

    const res = await env.fetchToken('POST', `/v3/${PROJECT}/instances/database-version/upgrade`, {
      databases_instance_infos: [GAUSS[1], GAUSS[2]].map((instance_id) => ({ instance_id, current_version: GAUSS_FROM })),
      delay: 'true',
    });
    assert.deepEqual([res.status, res.json], [200, { resp: 'success' }]);
    const ids: string[] = [];
    for (const id of [GAUSS[1], GAUSS[2]]) {
      const [u] = await upgradesOf(id);
      const full = (await env.native('GET', `/v1/projects/${PROJECT}/upgrades/${u.id}`)).json;
      assert.equal(full.state, 'scheduled');
      assert.deepEqual(full.schedule, { kind: 'window' });
      const target = (await env.native('GET', `/v1/projects/${PROJECT}/targets/${id}`)).json;
      const due = nextWindowStart(target.maintenanceWindow, new Date()).toISOString();
      assert.equal(full.notBefore.slice(0, 16), due.slice(0, 16), 'due at the start of its own window');
      ids.push(u.id);
    }
    assert.equal((await upgradesOf(GAUSS[1]))[0].batchId, (await upgradesOf(GAUSS[2]))[0].batchId, 'one batch');

    const list = await env.sdk({ method: 'GET', url: '/v3/{project_id}/scheduled-jobs' });
    assert.equal(list.total_count, 2);
    for (const s of list.schedules) {
      assert.deepEqual(Object.keys(s).sort(), [...SCHEDULE_KEYS].sort());
      assert.equal(s.job_status, 'Pending');
      assert.equal(s.job_name, 'UpgradeGaussDBforMySQLDatabaseVersion');
      assert.equal(s.datastore_type, 'gaussdb-mysql');
      assert.equal(s.project_id, PROJECT);
      assert.match(s.start_time, GAUSS_TIME);
      assert.equal(s.end_time, '');
    }
    assert.deepEqual(list.schedules.map((s: { job_id: string }) => s.job_id).sort(), [...ids].sort());
    assert.equal((await job(ids[0])).job.status, 'Pending');
    // delay=true: one running batch whose upgrades wait, each for its own instance's window
    const batchId = (await upgradesOf(GAUSS[1]))[0].batchId as string;
    const b = (await env.native('GET', `/v1/projects/${PROJECT}/batches/${batchId}`)).json;
    assert.deepEqual(
      [b.kind, b.state, b.schedule, b.waves[0].counts],
      ['gaussdb', 'running', { kind: 'window' }, { scheduled: 2 }],
    );
    for (const id of ids)
      assert.match(
        (await env.native('GET', `/v1/projects/${PROJECT}/upgrades/${id}`)).json.pendingReason,
        /^waiting for window /,
      );

    const partlyBad = await env.fetchToken('DELETE', `/v3/${PROJECT}/scheduled-jobs`, { job_ids: [ids[0], 'no-such-job'] });
    assert.equal(partlyBad.status, 403);
    assert.equal(partlyBad.json.error_code, 'DBS.200011');
    assert.match(partlyBad.json.error_msg, /no-such-job does not exist/);
    assert.equal(
      (await env.native('GET', `/v1/projects/${PROJECT}/upgrades/${ids[0]}`)).json.state,
      'scheduled',
      'nothing cancelled',
    );

    const cancelled = await env.fetchToken('DELETE', `/v3/${PROJECT}/scheduled-jobs`, { job_ids: ids });
    assert.equal(cancelled.status, 200);
    assert.deepEqual(cancelled.json.job_ids.sort(), [...ids].sort());
    for (const id of ids)
      assert.equal((await env.native('GET', `/v1/projects/${PROJECT}/upgrades/${id}`)).json.state, 'cancelled');
    const canceledList = await env.fetchToken('GET', `/v3/${PROJECT}/scheduled-jobs?status=Canceled`);
    assert.equal(canceledList.json.total_count, 2);
    const pending = await env.fetchToken('GET', `/v3/${PROJECT}/scheduled-jobs?status=Pending`);
    assert.equal(pending.json.total_count, 0);
  });

  test('single-instance db-upgrade: fails on an injected fault (job Failed), retried through the native API to Completed', async () => {
    await env.native('POST', `/v1/projects/${PROJECT}/targets/${GAUSS[2]}/faults`, {
      node: 'gauss-3-dn-2',
      step: 'install',
      kind: 'fail',
    });
    const res = await env.sdk({
      method: 'POST',
      url: '/v3/{project_id}/instances/{instance_id}/db-upgrade',
      pathParams: { instance_id: GAUSS[2] },
      data: { delay: false },
    });
    assert.deepEqual(Object.keys(res), ['job_id']);
    await env.waitState(res.job_id, ['failed']);
    const failed = (await job(res.job_id)).job;
    assert.equal(failed.status, 'Failed');
    assert.match(failed.fail_reason, /injected failure/);

    const retried = await env.native('POST', `/v1/projects/${PROJECT}/upgrades/${res.job_id}/actions`, { action: 'retry' });
    assert.equal(retried.status, 200);
    await env.waitState(res.job_id, ['succeeded']);
    const done = (await job(res.job_id)).job;
    assert.equal(done.status, 'Completed');
    assert.equal((await env.native('GET', `/v1/projects/${PROJECT}/targets/${GAUSS[2]}`)).json.version, GAUSS_TO);
  });

  test('a batch with an instance that cannot be planned is refused before anything is written', async () => {
    // A node-less instance passes the checks but cannot be planned: every upgrade of a batch is
    // planned before the first is stored, so the refusal leaves no batch and no upgrade behind.
    const created = await env.native('POST', `/v1/projects/${PROJECT}/targets`, {
      id: 'emptyin07',
      kind: 'instance',
      engine: 'gaussdb',
      version: GAUSS_FROM,
      driver: 'sim',
      nodes: [],
    });
    assert.equal(created.status, 201);
    const batchesNow = () => env.t.ctx.store.db.selectFrom('batches').select('id').where('project_id', '=', PROJECT).execute();
    const before = { upgrades: (await upgradesOf(GAUSS[1])).length, batches: (await batchesNow()).length };
    const res = await env.fetchToken('POST', `/v3/${PROJECT}/instances/database-version/upgrade`, {
      databases_instance_infos: [GAUSS[1], 'emptyin07'].map((instance_id) => ({ instance_id, current_version: GAUSS_FROM })),
      delay: false,
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error_code, 'DBS.200001');
    assert.equal((await upgradesOf(GAUSS[1])).length, before.upgrades, 'no upgrade was created');
    assert.deepEqual(await upgradesOf('emptyin07'), []);
    assert.equal((await batchesNow()).length, before.batches, 'no batch was recorded');
  });

  test('when storing one upgrade of a batch fails after others were stored, none remains', async () => {
    // Planned alike, the second upgrade of the same instance meets the first in the store's
    // one-active-upgrade index, as a concurrent request making the instance busy would.
    const target = await getTarget(env.t.ctx, PROJECT, GAUSS[1]);
    const before = (await upgradesOf(GAUSS[1])).length;
    const item = { target, toVersion: GAUSS_TO };
    await assert.rejects(
      createBatchRecord(
        env.t.ctx,
        PROJECT,
        {
          name: 'twice',
          kind: 'gaussdb',
          source: 'test',
          request: {},
          items: [item, item],
          mode: 'rolling',
          schedule: { kind: 'now' },
          plan: {
            waves: [{ name: 'all', targetIds: [GAUSS[1]], maxConcurrency: 2, bakeSeconds: 0, approval: false }],
            failureLimit: 3,
          },
        },
        'test',
      ),
      (err: Error & { code?: string }) => err.code === 'TARGET_BUSY',
    );
    assert.equal((await upgradesOf(GAUSS[1])).length, before, 'the upgrade stored first was discarded');
    const batches = await env.t.ctx.store.db.selectFrom('batches').select(['state']).where('name', '=', 'twice').execute();
    assert.deepEqual(
      batches.map((b) => b.state),
      ['cancelled'],
      'the batch is recorded as not created (cancelled)',
    );
    const events = (await env.native('GET', `/v1/projects/${PROJECT}/events?limit=1000`)).json.items as {
      type: string;
      data: { discarded?: string[] };
    }[];
    const rolledBack = events.find((e) => e.type === 'batch.rolled_back');
    assert.equal(rolledBack?.data.discarded?.length, 1, 'one upgrade had been stored, and was discarded');
  });

  test('wrong credentials get 401; a foreign credential gets 404 (in the asked language); unknown jobs are 404', async () => {
    const bad = await env.fetchToken('GET', `/v3/${PROJECT}/scheduled-jobs`, undefined, { 'X-Auth-Token': 'lg_nope' });
    assert.deepEqual([bad.status, bad.json.error_code], [401, 'APIG.0301']);
    const wrongSk = await sdkError(
      env.sdk(
        { method: 'GET', url: '/v3/{project_id}/scheduled-jobs' },
        { accessKeyId: env.key.accessKeyId, accessKeySecret: 'nope' },
      ),
    );
    assert.deepEqual([wrongSk.httpStatusCode, wrongSk.errorCode], [401, 'APIG.0301']);

    const foreign = await env.fetchToken('GET', `/v3/${PROJECT}/instances/${GAUSS[0]}/database-version`, undefined, {
      'X-Auth-Token': env.otherToken,
      'X-Language': 'zh-cn',
    });
    assert.equal(foreign.status, 404);
    assert.equal(foreign.json.error_code, 'DBS.200022');
    assert.match(foreign.json.error_msg, /项目不存在/);
    const foreignBatch = await sdkError(
      env.sdk(batch([{ instance_id: GAUSS[0], current_version: GAUSS_TO }], false), env.otherKey, PROJECT),
    );
    assert.equal(foreignBatch.httpStatusCode, 404);
    const ownProject = await sdkError(
      env.sdk(
        {
          method: 'GET',
          url: '/v3/{project_id}/instances/{instance_id}/database-version',
          pathParams: { instance_id: GAUSS[0] },
        },
        env.otherKey,
        OTHER,
      ),
    );
    assert.deepEqual([ownProject.httpStatusCode, ownProject.errorCode], [404, 'DBS.200022']);
    assert.match(ownProject.errorMsg, /^The DB instance does not exist\./);

    const unknownJob = await env.fetchToken('GET', `/v3/${PROJECT}/jobs?id=00000000-0000-0000-0000-000000000000`);
    assert.equal(unknownJob.status, 404);
    assert.match(unknownJob.json.error_msg, /^The job does not exist\./);
  });
});
