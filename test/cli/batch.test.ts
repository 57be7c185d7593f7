// `liftgate batch ...` as an operator runs it: the compiled CLI in child processes against a real
// `liftgate serve` process (SQLite store, simulated fleet at time scale 0). A batch in waves is
// started, read, held at its approval gate, paused and resumed there, approved and watched to its
// end; a batch that halts on a failed target is retried to success; a waiting batch is cancelled.
// Every answer is read from --json output (the API's own shapes) and the documented exit codes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildCli, runCli } from '../helpers/cli.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, SERVER_TOKEN, startServer, type Server } from '../helpers/servers.ts';

let store: StoreConfig;
let server: Server;
let build: Awaited<ReturnType<typeof buildCli>>;

before(async () => {
  build = await buildCli();
  store = await freshStore('sqlite');
  server = await startServer(store);
  await server.waitUp();
  const ok = (r: { status: number; json: any }) => assert.ok(r.status < 300, JSON.stringify(r.json));
  ok(await server.api('POST', '/v1/projects', { id: 'ops', name: 'ops' }));
  for (const v of ['7.10.2', '7.10.3']) {
    ok(await server.api('POST', '/v1/catalog/elasticsearch/versions', { version: v, release: `r${v}`, priority: 1 }));
  }
  for (const t of ['es-1', 'es-2', 'es-3', 'es-4', 'es-5', 'es-6', 'es-7', 'es-8', 'es-9']) {
    ok(
      await server.api('POST', '/v1/projects/ops/targets', {
        id: t,
        kind: 'cluster',
        engine: 'elasticsearch',
        version: '7.10.2',
        driver: 'sim',
        labels: { group: Number(t.slice(3)) <= 4 ? 'a' : Number(t.slice(3)) <= 6 ? 'b' : 'c' },
        nodes: [
          { name: `${t}-1`, role: 'leader', zone: 'az1' },
          { name: `${t}-2`, role: 'follower', zone: 'az2' },
        ],
      }),
    );
  }
});
after(async () => {
  killAll([server]);
  await server.ended();
  await store.cleanup();
  build.cleanup();
});

const cli = (...args: string[]) =>
  runCli(build.main, ['--url', `http://127.0.0.1:${server.port}`, '--token', SERVER_TOKEN, '--project', 'ops', ...args]);
