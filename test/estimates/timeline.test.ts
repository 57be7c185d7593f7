// The estimate's timeline, against hand-computed expectations: trimmed means, parallel lanes,
// running steps, a window that closes mid-upgrade, and the fallbacks when there is no history.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Stage, Step, Target } from '../../src/domain/types.ts';
import { DEFAULT_STEP_SECONDS, DurationModel, trimmedMean } from '../../src/estimates/duration-model.ts';
import { estimateUpgrade, walkPlan, type PlannedUpgrade } from '../../src/estimates/upgrade-estimate.ts';
import type { Store } from '../../src/store/open.ts';

const target: Target = {
  projectId: 'p',
  id: 't',
  name: 't',
  kind: 'cluster',
  engine: 'es',
  version: '1',
  release: 'r1',
  region: 'r',
  driver: 'sim',
  driverConfig: {},
  maintenanceWindow: null,
  nodes: [
    { name: 'n1', role: 'leader', zone: 'a', version: '1', health: 'healthy' },
    { name: 'n2', role: 'follower', zone: 'b', version: '1', health: 'healthy' },
  ],
  createdAt: '',
  updatedAt: '',
} as unknown as Target;

/** A model whose samples are given in memory (the store is never read). */
function model(samples: [string, string, string, number[]][], nominal: Record<string, number> = {}): DurationModel {
  const m = new DurationModel({} as Store, (_d, a) => nominal[a]);
  for (const [engine, action, role, values] of samples) {
    for (const v of values) m.addSample(engine, action, role, v);
  }
  return m;
}

let seq = 0;
const step = (
  stageIndex: number,
  lane: string,
  action: string,
  node: string | null,
  state = 'pending',
  startedAt: string | null = null,
) => ({ id: `s${seq}`, stageIndex, lane, ord: seq, seq: seq++, action, node, state, startedAt }) as unknown as Step;
const stage = (index: number, steps: Step[]) => ({ index, state: 'pending', steps }) as unknown as Stage & { steps: Step[] };

test('trimmed mean drops the outer fifth on each side', () => {
  assert.equal(trimmedMean([10, 10, 10, 10, 1000]), 10);
  assert.equal(trimmedMean([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]), 5.5);
});

test('stages add up, parallel lanes take the longest, roles are told apart', () => {
  const m = model([
    ['es', 'install', 'follower', [10, 10, 10]],
    ['es', 'install', 'leader', [30]],
    ['es', 'backup', '*', [5]],
  ]);
  const u: PlannedUpgrade = {
    state: 'running',
    notBefore: null,
    stages: [
      stage(0, [step(0, '*', 'backup', null)]),
      // two lanes in parallel: 10 s on the follower, 30 s on the leader
      stage(1, [step(1, 'n2', 'install', 'n2'), step(1, 'n1', 'install', 'n1')]),
      stage(2, [step(2, 'n2', 'install', 'n2')]),
    ],
  };
  const t0 = new Date('2026-01-01T00:00:00Z');
  const tl = walkPlan(m, u, target, t0, t0, null);
  assert.equal(tl.end.getTime() - t0.getTime(), (5 + 30 + 10) * 1000);
  assert.equal(tl.sources.learned, 4);
});

test('a running step counts what is left of it; done steps count nothing', () => {
  const m = model([['es', 'install', 'follower', [100]]]);
  const now = new Date('2026-01-01T00:01:00Z');
  const u: PlannedUpgrade = {
    state: 'running',
    notBefore: null,
    stages: [
      stage(0, [step(0, 'n2', 'install', 'n2', 'succeeded')]),
      stage(1, [step(1, 'n2', 'install', 'n2', 'running', '2026-01-01T00:00:20Z')]),
    ],
  };
  const e = estimateUpgrade(m, u, target, now, null);
  assert.equal(e?.remainingSeconds, 60); // 100 s step, 40 s elapsed
  assert.equal(e?.completesAt, '2026-01-01T00:02:00.000Z');
});

test('no new step starts while the window is closed: the rest moves to the next window', () => {
  const m = model([['es', 'install', 'follower', [10]]]);
  // open for the first 25 s of every hour
  const gate = (t: Date) => {
    const ms = t.getTime() % 3_600_000;
    return ms < 25_000 ? t : new Date(t.getTime() - ms + 3_600_000);
  };
  const u: PlannedUpgrade = {
    state: 'running',
    notBefore: null,
    stages: [0, 1, 2, 3].map((i) => stage(i, [step(i, 'n2', 'install', 'n2')])),
  };
  const t0 = new Date('2026-01-01T00:00:00Z');
  const e = estimateUpgrade(m, u, target, t0, gate);
  // steps at 0, 10, 20 (starts inside, ends at 30), then 01:00:00 -> 01:00:10
  assert.equal(e?.remainingSeconds, 3610);
  assert.match(e?.basis ?? '', /waiting for maintenance windows/);
});

test('a scheduled upgrade waits for its time; without history the nominal, then the default durations are used', () => {
  const m = model([], { install: 7 });
  const now = new Date('2026-01-01T00:00:00Z');
  const u: PlannedUpgrade = {
    state: 'scheduled',
    notBefore: '2026-01-01T01:00:00.000Z',
    stages: [stage(0, [step(0, 'n2', 'install', 'n2'), step(0, 'n2', 'drain', 'n2')])],
  };
  const e = estimateUpgrade(m, u, target, now, null);
  assert.equal(e?.remainingSeconds, 3600 + 7 + DEFAULT_STEP_SECONDS);
  assert.match(e?.basis ?? '', /nominal/);
  assert.match(e?.basis ?? '', /default/);
  assert.match(e?.basis ?? '', /waits until/);
  assert.equal(estimateUpgrade(m, { ...u, state: 'paused' as never }, target, now, null), null);
});

test('learned for the action on another role beats the nominal duration', () => {
  const m = model([['es', 'install', 'follower', [12]]], { install: 99 });
  const g = m.guess({ engine: 'es', action: 'install', role: 'leader' }, 'sim');
  assert.deepEqual(g, { seconds: 12, source: 'learned_any_role', samples: 1 });
});
