// The simulated fleet. Each simulated node has a state of its own (version, running, health,
// role, zone, replication lag, free disk) in sim_nodes, which steps change the way they would
// change a real node: a stopped node is unhealthy, install needs the node stopped, verify is a
// real health gate. Every effect is applied together with a row in sim_effects, keyed by the
// step id, so a step that runs again after a crash finds its effect already there and does not
// apply it twice. Beside that exactly-once log, sim_invocations records every execute/rollback
// call with the caller's fencing token and what the call did (no unique key), so tests can see a
// step that ran twice, and an effect whose fence is older than one already seen for the step (a
// stale holder) is refused, the way a fenced storage service refuses a stale writer.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { PrecheckItem, SimFaultKind, SliName, Step, StepAction, Target, TargetNode } from '../../domain/types.ts';
import type { GroupCommitter } from '../../store/group-commit.ts';
import type { Database } from '../../store/schema.ts';
import {
  DriverError,
  type Driver,
  type PrecheckInput,
  type PrecheckResult,
  type PruneRequest,
  type ReconcileResult,
  type StepContext,
  type StepPolicy,
  type StepResult,
  type Topology,
} from '../driver.ts';
import { pruneSimLogs, simDb, type SimDatabase, type SimNodeRow } from './tables.ts';
import { isoNow, systemClock, type Clock } from '../../domain/clock.ts';

/** Realistic durations in seconds, before LIFTGATE_SIM_TIME_SCALE. */
export const SIM_DURATIONS: Record<StepAction, number> = {
  precheck: 20,
  backup: 120,
  drain: 60,
  stop: 15,
  install: 90,
  start: 30,
  verify: 20,
  rejoin: 10,
  switchover: 5,
  relocate: 120,
  finalize: 10,
  logical_decoding: 60,
  provision_green: 120,
  copy_schema: 20,
  initial_copy: 600,
  catch_up: 30,
  flight_green: 30,
  cutover: 5,
  rollback_window: 3600,
  decommission: 30,
  restore: 30,
  // run by the executor (a lone upgrade's analysis bake); it lasts the upgrade's bakeMinutes
  bake: 0,
};

/** how much a simulated step's duration varies around its nominal length */
const JITTER = 0.25;

/** rollback_fail makes the reversal of the step fail; the others act on its execution */
export type { SimFaultKind };

/** the kinds whose failure may be marked transient (a hang ends in a step timeout, never transient) */
export const TRANSIENT_FAULT_KINDS: readonly SimFaultKind[] = ['fail', 'health_timeout'];

/** an armed fault a call consumed */
interface TakenFault {
  kind: SimFaultKind;
  transient: boolean;
  /** a regress fault's {sli, value} */
  params: { sli?: SliName; value?: number } | null;
}

const NON_IDEMPOTENT: ReadonlySet<StepAction> = new Set(['install', 'switchover', 'relocate', 'cutover']);

export interface SimDriverOptions {
  db: Kysely<Database>;
  /** the store's unit runner, so effects share commits with other work (see group-commit.ts) */
  unit?: GroupCommitter;
  /** multiplies SIM_DURATIONS; 0 = instant */
  timeScale?: number;
  clock?: Clock;
  /** the store locks rows (PostgreSQL): the fence check holds the step's row while the effect commits */
  rowLocks?: boolean;
  /** the store takes writes inside WITH (PostgreSQL): a call's log entry and its fault in one statement */
  writableCte?: boolean;
}

export class SimDriver implements Driver {
  readonly name = 'sim';
  readonly capabilities = { switchover: true, azMigration: true, faults: true, provision: true, blueGreen: true };
  private readonly db: Kysely<SimDatabase>;
  private readonly unit: GroupCommitter | undefined;
  readonly timeScale: number;
  private readonly rowLocks: boolean;
  private readonly writableCte: boolean;
  private readonly clock: Clock;

  constructor(opts: SimDriverOptions) {
    this.db = simDb(opts.db);
    this.unit = opts.unit;
    this.timeScale = opts.timeScale ?? 0;
    this.rowLocks = opts.rowLocks ?? false;
    this.writableCte = opts.writableCte ?? false;
    this.clock = opts.clock ?? systemClock;
  }

