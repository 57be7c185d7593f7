// Service-level indicators of a postgres cluster (Driver.slis), read from the live servers:
//   replication_lag_seconds  the largest replay lag of the replicas: 0 for a replica that has replayed
//                            the primary's current LSN (an idle primary shows no lag, however old its
//                            last commit); for one behind, the primary's pg_stat_replication.replay_lag
//                            (WAL flushed on the primary -> replayed on the replica; it keeps growing
//                            while replay is stuck), or, when the primary has no such figure (the
//                            replica is not streaming from it), the replica's now() -
//                            pg_last_xact_replay_timestamp()
//   rollback_rate            transactions rolled back per second, all nodes (pg_stat_database.xact_rollback)
//   conflict_rate            queries cancelled by recovery conflicts per second on the replicas
//                            (pg_stat_database.conflicts, the total of pg_stat_database_conflicts)
//   failed_connections       connection attempts refused since the previous sample: the FATAL
//                            refusals at connection start each server wrote to its log (too many
//                            clients, unknown database or role, authentication, starting up or
//                            shutting down), plus the clients PgBouncer refused ("pooler error") when
//                            the target has a pooler (a client refused by the server behind the
//                            pooler counts once, not twice). A node that refuses the driver's own
//                            probe is not counted there: it makes the sample fail (below).
// Counters are kept in memory per cluster and node; rates are over the time since the previous
// sample of the same cluster. The first sample of a cluster (or the first after the driver's process
// started) reads every counter twice, FIRST_INTERVAL_MS apart, so every indicator is there at once.
// A node that is not running or does not answer makes the whole sample throw a DriverError naming
// it: an indicator of a cluster missing a node would say nothing true.
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SliName } from '../../domain/types.ts';
import { DriverError } from '../driver.ts';
import * as cl from './cluster.ts';
import type { ClusterState, NodeLayout } from './cluster.ts';
import * as pooler from './pooler.ts';
import * as server from './server.ts';

export type Slis = Partial<Record<SliName, number>>;

/** how far apart the two readings of a cluster's first sample are */
export const FIRST_INTERVAL_MS = 500;

/** what a server says to a connection it refuses at start (in its log after "FATAL:  ") */
const REFUSED =
  /(sorry, too many clients|remaining connection slots are reserved|too many connections for|the database system is (starting up|shutting down|not yet accepting|not accepting|in recovery mode)|database ".*" does not exist|database ".*" is not currently accepting|role ".*" (does not exist|is not permitted to log in)|no pg_hba\.conf entry|pg_hba\.conf rejects|.*authentication failed for user|permission denied for database)/;
const SERVER_REFUSAL = new RegExp(`\\bFATAL:\\s+${REFUSED.source}`);
/** PgBouncer logs every error it sends a client it refuses or drops (log_pooler_errors, on by default) */
const POOLER_REFUSAL = /pooler error:/;
/**
 * PgBouncer's own login to a server that refused it: that refusal is in the server's log too, and
 * the client it was for is counted by its pooler error, so it is taken off once
 */
const POOLER_SERVER_REFUSED = new RegExp(`server login failed: FATAL\\s+${REFUSED.source}`);

interface Reading {
  at: number;
  /** per node: xact_rollback, conflicts, server log size read up to */
  nodes: Map<string, { rollbacks: number; conflicts: number; logAt: number }>;
  poolerLogAt: number;
}

interface Counted {
  reading: Reading;
  refused: number;
}

/** the previous reading of each cluster (by its folder) */
const previous = new Map<string, Reading>();

const sizeOf = async (file: string): Promise<number> => (await stat(file).catch(() => ({ size: 0 }))).size;

/** lines matching each of `res` in a file from byte `from` (to its end); a file that shrank is read from its start */
async function countLines(file: string, from: number, res: RegExp[]): Promise<{ counts: number[]; at: number }> {
  const none = { counts: res.map(() => 0) };
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return { ...none, at: 0 };
  }
  const start = from > size ? 0 : from;
  if (size === start) return { ...none, at: size };
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    // a line still being written is left for the next sample
    const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a) + 1;
    const lines = buf.subarray(0, end).toString('utf8').split('\n');
    return { counts: res.map((re) => lines.filter((l) => re.test(l)).length), at: start + end };
  } finally {
    await fh.close();
  }
}

function unreachable(n: NodeLayout, why: string): DriverError {
  return new DriverError('NODE_UNREACHABLE', `${n.name} (:${n.port}) cannot be reached: ${why}`, true);
}

async function ask<R extends Record<string, unknown>>(n: NodeLayout, sql: string, params: unknown[] = []): Promise<R> {
  if (!cl.nodeRunning(n)) throw unreachable(n, 'it is not running');
  try {
    const [r] = await server.query<R>(n.port, sql, params);
    return r!;
  } catch (e) {
    throw unreachable(n, (e as Error).message);
  }
}

