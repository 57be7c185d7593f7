// The executor: the only code that moves upgrades through their DAG. It claims runnable steps
// under a lease, calls the driver, and records each outcome with one guarded transition. State
// lives only in the store, so a restarted executor picks up exactly where the last one stopped:
// a step that was running when the process died is re-run only if its driver declares it
// idempotent, and otherwise reconciled (did it take effect?) before anything else happens.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Step, Target, Upgrade } from '../domain/types.ts';
import { DriverError, type Driver, type StepContext, type StepResult } from '../drivers/driver.ts';
import { toStep, toUpgrade } from '../store/mappers.ts';
import type { Store } from '../store/open.ts';
import type { StepRow } from '../store/schema.ts';
import { applyNodeFacts, loadTarget, setTargetVersion, type NodeFacts } from '../store/targets-repo.ts';
import { anyRollingBack, claimRollbackSteps, claimSteps } from './claims.ts';
import { FaultPoints } from './fault-points.ts';
import { createReport, finishReport } from './prechecks.ts';
import { nextWindowStart, withinWindow } from '../domain/window.ts';
import { appendEvent, now, transitionStage, transitionStep, transitionUpgrade, lockUpgrade, type Db } from './transitions.ts';

export interface ExecutorOptions {
  store: Store;
  drivers: Map<string, Driver>;
  owner?: string;
  /** how long a claimed step stays ours without a heartbeat */
  leaseMs?: number;
  /** steps run at once by this executor */
  concurrency?: number;
  /** idle poll interval (other processes may add work) */
  pollMs?: number;
  faults?: FaultPoints;
  onError?: (err: unknown) => void;
  /** called after every committed change, so listeners (SSE, metrics) can refresh */
  onChange?: () => void;
}

const RUNNABLE_STATES = ['prechecking', 'running'];

export class Executor {
  readonly owner: string;
  private readonly store: Store;
  private readonly drivers: Map<string, Driver>;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly faults: FaultPoints;
  private readonly onError: (err: unknown) => void;
  private readonly onChange: () => void;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  private lastMaintenance = 0;
  private lastFullClaim = 0;
  private fullClaimMs = 0;
  private readonly dirty = new Set<string>();
  private readonly plans = new Map<string, Upgrade>();
  /** counts step transitions, for metrics and the benchmark */
  transitions = 0;

  constructor(opts: ExecutorOptions) {
    this.store = opts.store;
    this.drivers = opts.drivers;
    this.owner = opts.owner ?? `executor-${randomUUID()}`;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.concurrency = opts.concurrency ?? 64;
    this.pollMs = opts.pollMs ?? 250;
    this.faults = opts.faults ?? new FaultPoints(null);
    this.onError = opts.onError ?? ((err) => console.error('executor:', err));
    this.onChange = opts.onChange ?? (() => {});
    // every running step listens for shutdown on this one signal
    setMaxListeners(0, this.abort.signal);
  }

  private get db() {
    return this.store.db;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming; waits for running steps to finish (they keep their lease otherwise). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await Promise.allSettled([...this.inflight.values()]);
  }

  /** Aborts running steps (drivers see ctx.signal) and stops. */
  async kill(): Promise<void> {
    this.abort.abort();
    await this.stop();
  }

  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Resolves once no upgrade can make progress without outside help (tests, CLI). */
  async idle(): Promise<void> {
    for (;;) {
      await this.sleep(20);
      if (this.inflight.size > 0) continue;
      const busy = await this.db
        .selectFrom('upgrades')
        .select('id')
        .where('state', 'in', ['ready', 'prechecking', 'running', 'rolling_back'])
        .limit(1)
        .executeTakeFirst();
      if (!busy) return;
    }
  }

  private async run(): Promise<void> {
    await this.guard(() => this.recoverLeases(true));
    while (this.running) {
      let worked = false;
      await this.guard(async () => {
        worked = await this.tick();
      });
      if (!worked && this.running) await this.sleep(this.pollMs);
    }
  }

