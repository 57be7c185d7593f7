// A precheck's phase estimate and the live estimate of an upgrade read the same durations: on a
// sim fleet whose steps run at LIFTGATE_SIM_TIME_SCALE, the precheck's stop / backup / upgrade
// seconds are the steps' scaled durations too, not the nominal minutes of an unscaled fleet (a
// precheck once said 4m30s for an upgrade whose live estimate, rightly, said 40 s).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SIM_DURATIONS } from '../../src/drivers/sim/sim-driver.ts';
import { startApp, type TestApp } from '../helpers/harness.ts';

const SCALE = 0.01;
let t: TestApp;

before(async () => {
  t = await startApp('sqlite', { simTimeScale: SCALE });
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await t.call(method, url, body);
    assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${r.body}`);
    return r.json;
  };
  await ok('POST', '/v1/catalog/elasticsearch/versions', { version: '7.10.2' });
  await ok('POST', '/v1/catalog/elasticsearch/versions', { version: '7.10.3' });
  await ok('POST', '/v1/projects', { id: 'p', name: 'P' });
  await ok('POST', '/v1/projects/p/targets', {
    id: 'es',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.10.2',
    nodes: [1, 2, 3].map((i) => ({ name: `n${i}`, role: 'data', zone: `z${i}` })),
  });
});

after(() => t?.close());

test('a sim precheck estimates each phase at the time scale its steps run at', async () => {
  const r = await t.call('POST', '/v1/projects/p/targets/es/prechecks', { toVersion: '7.10.3', wait: true });
  assert.ok(r.status < 300, r.body);
  const report = r.json.state === 'running' ? null : r.json;
  const est = (report ?? (await t.call('GET', `/v1/projects/p/prechecks/${r.json.id}`)).json).estimate;
  const scaled = (s: number) => Math.round(s * SCALE * 10) / 10;
  assert.deepEqual(est, {
    stopInstanceSeconds: scaled(SIM_DURATIONS.stop * 3),
    backupDataSeconds: scaled(SIM_DURATIONS.backup),
    upgradeInstanceSeconds: scaled(SIM_DURATIONS.install * 3),
  });
  // the nominal durations the live estimate starts from are the same scaled ones
  const driver = t.ctx.drivers.get('sim') as { nominalSeconds(a: string): number };
  assert.equal(driver.nominalSeconds('backup'), SIM_DURATIONS.backup * SCALE);
});
