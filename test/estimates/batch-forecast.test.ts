// The batch forecast, pure: waves in order, at most maxConcurrency upgrades at once (each held one
// takes the first slot that frees, a release lag later), bakes, approval gates assumed passed,
// what the released upgrades have left, maintenance windows; no forecast for a paused batch.
// Expected values are worked out by hand from those rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forecastBatch, RELEASE_LAG_SECONDS, type WaveForecastInput } from '../../src/estimates/batch-forecast.ts';

const NOW = new Date('2026-12-01T10:00:00Z');
const LAG = RELEASE_LAG_SECONDS;
const wave = (w: Partial<WaveForecastInput> & { index: number }): WaveForecastInput => ({
  name: `w${w.index}`,
  state: 'scheduled',
  maxConcurrency: 1,
  bakeSeconds: 0,
  approval: false,
  bakeUntil: null,
  held: 0,
  activeRemaining: [],
  upgradeSeconds: 100,
  ...w,
});
const base = { now: NOW, notBefore: null, pricing: 'priced by hand' };

test('slots, a bake and an approval gate: each upgrade waits for the first free slot', () => {
  const f = forecastBatch({
    ...base,
    state: 'scheduled',
    currentWave: null,
    waves: [wave({ index: 0, held: 1, bakeSeconds: 600 }), wave({ index: 1, held: 5, maxConcurrency: 2, approval: true })],
  });
  assert.ok(f);
  // wave 0: released at +LAG, ends 100 s later; the scheduler sees it at +LAG; 600 s of bake
  const w1 = LAG + 100 + LAG + 600;
  // wave 1: two at a time, 5 upgrades: three rounds, each released LAG after its slot frees
  const r1 = w1 + LAG;
  const r2 = r1 + 100 + LAG;
  const r3 = r2 + 100 + LAG;
  assert.deepEqual(
    f.heldStarts.get(1)?.map((ms) => (ms - NOW.getTime()) / 1000),
    [r1, r1, r2, r2, r3],
  );
  assert.equal(f.estimate.remainingSeconds, r3 + 100 + LAG);
  assert.equal(f.estimate.completesAt, new Date(NOW.getTime() + (r3 + 100 + LAG) * 1000).toISOString());
  assert.equal(
    f.estimate.basis,
    '2 wave(s) left; assumes the approval gate is passed when due; includes 10m00s of bakes; counts the waits for concurrency slots; priced by hand',
  );
});

test('a running wave: the released upgrades hold their slots for what they have left', () => {
  const f = forecastBatch({
    ...base,
    state: 'running',
    currentWave: 1,
    waves: [wave({ index: 1, state: 'running', maxConcurrency: 2, held: 1, activeRemaining: [30, 50] })],
  });
  assert.ok(f);
  assert.deepEqual(f.heldStarts.get(1), [NOW.getTime() + (30 + LAG) * 1000]);
  assert.equal(f.estimate.remainingSeconds, 30 + LAG + 100 + LAG);
});

test('a baking wave runs out its bake first; a scheduled batch waits for its start', () => {
  const baking = forecastBatch({
    ...base,
    state: 'baking',
    currentWave: 0,
    waves: [
      wave({ index: 0, state: 'baking', bakeSeconds: 1800, bakeUntil: '2026-12-01T10:05:00Z' }),
      wave({ index: 1, held: 1 }),
    ],
  });
  assert.equal(baking?.estimate.remainingSeconds, 300 + LAG + LAG + 100 + LAG);
  assert.match(baking?.estimate.basis ?? '', /includes 5m00s of bakes/);

  const later = forecastBatch({
    ...base,
    state: 'scheduled',
    notBefore: new Date('2026-12-01T12:00:00Z'),
    currentWave: null,
    waves: [wave({ index: 0, held: 1 })],
  });
  assert.equal(later?.estimate.remainingSeconds, 7200 + LAG + 100 + LAG);
  assert.match(later?.estimate.basis ?? '', /^1 wave\(s\) left; starts at 2026-12-01T12:00:00.000Z \(in 2h00m\)/);
});

test('a window batch: an upgrade is released when its own window opens', () => {
  const opens = Date.parse('2026-12-01T18:00:00Z');
  const f = forecastBatch({
    ...base,
    state: 'running',
    currentWave: 0,
    waves: [wave({ index: 0, state: 'running', held: 1, gates: [(t) => new Date(Math.max(t.getTime(), opens))] })],
  });
  assert.deepEqual(f?.heldStarts.get(0), [opens]);
  assert.equal(f?.estimate.remainingSeconds, 8 * 3600 + 100 + LAG);
  assert.match(f?.estimate.basis ?? '', /includes 7h59m waiting for maintenance windows/);
});

test('no forecast for a paused, halted or ended batch', () => {
  for (const state of ['paused', 'halted', 'succeeded', 'failed', 'cancelled', 'creating']) {
    assert.equal(forecastBatch({ ...base, state, currentWave: 0, waves: [wave({ index: 0, held: 1 })] }), null, state);
  }
});