  private async guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.onError(err);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        this.pendingWake = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  /** One round: housekeeping, start due upgrades, claim and launch runnable steps. */
  async tick(): Promise<boolean> {
    const t = Date.now();
    if (t - this.lastMaintenance > Math.min(1000, this.pollMs * 2)) {
      this.lastMaintenance = t;
      await this.promoteScheduled();
      await this.recoverLeases(false);
    }
    let worked = await this.startReady();
    const free = this.concurrency - this.inflight.size;
    if (free <= 0) return worked;
    // A finished step can only make its own upgrade's next steps runnable, so after a
    // completion only that upgrade is searched; a full search over every running upgrade runs
    // on a timer (and when nothing is known to have changed), which also finds work that other
    // processes made runnable.
    const dirty = [...this.dirty];
    this.dirty.clear();
    // The full search costs more the more upgrades run at once; it is kept under ~10% of the time.
    const full = t - this.lastFullClaim >= Math.max(this.pollMs, 250, this.fullClaimMs * 10);
    if (!full && dirty.length === 0) return worked;
    if (full) this.lastFullClaim = t;
    const claimed = await this.claim(free, full ? null : dirty);
    if (full) this.fullClaimMs = Date.now() - t;
    if (claimed.length < free && (await anyRollingBack(this.db))) {
      claimed.push(...(await this.claimRollbacks(free - claimed.length)));
    }
    for (const row of claimed) {
      const step = toStep(row);
      const p = (step.state === 'rolling_back' ? this.runRollback(step) : this.runStep(step))
        .catch((err) => this.onError(err))
        .finally(() => {
          this.inflight.delete(step.id);
          this.touch(step.upgradeId);
        });
      this.inflight.set(step.id, p);
      worked = true;
    }
    return worked;
  }

  /** Marks an upgrade as changed: the next tick looks for its runnable steps first. */
  touch(upgradeId: string): void {
    this.dirty.add(upgradeId);
    this.wake();
  }

  // ---- scheduling -------------------------------------------------------------------------

  private async promoteScheduled(): Promise<void> {
    const due = await this.db
      .selectFrom('upgrades')
      .selectAll()
      .where('state', '=', 'scheduled')
      .where('not_before', '<=', now())
      .limit(100)
      .execute();
    for (const row of due) {
      const u = toUpgrade(row);
      const target = await loadTarget(this.db, u.projectId, u.targetId);
      const window = target?.maintenanceWindow ?? null;
      await this.db.transaction().execute(async (trx) => {
        if (u.schedule.kind === 'window' && window && !withinWindow(window, new Date())) {
          // The window passed while nobody was running (or it was missed): wait for the next one.
          await transitionUpgrade(trx, {
            id: u.id,
            from: ['scheduled'],
            to: 'scheduled',
            set: { not_before: nextWindowStart(window, new Date()).toISOString() },
          });
          return;
        }
        if (await transitionUpgrade(trx, { id: u.id, from: ['scheduled'], to: 'ready' })) {
          await this.event(trx, u, { type: 'upgrade.ready', fromState: 'scheduled', toState: 'ready', message: 'due' });
        }
      });
    }
  }

  private async startReady(): Promise<boolean> {
    const ready = await this.db.selectFrom('upgrades').selectAll().where('state', '=', 'ready').limit(200).execute();
    for (const row of ready) {
      const u = toUpgrade(row);
      await this.db.transaction().execute(async (trx) => {
        const ok = await transitionUpgrade(trx, {
          id: u.id,
          from: ['ready'],
          to: 'prechecking',
          set: { started_at: now(), current_stage: 0 },
        });
        if (!ok) return;
        this.dirty.add(u.id);
        await transitionStage(trx, u.id, 0, ['pending'], 'running');
        await this.event(trx, u, {
          type: 'upgrade.started',
          fromState: 'ready',
          toState: 'prechecking',
          message: `upgrade ${u.fromVersion} -> ${u.toVersion} started`,
        });
      });
    }
    if (ready.length > 0) this.onChange();
    return ready.length > 0;
  }

  // ---- claiming ---------------------------------------------------------------------------

  private leaseUntil(): string {
    return new Date(Date.now() + this.leaseMs).toISOString();
  }

  private async claim(limit: number, only: string[] | null): Promise<StepRow[]> {
    const rows = await claimSteps(this.store, { owner: this.owner, leaseUntil: this.leaseUntil(), limit, only });
    this.transitions += rows.length;
    return rows;
  }

  private async claimRollbacks(limit: number): Promise<StepRow[]> {
    const rows = await claimRollbackSteps(this.store, { owner: this.owner, leaseUntil: this.leaseUntil(), limit });
    this.transitions += rows.length;
    return rows;
  }

  // ---- running ----------------------------------------------------------------------------

