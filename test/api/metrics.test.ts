// /metrics as an operator's Prometheus sees it: counts that agree with the API, histograms of
// finished steps, failures by code, SSE clients, and the scrape token setting.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

/** the value of one series, or null when it is not exported */
function series(body: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of body.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return null;
}

/** the sum of every series of a name whose labels include these */
function total(body: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

forEachDialect('metrics', (dialect) => {
  let t: TestApp;
  const scrape = async () => (await t.app.inject({ url: '/metrics' })).body;
  const finish = (id: string, state: string) =>
    until(async () => (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json.state === state, `upgrade ${state}`);

  before(async () => {
    t = await startApp(dialect);
  });
  after(async () => t.close());

  test('upgrades by state, step durations and claim lag that agree with the API, failures by code', async () => {
    await seedSim(t, { target: 'ok-1' });
    await seedSim(t, { target: 'bad-1' });
    const ok = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'ok-1', toVersion: '7.10.3' });
    await finish(ok.json.id, 'succeeded');
    const fault = await t.call('POST', '/v1/projects/acme/targets/bad-1/faults', { step: 'drain', kind: 'fail' });
    assert.equal(fault.status, 201, fault.body);
    const bad = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'bad-1', toVersion: '7.10.3' });
    await finish(bad.json.id, 'failed');

    const steps = async (id: string) =>
      ((await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json.stages as { steps: { state: string }[] }[]).flatMap(
        (s) => s.steps,
      );
    const succeeded = [...(await steps(ok.json.id)), ...(await steps(bad.json.id))].filter((s) => s.state === 'succeeded').length;
    // finished work is counted once its events have settled (a second): poll, do not sleep
    const body = await until(async () => {
      const b = await scrape();
      return series(b, 'liftgate_upgrade_failures_total', { engine: 'elasticsearch', code: 'SIM_FAULT' }) === 1 &&
        total(b, 'liftgate_step_duration_seconds_count', { engine: 'elasticsearch', outcome: 'succeeded' }) === succeeded
        ? b
        : null;
    }, 'metrics of both upgrades');
    assert.equal(series(body, 'liftgate_upgrades', { state: 'succeeded' }), 1);
    assert.equal(series(body, 'liftgate_upgrades', { state: 'failed' }), 1);
    assert.equal(
      series(body, 'liftgate_step_failures_total', { engine: 'elasticsearch', action: 'drain', code: 'SIM_FAULT' }),
      1,
    );
    assert.equal(series(body, 'liftgate_upgrades_finished_total', { engine: 'elasticsearch', state: 'succeeded' }), 1);
    assert.equal(series(body, 'liftgate_upgrades_finished_total', { engine: 'elasticsearch', state: 'failed' }), 1);
    // every precheck, drain, ... has a histogram of its own; each finished step is in exactly one
    assert.ok((series(body, 'liftgate_step_duration_seconds_count', { action: 'drain', outcome: 'succeeded' }) ?? 0) >= 2);
    assert.equal(
      series(body, 'liftgate_step_duration_seconds_bucket', {
        engine: 'elasticsearch',
        action: 'finalize',
        outcome: 'succeeded',
        le: '+Inf',
      }),
      1,
    );
    // every step claimed once has a claim lag
    assert.equal(total(body, 'liftgate_step_claim_lag_seconds_count'), succeeded + 1);
    assert.equal(series(body, 'liftgate_steps_running'), 0);
    assert.equal(series(body, 'liftgate_executor_inflight_steps'), 0);
    assert.equal(series(body, 'liftgate_executor_oldest_runnable_seconds'), 0);
    assert.match(body, /^# TYPE liftgate_switchover_outage_seconds histogram$/m);
    assert.match(body, /^# TYPE liftgate_batches gauge$/m);

    // the next scrape counts nothing twice
    const again = await scrape();
    assert.equal(
      total(again, 'liftgate_step_duration_seconds_count', { engine: 'elasticsearch', outcome: 'succeeded' }),
      succeeded,
    );
  });

  test('SSE clients are counted while their stream is open', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    const base = series(await scrape(), 'liftgate_sse_clients') ?? 0;
    const req = http.get({
      host: '127.0.0.1',
      port,
      path: '/v1/projects/acme/events',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'text/event-stream' },
    });
    req.on('error', () => undefined);
    await until(async () => series(await scrape(), 'liftgate_sse_clients') === base + 1, 'one SSE client');
    req.destroy();
    await until(async () => series(await scrape(), 'liftgate_sse_clients') === base, 'no SSE client');
  });
});

test('with LIFTGATE_METRICS_TOKEN set, /metrics needs that bearer token', async () => {
  const t = await startApp('sqlite', { metricsToken: 'scrape-secret' });
  try {
    const none = await t.app.inject({ url: '/metrics' });
    assert.equal(none.statusCode, 401);
    assert.equal(JSON.parse(none.body).error.code, 'UNAUTHORIZED');
    const wrong = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(wrong.statusCode, 401);
    const right = await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-secret' } });
    assert.equal(right.statusCode, 200);
    assert.match(right.body, /^liftgate_upgrades|^# HELP liftgate_upgrades /m);
  } finally {
    await t.close();
  }
});

test('per-target series stay out of /metrics: /metrics/targets serves them to the metrics token or an admin', async () => {
  const t = await startApp('sqlite', { metricsToken: 'scrape-secret' });
  try {
    await seedSim(t, { target: 'tenant-named-target' });
    const scrape = await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-secret' } });
    assert.equal(scrape.statusCode, 200);
    assert.doesNotMatch(scrape.body, /tenant-named-target|liftgate_target_sli/);
    const series = /^liftgate_target_sli\{project="acme",target="tenant-named-target",sli="replication_lag_seconds"\} /m;
    const read = (authorization?: string) =>
      t.app.inject({ url: '/metrics/targets', headers: authorization ? { authorization } : {} });
    assert.equal((await read()).statusCode, 401);
    assert.equal((await read('Bearer forged')).statusCode, 401);
    const project = await t.call('POST', '/v1/projects/acme/tokens', { name: 'viewer', role: 'viewer' });
    assert.equal(project.status, 201, project.body);
    const refused = await read(`Bearer ${project.json.token}`);
    assert.equal(refused.statusCode, 403);
    assert.equal(JSON.parse(refused.body).error.code, 'FORBIDDEN');
    for (const token of ['scrape-secret', ADMIN_TOKEN]) {
      const right = await read(`Bearer ${token}`);
      assert.equal(right.statusCode, 200);
      assert.match(right.body, series);
    }
  } finally {
    await t.close();
  }
});

test('the Grafana dashboard in docs/ queries only metrics that /metrics exports', async () => {
  const dashboard = JSON.parse(fs.readFileSync('docs/grafana-dashboard.json', 'utf8')) as {
    panels: { type: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  assert.ok(exprs.length >= 15, `${exprs.length} queries`);
  const names = new Set(
    exprs.flatMap((e) => e.match(/liftgate_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')),
  );
  const t = await startApp('sqlite');
  try {
    const body = (await t.app.inject({ url: '/metrics' })).body;
    for (const name of names) assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
  } finally {
    await t.close();
  }
});
