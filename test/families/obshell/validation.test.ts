// The prechecks POST /api/v1/ob/upgrade runs before it creates a DAG, each with OBShell's
// code, status and message (English, or Chinese by Accept-Language).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect } from '../../helpers/harness.ts';
import {
  BARRIER,
  CURRENT,
  errorOf,
  LATEST,
  NEXT,
  startObshell,
  startUpgrade,
  UNREACHABLE,
  waitDag,
  type Json,
  type ObshellEnv,
} from './helpers.ts';

forEachDialect('OBShell upgrade prechecks', (dialect) => {
  let env: ObshellEnv;
  before(async () => {
    env = await startObshell(dialect);
  });
  after(() => env.close());

  const upgrade = (body: Record<string, unknown>, client = env.client) => client.request('POST', '/api/v1/ob/upgrade', body);
  const unfinished = async () =>
    ((await env.client.request('GET', '/api/v1/task/dag/ob/unfinish')).json as Json).data.contents as Json[];

  it('an unknown mode is OB.Upgrade.Mode.NotSupported; the mode is case-insensitive', async () => {
    const e = errorOf(await upgrade({ ...NEXT, mode: 'hot' }));
    assert.deepEqual(e, { status: 400, errCode: 'OB.Upgrade.Mode.NotSupported', message: "Upgrade mode 'HOT' is not supported" });
    // Checked, not started: the cluster is not under maintenance.
    assert.deepEqual(await unfinished(), []);
  });

  it('OBShell\u2019s upgrade has no zone migration: an AZ mode is OB.Upgrade.Mode.NotSupported and moves nothing', async () => {
    // Zone moves are started through the native API or CSS (which guard the zones); OBShell
    // only shows them ("OB zone migration" DAGs).
    for (const mode of ['AZ_MIGRATION', 'ZONE_MIGRATION', 'az_migration']) {
      const e = errorOf(await upgrade({ ...NEXT, mode }));
      assert.deepEqual(e, {
        status: 400,
        errCode: 'OB.Upgrade.Mode.NotSupported',
        message: `Upgrade mode '${mode.toUpperCase()}' is not supported`,
      });
    }
    assert.deepEqual(await unfinished(), []);
  });

  it('rolling on fewer than 3 zones is OB.Upgrade.UnableToRollingUpgrade; stop service is fine there', async () => {
    const e = errorOf(await upgrade({ ...NEXT, mode: 'ROLLING' }, env.other));
    assert.equal(e.status, 400);
    assert.equal(e.errCode, 'OB.Upgrade.UnableToRollingUpgrade');
    const check = await env.other.request('POST', '/api/v1/ob/upgrade/check', { ...NEXT, mode: 'StopService' });
    assert.equal(check.status, 200, JSON.stringify(check.json));
  });

  it('a relative, unsafe or traversing upgradeDir is Common.InvalidPath', async () => {
    for (const dir of ['data/upgrade', '/data/up grade', '/data/$(id)', '/data/../../etc', '/..']) {
      const e = errorOf(await upgrade({ ...NEXT, mode: 'rolling', upgradeDir: dir }));
      assert.equal(e.errCode, 'Common.InvalidPath', dir);
      assert.equal(e.status, 400);
      assert.ok(e.message.startsWith(`Path '${dir}' is not valid: `), e.message);
    }
  });

  it('the same or an older version is OB.Upgrade.ToLowerVersion', async () => {
    for (const v of [CURRENT, { version: '4.2.0.0', release: '100000102023010101.el7' }]) {
      const e = errorOf(await upgrade({ ...v, mode: 'rolling' }));
      assert.equal(e.errCode, 'OB.Upgrade.ToLowerVersion', v.version);
      assert.match(
        e.message,
        new RegExp(`^Target version ${v.version.replace(/\./g, '\\.')}-\\d+ is not greater than current version 4\\.2\\.1\\.0-`),
      );
    }
  });

  it('a malformed release is Package.ReleaseFormat.Invalid; missing fields are Common.IllegalArgument', async () => {
    assert.equal(
      errorOf(await upgrade({ version: NEXT.version, release: '101000062023110109', mode: 'rolling' })).errCode,
      'Package.ReleaseFormat.Invalid',
    );
    const e = errorOf(await upgrade({ release: NEXT.release, mode: 'rolling' }));
    assert.equal(e.errCode, 'Common.IllegalArgument');
    assert.match(e.message, /'version'/);
    assert.equal(errorOf(await upgrade({ ...NEXT, mode: 'rolling', freeze_server: 'yes' })).errCode, 'Common.IllegalArgument');
  });

  it('a missing package (target release or a hop of the route) is OB.Package.NotExist', async () => {
    const wrongRelease = errorOf(await upgrade({ version: NEXT.version, release: '999.el7', mode: 'rolling' }));
    assert.equal(wrongRelease.errCode, 'OB.Package.NotExist');
    assert.equal(wrongRelease.message, "These packages are missing: 'oceanbase-4.2.1.1-999.el7.x86_64.rpm'");
    const otherDist = errorOf(
      await upgrade({ version: LATEST.version, release: LATEST.release.replace('el7', 'el8'), mode: 'rolling' }),
    );
    assert.equal(otherDist.errCode, 'OB.Package.NotExist');
    // 4.3.0.0 is reached through barrier 4.2.6.0, whose package was never uploaded.
    const hop = errorOf(await upgrade({ ...UNREACHABLE, mode: 'rolling' }));
    assert.equal(hop.errCode, 'OB.Package.NotExist');
    assert.match(hop.message, /oceanbase-4\.2\.6\.0-\*\.el7\.x86_64\.rpm/);
    assert.doesNotMatch(
      hop.message,
      new RegExp(BARRIER.version.replace(/\./g, '\\.')),
      'the barrier with a package is not reported',
    );
  });

  it('messages follow Accept-Language (zh*)', async () => {
    const res = await env.client.send(
      'POST',
      '/api/v1/ob/upgrade',
      await env.client.encrypt('/api/v1/ob/upgrade', { ...NEXT, mode: 'hot' }),
    );
    assert.equal(errorOf(res).message, "Upgrade mode 'HOT' is not supported");
    const enc = await env.client.encrypt('/api/v1/ob/upgrade', { ...NEXT, mode: 'hot' });
    const zh = await fetch(`${env.baseUrl}/api/v1/ob/upgrade`, {
      method: 'POST',
      headers: { 'X-OCS-Header': enc.header, 'Content-Type': 'application/json', 'Accept-Language': 'zh-CN,zh;q=0.9,en;q=0.8' },
      body: enc.body,
    });
    const body = (await zh.json()) as Json;
    assert.equal(body.error.errCode, 'OB.Upgrade.Mode.NotSupported');
    assert.equal(body.error.message, "不支持的升级模式 'HOT'");
  });

  it('a cluster already under maintenance is OB.Cluster.UnderMaintenanceWithDag naming the DAG', async () => {
    await env.t.call('POST', '/v1/projects/acme/targets/ob-1/faults', { step: 'install', kind: 'fail', times: 1 });
    const first = await startUpgrade(env.client, NEXT, 'rolling');
    await waitDag(env.client, first.id, ['FAILED']);
    const e = errorOf(await upgrade({ ...LATEST, mode: 'rolling' }));
    assert.equal(e.status, 409);
    assert.equal(e.errCode, 'OB.Cluster.UnderMaintenanceWithDag');
    assert.equal(e.message, `OceanBase cluster is under maintenance by DAG: ${first.id}, please try again later`);
    // Another cluster of the same project is not affected.
    const other = await env.other.request('POST', '/api/v1/ob/upgrade', { ...NEXT, mode: 'stopservice' });
    assert.equal(other.status, 200, JSON.stringify(other.json));
  });

  it('an unavailable observer is OB.Server.Unavailable', async () => {
    // ob-2's upgrade above was started; wait for it, then crash a node of ob-2 through a failed step.
    const list = ((await env.other.request('GET', '/api/v1/task/dag/ob/unfinish')).json as Json).data.contents as Json[];
    for (const d of list) await waitDag(env.other, d.id, ['SUCCEED', 'FAILED']);
    await env.t.call('POST', '/v1/projects/acme/targets/ob-2/faults', { node: 'ob-2-z1', step: 'stop', kind: 'crash', times: 1 });
    const d = await env.other.request('POST', '/api/v1/ob/upgrade', { ...LATEST, mode: 'stopservice' });
    assert.equal(d.status, 200, JSON.stringify(d.json));
    const failed = await waitDag(env.other, (d.json as Json).data.id, ['FAILED']);
    assert.equal(failed.state, 'FAILED');
    // a rollback reverses completed steps only, so the node the failed stop crashed stays down (a
    // cancel would start it again)
    const rollback = await env.other.request('POST', `/api/v1/task/dag/${failed.id}`, { operator: 'rollback' });
    assert.equal(rollback.status, 200, JSON.stringify(rollback.json));
    await waitDag(env.other, failed.id, ['SUCCEED']);
    const e = errorOf(await env.other.request('POST', '/api/v1/ob/upgrade', { ...LATEST, mode: 'stopservice' }));
    assert.equal(e.errCode, 'OB.Server.Unavailable');
    assert.match(e.message, /ob-2-z1/);
  });
});
