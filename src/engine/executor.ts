// The executor claims runnable steps under a lease, heartbeats them, calls the driver and hands
// each outcome to the state core (src/engine/core/), which records it with one guarded
// transition and moves the DAG on. State lives only in the store, so a restarted executor picks
// up exactly where the last one stopped; a step that was running when its process died is
// recovered by the core's rules (src/engine/core/recovery.ts).
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Step, Target, Upgrade } from '../domain/types.ts';
import { DriverError, type Driver, type StepContext, type StepResult } from '../drivers/driver.ts';
import { toStep, toUpgrade } from '../store/mappers.ts';
import type { Store } from '../store/open.ts';
import {
  applyNodeFacts,
  loadTargets,
  targetsOfRows,
  patchDriverConfig,
  replaceNodes,
  targetKey,
  type NodeFacts,
} from '../store/targets-repo.ts';
import { specialWork } from './claims.ts';
import { FaultPoints } from './fault-points.ts';
import { housekeepWindows } from './windows.ts';
import { BakePause, runBake } from './bake.ts';
import { createReport, finishReport, runPrecheck } from './prechecks.ts';
import { isoIn, isoNow, systemClock, type Clock } from '../domain/clock.ts';
import type { Db } from '../store/schema.ts';
import type { CoreEnv } from './core/env.ts';
import {
  advance,
  recordBakePause,
  recordFailure,
  recordReversal,
  recordReversalFailure,
  recordRetry,
  recordSuccess,
  recordSuccessInOne,
  startUpgrade,
} from './core/progress.ts';
import { DEFAULT_STEP_RECOVERY_LIMIT, recoverStep } from './core/recovery.ts';
import {
  claimRestoreSteps,
  claimRollbackSteps,
  claimSteps,
  recordProgress,
  renewLease,
  updateUpgrade,
  type ClaimRequest,
  type ClaimedRow,
} from './core/writes.ts';
import { timeoutOf } from './core/timeouts.ts';
import { backoffSeconds, retryOf } from './core/retry.ts';

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
  /** the source of time for leases, schedules and windows (tests pass a ManualClock) */
  clock?: Clock;
  onError?: (err: unknown) => void;
  /** called after every committed change, so listeners (SSE, metrics) can refresh */
  onChange?: () => void;
  /** housekeeping (promotion, recovery sweeps) runs only while this says so (one replica leads) */
  leader?: { isLeader(): boolean };
  /** recoveries of one step before it fails with STEP_RECOVERY_LIMIT (default 5) */
  recoveryLimit?: number;
}

/** What a claimed step runs with: its upgrade's plan and its target as read at the claim. */
interface StepRun {
  upgrade: Upgrade;
  target: Target;
}

/** The targets a claim brought with its rows (as JSON), by targetKey. */
function targetsOfClaim(rows: readonly ClaimedRow[]): Map<string, Target> {
  return targetsOfRows(
    rows.flatMap((r) =>
      r.target_json_ ? [{ target: JSON.parse(r.target_json_), nodes: JSON.parse(r.nodes_json_ ?? 'null') ?? [] }] : [],
    ),
  );
}

