// The wave planner: counts and percentages, rounding, "100%" as the rest, coverage, thresholds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planBatch, resolveAmount } from '../../src/domain/batch-plan.ts';
import { isAppError } from '../../src/domain/errors.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `t${String(i).padStart(5, '0')}`);

test('the issue example over 10,000 targets: 1, 10% (1,000), the rest; concurrency of each wave', () => {
  const plan = planBatch(
    ids(10_000),
    [
      { name: 'canary', targets: 1 },
      { name: 'early', targets: '10%', maxConcurrency: '50%', bakeMinutes: 30, approval: true },
      { name: 'rest', targets: '100%', maxConcurrency: 25, bakeMinutes: 0 },
    ],
    '5%',
  );
  assert.deepEqual(
    plan.waves.map((w) => [w.name, w.targetIds.length, w.maxConcurrency, w.bakeSeconds, w.approval]),
    [
      ['canary', 1, 1, 0, false],
      ['early', 1000, 500, 1800, true],
      ['rest', 8999, 25, 0, false],
    ],
  );
  assert.equal(plan.failureLimit, 500);
  assert.equal(plan.waves[0].targetIds[0], 't00000');
  assert.equal(plan.waves[1].targetIds[0], 't00001', 'waves take targets in order, none twice');
  assert.equal(new Set(plan.waves.flatMap((w) => w.targetIds)).size, 10_000);
});

test('rounding up, fractions of a minute, defaults', () => {
  assert.equal(resolveAmount('10%', 7, 'x'), 1);
  assert.equal(resolveAmount('50%', 3, 'x'), 2);
  assert.equal(resolveAmount('12.5%', 8, 'x'), 1);
  assert.equal(resolveAmount(3, 100, 'x'), 3);
  const plan = planBatch(ids(3), [{ name: 'all', targets: '100%', bakeMinutes: 0.5 }]);
  assert.equal(plan.waves[0].maxConcurrency, 1, 'maxConcurrency defaults to 1');
  assert.equal(plan.waves[0].bakeSeconds, 30);
  assert.equal(plan.failureLimit, 1, 'no threshold: the first failure halts');
});

test('plans that cannot be run as written are refused, saying what to change', () => {
  const refused = (fn: () => unknown, words: RegExp) =>
    assert.throws(fn, (e) => isAppError(e) && e.code === 'VALIDATION_FAILED' && words.test(e.message));
  refused(() => planBatch(ids(10), [{ name: 'a', targets: 3 }]), /cover 3 of the 10 targets; make the last wave "100%"/);
  refused(
    () =>
      planBatch(ids(2), [
        { name: 'a', targets: '100%' },
        { name: 'b', targets: 1 },
      ]),
    /waves\[1\] \(b\) gets no target/,
  );
  refused(() => planBatch(ids(2), [{ name: 'a', targets: '0%' }]), /percentage/);
  refused(
    () =>
      planBatch(ids(2), [
        { name: 'a', targets: 1 },
        { name: 'a', targets: '100%' },
      ]),
    /unique/,
  );
  refused(() => planBatch(ids(2), []), /at least one wave/);
});