const json = async (...args: string[]) => {
  const r = await cli(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const statusOf = (ref: string) => json('batch', 'status', ref);
const waitFor = (ref: string, state: string) =>
  until(async () => {
    const b = await statusOf(ref);
    return b.state === state && b;
  }, `batch ${ref} ${state}`);
/** `batch watch --json`: one JSON record per line, each different from the one before */
const records = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

test('start, status, pause and resume at an approval gate, approve, watch until done', async () => {
  const started = await json(
    'batch',
    'start',
    'es 7.10.3',
    '--to',
    '7.10.3',
    '--engine',
    'elasticsearch',
    '--label',
    'group=a',
    '--wave',
    'name=canary,targets=1',
    '--wave',
    'name=rest,targets=100%,maxConcurrency=2,approval',
  );
  assert.equal(started.name, 'es 7.10.3');
  assert.equal(started.targets, 4);
  assert.deepEqual(started.toVersions, ['7.10.3']);
  assert.deepEqual(
    started.waves.map((w: any) => [w.name, w.targets, w.maxConcurrency, w.approval]),
    [
      ['canary', 1, 1, false],
      ['rest', 3, 2, true],
    ],
  );

  // a name (or an id prefix) names the batch
  const gated = await waitFor('es 7.10.3', 'awaiting_approval');
  assert.equal(gated.id, started.id);
  assert.equal(gated.pendingReason, 'awaiting approval of wave rest');
  assert.deepEqual(gated.waves[0].counts, { succeeded: 1 });
  assert.deepEqual(gated.waves[1].counts, { scheduled: 3 });
  assert.equal((await statusOf(started.id.slice(0, 8))).id, started.id);

  const table = await cli('batch', 'status', 'es 7.10.3');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^state:\s+awaiting_approval \(awaiting approval of wave rest\)$/m);
  assert.match(table.stdout, /^\s+canary\s+succeeded\s+1\s+1\s+-\s+-\s+1 succeeded$/m);
  assert.match(table.stdout, /^>\s+rest\s+awaiting_approval\s+3\s+2\s+-\s+yes\s+3 scheduled$/m);

  const paused = await json('batch', 'pause', 'es 7.10.3');
  assert.equal(paused.state, 'paused');
  assert.equal(paused.pendingReason, 'paused by an operator (was awaiting_approval)');
  // a paused batch cannot be approved: exit 1 with the server's code
  const refused = await cli('batch', 'approve', 'es 7.10.3', '--json');
  assert.equal(refused.code, 1);
  assert.equal(JSON.parse(refused.stderr).error.code, 'INVALID_STATE');
  const resumed = await json('batch', 'resume', 'es 7.10.3');
  assert.equal(resumed.state, 'awaiting_approval');

  const approved = await json('batch', 'approve', 'es 7.10.3');
  assert.ok(['running', 'succeeded'].includes(approved.state), approved.state);
  assert.match(approved.waves[1].approvedBy, /admin/);

  const watched = await cli('batch', 'watch', 'es 7.10.3', '--json');
  assert.equal(watched.code, 0, watched.stderr);
  const recs = records(watched.stdout);
  const last = recs[recs.length - 1];
  assert.equal(last.state, 'succeeded');
  assert.deepEqual(
    last.waves.map((w: any) => [w.name, w.state, w.counts]),
    [
      ['canary', 'succeeded', { succeeded: 1 }],
      ['rest', 'succeeded', { succeeded: 3 }],
    ],
  );
  for (let i = 1; i < recs.length; i++) assert.notDeepEqual(recs[i], recs[i - 1], 'a record is printed only when it changed');
  const targets = await json('targets', 'list', '--label', 'group=a');
  assert.deepEqual(
    targets.items.map((t: any) => t.version),
    ['7.10.3', '7.10.3', '7.10.3', '7.10.3'],
  );
});

test('a failed target halts the batch (watch exits 6); retry runs it again to success', async () => {
  const fault = await cli('faults', 'add', 'es-6', '--step', 'install', '--node', 'es-6-2', '--kind', 'fail');
  assert.equal(fault.code, 0, fault.stderr);
  const started = await cli(
    'batch',
    'start',
    'group b',
    '--to',
    '7.10.3',
    '--target',
    'es-5',
    '--target',
    'es-6',
    '--wave',
    'name=all,targets=100%,maxConcurrency=2',
    '--watch',
    '--json',
  );
  assert.equal(started.code, 6, `a halted batch is not a success: ${started.stderr}`);
  const halted = records(started.stdout).at(-1);
  assert.equal(halted.state, 'halted');
  assert.equal(halted.pendingReason, 'halted: 1 of 1 allowed failures');
  assert.equal(halted.failures, 1);

  const retried = await json('batch', 'retry', 'group b');
  assert.ok(['running', 'succeeded'].includes(retried.state), retried.state);
  const watched = await cli('batch', 'watch', 'group b', '--json');
  assert.equal(watched.code, 0, watched.stderr);
  const done = records(watched.stdout).at(-1);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.failures, 0);
  assert.deepEqual(done.waves[0].counts, { succeeded: 2 });
});

test('cancel: every unfinished upgrade is cancelled, the targets are free, watch exits 6', async () => {
  const started = await json(
    'batch',
    'start',
    'group c',
    '--to',
    '7.10.3',
    '--label',
    'group=c',
    '--wave',
    'name=canary,targets=1',
    '--wave',
    'name=rest,targets=100%,approval',
  );
  await waitFor('group c', 'awaiting_approval');
  // cancelling is never silent off a terminal: it needs --yes
  const refused = await cli('batch', 'cancel', 'group c');
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /refusing to cancel batch group c \(.+, awaiting_approval, 3 targets\) without confirmation\nhint: add --yes/,
  );
  assert.equal((await statusOf('group c')).state, 'awaiting_approval');
  const cancelled = await json('batch', 'cancel', started.id, '--yes');
  assert.equal(cancelled.state, 'cancelled');
  // it waited for the end: none of the upgrades had a node out of service
  assert.ok(cancelled.endedAt);
  assert.deepEqual(cancelled.restores, []);
  const watched = await cli('batch', 'watch', 'group c', '--json');
  assert.equal(watched.code, 6);
  assert.equal(records(watched.stdout).at(-1).state, 'cancelled');
  const ups = (await server.api('GET', `/v1/projects/ops/batches/${started.id}/upgrades`)).json.items as any[];
  assert.deepEqual(ups.map((u) => u.state).sort(), ['cancelled', 'cancelled', 'succeeded']);

  const list = await json('batch', 'list');
  assert.deepEqual(
    list.items.map((b: any) => [b.name, b.state]),
    [
      ['group c', 'cancelled'],
      ['group b', 'succeeded'],
      ['es 7.10.3', 'succeeded'],
    ],
  );
  // an unknown batch: exit 5
  const missing = await cli('batch', 'status', 'nope', '--json');
  assert.equal(missing.code, 5, missing.stderr);
});