/** every node's counters, and the refusals logged since `prev` (none when there is no reading before) */
async function read(state: ClusterState, prev: Reading | undefined): Promise<Counted> {
  const reading: Reading = { at: Date.now(), nodes: new Map(), poolerLogAt: 0 };
  let refused = 0;
  // the pooler's log first: a server refusal it logged is then surely in the server's log read next
  if (state.pooler) {
    if (!pooler.poolerRunning(state.root))
      throw new DriverError('NODE_UNREACHABLE', `pgbouncer (:${state.pooler.port}) cannot be reached: it is not running`, true);
    const file = path.join(state.root, 'pooler', 'pgbouncer.log');
    if (prev) {
      const log = await countLines(file, prev.poolerLogAt, [POOLER_REFUSAL, POOLER_SERVER_REFUSED]);
      refused += log.counts[0]! - log.counts[1]!;
      reading.poolerLogAt = log.at;
    } else {
      reading.poolerLogAt = await sizeOf(file);
    }
  }
  for (const n of state.nodes) {
    const r = await ask<{ rollbacks: string; conflicts: string }>(
      n,
      `SELECT COALESCE(sum(xact_rollback), 0)::bigint::text AS rollbacks, COALESCE(sum(conflicts), 0)::bigint::text AS conflicts
         FROM pg_stat_database`,
    );
    const before = prev?.nodes.get(n.name);
    let logAt: number;
    if (before) {
      const log = await countLines(cl.logFile(n), before.logAt, [SERVER_REFUSAL]);
      refused += log.counts[0]!;
      logAt = log.at;
    } else {
      // with no reading before, the log is measured from here on
      logAt = await sizeOf(cl.logFile(n));
    }
    reading.nodes.set(n.name, { rollbacks: Number(r.rollbacks), conflicts: Number(r.conflicts), logAt });
  }
  return { reading, refused: Math.max(0, refused) };
}

/** growth of a counter; one that went back (stats reset, crash) counts from zero */
const grown = (now: number, before: number | undefined): number =>
  before === undefined ? 0 : now >= before ? now - before : now;

/** the largest replay lag of the replicas, in seconds (see the head of this file) */
async function replicationLag(state: ClusterState): Promise<number> {
  const primary = await cl.findPrimary(state);
  const p = await ask<{ lsn: string; senders: { name: string; lag: number | null }[] }>(
    primary,
    `SELECT pg_current_wal_lsn()::text AS lsn,
            COALESCE((SELECT json_agg(json_build_object('name', application_name, 'lag', EXTRACT(epoch FROM replay_lag)))
                        FROM pg_stat_replication), '[]'::json) AS senders`,
  );
  let worst = 0;
  for (const n of state.nodes) {
    if (n.name === primary.name) continue;
    const r = await ask<{ behind: boolean | null; since: number | null }>(
      n,
      `SELECT pg_last_wal_replay_lsn() < $1::pg_lsn AS behind,
              EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since`,
      [p.lsn],
    );
    // null: the node is not in recovery (a second primary is no replica of this one) or replayed nothing yet
    if (r.behind === false) continue;
    const sender = p.senders.find((s) => s.name === n.name);
    const lag = sender?.lag ?? r.since ?? 0;
    worst = Math.max(worst, Number(lag));
  }
  return Math.round(worst * 1000) / 1000;
}

/** the cluster's indicators now; rates over the time since the previous call for the same cluster */
export async function measureSlis(state: ClusterState): Promise<Slis> {
  let prev = previous.get(state.root);
  // a cluster whose nodes changed (a node added, renamed) is measured afresh
  if (prev && state.nodes.some((n) => !prev!.nodes.has(n.name))) prev = undefined;
  if (!prev) {
    prev = (await read(state, undefined)).reading;
    await sleep(FIRST_INTERVAL_MS);
  }
  const { reading, refused } = await read(state, prev);
  const lag = await replicationLag(state);
  const seconds = Math.max(0.001, (reading.at - prev.at) / 1000);
  let rollbacks = 0;
  let conflicts = 0;
  for (const [name, now] of reading.nodes) {
    const before = prev.nodes.get(name);
    rollbacks += grown(now.rollbacks, before?.rollbacks);
    conflicts += grown(now.conflicts, before?.conflicts);
  }
  previous.set(state.root, reading);
  const rate = (x: number): number => Math.round((x / seconds) * 1000) / 1000;
  return {
    replication_lag_seconds: lag,
    rollback_rate: rate(rollbacks),
    conflict_rate: rate(conflicts),
    failed_connections: refused,
  };
}

/** forget a cluster's readings (it was destroyed) */
export function forgetSlis(root: string): void {
  previous.delete(root);
}
