// Housekeeping across replicas: work that must run once for the whole fleet of Liftgate
// processes (promoting scheduled upgrades, recovery sweeps, declaring dead executors, the fleet
// scheduler) runs only on the replica holding the `housekeeping` row of `leader_leases`.
//
// The leader renews its row every heartbeat (once a second). Another replica takes the row over
// only after watching it not change for the executor timeout on its own monotonic clock, or at
// once when the holder's executor row says it stopped or was lost; the takeover is one guarded
// UPDATE on the (term, beats) it watched, so two contenders cannot both win. A leader counts
// itself leader only until 80% of the timeout after the start of its last successful renewal,
// so a leader that was frozen stops acting before anyone else may start.
//
// Use: `housekeeping.every('fleet-scheduler', 1000, async ({ term }) => { ... })` runs the task
// about once a second on whichever replica leads (and nowhere else). Tasks must still make
// their writes guarded statements: the lease makes double runs rare, not impossible (a leader
// frozen in the middle of a task finishes it when it wakes).
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { ExecutorPresence, HOUSEKEEPING_LEASE, LivenessWatch, pruneExecutors, wallClock, type WallClock } from './presence.ts';

export interface HousekeepingTask {
  /** the leader's term: grows with every change of leader */
  term: number;
}

export interface HousekeepingOptions {
  db: Kysely<Database>;
  /** this executor's id (its row in `executors`) */
  executorId: string;
  /** a replica whose heartbeat has not changed for this long is lost (LIFTGATE_EXECUTOR_TIMEOUT_MS) */
  timeoutMs?: number;
  /** heartbeat interval */
  heartbeatMs?: number;
  /** how often the leader looks for lost replicas and due tasks */
  watchMs?: number;
  clock?: WallClock;
  /** executors were declared lost (by this replica, as leader): recover their steps now */
  onLost?: (ids: string[]) => void;
  /** this replica was declared lost while frozen and registered again under a new id */
  onRejoined?: (newId: string) => void;
  onError?: (err: unknown) => void;
}

const ROLE = HOUSEKEEPING_LEASE;

interface Task {
  name: string;
  everyMs: number;
  run: (t: HousekeepingTask) => Promise<void>;
  last: number;
  busy: boolean;
  /** woken while it ran: it runs once more when this run ends */
  again: boolean;
  /** callers of wake() waiting for the next run to end */
  waiters: (() => void)[];
}

export class Housekeeping {
  readonly presence: ExecutorPresence;
  readonly timeoutMs: number;
  private readonly db: Kysely<Database>;
  private readonly heartbeatMs: number;
  private readonly watchMs: number;
  private readonly clock: WallClock;
  private readonly watch: LivenessWatch;
  private readonly running = new Set<Promise<void>>();
  private readonly tasks: Task[] = [];
  private readonly onLost: (ids: string[]) => void;
  private readonly onRejoined: (id: string) => void;
  private readonly onError: (err: unknown) => void;
  private term = 0;
  private renewedAt = -Infinity;
  private seenLease: { holder: string; term: number; beats: number; at: number } | null = null;
  private lastBeat = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;

  constructor(opts: HousekeepingOptions) {
    this.db = opts.db;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.heartbeatMs = opts.heartbeatMs ?? Math.min(1000, Math.max(50, Math.floor(this.timeoutMs / 4)));
    this.watchMs = opts.watchMs ?? Math.min(250, this.heartbeatMs);
    this.clock = opts.clock ?? wallClock;
    this.presence = new ExecutorPresence(this.db, opts.executorId, this.clock);
    this.watch = new LivenessWatch(this.db, () => this.presence.id, this.timeoutMs, this.clock);
    this.onLost = opts.onLost ?? (() => {});
    this.onRejoined = opts.onRejoined ?? (() => {});
    this.onError = opts.onError ?? ((err) => console.error('housekeeping:', err));
  }

  /** Runs `run` about every `everyMs` on the leading replica only. */
  every(name: string, everyMs: number, run: (t: HousekeepingTask) => Promise<void>): void {
    this.tasks.push({ name, everyMs, run, last: -Infinity, busy: false, again: false, waiters: [] });
  }

