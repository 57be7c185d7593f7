// The state core's transition table is the whole truth about state changes:
//  - no file outside src/engine/core/ writes the upgrades, stages, steps, batches or batch_waves
//    tables;
//  - upgrades run through every operator action, failures (one retried by itself), a timeout, a
//    takeover (recovery) and rollbacks on both stores record only transitions the table lists,
//    each with its event;
//  - docs/architecture.md shows the table exactly as the module renders it.
// Step timeouts are read on a ManualClock the test moves, so a hung step times out only when the
// test says so (after the pause and resume, after the takeover), not while they are on their way.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { RULES, renderTable } from '../../src/engine/core/table.ts';
import { forEachDialect, seedSim, startApp, until, upgradeCalls, type TestApp } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const STATE_TABLES = '(upgrades|stages|steps|batches|batch_waves)';
const WRITES = [
  new RegExp(`(updateTable|insertInto|deleteFrom)\\(\\s*['"\`]${STATE_TABLES}['"\`]`),
  new RegExp(`\\b(UPDATE|INSERT\\s+INTO|DELETE\\s+FROM)\\s+${STATE_TABLES}\\b`, 'i'),
];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') || p.endsWith('.tsx') ? [p] : [];
  });
}

test('only src/engine/core/ writes the upgrades, stages, steps, batches and batch_waves tables', () => {
  const offenders: string[] = [];
  let coreWrites = 0;
  for (const file of sources('src')) {
    const text = fs.readFileSync(file, 'utf8');
    const inCore = file.startsWith(path.join('src', 'engine', 'core') + path.sep);
    // migrations create and reshape the tables; they are not state changes
    if (file === path.join('src', 'store', 'migrations.ts')) continue;
    text.split('\n').forEach((line, i) => {
      if (!WRITES.some((re) => re.test(line))) return;
      if (inCore) coreWrites++;
      else offenders.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offenders, []);
  assert.ok(coreWrites >= 5, 'the scan finds the core’s own writes (it is not vacuous)');
  // ...including those of batches and waves
  const batchCore = fs.readFileSync(path.join('src', 'engine', 'core', 'batches.ts'), 'utf8');
  for (const table of ['batches', 'batch_waves']) {
    assert.ok(
      WRITES.some((re) => re.test(`updateTable('${table}')`)) && batchCore.includes(`updateTable('${table}')`),
      `the scan sees writes of ${table}`,
    );
  }
});

test('docs/architecture.md shows the transition table as the module renders it', () => {
  const doc = fs.readFileSync('docs/architecture.md', 'utf8');
  const m = /<!-- transition-table:start -->([\s\S]*?)<!-- transition-table:end -->/.exec(doc);
  assert.ok(m, 'docs/architecture.md has the transition-table markers');
  // cells compared without the alignment padding a formatter adds
  const cells = (md: string) =>
    md
      .trim()
      .split('\n')
      .map((l) =>
        l
          .split('|')
          .map((c) => c.trim().replace(/^-+$/, '---'))
          .join('|'),
      );
  assert.deepEqual(cells(m[1]), cells(renderTable()), 'regenerate with: node --import tsx scripts/transition-table.ts');
});

forEachDialect('transition table', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    t = await startApp(dialect, { clock, executor: { pollMs: 20, leaseMs: 3000 } });
  });
  after(async () => t.close());

  const { start, get, waitState, fault, ...calls } = upgradeCalls(() => t);
  const act = async (id: string, action: string, extra: Record<string, unknown> = {}) => {
    const res = await calls.act(id, action, extra);
    assert.equal(res.status, 200, `${action}: ${res.body}`);
  };
  const running = (id: string, action: string) =>
    until(
      async () =>
        (await get(id)).stages.flatMap((s: any) => s.steps).find((s: any) => s.action === action && s.state === 'running'),
      `${action} running`,
    );

  test('every transition of every path is in the table, with its event', async () => {
    // success
    await seedSim(t, { target: 'ok' });
    await waitState(await start('ok'), 'succeeded');

    // a transient failure retried by itself (no backoff: the clock need not move)
    await seedSim(t, { target: 'again' });
    await fault('again', { node: 'again-2', step: 'verify', kind: 'fail', transient: true });
    await waitState(await start('again', { options: { retry: { backoffSeconds: 0 } } }), 'succeeded');

    // pause and resume while a step hangs; it times out (per-action timeout); retry
    await seedSim(t, { target: 'pause' });
    await fault('pause', { node: 'pause-2', step: 'install', kind: 'hang' });
    const p = await start('pause', { options: { timeouts: { install: 1 } } });
    await running(p, 'install');
    await act(p, 'pause');
    await act(p, 'resume');
    clock.advance(1_000);
    await waitState(p, 'failed');
    await act(p, 'retry');
    await waitState(p, 'succeeded');

    // a failure skipped; a failure cancelled
    await seedSim(t, { target: 'skip' });
    await fault('skip', { node: 'skip-2', step: 'rejoin', kind: 'fail' });
    const s = await start('skip');
    await waitState(s, 'failed');
    await act(s, 'skip');
    await waitState(s, 'succeeded');
    await seedSim(t, { target: 'cancel' });
    await fault('cancel', { node: 'cancel-2', step: 'install', kind: 'fail' });
    const c = await start('cancel');
    await waitState(c, 'failed');
    // its restore fails once (the upgrade fails), and a cancel again brings the node back
    await fault('cancel', { node: 'cancel-2', step: 'restore', kind: 'fail' });
    await act(c, 'cancel');
    await waitState(c, 'failed');
    assert.equal((await get(c)).errorCode, 'RESTORE_FAILED');
    await act(c, 'cancel');
    await waitState(c, 'cancelled');
    // a cancel stops a running step (its holder is fenced out) and restores the node
    await seedSim(t, { target: 'stopped' });
    await fault('stopped', { node: 'stopped-2', step: 'start', kind: 'hang' });
    const sc = await start('stopped');
    await running(sc, 'start');
    await act(sc, 'cancel');
    await waitState(sc, 'cancelled');

    // scheduled: rescheduled, then cancelled before it started
    await seedSim(t, { target: 'later' });
    const later = await start('later', { schedule: { kind: 'at', at: '2099-01-01T00:00:00Z' } });
    await act(later, 'reschedule', { schedule: { kind: 'at', at: '2098-01-01T00:00:00Z' } });
    await act(later, 'cancel');

    // rollback by an operator; rollback by the onFailure policy
    await seedSim(t, { target: 'rb' });
    await fault('rb', { node: 'rb-3', step: 'verify', kind: 'crash' });
    const rb = await start('rb');
    await waitState(rb, 'failed');
    // the first reversal of install fails (the upgrade fails again); the second request completes it
    await fault('rb', { node: 'rb-2', step: 'install', kind: 'rollback_fail' });
    await act(rb, 'rollback');
    await waitState(rb, 'failed');
    assert.equal((await get(rb)).errorCode, 'ROLLBACK_FAILED');
    await act(rb, 'rollback');
    await waitState(rb, 'rolled_back');
    await seedSim(t, { target: 'auto' });
    await fault('auto', { node: 'auto-3', step: 'start', kind: 'fail' });
    await waitState(await start('auto', { options: { onFailure: 'rollback' } }), 'rolled_back');

    // blue/green: one rollback window ended by a finalize, another rolled back from its window
    await seedSim(t, { target: 'bg' });
    const bg = await start('bg', { mode: 'blue_green', options: { retentionSeconds: 3600 } });
    await running(bg, 'rollback_window');
    await act(bg, 'finalize');
    await waitState(bg, 'succeeded');
    await seedSim(t, { target: 'bgrb' });
    const bgrb = await start('bgrb', { mode: 'blue_green', options: { retentionSeconds: 3600 } });
    await running(bgrb, 'rollback_window');
    await act(bgrb, 'rollback');
    await waitState(bgrb, 'rolled_back');

    // takeover: this executor is declared lost while a step hangs; recovery re-queues the step
    // (the holder rejoins under a new id and its late outcome is fenced off)
    await seedSim(t, { target: 'lost' });
    await fault('lost', { node: 'lost-2', step: 'drain', kind: 'hang' });
    const lost = await start('lost', { options: { timeouts: { drain: 2 } } });
    const drain = await running(lost, 'drain');
    await t.ctx.store.db.updateTable('executors').set({ state: 'lost' }).where('id', '=', t.ctx.executor.owner).execute();
    t.ctx.executor.recoverNow();
    await waitState(lost, 'succeeded');
    // the old holder's hung drain times out now; what it would record is refused
    clock.advance(2_000);
    await until(async () => {
      const calls = await simDb(t.ctx.store.db)
        .selectFrom('sim_invocations')
        .select('outcome')
        .where('step_id', '=', drain.id)
        .execute();
      return calls.length >= 2 && calls.every((c) => c.outcome !== null);
    }, 'the old holder’s call to end');
    assert.equal((await get(lost)).state, 'succeeded');

    const check = await checkEventsAgainstTable(t.ctx.store.db);
    assert.deepEqual(check.violations, []);
    assert.ok(check.checked > 100, `${check.checked} transitions checked`);
    // the rules these paths reach; the rest are reached by the tests named beside them
    const elsewhere: Record<string, string> = {
      'upgrade.promote': 'test/fleet/windows.test.ts',
      'upgrade.release': 'test/fleet/batches.test.ts',
      'upgrade.hold': 'test/fleet/batches.test.ts',
      'upgrade.window_close': 'test/fleet/windows.test.ts',
      'upgrade.window_open': 'test/fleet/windows.test.ts',
      'step.reverse_again': 'test/engine/recovery-limit.test.ts',
      'upgrade.revert': 'test/fleet/analysis.test.ts',
      'upgrade.analysis_pause': 'test/engine/upgrade-analysis.test.ts',
      'step.bake_pause': 'test/engine/upgrade-analysis.test.ts',
    };
    // batch and wave rules: test/fleet/batches.test.ts checks its events against the table the same way
    const missing = Object.entries(RULES)
      .filter(([entity]) => entity !== 'batch' && entity !== 'wave')
      .flatMap(([entity, rules]) => Object.keys(rules).map((name) => `${entity}.${name}`))
      .filter((r) => !check.seen.has(r) && elsewhere[r] === undefined);
    assert.deepEqual(missing, []);
    // an event for every claim: the live stream always says what runs now
    const claims = await t.ctx.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('type', 'in', ['step.started', 'step.rolling_back'])
      .executeTakeFirstOrThrow();
    const attempts = await t.ctx.store.db
      .selectFrom('steps')
      .select((eb) => eb.fn.sum<number>('attempts').as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(claims.n), Number(attempts.n));
  });
});
