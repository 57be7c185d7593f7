import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryReplayGuard, ReplayGuardFullError } from '../../src/auth/replay-guard.ts';

describe('InMemoryReplayGuard', () => {
  test('a key is claimable once until it expires, then again', async () => {
    let now = 1_000;
    const guard = new InMemoryReplayGuard({ now: () => now });
    assert.equal(await guard.claim('a', 2_000), true);
    assert.equal(await guard.claim('a', 2_000), false);
    assert.equal(await guard.claim('b', 2_000), true);
    now = 2_000;
    assert.equal(await guard.claim('a', 3_000), true);
  });

  test('expired keys are pruned, so memory stays bounded by live keys', async () => {
    let now = 0;
    const guard = new InMemoryReplayGuard({ now: () => now, maxEntries: 10 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) assert.equal(await guard.claim(`r${round}-${i}`, now + 100 + i), true);
      now += 200;
    }
    assert.ok(guard.size <= 10);
  });

  test('a full guard fails closed instead of evicting live keys', async () => {
    const guard = new InMemoryReplayGuard({ now: () => 0, maxEntries: 2 });
    await guard.claim('x', 10);
    await guard.claim('y', 10);
    await assert.rejects(guard.claim('z', 10), ReplayGuardFullError);
    assert.equal(await guard.claim('x', 10), false);
  });

  test('an already-expired claim succeeds without taking a slot', async () => {
    const guard = new InMemoryReplayGuard({ now: () => 100, maxEntries: 1 });
    assert.equal(await guard.claim('old', 50), true);
    assert.equal(guard.size, 0);
  });
});