  stepPolicy(action: StepAction, target?: Target): StepPolicy {
    const irreversible = (target?.driverConfig.irreversibleSteps as string[] | undefined) ?? [];
    return {
      idempotent: !NON_IDEMPOTENT.has(action),
      // finalize only checks the nodes: there is nothing to undo, so a succeeded upgrade can be
      // rolled back (an analysis check that fails its target after the bake, docs/fleet.md)
      reversible: action !== 'decommission' && !irreversible.includes(action),
      // a simulated target may stand for a driver whose step cannot be undone (a route across engines)
      ...(irreversible.includes(action)
        ? { irreversibleBecause: `the simulated target marks ${action} irreversible (driverConfig.irreversibleSteps)` }
        : {}),
      // an effect lands whole or not at all here, but the sim models the real drivers: a step
      // that is not safe to run twice is not safe to stop halfway either
      interruptible: !NON_IDEMPOTENT.has(action),
      // a blue/green rollback window only waits (for its retention, in real seconds)
      ...(action === 'rollback_window' ? { waits: true } : {}),
    };
  }

  async provision(target: Target): Promise<{ nodes: TargetNode[] }> {
    const cfg = target.driverConfig;
    const nodes = target.nodes.map((n) => ({ ...n, version: n.version || target.version, health: 'healthy' as const }));
    await this.db.deleteFrom('sim_nodes').where('project_id', '=', target.projectId).where('target_id', '=', target.id).execute();
    if (nodes.length > 0) {
      await this.db
        .insertInto('sim_nodes')
        .values(
          nodes.map((n) => ({
            project_id: target.projectId,
            target_id: target.id,
            node: n.name,
            version: n.version,
            running: 1,
            health: 'healthy',
            zone: n.zone,
            role: n.role,
            lag_ms: typeof cfg.lagMs === 'number' ? cfg.lagMs : 120,
            disk_free_pct: typeof cfg.diskFreePct === 'number' ? cfg.diskFreePct : 64,
            updated_at: isoNow(this.clock),
            slis: '{}',
          })),
        )
        .execute();
    }
    return { nodes };
  }

  async destroy(target: Target): Promise<void> {
    for (const t of ['sim_nodes', 'sim_faults'] as const) {
      await this.db.deleteFrom(t).where('project_id', '=', target.projectId).where('target_id', '=', target.id).execute();
    }
  }

  private async nodes(target: Pick<Target, 'projectId' | 'id'>): Promise<SimNodeRow[]> {
    return this.db
      .selectFrom('sim_nodes')
      .selectAll()
      .where('project_id', '=', target.projectId)
      .where('target_id', '=', target.id)
      .execute();
  }

  async inspect(target: Target): Promise<Topology> {
    const rows = await this.nodes(target);
    return { nodes: rows.map(toNode) };
  }

  /**
   * Arms a fault for the next `times` calls of a step action (on one node, or any). `transient`
   * (kinds fail and health_timeout) marks the error it throws transient, so the executor retries
   * a retry-safe step after it.
   */
  async addFault(
    target: Target,
    f: {
      node?: string;
      step: string;
      kind: SimFaultKind;
      times: number;
      transient?: boolean;
      /** kind regress: the indicator and the value it takes on the step's node once the step ran */
      sli?: SliName;
      value?: number;
    },
  ): Promise<string> {
    if (f.kind === 'regress' && (f.sli === undefined || f.value === undefined)) {
      throw new Error('a regress fault needs "sli" and "value"');
    }
    if (f.transient && !TRANSIENT_FAULT_KINDS.includes(f.kind)) {
      throw new Error(`a ${f.kind} fault cannot be transient (only ${TRANSIENT_FAULT_KINDS.join(', ')})`);
    }
    const id = randomUUID();
    await this.db
      .insertInto('sim_faults')
      .values({
        id,
        project_id: target.projectId,
        target_id: target.id,
        node: f.node ?? null,
        step: f.step,
        kind: f.kind,
        times_left: f.times,
        created_at: isoNow(this.clock),
        transient: f.transient ? 1 : 0,
        params: f.kind === 'regress' ? JSON.stringify({ sli: f.sli, value: f.value }) : null,
      })
      .execute();
    return id;
  }