test('a batch halted by faults, then cancelled: every node serves again, and the output says what was done per node', async () => {
  for (const t of ['hx-1', 'hx-2']) {
    const r = await server.api('POST', '/v1/projects/ops/targets', {
      id: t,
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      driver: 'sim',
      labels: { group: 'halt' },
      nodes: [
        { name: `${t}-1`, role: 'leader', zone: 'az1' },
        { name: `${t}-2`, role: 'follower', zone: 'az2' },
      ],
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  // hx-1-2 is left stopped (its install fails), hx-2-2 stopped on the new version (its start fails)
  for (const [t, step] of [
    ['hx-1', 'install'],
    ['hx-2', 'start'],
  ]) {
    const f = await server.api('POST', `/v1/projects/ops/targets/${t}/faults`, { node: `${t}-2`, step, kind: 'fail' });
    assert.equal(f.status, 201, JSON.stringify(f.json));
  }
  await json(
    'batch',
    'start',
    'halting',
    '--to',
    '7.10.3',
    '--label',
    'group=halt',
    '--wave',
    'name=all,targets=100%,maxConcurrency=2',
    '--failure-threshold',
    '2',
  );
  await waitFor('halting', 'halted');
  const down = (await server.api('GET', '/v1/projects/ops/targets/hx-1')).json.nodes.find((n: any) => n.name === 'hx-1-2');
  assert.equal(down.health, 'stopped');
  const r = await cli('batch', 'cancel', 'halting', '--yes');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^batch \S+ cancelled\n/);
  assert.match(r.stdout, /^ {2}hx-1:\n {4}hx-1-2: started on 7\.10\.2; it was stopped$/m);
  assert.match(r.stdout, /^ {2}hx-2:\n {4}hx-2-2: started on 7\.10\.3; it was stopped$/m);
  for (const t of ['hx-1', 'hx-2']) {
    const nodes = (await server.api('GET', `/v1/projects/ops/targets/${t}`)).json.nodes;
    assert.deepEqual(
      nodes.map((n: any) => [n.name, n.health]),
      [
        [`${t}-1`, 'healthy'],
        [`${t}-2`, 'healthy'],
      ],
    );
  }
  const b = await statusOf('halting');
  assert.ok(b.endedAt);
  const ups = (await server.api('GET', `/v1/projects/ops/batches/${b.id}/upgrades`)).json.items as any[];
  assert.deepEqual(
    ups.map((u) => u.state),
    ['cancelled', 'cancelled'],
  );
});

test('an analysis check fails the canary during its bake: watch exits 6, status shows the check, its value and its reason', async () => {
  const created = await server.api('POST', '/v1/projects/ops/targets', {
    id: 'es-an',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.10.2',
    driver: 'sim',
    nodes: [
      { name: 'es-an-1', role: 'leader', zone: 'az1' },
      { name: 'es-an-2', role: 'follower', zone: 'az2' },
    ],
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const fault = await cli(
    'faults',
    'add',
    'es-an',
    '--step',
    'verify',
    '--kind',
    'regress',
    '--sli',
    'failed_connections',
    '--value',
    '4',
  );
  assert.equal(fault.code, 0, fault.stderr);
  assert.match(fault.stdout, /regress \(failed_connections = 4\) at verify/);
  const file = path.join(store.dataDir, 'analysis-batch.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      name: 'analysed',
      targetIds: ['es-an'],
      toVersion: '7.10.3',
      waves: [
        {
          name: 'canary',
          targets: 1,
          // a bake of a minute (real time) sampled every 0.2 s: the first sample fails it
          bakeMinutes: 1,
          analysis: [{ name: 'refused', sli: 'failed_connections', max: 0, intervalSeconds: 0.2 }],
        },
      ],
    }),
  );
  const started = await cli('batch', 'start', '--file', file, '--watch', '--json');
  assert.equal(started.code, 6, `a halted batch is not a success: ${started.stderr}`);
  assert.equal(records(started.stdout).at(-1).pendingReason, 'halted: analysis "refused": 4 > max 0; 1 of 1 allowed failures');
  const shown = await cli('batch', 'status', 'analysed');
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /^canary\s+refused\s+sli failed_connections\s+<= 0\s+pause\s+fail\s+4\s+analysis "refused": 4 > max 0$/m,
  );
});
