// The sim driver's tables: the simulated nodes, the armed faults, the exactly-once effect log and
// the log of every call. They belong to the driver, not to the store: the store's Database type does
// not name them, and the driver (and the tests that read its logs) reach them through simDb(). Their
// DDL stays in the store's numbered migrations (001, 002, 004), as existing databases ran it.
import type { Generated, Kysely } from 'kysely';
import { ACTIVE_UPGRADE_STATES } from '../../domain/types.ts';
import type { Database } from '../../store/schema.ts';
import type { PruneRequest } from '../driver.ts';

export interface SimNodeRow {
  project_id: string;
  target_id: string;
  node: string;
  version: string;
  running: number;
  health: string;
  zone: string;
  role: string;
  lag_ms: number;
  disk_free_pct: number;
  updated_at: string;
  /** JSON: SLI values a `regress` fault set on the node (migration 018), over the measured ones */
  slis: string;
}

/** One applied effect of a step; (step_id, effect) is unique (migration 002): exactly once. */
export interface SimEffectRow {
  id: Generated<number>;
  step_id: string;
  project_id: string;
  target_id: string;
  node: string | null;
  action: string;
  effect: string;
  created_at: string;
}

/** One call of the sim driver (migration 004); no unique key, so a repeated call shows. */
export interface SimInvocationRow {
  id: Generated<number>;
  step_id: string;
  fence: number;
  call: string;
  action: string;
  project_id: string;
  target_id: string;
  node: string | null;
  owner: string | null;
  /** what the call did: applied | already_applied | fenced | failed: ... */
  outcome: string | null;
  created_at: string;
}

export interface SimFaultRow {
  id: string;
  project_id: string;
  target_id: string;
  node: string | null;
  step: string;
  kind: string;
  times_left: number;
  created_at: string;
  /** 1: the failure it injects is marked transient (migration 017) */
  transient: number;
  /** JSON parameters of the fault (a regress fault's {sli, value}; migration 018) */
  params: string | null;
}

// a type, not an interface: Kysely's withTables wants an index-compatible record
export type SimTables = {
  sim_nodes: SimNodeRow;
  sim_effects: SimEffectRow;
  sim_faults: SimFaultRow;
  sim_invocations: SimInvocationRow;
};

export type SimDatabase = Database & SimTables;

/** The store's handle (or transaction) with the sim tables in its type; the same connection. */
export function simDb(db: Kysely<Database>): Kysely<SimDatabase> {
  return db.withTables<SimTables>();
}

/**
 * Event retention's part for the sim driver: its effect and call logs older than `before`, of steps
 * whose upgrade is no longer active, read in windows of ids from the oldest and deleted
 * `batchSize` rows a statement. The nodes and faults are state, not logs: they stay.
 */
export async function pruneSimLogs(db: Kysely<SimDatabase>, req: PruneRequest): Promise<number> {
  return (await pruneLog(db, 'sim_invocations', req)) + (await pruneLog(db, 'sim_effects', req));
}

async function pruneLog(
  db: Kysely<SimDatabase>,
  table: 'sim_invocations' | 'sim_effects',
  { before, batchSize, pause }: PruneRequest,
): Promise<number> {
  let total = 0;
  let pos = 0;
  for (;;) {
    const window = await db
      .selectFrom(table)
      .select(['id', 'created_at'])
      .where('id', '>', pos)
      .orderBy('id')
      .limit(batchSize)
      .execute();
    if (window.length === 0 || !window.some((r) => r.created_at < before)) return total;
    const to = Number(window[window.length - 1].id);
    const res = await db
      .deleteFrom(table)
      .where('id', '>', pos)
      .where('id', '<=', to)
      .where('created_at', '<', before)
      .where('step_id', 'not in', (eb) =>
        eb
          .selectFrom('steps')
          .innerJoin('upgrades', 'upgrades.id', 'steps.upgrade_id')
          .select('steps.id')
          .where('upgrades.state', 'in', [...ACTIVE_UPGRADE_STATES]),
      )
      .executeTakeFirst();
    total += Number(res.numDeletedRows);
    pos = to;
    if (window.length < batchSize) return total;
    await pause();
  }
}
