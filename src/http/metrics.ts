// Prometheus metrics. Upgrade and step counts are read from the store at scrape time, so every
// Liftgate replica reports the same fleet-wide numbers.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AppContext } from '../service/context.ts';

export async function metricsRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'liftgate_process_' });
  new Gauge({
    name: 'liftgate_upgrades',
    help: 'Upgrades by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await ctx.store.db
        .selectFrom('upgrades')
        .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('state')
        .execute();
      for (const r of rows) this.set({ state: r.state }, Number(r.n));
    },
  });
  new Gauge({
    name: 'liftgate_steps_running',
    help: 'Steps currently running',
    registers: [registry],
    async collect() {
      const r = await ctx.store.db
        .selectFrom('steps')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', 'in', ['running', 'rolling_back'])
        .executeTakeFirst();
      this.set(Number(r?.n ?? 0));
    },
  });
  const transitions = new Counter({
    name: 'liftgate_step_transitions_total',
    help: 'Step state transitions made by this process',
    registers: [registry],
  });
  let seen = 0;
  app.get('/metrics', { schema: { tags: ['ops'] } }, async (_req, reply) => {
    const n = ctx.executor.transitions;
    if (n > seen) transitions.inc(n - seen);
    seen = n;
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
