// Shared setup of the fleet tests: the real app and executor on a real store, time from a
// ManualClock the test moves, and sim targets with labels and windows.
import { ManualClock } from '../../src/domain/clock.ts';
import { runBatchScheduler } from '../../src/service/fleet-batches.ts';
import { startApp, until, type Dialect, type TestApp } from '../helpers/harness.ts';

export const P = 'fleet';

export interface FleetEnv {
  t: TestApp;
  clock: ManualClock;
  /** moves the clock and runs one housekeeping pass at once (windows, batches) */
  at(iso: string): Promise<void>;
  advance(ms: number): Promise<void>;
  call: TestApp['call'];
  upgrade(id: string): Promise<any>;
  batch(id: string): Promise<any>;
  waitUpgrade(id: string, states: string[]): Promise<any>;
  waitBatch(id: string, states: string[]): Promise<any>;
  addTarget(id: string, extra?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function fleetEnv(
  dialect: Dialect,
  opts: { start: string; simTimeScale?: number; metricsToken?: string },
): Promise<FleetEnv> {
  const clock = new ManualClock(opts.start);
  // leases run on the injected clock too: a lease longer than any jump of the test's clock keeps
  // a step in flight from looking abandoned when the test moves time forward by hours
  const t = await startApp(dialect, {
    clock,
    simTimeScale: opts.simTimeScale ?? 0,
    executor: { pollMs: 20, leaseMs: 365 * 86400_000 },
    ...(opts.metricsToken ? { metricsToken: opts.metricsToken } : {}),
  });
  await t.call('POST', '/v1/projects', { id: P, name: P });
  for (const v of ['7.10.2', '7.10.3']) {
    await t.call('POST', '/v1/catalog/elasticsearch/versions', {
      version: v,
      release: `r${v}`,
      imageId: `img-${v}`,
      priority: 1,
    });
  }
  // what the housekeeping leader runs about once a second: scheduled upgrades and windows, then
  // the batch scheduler, then the promotion of what it released
  const pass = async () => {
    await t.ctx.executor.housekeeping();
    if (await runBatchScheduler(t.ctx)) await t.ctx.executor.housekeeping();
  };
  const env: FleetEnv = {
    t,
    clock,
    call: t.call,
    async at(iso) {
      clock.set(iso);
      await pass();
    },
    async advance(ms) {
      clock.advance(ms);
      await pass();
    },
    upgrade: async (id) => (await t.call('GET', `/v1/projects/${P}/upgrades/${id}`)).json,
    batch: async (id) => (await t.call('GET', `/v1/projects/${P}/batches/${id}`)).json,
    waitUpgrade: (id, states) =>
      until(
        async () => {
          const u = await env.upgrade(id);
          return states.includes(u.state) && u;
        },
        `upgrade ${id} in ${states.join('|')}`,
      ),
    waitBatch: (id, states) =>
      until(
        async () => {
          await pass();
          const b = await env.batch(id);
          return states.includes(b.state) && b;
        },
        `batch ${id} in ${states.join('|')}`,
      ),
    async addTarget(id, extra = {}) {
      const res = await t.call('POST', `/v1/projects/${P}/targets`, {
        id,
        kind: 'cluster',
        engine: 'elasticsearch',
        version: '7.10.2',
        release: 'r7.10.2',
        driver: 'sim',
        nodes: [
          { name: `${id}-1`, role: 'leader', zone: 'az1' },
          { name: `${id}-2`, role: 'follower', zone: 'az2' },
          { name: `${id}-3`, role: 'follower', zone: 'az3' },
        ],
        ...extra,
      });
      if (res.status !== 201) throw new Error(`target ${id}: ${res.status} ${res.body}`);
    },
    close: () => t.close(),
  };
  return env;
}

/** Events of the project, oldest first. */
export async function events(env: FleetEnv): Promise<{ id: number; type: string; upgradeId: string | null; data: any }[]> {
  const out: { id: number; type: string; upgradeId: string | null; data: any }[] = [];
  for (let after = 0; ;) {
    const page = (await env.call('GET', `/v1/projects/${P}/events?after=${after}&limit=1000`)).json.items;
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1].id;
  }
}