  /**
   * What a step needs to run. The upgrade's plan (versions, hops, mode, options) never changes
   * once created, so it is cached; the target is read fresh because steps change its nodes.
   */
  private async context(step: Step): Promise<{ upgrade: Upgrade; target: Target; driver: Driver } | null> {
    let upgrade = this.plans.get(step.upgradeId);
    if (!upgrade) {
      const row = await this.db.selectFrom('upgrades').selectAll().where('id', '=', step.upgradeId).executeTakeFirst();
      if (!row) return null;
      upgrade = toUpgrade(row);
      if (this.plans.size >= 5000) this.plans.delete(this.plans.keys().next().value as string);
      this.plans.set(upgrade.id, upgrade);
    }
    const target = await loadTarget(this.db, upgrade.projectId, upgrade.targetId);
    if (!target) return null;
    const driver = this.drivers.get(target.driver);
    if (!driver) throw new Error(`driver ${target.driver} is not installed`);
    return { upgrade, target, driver };
  }

  private makeCtx(step: Step, upgrade: Upgrade, target: Target, log: string[]): StepContext {
    const hop = upgrade.hops[step.hop] ?? {
      fromVersion: upgrade.fromVersion,
      toVersion: upgrade.toVersion,
      release: upgrade.release,
    };
    return {
      upgrade,
      target,
      step,
      hop,
      signal: this.abort.signal,
      log: (line) => log.push(`${now()} ${line}`),
    };
  }

  /** Renews the lease while a step runs; a lost lease aborts nothing but is logged. */
  private heartbeat(step: Step): () => void {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    const timer = setInterval(() => {
      this.db
        .updateTable('steps')
        .set({ lease_expires_at: this.leaseUntil() })
        .where('id', '=', step.id)
        .where('lease_owner', '=', this.owner)
        .where('state', 'in', ['running', 'rolling_back'])
        .execute()
        .catch((err) => this.onError(err));
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async runStep(step: Step): Promise<void> {
    this.faults.hit('step.claimed');
    const c = await this.context(step);
    if (!c) return;
    const log = [...step.log, `${now()} attempt ${step.attempts} on ${this.owner}`];
    // A step may not run forever: a hung driver call is aborted and the step fails.
    const timeoutMs = Number(c.upgrade.options.stepTimeoutSeconds ?? 3600) * 1000;
    const own = new AbortController();
    const onAbort = () => own.abort();
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      own.abort();
    }, timeoutMs);
    const ctx = { ...this.makeCtx(step, c.upgrade, c.target, log), signal: own.signal };
    const stopBeat = this.heartbeat(step);
    const cleanup = () => {
      stopBeat();
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onAbort);
    };
    let result: StepResult;
    try {
      result = step.action === 'precheck' ? await this.precheck(ctx, c.driver) : await c.driver.execute(ctx);
    } catch (err) {
      cleanup();
      if (this.abort.signal.aborted) return; // shutting down: the lease expires and recovery decides
      const e = timedOut ? new DriverError('STEP_TIMEOUT', `${step.name} did not finish within ${timeoutMs / 1000} s`) : err;
      await this.recordFailure(step, c.upgrade, e, log);
      return;
    }
    cleanup();
    this.faults.hit('step.driver_done');
    await this.recordSuccess(step, c.upgrade, result, log, c.target);
    this.faults.hit('step.recorded');
  }