  /** Consumes one armed fault for this step, if any: one guarded statement, so two runs never share one. */
  private faultTaken(target: Target, step: Step, reversal: boolean) {
    return this.db
      .updateTable('sim_faults')
      .set((eb) => ({ times_left: eb('times_left', '-', 1) }))
      .where('id', '=', (eb) =>
        eb
          .selectFrom('sim_faults')
          .select('id')
          .where('project_id', '=', target.projectId)
          .where('target_id', '=', target.id)
          .where('step', '=', step.action)
          .where('times_left', '>', 0)
          .where('kind', reversal ? '=' : '!=', 'rollback_fail')
          .where((w) => w.or([w('node', 'is', null), ...(step.node ? [w('node', '=', step.node)] : [])]))
          .orderBy('id')
          .limit(1),
      )
      .where('times_left', '>', 0)
      .returning(['kind', 'transient', 'params']);
  }

  nominalSeconds(action: StepAction): number {
    return SIM_DURATIONS[action] * this.timeScale;
  }

  /**
   * Real steps never take exactly their nominal time: each run varies by up to +-JITTER,
   * fixed per step id (so a test can repeat a run), which is what the duration model learns.
   */
  private async wait(
    action: StepAction,
    signal: AbortSignal,
    stepId = '',
    progress?: (d: Record<string, unknown>) => void,
  ): Promise<void> {
    // a rollback window is the operator's time, not a simulated duration (see executeCall)
    if (action === 'rollback_window') return;
    const spread = (hash(stepId) / 0xffffffff) * 2 - 1;
    const ms = SIM_DURATIONS[action] * this.timeScale * 1000 * (1 + JITTER * spread);
    if (action === 'initial_copy' && progress) return this.copy(ms, signal, progress);
    if (ms <= 0) return;
    await sleep(ms, signal);
  }

  /** a simulated blue/green initial copy: 256 MiB over the step's duration, reported as it goes */
  private async copy(ms: number, signal: AbortSignal, progress: (d: Record<string, unknown>) => void): Promise<void> {
    const total = 256 * 1048576;
    const parts = 20;
    const t0 = Date.now();
    for (let i = 1; i <= parts; i++) {
      if (ms > 0) await sleep(ms / parts, signal);
      const seconds = Math.max((Date.now() - t0) / 1000, 0.001);
      const done = Math.round((total * i) / parts);
      const rate = Math.round(done / seconds);
      progress({
        bytesDone: done,
        bytesTotal: total,
        tablesDone: Math.floor((12 * i) / parts),
        tablesTotal: 12,
        rateBytesPerSecond: rate,
        etaSeconds: Math.ceil((total - done) / Math.max(rate, 1)),
        elapsedSeconds: Math.round(seconds),
      });
    }
  }