export class Executor {
  /** this executor's id; changes only when it rejoins after being declared lost */
  owner: string;
  private readonly store: Store;
  private readonly drivers: Map<string, Driver>;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly faults: FaultPoints;
  readonly clock: Clock;
  private readonly onError: (err: unknown) => void;
  private readonly onChange: () => void;
  private readonly leader: { isLeader(): boolean } | null;
  private readonly recoveryLimit: number;
  private readonly env: CoreEnv;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly deadlines = new Map<string, { at: number; fire: () => void }>();
  /** the abort of each step this process runs, by step id (a cancel may stop it) */
  private readonly holding = new Map<string, { fence: number; stop: AbortController }>();
  /** the pending progress report of each running step, written before its outcome */
  private readonly progressFlush = new Map<string, () => Promise<void>>();
  private deadlineTimer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  /** housekeeping in progress (it runs beside the claims, not before them) */
  private maintaining: Promise<void> | null = null;
  /** something outside the executor changed (an API call, another replica): look beyond the dirty upgrades */
  private outsideChange = true;
  private lastOutsideLook = -Infinity;
  /** an upgrade was cancelling or rolling back at the last look */
  private specialSeen = true;
  private lastMaintenance = -Infinity;
  private lastFullClaim = -Infinity;
  private fullClaimMs = 0;
  /** a full claim search is due at the next tick its pacing allows (the first one, a wake) */
  private fullWanted = true;
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
    this.clock = opts.clock ?? systemClock;
    this.onError = opts.onError ?? ((err) => console.error('executor:', err));
    this.onChange = opts.onChange ?? (() => {});
    this.leader = opts.leader ?? null;
    this.recoveryLimit = opts.recoveryLimit ?? DEFAULT_STEP_RECOVERY_LIMIT;
    this.env = {
      clock: this.clock,
      rowLocks: this.store.caps.supportsSkipLocked,
      writableCte: this.store.caps.supportsWritableCte,
      drivers: this.drivers,
    };
    // every running step listens for shutdown on this one signal
    setMaxListeners(0, this.abort.signal);
  }

  private get db() {
    return this.store.db;
  }

  /** the clock's time as stored */
  private ts(): string {
    return isoNow(this.clock);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops claiming; waits for running steps to finish (they keep their lease otherwise). With
   * graceMs, steps still running after it are aborted (drivers see ctx.signal) and left to
   * recovery, as a crash would leave them: a hung driver call cannot hold the stop forever.
   */
  async stop(graceMs?: number): Promise<void> {
    this.running = false;
    this.nudge();
    await this.loop;
    await this.maintaining;
    const all = Promise.allSettled([...this.inflight.values()]);
    if (graceMs === undefined) {
      await all;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const done = await Promise.race([all, late]);
    clearTimeout(timer);
    if (done === 'late') {
      this.abort.abort();
      await all;
    }
  }

  /** Aborts running steps (drivers see ctx.signal) and stops. */
  async kill(): Promise<void> {
    this.abort.abort();
    await this.stop();
  }

  /** Other executors were declared lost: sweep for their steps now rather than on the timer. */
  recoverNow(): void {
    this.lastMaintenance = -Infinity;
    this.wake();
  }

  /**
   * This executor was declared lost while it could not heartbeat (frozen, cut off) and registered
   * again under a new id. The steps it held are being recovered by the leader; the writes it still
   * has in flight name the old id and fence, so their guards refuse them.
   */
  rejoin(owner: string): void {
    this.owner = owner;
    this.wake();
  }

  /**
   * Something outside the executor committed a change (a service call, an operator's action): the
   * next tick looks for new upgrades and searches every running upgrade, as soon as the full
   * search's pacing allows.
   */
  wake(): void {
    this.outsideChange = true;
    this.fullWanted = true;
    this.nudge();
  }

  /** Ends the current sleep (or the next one) without asking for a full search. */
  private nudge(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Steps this process runs now (claimed, their outcome not yet handed to the core). */
  get stepsInFlight(): number {
    return this.inflight.size;
  }

  /** Resolves once no upgrade can make progress without outside help (tests, CLI). */
  async idle(): Promise<void> {
    for (;;) {
      await this.sleep(20);
      if (this.inflight.size > 0) continue;
      const busy = await this.db
        .selectFrom('upgrades')
        .select('id')
        .where('state', 'in', ['ready', 'prechecking', 'running', 'cancelling', 'rolling_back'])
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
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.wakeUp = done;
    });
  }

  /** One round: housekeeping, start due upgrades, claim and launch runnable steps. */
  async tick(): Promise<boolean> {
    // loop pacing only (how often), so the real monotonic clock, not the injected one
    const t = performance.now();
    // housekeeping runs beside the claims: its reads do not hold up the next step's claim
    if (!this.maintaining && t - this.lastMaintenance > Math.min(1000, this.pollMs * 2) && (this.leader?.isLeader() ?? true)) {
      this.lastMaintenance = t;
      // what it touched is in `dirty`; due upgrades it made ready are looked for at the next tick
      this.maintaining = this.guard(() => this.housekeeping()).finally(() => {
        this.maintaining = null;
        this.outsideChange = true;
        this.nudge();
      });
    }
    // A step's outcome changes only its own upgrade; new upgrades, operators' actions and other
    // replicas' work are looked for when told of a change, and on the poll interval.
    const outside = this.outsideChange || t - this.lastOutsideLook >= this.pollMs;
    if (outside) {
      this.outsideChange = false;
      this.lastOutsideLook = t;
    }
    let worked = outside ? await this.startReady() : false;
    const free = this.concurrency - this.inflight.size;
    if (free <= 0) return worked;
    // A finished step can only make its own upgrade's next steps runnable, so after a
    // completion only that upgrade is searched. A full search over every running upgrade runs
    // after a change made outside the executor (wake) and on a timer, which finds work that
    // other processes made runnable. On a single-writer store no other process writes, and what
    // time makes runnable (retry backoffs, windows, scheduled starts, lease recovery) is touched
    // by name, so there the timer is only a safety net and runs rarely: at 10,000 running
    // upgrades the full search is a long synchronous statement that every request waits behind.
    const dirty = [...this.dirty];
    this.dirty.clear();
    // The full search costs more the more upgrades run at once; it is kept under ~10% of the
    // time after a wake (other processes: on a timer too), ~2% on the single writer's timer.
    const since = t - this.lastFullClaim;
    const paced = since >= Math.max(this.pollMs, 250, this.fullClaimMs * 10);
    const timed = this.store.caps.singleWriter ? since >= Math.max(2000, this.fullClaimMs * 50) : paced;
    const full = (this.fullWanted && paced) || timed;
    if (!full && dirty.length === 0) return worked;
    if (full) {
      this.lastFullClaim = t;
      this.fullWanted = false;
    }
    const claimed = await this.claimBy(claimSteps, free, full ? null : dirty);
    if (full) this.fullClaimMs = performance.now() - t;
    if (claimed.length >= free) {
      // Capped by the free slots: runnable work may be left. Left in a changed upgrade, it is
      // searched for again at the next tick; left anywhere (a full search), by the next full one.
      if (full) this.fullWanted = true;
      else for (const id of dirty) this.dirty.add(id);
    }
    if (claimed.length < free && (outside || full || this.specialSeen)) {
      const special = await specialWork(this.db);
      this.specialSeen = special.cancelling || special.rollingBack;
      if (special.cancelling) claimed.push(...(await this.claimBy(claimRestoreSteps, free - claimed.length)));
      if (special.rollingBack && claimed.length < free)
        claimed.push(...(await this.claimBy(claimRollbackSteps, free - claimed.length)));
    }
    const steps = claimed.map(toStep);
    const contexts = await this.contexts(steps, claimed);
    steps.forEach((step, i) => {
      const c = contexts[i];
      // a step re-claimed after a takeover may still have its old run here: one entry per claim
      const key = `${step.id}:${step.fence}`;
      const p = (step.state === 'rolling_back' ? this.runRollback(step, c) : this.runStep(step, c))
        .catch((err) => this.onError(err))
        .finally(() => {
          this.inflight.delete(key);
          this.touch(step.upgradeId);
        });
      this.inflight.set(key, p);
      worked = true;
    });
    return worked;
  }

  /** Marks an upgrade as changed: the next tick looks for its runnable steps first. */
  touch(upgradeId: string): void {
    this.dirty.add(upgradeId);
    this.nudge();
  }

  /** Promotes due scheduled upgrades and recovers steps whose lease expired (by the clock). */
  async housekeeping(): Promise<void> {
    await this.promoteScheduled();
    await this.recoverLeases(false);
  }

  // ---- scheduling -------------------------------------------------------------------------

  /** Scheduled upgrades that are due, windows that close or open again (src/engine/windows.ts). */
  private async promoteScheduled(): Promise<void> {
    const touched = await housekeepWindows(this.store, this.clock, (db, id) => advance(db, this.env, id, 'scheduler'));
    for (const id of touched) this.dirty.add(id);
    if (touched.length > 0) this.onChange();
  }

  private async startReady(): Promise<boolean> {
    const ready = await this.db.selectFrom('upgrades').selectAll().where('state', '=', 'ready').limit(200).execute();
    for (const row of ready) {
      const u = toUpgrade(row);
      await this.db.transaction().execute(async (trx) => {
        if (await startUpgrade(trx, this.env, u)) this.dirty.add(u.id);
      });
    }
    if (ready.length > 0) this.onChange();
    return ready.length > 0;
  }

  // ---- claiming ---------------------------------------------------------------------------

  private leaseUntil(): string {
    return isoIn(this.clock, this.leaseMs);
  }

  /** Claims with one of the state core's claim statements; counts the transitions. */
  private async claimBy(
    claim: (store: Store, r: ClaimRequest) => Promise<ClaimedRow[]>,
    limit: number,
    only: string[] | null = null,
  ): Promise<ClaimedRow[]> {
    const rows = await claim(this.store, {
      owner: this.owner,
      at: () => this.ts(),
      leaseUntil: () => this.leaseUntil(),
      limit,
      only,
      registered: true,
      withTargets: true,
    });
    this.transitions += rows.length;
    return rows;
  }

  /**
   * A cancel stopped these steps (their fence moved on): the calls this process still runs for
   * them are aborted now rather than at their next heartbeat. Their outcomes would be refused.
   */
  abortSteps(steps: { id: string; fence: number }[]): void {
    for (const s of steps) {
      const h = this.holding.get(s.id);
      if (h && h.fence <= s.fence) h.stop.abort();
    }
  }

  // ---- running ----------------------------------------------------------------------------

  /**
   * What a step needs to run. The upgrade's plan (versions, hops, mode, options) never changes
   * once created, so it is cached; the target is read fresh because steps change its nodes.
   */
  private async context(step: Step): Promise<(StepRun & { driver: Driver }) | null> {
    const c = (await this.contexts([step]))[0];
    return c ? { ...c, driver: this.driverOf(c.target) } : null;
  }

  private driverOf(target: Target): Driver {
    const driver = this.drivers.get(target.driver);
    if (!driver) throw new Error(`driver ${target.driver} is not installed`);
    return driver;
  }

  /**
   * The contexts of the steps of one claim, read together: the plans not cached yet in one
   * statement, the targets and their nodes in two, however many steps were claimed.
   */
  private async contexts(steps: readonly Step[], claimed?: readonly ClaimedRow[]): Promise<(StepRun | null)[]> {
    if (steps.length === 0) return [];
    const missing = [...new Set(steps.map((s) => s.upgradeId).filter((id) => !this.plans.has(id)))];
    if (missing.length > 0) {
      const rows = await this.db.selectFrom('upgrades').selectAll().where('id', 'in', missing).execute();
      for (const row of rows) {
        if (this.plans.size >= 5000) this.plans.delete(this.plans.keys().next().value as string);
        this.plans.set(row.id, toUpgrade(row));
      }
    }
    const upgrades = steps.map((s) => this.plans.get(s.upgradeId) ?? null);
    const present = upgrades.filter((u): u is Upgrade => u !== null);
    // PostgreSQL's claim brought each step's target with it (ClaimRequest.withTargets)
    const targets = claimed?.every((r) => r.target_json_ !== undefined)
      ? targetsOfClaim(claimed)
      : await loadTargets(
          this.db,
          present.map((u) => ({ projectId: u.projectId, id: u.targetId })),
        );
    const handedOut = new Set<string>();
    return upgrades.map((upgrade) => {
      if (!upgrade) return null;
      const k = targetKey(upgrade.projectId, upgrade.targetId);
      const found = targets.get(k);
      if (!found) return null;
      // parallel steps of one target each get their own copy
      const target = handedOut.has(k) ? structuredClone(found) : found;
      handedOut.add(k);
      return { upgrade, target };
    });
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
      fence: step.fence,
      owner: this.owner,
      log: (line) => log.push(`${this.ts()} ${line}`),
      progress: this.progressWriter(step, log),
    };
  }

  /**
   * A step's progress reports, written with the log so far at most once a second (the latest
   * wins; a report that arrives while one is written waits for the next round).
   */
  private progressWriter(step: Step, log: string[]): (data: Record<string, unknown>) => void {
    let latest: Record<string, unknown> | null = null;
    let timer: NodeJS.Timeout | null = null;
    let last = 0;
    const flush = async (): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      const data = latest;
      if (!data) return;
      latest = null;
      last = Date.now();
      await recordProgress(this.db, step, this.owner, data, log).catch((err) => this.onError(err));
    };
    // the step's last report is written before its outcome, so the figures it ended on stay
    this.progressFlush.set(step.id, flush);
    return (data) => {
      latest = data;
      if (timer) return;
      timer = setTimeout(() => void flush(), Math.max(0, 1000 - (Date.now() - last)));
      timer.unref();
    };
  }

  /** writes a step's pending progress report now (before its outcome is recorded) */
  private async flushProgress(stepId: string): Promise<void> {
    const flush = this.progressFlush.get(stepId);
    this.progressFlush.delete(stepId);
    await flush?.();
  }

  /**
   * Step timeouts are read on the injected clock (so a test moves time instead of sleeping): one
   * timer for the whole executor looks at the deadlines of the running steps a few times a second.
   */
  private watchDeadline(key: string, at: number, fire: () => void): void {
    this.deadlines.set(key, { at, fire });
    if (this.deadlineTimer) return;
    this.deadlineTimer = setInterval(() => {
      const now = this.clock.now().getTime();
      for (const [id, d] of this.deadlines) {
        if (now < d.at) continue;
        this.deadlines.delete(id);
        d.fire();
      }
      if (this.deadlines.size === 0 && this.deadlineTimer) {
        clearInterval(this.deadlineTimer);
        this.deadlineTimer = null;
      }
    }, 200);
    this.deadlineTimer.unref();
  }

  /**
   * Renews the lease while a step runs. A renewal that finds the step no longer ours (a cancel
   * stopped it, or recovery took it after we were declared lost) calls `lost`: the holder stops
   * acting (its writes would be refused anyway).
   */
  private heartbeat(step: Step, lost?: () => void): () => void {
    // bounded to what one timer takes (Node fires a longer interval every 1 ms instead)
    const every = Math.min(2 ** 31 - 1, Math.max(50, Math.floor(this.leaseMs / 3)));
    const timer = setInterval(() => {
      renewLease(this.db, step, this.owner, this.leaseUntil())
        .then((held) => {
          if (!held) lost?.();
        })
        .catch((err) => this.onError(err));
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async runStep(step: Step, c: StepRun | null): Promise<void> {
    this.faults.hit('step.claimed', step.action);
    if (!c) return;
    const driver = this.driverOf(c.target);
    const log = [...step.log, `${this.ts()} attempt ${step.attempts} on ${this.owner}`];
    // A step may not run forever: a hung driver call is aborted and the step fails.
    const timeoutMs = timeoutOf(c.upgrade.options, step.action, step.params) * 1000;
    const own = new AbortController();
    const onAbort = () => own.abort();
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    // counted from the claim (the step's startedAt), not from when this call got going: the
    // context read before it takes time, and the clock may move meanwhile
    const startedAt = step.startedAt ? Date.parse(step.startedAt) : this.clock.now().getTime();
    this.watchDeadline(`${step.id}:${step.fence}`, startedAt + timeoutMs, () => {
      timedOut = true;
      own.abort();
    });
    const ctx = { ...this.makeCtx(step, c.upgrade, c.target, log), signal: own.signal };
    // a cancel that stops the step (or a takeover) aborts the call: this holder must not go on
    let lost = false;
    const stop = new AbortController();
    stop.signal.addEventListener('abort', () => {
      lost = true;
      own.abort();
    });
    this.holding.set(step.id, { fence: step.fence, stop });
    const stopBeat = this.heartbeat(step, () => stop.abort());
    const cleanup = () => {
      stopBeat();
      if (this.holding.get(step.id)?.stop === stop) this.holding.delete(step.id);
      this.deadlines.delete(`${step.id}:${step.fence}`);
      this.abort.signal.removeEventListener('abort', onAbort);
    };
    let result: StepResult;
    try {
      result =
        step.action === 'precheck'
          ? await this.precheck(ctx, driver)
          : step.action === 'bake'
            ? await this.bake(step, c, ctx, log)
            : await driver.execute(ctx);
    } catch (err) {
      cleanup();
      await this.flushProgress(step.id);
      if (this.abort.signal.aborted) return; // shutting down: the lease expires and recovery decides
      if (lost) return; // the step is no longer ours: whoever has it now records it
      if (err instanceof BakePause && !timedOut) {
        log.push(`${this.ts()} PAUSED: ${err.message}`);
        const ok = await this.store.unit.run((trx) =>
          recordBakePause(trx, this.env, {
            step,
            upgrade: c.upgrade,
            leaseOwner: this.owner,
            fence: step.fence,
            by: 'executor',
            log,
            reason: err.message,
          }),
        );
        if (ok) this.transitions++;
        this.onChange();
        return;
      }
      const e = timedOut ? new DriverError('STEP_TIMEOUT', `${step.name} did not finish within ${timeoutMs / 1000} s`) : err;
      await this.recordFailure(step, c, driver, e, log);
      return;
    }
    cleanup();
    await this.flushProgress(step.id);
    this.faults.hit('step.driver_done', step.action);
    await this.recordSuccess(step, c.upgrade, result, log, c.target);
    this.faults.hit('step.recorded', step.action);
  }

  /**
   * A lone upgrade's bake (./bake.ts): run here, whatever the target's engine. Its progress
   * (its end, its checks' last samples) is written at once and after every sample, not throttled:
   * the end must be stored before the bake waits on it.
   */
  private async bake(step: Step, c: StepRun, ctx: StepContext, log: string[]): Promise<StepResult> {
    // a resumed bake clears the reason its pause left
    await updateUpgrade(this.db, this.clock, c.upgrade.id, ['running'], { pending_reason: null }, null);
    const { checks } = await runBake({
      step,
      target: c.target,
      drivers: this.drivers,
      clock: this.clock,
      signal: ctx.signal,
      save: (p) => recordProgress(this.db, step, this.owner, { ...p }, log),
      log: ctx.log,
    });
    return { data: { checks } };
  }

  private async precheck(ctx: StepContext, driver: Driver): Promise<StepResult> {
    const { upgrade, target } = ctx;
    const reportId = await createReport(this.db, {
      projectId: upgrade.projectId,
      targetId: target.id,
      upgradeId: upgrade.id,
      toVersion: upgrade.toVersion,
    });
    await updateUpgrade(this.db, this.clock, upgrade.id, ['prechecking'], { precheck_report_id: reportId });
    let report;
    try {
      const result = await runPrecheck(driver, {
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
    // force runs past the findings that allow it (not past a zone layout that would collapse zones)
    const failed = report.items.filter((i) => i.status === 'fail' && (!upgrade.force || i.forceable === false));
    if (failed.length > 0) {
      throw new DriverError('PRECHECK_FAILED', `precheck failed: ${failed.map((i) => i.message).join('; ')}`);
    }
    return { data: { reportId } };
  }

  private async recordSuccess(step: Step, upgrade: Upgrade, result: StepResult, log: string[], known?: Target): Promise<void> {
    const outcome = {
      step,
      upgrade,
      leaseOwner: this.owner,
      fence: step.fence,
      by: 'executor' as const,
      log,
      ...(result.data ? { result: result.data } : {}),
    };
    const effects = (db: Db) => this.applyResult(db, upgrade, result, known);
    // PostgreSQL: one round trip (the core's server-side function, which also records node facts)
    const inOne = this.store.caps.serverFunctions && !result.replaceNodes && !result.driverConfig;
    const done = inOne
      ? await recordSuccessInOne(this.store, this.store, this.env, outcome, { facts: this.newFacts(result, known) })
      : await this.store.unit.run((trx) => recordSuccess(trx, this.env, outcome, effects));
    // lost the lease otherwise: whoever holds the step now records it
    if (done.recorded) this.transitions++;
    this.onChange();
    if (done.advanced) this.faults.hit('stage.advanced', step.action);
  }

  /** the node facts a driver reported that differ from what the target already shows */
  private newFacts(result: StepResult, known?: Target): NodeFacts[] {
    return [...(result.nodes ?? []), ...(result.node ? [result.node] : [])].filter((f) => {
      const n = known?.nodes.find((x) => x.name === f.name);
      return !n || (Object.keys(f) as (keyof NodeFacts)[]).some((k) => f[k] !== undefined && f[k] !== n[k]);
    });
  }

  /** Records the node facts a driver reported; facts equal to what the target already shows are not written. */
  private async applyResult(db: Db, upgrade: Upgrade, result: StepResult, known?: Target): Promise<void> {
    const facts = this.newFacts(result, known);
    if (result.replaceNodes) await replaceNodes(db, upgrade.projectId, upgrade.targetId, result.replaceNodes);
    else if (facts.length > 0) await applyNodeFacts(db, upgrade.projectId, upgrade.targetId, facts);
    if (result.driverConfig) await patchDriverConfig(db, upgrade.projectId, upgrade.targetId, result.driverConfig);
  }

  /**
   * A failed run: retried after its backoff when the driver marked the failure transient, says the
   * step is safe to run again and the step has attempts left (src/engine/core/retry.ts); otherwise
   * the step fails, naming how many attempts it had when there were several.
   */
  private async recordFailure(step: Step, c: StepRun, driver: Driver, err: unknown, log: string[]): Promise<void> {
    const { upgrade } = c;
    const code = err instanceof DriverError ? err.code : 'STEP_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    const outcome = { step, upgrade, leaseOwner: this.owner, fence: step.fence, by: 'executor' as const, code };
    const retry = retryOf(upgrade.options, step.action, driver.stepPolicy(step.action, c.target));
    const attempt = step.autoRetries + 1;
    if (err instanceof DriverError && err.transient && retry && attempt < retry.attempts) {
      const delaySeconds = backoffSeconds(retry, attempt);
      const notBefore = isoIn(this.clock, delaySeconds * 1000);
      const plan = { attempt, attempts: retry.attempts, delaySeconds, notBefore };
      const done = await this.store.unit.run((trx) =>
        recordRetry(trx, this.env, { ...outcome, log, error: message, retry: plan }),
      );
      if (done) this.transitions++;
      // the claim reads the injected clock; this wakes the targeted claim when the backoff ends
      // (the timed search over every upgrade would find it too, a little later)
      if (done === 'retrying') this.watchDeadline(`retry:${step.id}`, Date.parse(notBefore), () => this.touch(step.upgradeId));
      this.onChange();
      return;
    }
    const error = attempt > 1 ? `${message} (after ${attempt} attempts)` : message;
    log.push(`${this.ts()} FAILED ${code}: ${error}`);
    const ok = await this.store.unit.run((trx) => recordFailure(trx, this.env, { ...outcome, log, error }));
    if (ok) this.transitions++;
    this.onChange();
  }

  // ---- rollback ---------------------------------------------------------------------------

  private async runRollback(step: Step, c: StepRun | null): Promise<void> {
    if (!c) return;
    const driver = this.driverOf(c.target);
    const log = [...step.log, `${this.ts()} rollback on ${this.owner}`];
    const ctx = this.makeCtx(step, c.upgrade, c.target, log);
    const stopBeat = this.heartbeat(step);
    let result: StepResult;
    try {
      // a precheck and a bake change nothing: there is nothing to undo
      result = step.action === 'precheck' || step.action === 'bake' ? {} : await driver.rollback(ctx);
    } catch (err) {
      this.progressFlush.delete(step.id);
      stopBeat();
      const message = err instanceof Error ? err.message : String(err);
      log.push(`${this.ts()} ROLLBACK FAILED: ${message}`);
      // back to succeeded, so a later rollback request reverses it again
      await this.store.unit.run((trx) =>
        recordReversalFailure(trx, this.env, {
          step,
          upgrade: c.upgrade,
          leaseOwner: this.owner,
          fence: step.fence,
          by: 'executor',
          log,
          error: message,
        }),
      );
      this.onChange();
      return;
    }
    await this.flushProgress(step.id);
    stopBeat();
    this.faults.hit('step.driver_done', step.action);
    const ok = await this.store.unit.run((trx) =>
      recordReversal(
        trx,
        this.env,
        { step, upgrade: c.upgrade, leaseOwner: this.owner, fence: step.fence, by: 'executor', log },
        (db) => this.applyResult(db, c.upgrade, result),
      ),
    );
    if (ok) this.transitions++;
    this.onChange();
  }

  // ---- recovery ---------------------------------------------------------------------------

  /**
   * Steps whose lease expired (their executor died). On a single-writer store every step not
   * leased by this executor is orphaned at start-up, so recovery need not wait for expiry.
   */
  private async recoverLeases(startup: boolean): Promise<void> {
    let q = this.db.selectFrom('steps').selectAll().where('state', 'in', ['running', 'rolling_back']);
    if (startup && this.store.caps.singleWriter) q = q.where('lease_owner', '!=', this.owner);
    else
      q = q.where((eb) =>
        eb.or([
          eb('lease_expires_at', '<', this.ts()),
          // the holder stopped or was declared lost (its heartbeat stopped): no need to wait for the lease
          eb('lease_owner', 'in', eb.selectFrom('executors').select('id').where('state', 'in', ['stopped', 'lost'])),
        ]),
      );
    const rows = await q.limit(500).execute();
    for (const row of rows) await this.recoverStep(toStep(row));
    if (rows.length > 0) this.onChange();
  }

  private recoverStep(step: Step): Promise<boolean> {
    this.dirty.add(step.upgradeId);
    return recoverStep(
      {
        store: this.store,
        env: this.env,
        faults: this.faults,
        limit: this.recoveryLimit,
        context: (s) => this.context(s),
        stepContext: (s, upgrade, target) => this.makeCtx(s, upgrade, target, []),
      },
      step,
    );
  }
}
