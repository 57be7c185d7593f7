// The timeline `liftgate upgrade watch` draws on a terminal, and the change lines it prints in a
// pipe: pure functions over an upgrade as the API returns it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Paint, plain } from '../../src/cli/output.ts';
import { changes, renderTimeline, type WatchedUpgrade } from '../../src/cli/timeline.ts';
import type { StepState } from '../../src/domain/types.ts';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const step = (name: string, node: string | null, state: StepState, from?: number, to?: number) => ({
  name,
  node,
  state,
  startedAt: from === undefined ? null : at(from),
  endedAt: to === undefined ? null : at(to),
  error: null,
});

function upgrade(): WatchedUpgrade {
  return {
    id: '1a2b3c4d-0000-4000-8000-000000000000',
    targetId: 'es-1',
    fromVersion: '7.10.2',
    toVersion: '7.10.3',
    mode: 'rolling',
    state: 'running',
    error: null,
    currentStage: 2,
    stageCount: 4,
    startedAt: at(0),
    endedAt: null,
    stages: [
      { name: 'Precheck', state: 'succeeded', steps: [step('Pre-upgrade check', null, 'succeeded', 0, 10)] },
      {
        name: 'Upgrade es-1-2',
        state: 'succeeded',
        steps: [step('Drain', 'es-1-2', 'succeeded', 10, 20), step('Install', 'es-1-2', 'succeeded', 20, 40)],
      },
      {
        name: 'Upgrade es-1-1',
        state: 'running',
        steps: [step('Drain', 'es-1-1', 'succeeded', 40, 50), step('Install', 'es-1-1', 'running', 50)],
      },
      { name: 'Finalize', state: 'pending', steps: [step('Finalize', null, 'pending')] },
    ],
  };
}

test('one row per node on a shared time axis, with the current step, elapsed time and estimate', () => {
  const u = { ...upgrade(), estimate: { completesAt: at(120), remainingSeconds: 40, basis: 'p50 of 12 finished upgrades' } };
  const lines = renderTimeline(u, T0 + 80_000, new Paint(false), 100);
  assert.match(lines[0], /^upgrade 1a2b3c4d {2}es-1 {2}7\.10\.2 -> 7\.10\.3 {2}rolling {2}running {2}elapsed 1m20s$/);
  assert.match(lines[1], /^estimate: completes .+ \(40s left; p50 of 12 finished upgrades\)$/);
  assert.equal(lines[2], 'stage 3/4: Upgrade es-1-1');
  const rows = lines.slice(3);
  assert.equal(rows.length, 3);
  const [target, n2, n1] = rows;
  assert.match(target, /^ {2}\(target\) +\S+ +1\/2 +waiting$/);
  assert.match(n2, /^ {2}es-1-2 +\S+ +2\/2 +done$/);
  assert.match(n1, /^ {2}es-1-1 +\S+ +1\/2 +Install running 30s$/);
  // the bars share one axis: es-1-2 worked in the second eighth to the half, es-1-1 after it
  const bar = (row: string) => row.trim().split(/\s+/)[1];
  const b2 = bar(n2);
  const b1 = bar(n1);
  assert.equal(b2.length, b1.length);
  assert.ok(b2.indexOf('█') > 0 && b2.lastIndexOf('█') <= b1.indexOf('█'), `${b2} before ${b1}`);
  assert.ok(b1.endsWith('▓'), `the running step reaches now: ${b1}`);
  assert.ok(b2.endsWith('·'), `es-1-2 is idle now: ${b2}`);
  for (const l of lines) assert.ok(l.length <= 100);
});

test('colour only when asked, and the same text underneath', () => {
  const coloured = renderTimeline(upgrade(), T0 + 80_000, new Paint(true), 100);
  const bare = renderTimeline(upgrade(), T0 + 80_000, new Paint(false), 100);
  assert.ok(coloured.some((l) => l.includes('\x1b[')));
  assert.ok(bare.every((l) => !l.includes('\x1b[')));
  assert.deepEqual(coloured.map(plain), bare);
});

test('narrow terminals: lines are cut, never wrapped', () => {
  for (const l of renderTimeline(upgrade(), T0 + 80_000, new Paint(true), 40)) assert.ok(plain(l).length <= 40, l);
});

test('change lines: the upgrade state and each step that moved, once; an ended upgrade after its last step', () => {
  const before = upgrade();
  const after = upgrade();
  after.stages[2].steps[1] = { ...after.stages[2].steps[1], state: 'failed', endedAt: at(90), error: 'disk full' };
  after.state = 'failed';
  // each line starts with the time of day and its zone
  const unstamped = (l: string) => l.replace(/^\d\d:\d\d:\d\d \S+ /, '');
  const lines = changes(before, after, new Paint(false)).map(unstamped);
  assert.deepEqual(lines, ['es-1-1: Install failed: disk full', 'upgrade 1a2b3c4d failed']);
  assert.deepEqual(changes(after, after, new Paint(false)), []);
  // the first look tells everything that has happened so far
  const first = changes(null, before, new Paint(false)).map(unstamped);
  assert.equal(first[0], 'upgrade 1a2b3c4d running');
  assert.equal(first.length, 1 + 5);
  // an upgrade with a short reference is named by it
  assert.equal(unstamped(changes(null, { ...before, ref: 'up-12' }, new Paint(false))[0]), 'upgrade up-12 running');
});