  async precheck(input: PrecheckInput): Promise<PrecheckResult> {
    const { target, hops, mode } = input;
    await sleep(SIM_DURATIONS.precheck * this.timeScale * 1000);
    const rows = await this.nodes(target);
    const items: PrecheckItem[] = [];
    for (const n of rows) {
      items.push({
        name: 'node_health',
        node: n.node,
        status: n.running && n.health === 'healthy' ? 'pass' : 'fail',
        message: n.running && n.health === 'healthy' ? `${n.node} is healthy` : `${n.node} is ${n.health}`,
      });
      items.push({
        name: 'replication_lag',
        node: n.node,
        status: n.lag_ms < 5_000 ? 'pass' : n.lag_ms < 30_000 ? 'warn' : 'fail',
        message: `${n.node} replication lag ${n.lag_ms} ms`,
      });
      items.push({
        name: 'disk_space',
        node: n.node,
        status: n.disk_free_pct >= 20 ? 'pass' : n.disk_free_pct >= 10 ? 'warn' : 'fail',
        message: `${n.node} has ${n.disk_free_pct}% disk free`,
      });
    }
    items.push({
      name: 'version_route',
      status: mode === 'az_migration' || hops.length > 0 ? 'pass' : 'fail',
      message:
        mode === 'az_migration'
          ? 'no version change'
          : `route ${[hops[0]?.fromVersion, ...hops.map((h) => h.toVersion)].join(' -> ')}`,
    });
    if (mode === 'rolling' && rows.length < 2) {
      items.push({ name: 'rolling_topology', status: 'warn', message: 'a single node cannot be upgraded without downtime' });
    }
    const seed = hash(`${target.id}:${input.toVersion}`);
    const total = 9000 + (seed % 1000);
    // The same durations the steps take (and the duration model starts from: nominalSeconds), so
    // a precheck's estimate of a fast sim fleet is not the nominal minutes of an unscaled one.
    const scaled = (seconds: number) => Math.round(seconds * this.timeScale * 10) / 10;
    const per = (k: number) =>
      scaled(SIM_DURATIONS[k === 0 ? 'stop' : k === 1 ? 'backup' : 'install'] * Math.max(1, rows.length));
    return {
      items,
      flighting: {
        totalExecuted: total,
        exceptions: 0,
        incorrect: seed % 3 === 0 ? 1 : 0,
        slow: seed % 5 === 0 ? 1 : 0,
        dqlSpeedup: 1 + (seed % 10) / 10,
      },
      estimate: {
        stopInstanceSeconds: per(0),
        backupDataSeconds: scaled(SIM_DURATIONS.backup),
        upgradeInstanceSeconds: Math.round(per(2) * Math.max(1, hops.length) * 10) / 10,
      },
    };
  }

  /**
   * Logs one call before it acts (committed even if the call then hangs or the process dies),
   * and consumes the step's armed fault, if any: one statement where the store takes writes
   * inside WITH, two otherwise (the log entry first).
   */
  private async invoked(ctx: StepContext, call: 'execute' | 'rollback'): Promise<{ id: number; fault: TakenFault | null }> {
    const row = {
      step_id: ctx.step.id,
      fence: ctx.fence,
      call,
      action: ctx.step.action,
      project_id: ctx.target.projectId,
      target_id: ctx.target.id,
      node: ctx.step.node,
      owner: ctx.owner,
      outcome: null,
      created_at: isoNow(this.clock),
    };
    const insert = (db: Kysely<SimDatabase>) => db.insertInto('sim_invocations').values(row).returning('id');
    const fault = this.faultTaken(ctx.target, ctx.step, call === 'rollback');
    const taken = (f: { kind: string | null; transient: number | null; params: string | null } | undefined): TakenFault | null =>
      f?.kind
        ? {
            kind: f.kind as SimFaultKind,
            transient: Number(f.transient) === 1,
            params: f.params ? (JSON.parse(f.params) as TakenFault['params']) : null,
          }
        : null;
    if (this.writableCte) {
      const res = await sql<{ id: number; kind: string | null; transient: number | null; params: string | null }>`
        WITH inv AS (${insert(this.db)}), f AS (${fault})
        SELECT (SELECT id FROM inv) AS id, (SELECT kind FROM f) AS kind, (SELECT transient FROM f) AS transient,
          (SELECT params FROM f) AS params`.execute(this.db);
      const r = res.rows[0];
      return { id: Number(r.id), fault: taken(r) };
    }
    const one = (db: Kysely<SimDatabase>) => insert(db).executeTakeFirstOrThrow();
    const res = this.unit ? await this.unit.one((db) => one(simDb(db))) : await one(this.db);
    return { id: Number(res.id), fault: taken(await fault.executeTakeFirst()) };
  }

  private async outcome(db: Kysely<SimDatabase>, id: number, outcome: string): Promise<void> {
    await db.updateTable('sim_invocations').set({ outcome }).where('id', '=', id).execute();
  }