  private async precheck(ctx: StepContext, driver: Driver): Promise<StepResult> {
    const { upgrade, target } = ctx;
    const reportId = await createReport(this.db, {
      projectId: upgrade.projectId,
      targetId: target.id,
      upgradeId: upgrade.id,
      toVersion: upgrade.toVersion,
    });
    await this.db.updateTable('upgrades').set({ precheck_report_id: reportId }).where('id', '=', upgrade.id).execute();
    let report;
    try {
      const result = await driver.precheck({
        target,
        toVersion: upgrade.toVersion,
        hops: upgrade.hops,
        mode: upgrade.mode,
        options: upgrade.options,
      });
      report = await finishReport(this.db, reportId, result);
    } catch (err) {
      await finishReport(this.db, reportId, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    for (const item of report.items) ctx.log(`${item.status.toUpperCase()} ${item.name}: ${item.message}`);
    const failed = report.items.filter((i) => i.status === 'fail');
    if (failed.length > 0 && !upgrade.force) {
      throw new DriverError('PRECHECK_FAILED', `precheck failed: ${failed.map((i) => i.message).join('; ')}`);
    }
    return { data: { reportId } };
  }

  private async recordSuccess(step: Step, upgrade: Upgrade, result: StepResult, log: string[], known?: Target): Promise<void> {
    let advanced = false;
    await this.store.unit.run(async (trx) => {
      await this.lock(trx, upgrade.id);
      const ok = await transitionStep(trx, {
        id: step.id,
        from: 'running',
        to: 'succeeded',
        leaseOwner: this.owner,
        log,
        ...(result.data ? { result: result.data } : {}),
      });
      if (!ok) return; // lost the lease: whoever holds the step now records it
      this.transitions++;
      await this.applyResult(trx, upgrade, result, known);
      if (step.action === 'finalize') {
        await setTargetVersion(trx, upgrade.projectId, upgrade.targetId, upgrade.toVersion, upgrade.release);
      }
      await this.event(trx, upgrade, {
        stepId: step.id,
        type: 'step.succeeded',
        fromState: 'running',
        toState: 'succeeded',
        message: `${step.name}${step.node ? ` on ${step.node}` : ''} succeeded`,
      });
      advanced = await this.advance(trx, upgrade.id, step.stageIndex);
    });
    this.onChange();
    if (advanced) this.faults.hit('stage.advanced');
  }

  /** Records the node facts a driver reported; facts equal to what the target already shows are not written. */
  private async applyResult(db: Db, upgrade: Upgrade, result: StepResult, known?: Target): Promise<void> {
    const facts: NodeFacts[] = [...(result.nodes ?? []), ...(result.node ? [result.node] : [])].filter((f) => {
      const n = known?.nodes.find((x) => x.name === f.name);
      return !n || (Object.keys(f) as (keyof NodeFacts)[]).some((k) => f[k] !== undefined && f[k] !== n[k]);
    });
    if (facts.length > 0) await applyNodeFacts(db, upgrade.projectId, upgrade.targetId, facts);
  }

  private async recordFailure(step: Step, upgrade: Upgrade, err: unknown, log: string[]): Promise<void> {
    const code = err instanceof DriverError ? err.code : 'STEP_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    log.push(`${now()} FAILED ${code}: ${message}`);
    await this.store.unit.run(async (trx) => {
      await this.lock(trx, upgrade.id);
      const ok = await transitionStep(trx, {
        id: step.id,
        from: 'running',
        to: 'failed',
        leaseOwner: this.owner,
        error: `${code}: ${message}`,
        log,
      });
      if (!ok) return;
      this.transitions++;
      await this.failUpgrade(trx, upgrade, step, code, message);
    });
    this.onChange();
  }

  private async failUpgrade(db: Db, upgrade: Upgrade, step: Step, code: string, message: string): Promise<void> {
    await transitionStage(db, upgrade.id, step.stageIndex, ['running'], 'failed');
    const where = `${step.name}${step.node ? ` on ${step.node}` : ''}`;
    await this.event(db, upgrade, {
      stepId: step.id,
      type: 'step.failed',
      fromState: 'running',
      toState: 'failed',
      message: `${where} failed: ${message}`,
      data: { code },
    });
    const current = await db.selectFrom('upgrades').select('state').where('id', '=', upgrade.id).executeTakeFirst();
    const from = current?.state ?? upgrade.state;
    if (
      await transitionUpgrade(db, {
        id: upgrade.id,
        from: ['prechecking', 'running', 'paused'],
        to: 'failed',
        set: { error: `${where} failed: ${message}`, error_code: code },
      })
    ) {
      await this.event(db, upgrade, { type: 'upgrade.failed', fromState: from, toState: 'failed', message, data: { code } });
    }
  }

  /**
   * If the current stage is complete, start the next one (or finish the upgrade). Called in
   * the transaction that recorded the stage's last step, and after resume/skip.
   */
  async advance(db: Db, upgradeId: string, stageHint?: number): Promise<boolean> {
    // Most steps are not the last of their stage: one indexed look-up settles that.
    if (stageHint !== undefined && (await this.stageOpen(db, upgradeId, stageHint))) return false;
    const row = await db.selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirst();
    if (!row || !RUNNABLE_STATES.includes(row.state)) return false;
    const u = toUpgrade(row);
    if (await this.stageOpen(db, u.id, u.currentStage)) return false;
    await transitionStage(db, u.id, u.currentStage, ['running', 'pending'], 'succeeded');
    const next = u.currentStage + 1;
    if (next >= u.stageCount) {
      if (
        await transitionUpgrade(db, {
          id: u.id,
          from: RUNNABLE_STATES,
          to: 'succeeded',
          atStage: u.currentStage,
          set: { ended_at: now() },
        })
      ) {
        await this.event(db, u, {
          type: 'upgrade.succeeded',
          fromState: u.state,
          toState: 'succeeded',
          message: `upgraded to ${u.toVersion}`,
        });
      }
      return true;
    }
    const ok = await transitionUpgrade(db, {
      id: u.id,
      from: RUNNABLE_STATES,
      to: 'running',
      atStage: u.currentStage,
      set: { current_stage: next },
    });
    if (!ok) return false;
    await transitionStage(db, u.id, next, ['pending'], 'running');
    const stage = await db
      .selectFrom('stages')
      .select('name')
      .where('upgrade_id', '=', u.id)
      .where('idx', '=', next)
      .executeTakeFirst();
    await this.event(db, u, {
      type: 'stage.started',
      fromState: u.state,
      toState: 'running',
      message: `stage ${next + 1}/${u.stageCount}: ${stage?.name ?? ''}`,
      data: { stage: next },
    });
    return true;
  }

  private async stageOpen(db: Db, upgradeId: string, stage: number): Promise<boolean> {
    const open = await db
      .selectFrom('steps')
      .select('id')
      .where('upgrade_id', '=', upgradeId)
      .where('stage_index', '=', stage)
      .where('state', 'not in', ['succeeded', 'skipped'])
      .limit(1)
      .executeTakeFirst();
    return open !== undefined;
  }

  // ---- rollback ---------------------------------------------------------------------------

  private async runRollback(step: Step): Promise<void> {
    const c = await this.context(step);
    if (!c) return;
    const log = [...step.log, `${now()} rollback on ${this.owner}`];
    const ctx = this.makeCtx(step, c.upgrade, c.target, log);
    const stopBeat = this.heartbeat(step);
    let result: StepResult;
    try {
      result = step.action === 'precheck' ? {} : await c.driver.rollback(ctx);
    } catch (err) {
      stopBeat();
      const message = err instanceof Error ? err.message : String(err);
      log.push(`${now()} ROLLBACK FAILED: ${message}`);
      await this.db.transaction().execute(async (trx) => {
        // back to succeeded so a later rollback request reverses it again
        if (!(await transitionStep(trx, { id: step.id, from: 'rolling_back', to: 'succeeded', leaseOwner: this.owner, log })))
          return;
        if (
          await transitionUpgrade(trx, {
            id: c.upgrade.id,
            from: ['rolling_back'],
            to: 'failed',
            set: {
              error: `rollback of ${step.name}${step.node ? ` on ${step.node}` : ''} failed: ${message}`,
              error_code: 'ROLLBACK_FAILED',
            },
          })
        ) {
          await this.event(trx, c.upgrade, {
            stepId: step.id,
            type: 'upgrade.failed',
            fromState: 'rolling_back',
            toState: 'failed',
            message,
          });
        }
      });
      this.onChange();
      return;
    }
    stopBeat();
    this.faults.hit('step.driver_done');
    await this.store.unit.run(async (trx) => {
      await this.lock(trx, c.upgrade.id);
      if (!(await transitionStep(trx, { id: step.id, from: 'rolling_back', to: 'rolled_back', leaseOwner: this.owner, log })))
        return;
      this.transitions++;
      await this.applyResult(trx, c.upgrade, result);
      await this.event(trx, c.upgrade, {
        stepId: step.id,
        type: 'step.rolled_back',
        fromState: 'rolling_back',
        toState: 'rolled_back',
        message: `${step.name}${step.node ? ` on ${step.node}` : ''} reversed`,
      });
      await this.finishRollbackIfDone(trx, c.upgrade);
    });
    this.onChange();
  }

  async finishRollbackIfDone(db: Db, upgrade: Upgrade): Promise<void> {
    const left = await db
      .selectFrom('steps')
      .select('id')
      .where('upgrade_id', '=', upgrade.id)
      .where('rollback_order', 'is not', null)
      .where('state', 'in', ['succeeded', 'rolling_back'])
      .limit(1)
      .executeTakeFirst();
    if (left) return;
    if (await transitionUpgrade(db, { id: upgrade.id, from: ['rolling_back'], to: 'rolled_back', set: { ended_at: now() } })) {
      const fromRelease = typeof upgrade.options.fromRelease === 'string' ? upgrade.options.fromRelease : '';
      await setTargetVersion(db, upgrade.projectId, upgrade.targetId, upgrade.fromVersion, fromRelease);
      await db
        .updateTable('stages')
        .set({ state: 'rolled_back', ended_at: now() })
        .where('upgrade_id', '=', upgrade.id)
        .where('state', 'in', ['succeeded', 'running', 'failed'])
        .execute();
      await this.event(db, upgrade, {
        type: 'upgrade.rolled_back',
        fromState: 'rolling_back',
        toState: 'rolled_back',
        message: `rolled back to ${upgrade.fromVersion}`,
      });
    }
  }

  // ---- recovery ---------------------------------------------------------------------------

  /**
   * Steps whose lease expired (their executor died). On a single-writer store every step not
   * leased by this executor is orphaned at start-up, so recovery need not wait for expiry.
   */
  private async recoverLeases(startup: boolean): Promise<void> {
    let q = this.db.selectFrom('steps').selectAll().where('state', 'in', ['running', 'rolling_back']);
    if (startup && this.store.caps.singleWriter) q = q.where('lease_owner', '!=', this.owner);
    else q = q.where('lease_expires_at', '<', now());
    const rows = await q.limit(500).execute();
    for (const row of rows) await this.recoverStep(toStep(row));
    if (rows.length > 0) this.onChange();
  }

  private async recoverStep(step: Step): Promise<void> {
    const c = await this.context(step);
    if (!c) return;
    this.dirty.add(step.upgradeId);
    const guard = (db: Db, to: string, extra: { error?: string } = {}) =>
      db
        .updateTable('steps')
        .set({ state: to, lease_owner: null, lease_expires_at: null, ...extra })
        .where('id', '=', step.id)
        .where('state', '=', step.state)
        .where('lease_owner', step.leaseOwner === null ? 'is' : '=', step.leaseOwner)
        .executeTakeFirst()
        .then((r) => Number(r.numUpdatedRows) === 1);
    const note = (db: Db, message: string, toState: string) =>
      this.event(db, c.upgrade, { stepId: step.id, type: 'step.recovered', fromState: step.state, toState, message });

    if (step.state === 'rolling_back') {
      // Driver rollbacks are required to be idempotent: reversing twice leaves the old version.
      await this.db.transaction().execute(async (trx) => {
        if (await guard(trx, 'succeeded')) await note(trx, 'rollback interrupted; it will run again', 'succeeded');
      });
      return;
    }
    const policy = c.driver.stepPolicy(step.action, c.target);
    if (policy.idempotent || step.action === 'precheck') {
      await this.db.transaction().execute(async (trx) => {
        if (await guard(trx, 'pending')) await note(trx, 'lease expired; idempotent step re-queued', 'pending');
      });
      return;
    }
    const verdict = c.driver.reconcile ? await c.driver.reconcile(this.makeCtx(step, c.upgrade, c.target, [])) : 'unknown';
    if (verdict === 'not_applied') {
      await this.db.transaction().execute(async (trx) => {
        if (await guard(trx, 'pending'))
          await note(trx, 'lease expired; the step had not taken effect and is re-queued', 'pending');
      });
    } else if (verdict === 'applied') {
      // It took effect before the crash: record it as done, with the topology as it is now.
      const topo = await c.driver.inspect(c.target).catch(() => ({ nodes: [] }));
      await this.db.transaction().execute(async (trx) => {
        if (!(await guard(trx, 'running'))) return;
        await trx.updateTable('steps').set({ lease_owner: this.owner }).where('id', '=', step.id).execute();
        await note(trx, 'lease expired; the step had taken effect and is recorded as done', 'succeeded');
      });
      await this.recordSuccess(step, c.upgrade, { nodes: topo.nodes }, [...step.log, `${now()} recovered: effect found`]);
    } else {
      await this.db.transaction().execute(async (trx) => {
        if (!(await guard(trx, 'running'))) return;
        await trx.updateTable('steps').set({ lease_owner: this.owner }).where('id', '=', step.id).execute();
      });
      await this.recordFailure(
        { ...step, state: 'running' },
        c.upgrade,
        new DriverError(
          'STEP_OUTCOME_UNKNOWN',
          'the step was running when Liftgate stopped and is not safe to run again; check the node, then retry or skip',
        ),
        step.log,
      );
    }
  }

  private lock(db: Db, upgradeId: string): Promise<void> {
    return lockUpgrade(db, upgradeId, this.store.caps.supportsSkipLocked);
  }

  private event(
    db: Db,
    u: Pick<Upgrade, 'id' | 'projectId' | 'targetId'>,
    e: { type: string; message: string; fromState?: string; toState?: string; stepId?: string; data?: Record<string, unknown> },
  ): Promise<void> {
    return appendEvent(db, { projectId: u.projectId, targetId: u.targetId, upgradeId: u.id, actor: 'executor', ...e });
  }
}
