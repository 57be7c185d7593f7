// Timeouts per step action (options.timeouts), with options.stepTimeoutSeconds for the actions
// not named, read on the injected clock: the test moves a ManualClock past each deadline instead
// of sleeping. Real stores (both dialects), a real executor, hung simulated steps.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import type { SimDriver } from '../../src/drivers/sim/sim-driver.ts';
import { timeoutOf } from '../../src/engine/core/timeouts.ts';
import { addCatalogVersion } from '../../src/service/catalog.ts';
import { createContext } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { createProject } from '../../src/service/projects.ts';
import { createTarget } from '../../src/service/targets.ts';
import { createUpgrade, getUpgrade } from '../../src/service/upgrades.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';

test('timeoutOf: the action’s own timeout, else stepTimeoutSeconds, else an hour', () => {
  assert.equal(timeoutOf({ timeouts: { verify: 600 }, stepTimeoutSeconds: 60 }, 'verify'), 600);
  assert.equal(timeoutOf({ timeouts: { verify: 600 }, stepTimeoutSeconds: 60 }, 'install'), 60);
  assert.equal(timeoutOf({ timeouts: { verify: 600 } }, 'install'), 3600);
  assert.equal(timeoutOf({}, 'drain'), 3600);
});

forEachDialect('step timeouts', (dialect) => {
  let store: StoreConfig;
  let ctx: AppContext;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    store = await freshStore(dialect);
    // a lease far longer than the test moves the clock, so no recovery interferes
    ctx = await createContext({ ...store.config, simTimeScale: 0, clock, executor: { pollMs: 20, leaseMs: 24 * 3600_000 } });
    await createProject(ctx, { id: 'p' });
    for (const v of ['1.0.0', '1.1.0']) await addCatalogVersion(ctx, 'sim', { version: v });
  });
  after(async () => {
    await ctx.close();
    await store.cleanup();
  });

  const hung = async (id: string, action: string) => {
    const t = await createTarget(
      ctx,
      'p',
      { id, kind: 'cluster', engine: 'sim', version: '1.0.0', nodes: [{ name: `${id}1`, role: 'leader', zone: 'z1' }] },
      't',
    );
    await (ctx.drivers.get('sim') as SimDriver).addFault(t, { step: action, kind: 'hang', times: 1 });
    const options = { timeouts: { verify: 600 }, stepTimeoutSeconds: 60 };
    return (await createUpgrade(ctx, 'p', { targetId: id, toVersion: '1.1.0', mode: 'rolling', options }, 't')).id;
  };
  const stepOf = async (upgradeId: string, action: string) =>
    ctx.store.db
      .selectFrom('steps')
      .selectAll()
      .where('upgrade_id', '=', upgradeId)
      .where('action', '=', action)
      .executeTakeFirstOrThrow();

  test('a step times out when the clock passes its own action’s timeout, others at stepTimeoutSeconds', async () => {
    const v = await hung('v', 'verify'); // timeouts.verify = 600 s
    const d = await hung('d', 'drain'); // not named: stepTimeoutSeconds = 60 s
    await until(async () => (await stepOf(v, 'verify')).state === 'running', 'verify hangs');
    await until(async () => (await stepOf(d, 'drain')).state === 'running', 'drain hangs');

    clock.advance(61_000);
    await until(async () => (await getUpgrade(ctx, 'p', d)).state === 'failed', 'drain times out');
    const drained = await getUpgrade(ctx, 'p', d);
    assert.equal(drained.errorCode, 'STEP_TIMEOUT');
    assert.match(drained.error ?? '', /within 60 s/);
    // the same pass of the deadline watch saw verify at 61 s: still within its 600 s
    assert.equal((await stepOf(v, 'verify')).state, 'running');

    clock.advance(540_000); // 601 s after verify started
    await until(async () => (await getUpgrade(ctx, 'p', v)).state === 'failed', 'verify times out');
    const verified = await getUpgrade(ctx, 'p', v);
    assert.equal(verified.errorCode, 'STEP_TIMEOUT');
    assert.match(verified.error ?? '', /within 600 s/);
  });
});
