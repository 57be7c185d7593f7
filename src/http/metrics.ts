// Prometheus metrics at /metrics: what operators alert on. Gauges of upgrades, batches and steps
// by state are read from the store at scrape time, so every Liftgate replica reports the same
// fleet-wide numbers; histograms and counters of finished work come from the events table
// (metrics-tail.ts). Open by default (the server listens on loopback); with
// LIFTGATE_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <that token>`.
import { timingSafeEqual, createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AppContext } from '../service/app-context.ts';
import { SimDriver } from '../drivers/sim/sim-driver.ts';
import { verifyToken } from '../service/tokens.ts';
import { MetricsTail } from './metrics-tail.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** whether a scrape may read the metrics: always, unless a metrics token is set */
function authorized(req: FastifyRequest, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  // compare digests: equal length, constant time
  return m !== null && timingSafeEqual(digest(m[1]), digest(token));
}

export async function metricsRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const db = ctx.store.db;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'liftgate_process_' });
  const registers = [registry];

  const byState = (name: string, help: string, table: 'upgrades' | 'batches') =>
    new Gauge({
      name,
      help,
      labelNames: ['state'],
      registers,
      async collect() {
        const rows = await db
          .selectFrom(table)
          .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('state')
          .execute();
        this.reset();
        for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
  byState('liftgate_upgrades', 'Upgrades by state (fleet-wide, from the store)', 'upgrades');
  byState('liftgate_batches', 'Batches by state (fleet-wide, from the store)', 'batches');

  new Gauge({
    name: 'liftgate_steps_running',
    help: 'Steps running or rolling back now (fleet-wide, from the store)',
    registers,
    async collect() {
      const r = await db
        .selectFrom('steps')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', 'in', ['running', 'rolling_back'])
        .executeTakeFirst();
      this.set(Number(r?.n ?? 0));
    },
  });
  new Gauge({
    name: 'liftgate_executor_inflight_steps',
    help: 'Steps this process\u2019s executor holds a lease on now',
    registers,
    async collect() {
      const r = await db
        .selectFrom('steps')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('lease_owner', '=', ctx.executor.owner)
        .where('state', 'in', ['running', 'rolling_back'])
        .executeTakeFirst();
      this.set(Number(r?.n ?? 0));
    },
  });
  new Gauge({
    name: 'liftgate_executor_oldest_runnable_seconds',
    help: 'How long the longest-waiting runnable step has waited for an executor (0 when none waits); alert when it grows',
    registers,
    async collect() {
      // the claim query's own condition: current stage of a running upgrade, lane predecessors done,
      // a retry's backoff over (it is runnable from then)
      const at = new Date().toISOString();
      const res = await sql<{ since: string | null }>`
        SELECT min(coalesce(
          s.not_before,
          (SELECT max(p.ended_at) FROM steps p WHERE p.upgrade_id = s.upgrade_id AND p.stage_index = s.stage_index
             AND p.lane = s.lane AND p.ord < s.ord),
          st.started_at)) AS since
        FROM upgrades u
        JOIN steps s ON s.upgrade_id = u.id AND s.stage_index = u.current_stage
        JOIN stages st ON st.upgrade_id = u.id AND st.idx = u.current_stage
        WHERE u.state IN ('prechecking', 'running') AND s.state = 'pending'
          AND (s.not_before IS NULL OR s.not_before <= ${at})
          AND NOT EXISTS (SELECT 1 FROM steps p WHERE p.upgrade_id = s.upgrade_id AND p.stage_index = s.stage_index
            AND p.lane = s.lane AND p.ord < s.ord AND p.state NOT IN ('succeeded', 'skipped'))`.execute(db);
      const since = res.rows[0]?.since;
      this.set(since ? Math.max(0, (Date.now() - Date.parse(since)) / 1000) : 0);
    },
  });
  const sse = new Gauge({
    name: 'liftgate_sse_clients',
    help: 'Open Server-Sent Events streams (live consoles, `liftgate events --follow`) on this process',
    registers,
  });
  new Gauge({
    name: 'liftgate_estimate_median_abs_error_percent',
    help: 'Median absolute error of upgrade estimates (estimate at start vs actual duration), per engine',
    labelNames: ['engine'],
    registers,
    async collect() {
      this.reset();
      for (const e of await ctx.estimates.errors()) {
        if (e.medianAbsErrorPercent !== null) this.set({ engine: e.engine }, e.medianAbsErrorPercent);
      }
    },
  });
  new Gauge({
    name: 'liftgate_estimates_measured',
    help: 'Finished upgrades whose estimate error was measured, per engine',
    labelNames: ['engine'],
    registers,
    async collect() {
      this.reset();
      for (const e of await ctx.estimates.errors()) this.set({ engine: e.engine }, e.measured);
    },
  });
  const transitions = new Counter({
    name: 'liftgate_step_transitions_total',
    help: 'Step state transitions made by this process',
    registers,
  });

  // rows deleted by event retention on this process (the housekeeping leader runs it)
  const pruned = new Counter({
    name: 'liftgate_retention_pruned_total',
    help: 'Rows deleted by event retention (LIFTGATE_EVENT_RETENTION_DAYS) on this process, by table',
    labelNames: ['table'],
    registers,
  });
  // each driver's own logs count as `<driver>_logs` (the sim driver's: sim_logs)
  const prunedSeen = new Map<string, number>();
  const countPruned = () => {
    const now = ctx.retention?.pruned;
    if (!now) return;
    const counts: [string, number][] = [
      ['events', now.events],
      ['webhook_deliveries', now.deliveries],
      ...Object.entries(now.driverLogs).map(([driver, n]): [string, number] => [`${driver}_logs`, n]),
    ];
    for (const [table, n] of counts) {
      pruned.inc({ table }, n - (prunedSeen.get(table) ?? 0));
      prunedSeen.set(table, n);
    }
  };

  // open Server-Sent Events streams: each request that asks for one counts until it closes
  // (this plugin shares the app's context, so the hook sees the /v1 routes registered after it)
  let sseClients = 0;
  app.addHook('onRequest', async (req) => {
    const q = req.query as { stream?: unknown } | undefined;
    const wants = (req.headers.accept ?? '').includes('text/event-stream') || q?.stream === 'true' || q?.stream === true;
    if (!wants) return;
    sseClients++;
    req.raw.once('close', () => sseClients--);
  });

  // Per-target series name every project's targets, so they are not in /metrics (open by default,
  // and a project's token may read it): /metrics/targets serves them to a scrape that sends the
  // metrics token or an admin token, never to a project's token.
  const targetRegistry = new Registry();
  new Gauge({
    name: 'liftgate_target_sli',
    help: 'Service-level indicators of the simulated targets (the sim driver\u2019s slis), for analysis checks that query Prometheus',
    labelNames: ['project', 'target', 'sli'],
    registers: [targetRegistry],
    async collect() {
      this.reset();
      const sim = ctx.drivers.get('sim');
      if (!(sim instanceof SimDriver)) return;
      for (const t of await sim.fleetSlis()) {
        for (const [sli, v] of Object.entries(t.slis)) this.set({ project: t.projectId, target: t.targetId, sli }, v);
      }
    },
  });
  app.get('/metrics/targets', { schema: { tags: ['ops'] } }, async (req, reply) => {
    // the metrics token, or an admin token (it reads every project anyway); a project's token is
    // refused (403), no credential or an unknown one is 401
    const token = ctx.config.metricsToken;
    if (!(token && authorized(req, token))) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const principal = bearer ? await verifyToken(ctx, bearer) : null;
      if (!principal) {
        return reply.code(401).send({
          error: {
            code: 'UNAUTHORIZED',
            message: `send Authorization: Bearer <${token ? 'LIFTGATE_METRICS_TOKEN' : 'an admin token'}> to read /metrics/targets`,
          },
        });
      }
      if (principal.kind !== 'admin') {
        return reply.code(403).send({
          error: {
            code: 'FORBIDDEN',
            message:
              'per-target series name every project\u2019s targets: scrape them with LIFTGATE_METRICS_TOKEN or an admin token',
          },
        });
      }
    }
    reply.header('content-type', targetRegistry.contentType);
    return targetRegistry.metrics();
  });

  const tail = new MetricsTail(ctx, registry);
  await tail.start();
  let seen = ctx.executor.transitions;
  app.get('/metrics', { schema: { tags: ['ops'] } }, async (req, reply) => {
    if (!authorized(req, ctx.config.metricsToken)) {
      // the native API's envelope (this route is outside /v1 and its error handler)
      return reply.code(401).send({
        error: { code: 'UNAUTHORIZED', message: 'send Authorization: Bearer <LIFTGATE_METRICS_TOKEN> to read /metrics' },
      });
    }
    const n = ctx.executor.transitions;
    if (n > seen) transitions.inc(n - seen);
    seen = n;
    sse.set(sseClients);
    countPruned();
    await tail.catchUp();
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

// share the app's context (what fastify-plugin does), so the SSE hook above applies app-wide
(metricsRoutes as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