  /** A call that threw: its outcome is written after the effect's transaction rolled back. */
  private async failed(id: number, err: unknown): Promise<void> {
    const outcome =
      err instanceof DriverError && err.code === 'FENCED'
        ? 'fenced'
        : `failed: ${err instanceof Error ? err.message : String(err)}`;
    await this.outcome(this.db, id, outcome).catch(() => {});
  }

  async execute(ctx: StepContext): Promise<StepResult> {
    const { id: call, fault } = await this.invoked(ctx, 'execute');
    try {
      return await this.executeCall(ctx, call, fault);
    } catch (err) {
      await this.failed(call, err);
      throw err;
    }
  }

  private async executeCall(ctx: StepContext, call: number, taken: TakenFault | null): Promise<StepResult> {
    const { step, target } = ctx;
    const fault = taken?.kind ?? null;
    const transient = taken?.transient === true;
    if (fault === 'hang') {
      ctx.log('simulated hang');
      await sleep(24 * 3600 * 1000, ctx.signal);
    }
    await this.wait(step.action, ctx.signal, step.id, ctx.progress);
    if (step.action === 'rollback_window') {
      // the window is the operator's time, not a simulated duration: it lasts what the upgrade set
      const seconds = typeof step.params.retentionSeconds === 'number' ? step.params.retentionSeconds : 3600;
      const until = Date.parse(step.startedAt ?? isoNow(this.clock)) + seconds * 1000;
      ctx.progress?.({ until: new Date(until).toISOString(), secondsLeft: seconds });
      await sleep(Math.max(0, until - this.clock.now().getTime()), ctx.signal);
    }
    if (fault === 'fail') {
      const what = `injected ${transient ? 'transient ' : ''}failure of ${step.action}${step.node ? ` on ${step.node}` : ''}`;
      throw new DriverError('SIM_FAULT', what, transient);
    }
    if (fault === 'crash' && step.node) {
      await this.setNode(target, step.node, { running: 0, health: 'unhealthy' });
      throw new DriverError('NODE_CRASHED', `${step.node} crashed during ${step.action}`);
    }
    if (fault === 'health_timeout') {
      throw new DriverError('HEALTH_GATE_TIMEOUT', `${step.node ?? target.id} did not become healthy in time`, transient);
    }
    const res = await this.apply(ctx, step.action, false, call);
    if (fault === 'regress' && taken?.params?.sli) {
      // the step did its work; the node now measures worse (a rollback of the step clears it)
      await this.setSlis(target, step.node, { [taken.params.sli]: taken.params.value ?? 0 });
      ctx.log(`simulated regression: ${taken.params.sli} = ${taken.params.value} on ${step.node ?? target.id}`);
    }
    return res;
  }

  /** The SLIs of every simulated target (for /metrics: liftgate_target_sli), from one read. */
  async fleetSlis(): Promise<{ projectId: string; targetId: string; slis: Record<SliName, number> }[]> {
    const rows = await this.db
      .selectFrom('sim_nodes')
      .select(['project_id', 'target_id', 'lag_ms', 'slis'])
      .orderBy('project_id')
      .orderBy('target_id')
      .execute();
    const by = new Map<string, typeof rows>();
    for (const r of rows) {
      const k = `${r.project_id}\u0000${r.target_id}`;
      by.set(k, [...(by.get(k) ?? []), r]);
    }
    return [...by.values()].map((rs) => ({ projectId: rs[0].project_id, targetId: rs[0].target_id, slis: simSlis(rs) }));
  }

  /** Sets SLI values on one node (or every node of the target); an empty set clears them. */
  private async setSlis(target: Target, node: string | null, slis: Partial<Record<SliName, number>>): Promise<void> {
    await this.db
      .updateTable('sim_nodes')
      .set({ slis: JSON.stringify(slis), updated_at: isoNow(this.clock) })
      .where('project_id', '=', target.projectId)
      .where('target_id', '=', target.id)
      .$if(node !== null, (q) => q.where('node', '=', node as string))
      .execute();
  }

