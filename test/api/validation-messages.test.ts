// A request body with several mistakes is answered once, naming every one of them, and a value
// outside a list names the allowed values once. Sent with plain fetch to a listening server (not
// the project's helpers), as any client sees it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { UPGRADE_MODES } from '../../src/domain/types.ts';
import { ADMIN_TOKEN, forEachDialect, seedSim, startApp, type TestApp } from '../helpers/harness.ts';

forEachDialect('validation messages', (dialect) => {
  let t: TestApp;
  let base: string;
  before(async () => {
    t = await startApp(dialect);
    await seedSim(t, { target: 'es-1' });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => t?.close());

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as { error: { code: string; message: string; details: any } } };
  };

  test('three mistakes in one body: one 400 that names all three', async () => {
    const res = await post('/v1/projects/acme/upgrades', {
      targetId: 'not an id!',
      mode: 'fast',
      toVersoin: '7.10.3',
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'VALIDATION_FAILED');
    const m = res.json.error.message;
    assert.match(m, /body\/targetId must match pattern/);
    assert.match(m, new RegExp(`body/mode must be one of ${UPGRADE_MODES.join(', ')}`));
    assert.match(m, /body must NOT have additional properties \(remove "toVersoin"\)/);
    assert.deepEqual(res.json.error.details.errors.map((e: { path: string }) => e.path).sort(), [
      'body',
      'body/mode',
      'body/targetId',
    ]);
  });

  test('a value outside a list names the allowed values, once', async () => {
    const res = await post('/v1/projects/acme/upgrades', { targetId: 'es-1', toVersion: '7.10.3', mode: 'fast' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.message, `body/mode must be one of ${UPGRADE_MODES.join(', ')}`);
    assert.doesNotMatch(res.json.error.message, /equal to constant/);
    assert.equal(res.json.error.details.errors.length, 1);
    // of the wrong type too (a number where a mode goes)
    const typed = await post('/v1/projects/acme/upgrades', { targetId: 'es-1', toVersion: '7.10.3', mode: 3 });
    assert.equal(typed.json.error.message, `body/mode must be one of ${UPGRADE_MODES.join(', ')}`);
    // nested: a fault's kind, and a batch action
    const fault = await post('/v1/projects/acme/targets/es-1/faults', { step: 'drain', kind: 'explode' });
    assert.equal(fault.json.error.message, 'body/kind must be one of fail, hang, crash, health_timeout, rollback_fail, regress');
  });

  test('a missing field and a wrong type in a nested object are both named', async () => {
    const res = await post('/v1/projects/acme/targets', {
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      nodes: [{ name: 'n1', role: 7 }],
    });
    assert.equal(res.status, 400);
    assert.match(res.json.error.message, /body must have required property 'id'/);
    assert.match(res.json.error.message, /body\/nodes\/0\/role must be string/);
  });

  test('a union of forms answers with the problems of the form the value is closest to', async () => {
    const patch = async (body: unknown) => {
      const res = await fetch(`${base}/v1/projects/acme/targets/es-1`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 400);
      return ((await res.json()) as { error: { message: string } }).error.message;
    };
    assert.equal(
      await patch({ maintenanceWindow: { days: ['someday'], start: '02:00', durationMinutes: 60, timeZone: 'UTC' } }),
      'body/maintenanceWindow/days/0 must be one of mon, tue, wed, thu, fri, sat, sun',
    );
    assert.equal(
      await patch({ maintenanceWindow: { start: '25:00', end: '01:00' } }),
      'body/maintenanceWindow/start must match pattern "^([01]\\d|2[0-3]):[0-5]\\d$"',
    );
    assert.equal(await patch({ maintenanceWindow: 7 }), 'body/maintenanceWindow must be object or null');
  });
});
