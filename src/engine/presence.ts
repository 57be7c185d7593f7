// Executor presence: every executor registers a row in `executors` and heartbeats it every
// second; a replica whose heartbeat stops is declared lost, and its steps are recovered at once
// instead of after their 30 s lease.
//
// Liveness is judged by watching a row change, on the watcher's own monotonic clock (the way
// Kubernetes leader election judges a lease record), never by comparing the writer's timestamp
// with the reader's clock: replicas on machines whose clocks disagree still judge each other
// correctly, and a watcher that was itself frozen does not declare everyone dead when it wakes
// (it has to watch a full timeout again first).
//
// Executor states
//   running   registered and heartbeating
//   stopped   shut down cleanly (its steps finished first)
//   lost      its heartbeat stopped changing for LIFTGATE_EXECUTOR_TIMEOUT_MS; another replica took
//             over its steps. If it was only frozen and wakes, its next heartbeat finds it lost:
//             it registers again under a new id (the old one stays lost, so its steps stay
//             recoverable) and the writes it still had in flight fail the steps' fence guard.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { ExecutorState } from '../domain/types.ts';
import type { Database, ExecutorRow } from '../store/schema.ts';

/** the `leader_leases` row of the replica that runs housekeeping */
export const HOUSEKEEPING_LEASE = 'housekeeping';

export type { ExecutorState };

export interface ExecutorInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  state: ExecutorState;
  endedAt: string | null;
  /** holds the housekeeping lease */
  leader: boolean;
}

export const toExecutorInfo = (r: ExecutorRow, leader: string | null): ExecutorInfo => ({
  id: r.id,
  host: r.host,
  pid: r.pid,
  startedAt: r.started_at,
  heartbeatAt: r.heartbeat_at,
  state: r.state as ExecutorState,
  endedAt: r.ended_at,
  leader: r.id === leader && r.state === 'running',
});

export interface WallClock {
  now(): Date;
}

export const wallClock: WallClock = { now: () => new Date() };

/** A new executor id: readable (host, pid) and unique. */
export const newExecutorId = (): string => `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;

/** This process's own row: registration, heartbeat, clean stop. */
export class ExecutorPresence {
  private lastOk = -Infinity;

  constructor(
    private readonly db: Kysely<Database>,
    public id: string,
    private readonly clock: WallClock = wallClock,
  ) {}

  async register(): Promise<void> {
    const ts = this.clock.now().toISOString();
    await this.db
      .insertInto('executors')
      .values({
        id: this.id,
        host: os.hostname(),
        pid: process.pid,
        started_at: ts,
        heartbeat_at: ts,
        beats: 0,
        state: 'running',
        ended_at: null,
      })
      .execute();
    this.lastOk = performance.now();
  }

  /**
   * One heartbeat. Answers 'lost' when another replica declared this one lost meanwhile (it was
   * frozen or cut off): every step it was running is no longer its own, and it must rejoin().
   */
  async beat(): Promise<'ok' | 'lost'> {
    const started = performance.now();
    const res = await this.db
      .updateTable('executors')
      .set((eb) => ({ beats: eb('beats', '+', 1), heartbeat_at: this.clock.now().toISOString() }))
      .where('id', '=', this.id)
      .where('state', '=', 'running')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) {
      this.lastOk = started;
      return 'ok';
    }
    return 'lost';
  }

  /** Registers again under a new id (after being declared lost); answers the new id. */
  async rejoin(): Promise<string> {
    this.id = newExecutorId();
    await this.register();
    return this.id;
  }

  /** ms since the start of the last heartbeat that was recorded */
  sinceLastBeat(): number {
    return performance.now() - this.lastOk;
  }

  async stop(): Promise<void> {
    await this.db
      .updateTable('executors')
      .set({ state: 'stopped', ended_at: this.clock.now().toISOString() })
      .where('id', '=', this.id)
      .where('state', '=', 'running')
      .execute();
  }
}

/** Watches every registered executor's heartbeat; declares lost the ones that stopped. */
export class LivenessWatch {
  private readonly seen = new Map<string, { beats: number; at: number }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly selfId: () => string,
    private readonly timeoutMs: number,
    private readonly clock: WallClock = wallClock,
  ) {}

  /** Reads the heartbeats; with declare=true marks stale ones lost and answers their ids. */
  async observe(declare: boolean): Promise<string[]> {
    const rows = await this.db.selectFrom('executors').select(['id', 'beats']).where('state', '=', 'running').execute();
    const t = performance.now();
    const present = new Set<string>();
    const stale: { id: string; beats: number }[] = [];
    for (const r of rows) {
      present.add(r.id);
      const s = this.seen.get(r.id);
      if (!s || s.beats !== r.beats) this.seen.set(r.id, { beats: r.beats, at: t });
      else if (r.id !== this.selfId() && t - s.at > this.timeoutMs) stale.push(r);
    }
    for (const id of this.seen.keys()) if (!present.has(id)) this.seen.delete(id);
    if (!declare) return [];
    const lost: string[] = [];
    for (const r of stale) {
      // guarded on the beat count we saw: a heartbeat that lands meanwhile keeps it alive
      const res = await this.db
        .updateTable('executors')
        .set({ state: 'lost', ended_at: this.clock.now().toISOString() })
        .where('id', '=', r.id)
        .where('state', '=', 'running')
        .where('beats', '=', r.beats)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        this.seen.delete(r.id);
        lost.push(r.id);
      }
    }
    return lost;
  }
}

export async function listExecutors(db: Kysely<Database>): Promise<ExecutorInfo[]> {
  const rows = await db.selectFrom('executors').selectAll().orderBy('started_at', 'desc').orderBy('id').limit(500).execute();
  const lease = await db.selectFrom('leader_leases').select('holder').where('name', '=', HOUSEKEEPING_LEASE).executeTakeFirst();
  return rows.map((r) => toExecutorInfo(r, lease?.holder ?? null));
}

/** Forgets executors that ended more than `olderThanMs` ago (the leader prunes them). */
export async function pruneExecutors(db: Kysely<Database>, clock: WallClock, olderThanMs: number): Promise<void> {
  const before = new Date(clock.now().getTime() - olderThanMs).toISOString();
  await db.deleteFrom('executors').where('state', '!=', 'running').where('ended_at', '<', before).execute();
}