  /**
   * The target's indicators from its simulated nodes: replication lag is the largest lag of its
   * nodes (lag_ms), the rates and failed connections are 0 unless a `regress` fault set a value on
   * a node; the target's value is its worst node's.
   */
  async slis(target: Target): Promise<Partial<Record<SliName, number>>> {
    const rows = await this.nodes(target);
    if (rows.length === 0) throw new DriverError('NODE_NOT_FOUND', `simulated target ${target.id} has no nodes`);
    return simSlis(rows);
  }

  async rollback(ctx: StepContext): Promise<StepResult> {
    const { id: call, fault } = await this.invoked(ctx, 'rollback');
    try {
      if (fault) {
        throw new DriverError(
          'SIM_FAULT',
          `injected failure of the rollback of ${ctx.step.action}${ctx.step.node ? ` on ${ctx.step.node}` : ''}`,
        );
      }
      await this.wait(ctx.step.action, ctx.signal, ctx.step.id);
      const res = await this.apply(ctx, ctx.step.action, true, call);
      // a reversed step takes back a regression a regress fault set with it
      await this.setSlis(ctx.target, ctx.step.node, {});
      return res;
    } catch (err) {
      await this.failed(call, err);
      throw err;
    }
  }

  async reconcile(ctx: StepContext): Promise<ReconcileResult> {
    return (await this.applied(ctx.step.id, ctx.step.action)) ? 'applied' : 'not_applied';
  }

  /** Event retention: the effect and call logs of steps whose upgrade ended, older than the cutoff. */
  prune(req: PruneRequest): Promise<number> {
    return pruneSimLogs(this.db, req);
  }

