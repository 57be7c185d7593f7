// Analysis checks against a real Prometheus (Debian's /usr/bin/prometheus, on a port and a data
// folder of its own) scraping this Liftgate's /metrics/targets (with the metrics token) on a real
// port every second: a `regress`
// fault armed on the canary's upgrade raises its liftgate_target_sli gauge, the check's query sees
// it during the bake, the batch halts naming the check, the value and the bound, and the canary's
// upgrade (onFailure rollback) is rolled back. A query with no sample fails the targets
// (onError fail); a Prometheus that is down pauses the batch with the reason (onError pause).
// The store is SQLite: the PostgreSQL path of the same scheduler is covered by analysis.test.ts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { until } from '../helpers/harness.ts';
import { freePort } from '../helpers/servers.ts';
import { P, events, fleetEnv, type FleetEnv } from './helpers.ts';

interface Prom {
  url: string;
  stop(): Promise<void>;
}

const METRICS_TOKEN = 'prometheus-scrape-token-of-this-test';

/** Starts Prometheus scraping 127.0.0.1:<scrapePort>/metrics/targets every second; ready when it answers. */
async function startPrometheus(scrapePort: number): Promise<Prom> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: liftgate',
      '    metrics_path: /metrics/targets',
      '    authorization:',
      `      credentials: ${METRICS_TOKEN}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${scrapePort}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      return (await fetch(`${url}/-/ready`).catch(() => null))?.ok === true;
    }, 'Prometheus ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

/** The value Prometheus holds now for one target's SLI (null when it has none yet). */
async function promValue(prom: Prom, target: string, sli: string): Promise<number | null> {
  const q = encodeURIComponent(`liftgate_target_sli{project="${P}",target="${target}",sli="${sli}"}`);
  const res = (await (await fetch(`${prom.url}/api/v1/query?query=${q}`)).json()) as any;
  const r = res.data?.result?.[0];
  return r ? Number(r.value[1]) : null;
}

let env: FleetEnv;
let prom: Prom | undefined;
before(async () => {
  env = await fleetEnv('sqlite', { start: '2026-12-01T10:00:00Z', metricsToken: METRICS_TOKEN });
  await env.t.app.listen({ port: 0, host: '127.0.0.1' });
  prom = await startPrometheus((env.t.app.server.address() as AddressInfo).port);
});
after(async () => {
  try {
    await prom?.stop();
  } finally {
    await env.close();
  }
});

const create = async (body: Record<string, unknown>) => {
  const res = await env.call('POST', `/v1/projects/${P}/batches`, { toVersion: '7.10.3', mode: 'rolling', ...body });
  assert.equal(res.status, 201, res.body);
  return res.json;
};
const upgradeOf = async (batchId: string, target: string) =>
  ((await env.call('GET', `/v1/projects/${P}/batches/${batchId}/upgrades?limit=500`)).json.items as any[]).find(
    (u) => u.targetId === target,
  );
const errorRate = (url: string, extra: Record<string, unknown> = {}) => ({
  name: 'error rate',
  prometheus: { url, query: `liftgate_target_sli{project="${P}",sli="rollback_rate"}`, max: 0.01 },
  ...extra,
});

test('the canary regresses after its upgrade: Prometheus sees it, the batch halts, the canary is rolled back', async () => {
  const p = prom as Prom;
  await env.addTarget('p-canary');
  await env.addTarget('p-rest');
  const fault = await env.call('POST', `/v1/projects/${P}/targets/p-canary/faults`, {
    step: 'verify',
    kind: 'regress',
    sli: 'rollback_rate',
    value: 0.05,
  });
  assert.equal(fault.status, 201, fault.body);
  const b = await create({
    name: 'prometheus regress',
    targetIds: ['p-canary', 'p-rest'],
    waves: [
      { name: 'canary', targets: 1, bakeMinutes: 10, analysis: [errorRate(p.url)] },
      { name: 'rest', targets: '100%' },
    ],
    upgradeOptions: { onFailure: 'rollback' },
  });
  await env.waitBatch(b.id, ['baking']);
  // Prometheus scrapes the regressed gauge (the test's clock does not move meanwhile)
  await until(async () => (await promValue(p, 'p-canary', 'rollback_rate')) === 0.05, 'Prometheus sees the regression');
  assert.equal(await promValue(p, 'p-rest', 'rollback_rate'), 0, 'the other target, outside the wave, is fine');
  await env.advance(10_000);
  const halted = await env.waitBatch(b.id, ['halted']);
  assert.equal(halted.pendingReason, 'halted: analysis "error rate": 0.05 > max 0.01; 1 of 1 allowed failures');
  assert.equal(halted.waves[0].state, 'failed');
  assert.equal(halted.waves[0].analysis[0].outcome, 'fail');
  assert.equal(halted.waves[0].analysis[0].lastValue, 0.05);
  const canary = await env.waitUpgrade((await upgradeOf(b.id, 'p-canary')).id, ['rolled_back']);
  assert.equal(canary.state, 'rolled_back');
  assert.equal((await upgradeOf(b.id, 'p-rest')).state, 'scheduled', 'the next wave never started');
  const failed = (await events(env)).filter((e) => e.type === 'batch.analysis_failed' && e.data.batchId === b.id);
  assert.deepEqual(
    failed.map((e) => [e.data.check, e.data.value, e.data.bound, e.data.targets]),
    [['error rate', 0.05, 0.01, ['p-canary']]],
  );
  // the rollback took the regression back: Prometheus sees the canary healthy again
  await until(async () => (await promValue(p, 'p-canary', 'rollback_rate')) === 0, 'the canary back to 0 after its rollback');
});

test('a query that returns no sample cannot be evaluated: onError fail fails the targets it judges', async () => {
  const p = prom as Prom;
  await env.addTarget('p-none');
  const b = await create({
    name: 'no samples',
    targetIds: ['p-none'],
    waves: [
      {
        name: 'only',
        targets: 1,
        bakeMinutes: 5,
        analysis: [
          {
            name: 'missing metric',
            prometheus: { url: p.url, query: 'liftgate_metric_nobody_exports', max: 1 },
            onError: 'fail',
            intervalSeconds: 60,
          },
        ],
      },
    ],
  });
  await env.waitBatch(b.id, ['baking']);
  await env.advance(60_000);
  const halted = await env.waitBatch(b.id, ['halted']);
  assert.equal(
    halted.pendingReason,
    'halted: analysis "missing metric" could not be evaluated: the query returned no samples; 1 of 1 allowed failures',
  );
  assert.equal(halted.waves[0].analysis[0].outcome, 'error');
  assert.equal((await upgradeOf(b.id, 'p-none')).state, 'succeeded', 'onFailure stop: nothing is rolled back');
});

test('Prometheus down: onError pause pauses the batch with the reason; a resume samples again', async () => {
  const p = prom as Prom;
  await env.addTarget('p-down');
  const b = await create({
    name: 'prometheus down',
    targetIds: ['p-down'],
    waves: [{ name: 'only', targets: 1, bakeMinutes: 5, analysis: [errorRate(p.url)] }],
  });
  await env.waitBatch(b.id, ['baking']);
  await p.stop();
  prom = undefined;
  await env.advance(10_000);
  const paused = await env.waitBatch(b.id, ['paused']);
  assert.match(
    paused.pendingReason,
    /^paused: analysis "error rate" could not be evaluated: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\); resume the batch to sample again$/,
  );
  assert.equal(paused.waves[0].state, 'paused');
  assert.equal(paused.waves[0].analysis[0].outcome, 'error');
  assert.equal(paused.failures, 0, 'a check that cannot be evaluated fails nobody with onError pause');
  const resumed = await env.call('POST', `/v1/projects/${P}/batches/${b.id}/actions`, { action: 'resume' });
  assert.equal(resumed.status, 200, resumed.body);
  assert.equal(resumed.json.state, 'baking');
  // still down: the next sample pauses it again, it never passes silently
  await env.advance(10_000);
  await env.waitBatch(b.id, ['paused']);
});
