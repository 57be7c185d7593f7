// Bad input on every native route: a 4xx with a stable code and a message saying what to fix,
// never a 500, and nothing half-written.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, seedSim, startApp, type TestApp } from '../helpers/harness.ts';

forEachDialect('native API input', (dialect) => {
  let t: TestApp;
  let upgradeId: string;
  before(async () => {
    t = await startApp(dialect);
    await seedSim(t, { target: 'es-1' });
    await t.call('POST', '/v1/projects/acme/targets/es-1/faults', { step: 'drain', kind: 'fail' });
    upgradeId = (await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'es-1', toVersion: '7.10.3' })).json.id;
  });
  after(async () => t.close());

  const U = () => `/v1/projects/acme/upgrades/${upgradeId}`;
  const cases: [string, string, () => string, unknown, number, string, RegExp?][] = [
    ['no token', 'GET', () => '/v1/projects', undefined, 401, 'UNAUTHORIZED'],
    ['project: missing id', 'POST', () => '/v1/projects', { name: 'x' }, 400, 'VALIDATION_FAILED', /id/],
    ['project: bad id', 'POST', () => '/v1/projects', { id: 'no spaces allowed' }, 400, 'VALIDATION_FAILED', /id/],
    [
      'project: unknown field',
      'POST',
      () => '/v1/projects',
      { id: 'x1', nmae: 'typo' },
      400,
      'VALIDATION_FAILED',
      /remove "nmae"/,
    ],
    ['project: duplicate', 'POST', () => '/v1/projects', { id: 'acme' }, 409, 'PROJECT_EXISTS'],
    ['project: not found', 'GET', () => '/v1/projects/nope', undefined, 404, 'PROJECT_NOT_FOUND'],
    ['catalog: bad version', 'POST', () => '/v1/catalog/elasticsearch/versions', { version: '../etc' }, 400, 'VALIDATION_FAILED'],
    ['catalog: bad engine', 'POST', () => '/v1/catalog/Bad Engine/versions', { version: '1.0' }, 400, 'VALIDATION_FAILED'],
    ['catalog: duplicate', 'POST', () => '/v1/catalog/elasticsearch/versions', { version: '7.10.3' }, 409, 'VERSION_EXISTS'],
    [
      'catalog: wrong type',
      'POST',
      () => '/v1/catalog/elasticsearch/versions',
      { version: '9.0', priority: 'high' },
      400,
      'VALIDATION_FAILED',
      /priority/,
    ],
    [
      'target: bad kind',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 't9', kind: 'vm', engine: 'e', version: '1.0' },
      400,
      'VALIDATION_FAILED',
      /kind/,
    ],
    [
      'target: unknown driver',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 't9', kind: 'cluster', engine: 'e', version: '1.0', driver: 'nosuch' },
      400,
      'DRIVER_NOT_FOUND',
    ],
    [
      'target: duplicate node',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 't9', kind: 'cluster', engine: 'e', version: '1.0', nodes: [{ name: 'a' }, { name: 'a' }] },
      400,
      'VALIDATION_FAILED',
      /twice/,
    ],
    [
      'target: bad window',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 't9', kind: 'cluster', engine: 'e', version: '1.0', maintenanceWindow: { start: '25:00', end: '01:00' } },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'target: empty window',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 't9', kind: 'cluster', engine: 'e', version: '1.0', maintenanceWindow: { start: '01:00', end: '01:00' } },
      400,
      'INVALID_WINDOW',
    ],
    [
      'target: duplicate',
      'POST',
      () => '/v1/projects/acme/targets',
      { id: 'es-1', kind: 'cluster', engine: 'e', version: '1.0' },
      409,
      'TARGET_EXISTS',
    ],
    [
      'target: in unknown project',
      'POST',
      () => '/v1/projects/nope/targets',
      { id: 't9', kind: 'cluster', engine: 'e', version: '1.0' },
      404,
      'PROJECT_NOT_FOUND',
    ],
    ['target: not found', 'GET', () => '/v1/projects/acme/targets/nope', undefined, 404, 'TARGET_NOT_FOUND'],
    ['target: empty patch', 'PATCH', () => '/v1/projects/acme/targets/es-1', {}, 400, 'VALIDATION_FAILED'],
    ['target: delete while upgrading', 'DELETE', () => '/v1/projects/acme/targets/es-1', undefined, 409, 'TARGET_HAS_UPGRADES'],
    ['targets: bad limit', 'GET', () => '/v1/projects/acme/targets?limit=0', undefined, 400, 'VALIDATION_FAILED', /limit/],
    [
      'fault: bad kind',
      'POST',
      () => '/v1/projects/acme/targets/es-1/faults',
      { step: 'start', kind: 'explode' },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'fault: unknown node',
      'POST',
      () => '/v1/projects/acme/targets/es-1/faults',
      { node: 'zz', step: 'start', kind: 'fail' },
      404,
      'NODE_NOT_FOUND',
    ],
    [
      'precheck: unknown version',
      'POST',
      () => '/v1/projects/acme/targets/es-1/prechecks',
      { toVersion: '9.9.9' },
      404,
      'VERSION_NOT_FOUND',
    ],
    [
      'precheck: report not found',
      'GET',
      () => '/v1/projects/acme/prechecks/0123456789abcdef0123456789abcdef',
      undefined,
      404,
      'PRECHECK_NOT_FOUND',
    ],
    ['precheck: bad report id', 'GET', () => '/v1/projects/acme/prechecks/xyz', undefined, 400, 'VALIDATION_FAILED'],
    [
      'upgrade: missing target',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { toVersion: '7.10.3' },
      400,
      'VALIDATION_FAILED',
      /targetId/,
    ],
    [
      'upgrade: bad mode',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', mode: 'yolo' },
      400,
      'VALIDATION_FAILED',
      /mode/,
    ],
    [
      'upgrade: timeout of an unknown action',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { timeouts: { verfiy: 600 } } },
      400,
      'VALIDATION_FAILED',
      /verfiy/,
    ],
    [
      'upgrade: timeout of zero seconds',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { timeouts: { verify: 0 } } },
      400,
      'VALIDATION_FAILED',
      /verify/,
    ],
    [
      'upgrade: timeout over a day',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { timeouts: { install: 86401 } } },
      400,
      'VALIDATION_FAILED',
      /install/,
    ],
    [
      'upgrade: timeout not an integer',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { timeouts: { verify: '10m' } } },
      400,
      'VALIDATION_FAILED',
      /verify/,
    ],
    [
      'upgrade: timeouts not an object',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { timeouts: 600 } },
      400,
      'VALIDATION_FAILED',
      /timeouts/,
    ],
    [
      'upgrade: unknown failure policy',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.10.3', options: { onFailure: 'retry' } },
      400,
      'VALIDATION_FAILED',
      /onFailure/,
    ],
    [
      'upgrade: unknown target',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'nope', toVersion: '7.10.3' },
      404,
      'TARGET_NOT_FOUND',
    ],
    [
      'upgrade: busy target',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-1', toVersion: '7.11.0' },
      409,
      'TARGET_BUSY',
    ],
    [
      'upgrade: downgrade',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '7.9.3' },
      400,
      'UPGRADE_DOWNGRADE',
    ],
    [
      'upgrade: same version',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '7.10.2' },
      400,
      'UPGRADE_SAME_VERSION',
    ],
    [
      'upgrade: unknown version',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '8.0.0' },
      404,
      'VERSION_NOT_FOUND',
    ],
    [
      'upgrade: window without one',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '7.10.3', schedule: { kind: 'window' } },
      400,
      'INVALID_SCHEDULE',
    ],
    [
      'upgrade: past time',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '7.10.3', schedule: { kind: 'at', at: '2001-01-01T00:00:00Z' } },
      400,
      'INVALID_SCHEDULE',
    ],
    [
      'upgrade: bad time',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', toVersion: '7.10.3', schedule: { kind: 'at', at: 'tomorrow' } },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'upgrade: az without zone',
      'POST',
      () => '/v1/projects/acme/upgrades',
      { targetId: 'es-2', mode: 'az_migration' },
      400,
      'INVALID_MODE',
    ],
    ['upgrades: bad state filter', 'GET', () => '/v1/projects/acme/upgrades?state=RUNNING!', undefined, 400, 'VALIDATION_FAILED'],
    ['upgrade: bad id', 'GET', () => '/v1/projects/acme/upgrades/123', undefined, 400, 'VALIDATION_FAILED'],
    [
      'upgrade: not found',
      'GET',
      () => '/v1/projects/acme/upgrades/00000000-0000-4000-8000-000000000000',
      undefined,
      404,
      'UPGRADE_NOT_FOUND',
    ],
    ['action: unknown', 'POST', () => `${U()}/actions`, { action: 'explode' }, 400, 'VALIDATION_FAILED', /action/],
    [
      'action: wrong state',
      'POST',
      () => `${U()}/actions`,
      { action: 'resume' },
      409,
      'INVALID_STATE',
      /allowed when it is paused/,
    ],
    ['events: bad after', 'GET', () => '/v1/projects/acme/events?after=-1', undefined, 400, 'VALIDATION_FAILED'],
    ['no such route', 'GET', () => '/v1/nothing-here', undefined, 404, 'ROUTE_NOT_FOUND'],
  ];

  test('every case answers its 4xx and code', async () => {
    await seedSim(t, { target: 'es-2' });
    const { until } = await import('../helpers/harness.ts');
    await until(async () => (await t.call('GET', U())).json.state === 'failed', 'upgrade failed');
    for (const [name, method, url, body, status, code, msg] of cases) {
      const res =
        name === 'no token'
          ? await t.app.inject({ method: 'GET', url: url() }).then((r) => ({ status: r.statusCode, body: r.body }))
          : await t.call(method, url(), body);
      const json = JSON.parse(res.body);
      assert.equal(res.status, status, `${name}: ${res.body}`);
      assert.equal(json.error.code, code, `${name}: ${res.body}`);
      assert.ok(json.error.message.length > 5, name);
      if (msg) assert.match(json.error.message, msg, name);
    }
  });

  test('malformed JSON and wrong content type are 4xx', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      payload: '{"id":',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(JSON.parse(bad.body).error.code, 'BAD_REQUEST');
    const type = await t.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/xml' },
      payload: '<id>x</id>',
    });
    assert.equal(type.statusCode, 415);
    assert.equal(JSON.parse(type.body).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a refused request writes nothing', async () => {
    const before = await t.ctx.store.db.selectFrom('upgrades').select('id').execute();
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'es-2', toVersion: '7.9.3' });
    assert.equal(res.status, 400);
    assert.equal((await t.ctx.store.db.selectFrom('upgrades').select('id').execute()).length, before.length);
    const t2 = await t.call('POST', '/v1/projects/acme/targets', {
      id: 'half',
      kind: 'cluster',
      engine: 'e',
      version: '1.0',
      nodes: [{ name: 'a' }, { name: 'a' }],
    });
    assert.equal(t2.status, 400);
    assert.equal((await t.call('GET', '/v1/projects/acme/targets/half')).status, 404);
  });

  test('a project token reaches only its project; others look missing', async () => {
    await t.call('POST', '/v1/projects', { id: 'other' });
    const tok = (await t.call('POST', '/v1/projects/other/tokens', {})).json.token;
    const mine = await t.app.inject({
      method: 'GET',
      url: '/v1/projects/other/targets',
      headers: { authorization: `Bearer ${tok}` },
    });
    assert.equal(mine.statusCode, 200);
    const theirs = await t.app.inject({
      method: 'GET',
      url: '/v1/projects/acme/targets',
      headers: { authorization: `Bearer ${tok}` },
    });
    assert.equal(theirs.statusCode, 404);
    assert.equal(JSON.parse(theirs.body).error.code, 'PROJECT_NOT_FOUND');
    const admin = await t.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { authorization: `Bearer ${tok}` },
      payload: { id: 'x2' },
    });
    assert.equal(admin.statusCode, 403);
    const list = JSON.parse(
      (await t.app.inject({ method: 'GET', url: '/v1/projects', headers: { authorization: `Bearer ${tok}` } })).body,
    );
    assert.deepEqual(
      list.items.map((p: any) => p.id),
      ['other'],
    );
  });
});