  private async applied(stepId: string, effect: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('sim_effects')
      .select('id')
      .where('step_id', '=', stepId)
      .where('effect', '=', effect)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async setNode(target: Target, node: string, set: Partial<SimNodeRow>): Promise<void> {
    await this.db
      .updateTable('sim_nodes')
      .set({ ...set, updated_at: isoNow(this.clock) })
      .where('project_id', '=', target.projectId)
      .where('target_id', '=', target.id)
      .where('node', '=', node)
      .execute();
  }

  /**
   * Applies one step's effect (or its reversal) and logs it, in one transaction. An effect
   * already in the log for this step is not applied again.
   */
  private async apply(ctx: StepContext, action: StepAction, reverse: boolean, call: number): Promise<StepResult> {
    const { step, target, hop } = ctx;
    const effect = reverse ? `rollback:${action}` : action;
    const run = <T>(fn: (trx: Kysely<SimDatabase>) => Promise<T>) =>
      this.unit ? this.unit.run((trx) => fn(simDb(trx))) : this.db.transaction().execute(fn);
    return run(async (trx) => {
      const rows = await trx
        .selectFrom('sim_nodes')
        .selectAll()
        .where('project_id', '=', target.projectId)
        .where('target_id', '=', target.id)
        .execute();
      const byName = new Map(rows.map((r) => [r.node, r]));
      const node = step.node ? byName.get(step.node) : undefined;
      if (step.node && !node) throw new DriverError('NODE_NOT_FOUND', `simulated node ${step.node} does not exist`);
      // A newer claim of this step has called us: this caller is a stale holder and must not act.
      // The step's own fence also moves on when it is recovered or claimed again, even before the
      // next holder calls us (a frozen holder that wakes after a takeover). The step's row is held
      // until the effect commits, so a recovery cannot move the fence in between. One statement.
      const fences = await trx
        .selectFrom('steps as s')
        .select((eb) => [
          's.fence',
          eb
            .selectFrom('sim_invocations as i')
            .select((e) => e.fn.max('i.fence').as('f'))
            .whereRef('i.step_id', '=', 's.id')
            .as('newest'),
        ])
        .where('s.id', '=', step.id)
        .$if(this.rowLocks, (q) => q.forShare('s'))
        .executeTakeFirst();
      const newest = fences?.newest == null ? null : Number(fences.newest);
      if (newest !== null && newest > ctx.fence) {
        throw new DriverError('FENCED', `a newer claim (fence ${newest} > ${ctx.fence}) holds ${step.name}; not applied`);
      }
      if (fences && fences.fence > ctx.fence) {
        throw new DriverError('FENCED', `${step.name} was taken over (fence ${fences.fence} > ${ctx.fence}); not applied`);
      }
      // The effect is logged first: the unique (step, effect) key refuses a second entry, and
      // an error below rolls the entry back with the effect it logged. The call's outcome says
      // which it was (with writes inside WITH, in the same statement).
      const effectRow = {
        step_id: step.id,
        project_id: target.projectId,
        target_id: target.id,
        node: step.node,
        action,
        effect,
        created_at: isoNow(this.clock),
      };
      const log = trx
        .insertInto('sim_effects')
        .values(effectRow)
        .onConflict((oc) => oc.columns(['step_id', 'effect']).doNothing());
      let fresh: boolean;
      if (this.writableCte) {
        const res = await sql<{ n: number }>`
          WITH logged AS (${log.returning('id')}),
          o AS (
            UPDATE sim_invocations SET outcome = CASE WHEN EXISTS (SELECT 1 FROM logged) THEN 'applied' ELSE 'already_applied' END
            WHERE id = ${call})
          SELECT (SELECT count(*) FROM logged)::int AS n`.execute(trx);
        fresh = res.rows[0]?.n === 1;
      } else {
        fresh = Number((await log.executeTakeFirst()).numInsertedOrUpdatedRows ?? 0) > 0;
        await this.outcome(trx, call, fresh ? 'applied' : 'already_applied');
      }
      if (!fresh) {
        ctx.log(`effect ${effect} already applied; not applying again`);
        const again = result(rows, step);
        return action === 'restore' && !reverse
          ? { ...again, data: { summary: `in service on ${node?.version ?? '?'} (restored before)`, started: false } }
          : again;
      }
      // keeps the rows read above current, so the result needs no second read
      const set = (name: string, values: Partial<SimNodeRow>) => {
        Object.assign(byName.get(name) as SimNodeRow, values);
        return trx
          .updateTable('sim_nodes')
          .set({ ...values, updated_at: isoNow(this.clock) })
          .where('project_id', '=', target.projectId)
          .where('target_id', '=', target.id)
          .where('node', '=', name)
          .execute();
      };
      const n = node as SimNodeRow;
      switch (reverse ? inverse(action) : action) {
        case 'stop':
          await set(n.node, { running: 0, health: 'stopped' });
          ctx.log(`stopped ${n.node}`);
          break;
        case 'start':
          await set(n.node, { running: 1, health: 'healthy' });
          ctx.log(`started ${n.node} on ${reverse ? n.version : n.version}`);
          break;
        case 'install': {
          if (n.running) throw new DriverError('NODE_RUNNING', `${n.node} must be stopped before installing`);
          const version = reverse ? hop.fromVersion : hop.toVersion;
          await set(n.node, { version });
          ctx.log(`installed ${version} on ${n.node}`);
          break;
        }
        case 'verify':
          if (!reverse && (!n.running || n.health !== 'healthy')) {
            throw new DriverError('HEALTH_GATE_FAILED', `${n.node} is ${n.health}, not healthy`);
          }
          ctx.log(`${n.node} healthy, lag ${n.lag_ms} ms`);
          break;
        case 'switchover': {
          const from = byName.get(String(step.params.from));
          const to = byName.get(String(step.params.to));
          if (!from || !to) throw new DriverError('NODE_NOT_FOUND', 'switchover nodes not found');
          const [a, b] = reverse ? [to, from] : [from, to];
          if (!b.running || b.health !== 'healthy')
            throw new DriverError('HEALTH_GATE_FAILED', `${b.node} cannot take over: ${b.health}`);
          const [roleA, roleB] = [a.role, b.role];
          await set(a.node, { role: roleB });
          await set(b.node, { role: roleA });
          ctx.log(`${b.node} is now ${roleA}; ${a.node} is now ${roleB}`);
          break;
        }
        case 'cutover': {
          // the simulated green is the same nodes on the new version: clients move to it at once
          const version = reverse ? hop.fromVersion : hop.toVersion;
          for (const r of rows) await set(r.node, { version });
          ctx.log(`clients switched to ${version} (${rows.length} nodes)`);
          break;
        }
        case 'relocate': {
          const zone = String(reverse ? step.params.fromZone : step.params.toZone);
          await set(n.node, { zone });
          ctx.log(`${n.node} now in ${zone}`);
          break;
        }
        case 'restore': {
          if (reverse) {
            // undo what the restore did, so the reversals before it find the node as they left it
            if (step.result?.started === true && n.running) {
              await set(n.node, { running: 0, health: 'stopped' });
              ctx.log(`stopped ${n.node} again (its restore had started it)`);
            } else ctx.log(`${n.node}: its restore changed nothing; nothing to undo`);
            break;
          }
          if (n.running && n.health === 'healthy') {
            ctx.log(`${n.node} is in service on ${n.version}; nothing to do`);
            return { ...result(rows, step), data: { summary: `in service on ${n.version}; nothing to do`, started: false } };
          }
          const was = n.running ? n.health : n.health === 'unhealthy' ? 'crashed' : 'stopped';
          await set(n.node, { running: 1, health: 'healthy' });
          ctx.log(`started ${n.node} on ${n.version} (it was ${was}); healthy, back in the cluster`);
          return { ...result(rows, step), data: { summary: `started on ${n.version}; it was ${was}`, started: true } };
        }
        case 'finalize': {
          if (ctx.upgrade.mode !== 'az_migration') {
            const behind = rows.filter((r) => r.version !== ctx.upgrade.toVersion);
            if (behind.length > 0 && !reverse) {
              throw new DriverError(
                'POSTCHECK_FAILED',
                `nodes not on ${ctx.upgrade.toVersion}: ${behind.map((r) => r.node).join(', ')}`,
              );
            }
          }
          ctx.log('post-check passed');
          break;
        }
        default:
          ctx.log(`${effect}${step.node ? ` on ${step.node}` : ''}`);
      }
      return result(rows, step);
    });
  }
}

function inverse(action: StepAction): StepAction | 'noop' {
  switch (action) {
    case 'stop':
      return 'start';
    case 'start':
      return 'stop';
    case 'install':
    case 'switchover':
    case 'relocate':
    case 'restore':
    case 'cutover':
      return action;
    default:
      return 'noop';
  }
}

function result(rows: SimNodeRow[], step: Step): StepResult {
  if (step.action === 'switchover' || !step.node) return { nodes: rows.map(toNode) };
  const row = rows.find((r) => r.node === step.node);
  return row ? { node: toNode(row) } : {};
}

/** The SLIs of a simulated target from its nodes' rows (the worst node's value of each). */
export function simSlis(rows: readonly Pick<SimNodeRow, 'lag_ms' | 'slis'>[]): Record<SliName, number> {
  const out: Record<SliName, number> = { replication_lag_seconds: 0, rollback_rate: 0, conflict_rate: 0, failed_connections: 0 };
  for (const r of rows) {
    const set = JSON.parse(r.slis || '{}') as Partial<Record<SliName, number>>;
    const measured: Record<SliName, number> = {
      replication_lag_seconds: r.lag_ms / 1000,
      rollback_rate: 0,
      conflict_rate: 0,
      failed_connections: 0,
    };
    for (const k of Object.keys(out) as SliName[]) out[k] = Math.max(out[k], set[k] ?? measured[k]);
  }
  return out;
}

function toNode(r: SimNodeRow): TargetNode {
  return {
    name: r.node,
    role: r.role,
    zone: r.zone,
    version: r.version,
    health: r.running ? (r.health as TargetNode['health']) : r.health === 'unhealthy' ? 'unhealthy' : 'stopped',
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** the longest delay one timer takes; Node fires a longer one after 1 ms instead */
const MAX_TIMER_MS = 2 ** 31 - 1;

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  // a simulated step at a large time scale can last longer than one timer allows: chain them
  for (let left = ms; left > 0; left -= MAX_TIMER_MS) await sleepOnce(Math.min(left, MAX_TIMER_MS), signal);
}

function sleepOnce(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DriverError('ABORTED', 'step aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new DriverError('ABORTED', 'step aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