  /**
   * Runs task `name` now instead of at its next period, when this replica leads (a change it acts
   * on was committed here); a run in progress is followed by one more. Resolves once a run that
   * began after the call has ended, so a caller can answer with what it did; on another replica at
   * once (the leader's next period picks the change up).
   */
  wake(name: string): Promise<void> {
    const task = this.tasks.find((t) => t.name === name);
    if (!task || this.stopped || !this.isLeader()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      task.waiters.push(resolve);
      if (task.busy) task.again = true;
      else this.runTask(task);
    });
  }

  private runTask(task: Task): void {
    task.last = performance.now();
    task.busy = true;
    task.again = false;
    const waiters = task.waiters.splice(0);
    const run = task
      .run({ term: this.term })
      .catch((err) => this.onError(err))
      .finally(() => {
        task.busy = false;
        this.running.delete(run);
        for (const w of waiters) w();
        if (task.again && !this.stopped && this.isLeader()) this.runTask(task);
        else for (const w of task.waiters.splice(0)) w();
      });
    this.running.add(run);
  }

  /** Whether this replica may act as the housekeeping leader right now. */
  isLeader(): boolean {
    return this.term > 0 && performance.now() - this.renewedAt < this.timeoutMs * 0.8;
  }

  leaderTerm(): number {
    return this.isLeader() ? this.term : 0;
  }

  async start(): Promise<void> {
    await this.presence.register();
    this.lastBeat = performance.now();
    await this.lead();
    const loop = () => {
      if (this.stopped) return;
      this.round = this.tick()
        .catch((err) => this.onError(err))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.watchMs);
        });
    };
    this.timer = setTimeout(loop, this.watchMs);
  }

  /** Clean stop: the lease is handed back and the executor row says stopped. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round;
    // tasks run beside the rounds (and when woken): none uses the store once stop returns
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    if (this.term > 0) {
      await this.db
        .deleteFrom('leader_leases')
        .where('name', '=', ROLE)
        .where('holder', '=', this.presence.id)
        .where('term', '=', this.term)
        .execute();
      this.term = 0;
    }
    await this.presence.stop();
  }

  private async tick(): Promise<void> {
    const t = performance.now();
    if (t - this.lastBeat >= this.heartbeatMs) {
      this.lastBeat = t;
      if ((await this.presence.beat()) === 'lost') {
        // We were frozen long enough to be declared lost: our steps are someone else's now.
        this.term = 0;
        const id = await this.presence.rejoin();
        this.onRejoined(id);
      }
    }
    await this.lead();
    const leader = this.isLeader();
    const lost = await this.watch.observe(leader);
    if (lost.length > 0) this.onLost(lost);
    if (!leader) return;
    for (const task of this.tasks) {
      if (task.busy || t - task.last < task.everyMs) continue;
      this.runTask(task);
    }
  }

  /** Renews the lease, or takes it when it is free, stale, or its holder is gone. */
  private async lead(): Promise<void> {
    const t = performance.now();
    const me = this.presence.id;
    const ts = this.clock.now().toISOString();
    if (this.term > 0) {
      if (t - this.renewedAt < this.heartbeatMs) return;
      const res = await this.db
        .updateTable('leader_leases')
        .set((eb) => ({ beats: eb('beats', '+', 1), renewed_at: ts }))
        .where('name', '=', ROLE)
        .where('holder', '=', me)
        .where('term', '=', this.term)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) this.renewedAt = t;
      else this.term = 0;
      return;
    }
    const row = await this.db.selectFrom('leader_leases').selectAll().where('name', '=', ROLE).executeTakeFirst();
    if (!row) {
      const res = await this.db
        .insertInto('leader_leases')
        .values({ name: ROLE, holder: me, term: 1, beats: 0, renewed_at: ts })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 1) this.won(1, t);
      return;
    }
    const s = this.seenLease;
    if (!s || s.holder !== row.holder || s.term !== row.term || s.beats !== row.beats) {
      this.seenLease = { holder: row.holder, term: row.term, beats: row.beats, at: t };
    }
    const stale = t - (this.seenLease as { at: number }).at > this.timeoutMs;
    const holderGone =
      stale ||
      (await this.db
        .selectFrom('executors')
        .select('id')
        .where('id', '=', row.holder)
        .where('state', '=', 'running')
        .executeTakeFirst()) === undefined;
    if (!holderGone) return;
    const res = await this.db
      .updateTable('leader_leases')
      .set({ holder: me, term: row.term + 1, beats: 0, renewed_at: ts })
      .where('name', '=', ROLE)
      .where('term', '=', row.term)
      .where('beats', '=', row.beats)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) this.won(row.term + 1, t);
  }

  private won(term: number, at: number): void {
    this.term = term;
    this.renewedAt = at;
    this.seenLease = null;
    // a new leader forgets executors that ended a day ago
    pruneExecutors(this.db, this.clock, 24 * 3600_000).catch((err) => this.onError(err));
  }
}
