// Claiming work: each claim is one guarded UPDATE that leases the steps it returns. On
// PostgreSQL the candidates are locked with SKIP LOCKED, so executors in several processes
// never claim the same step; SQLite has a single writer.
import { sql } from 'kysely';
import type { Store } from '../store/open.ts';
import type { StepRow } from '../store/schema.ts';
import { now, type Db } from './transitions.ts';

export interface ClaimRequest {
  owner: string;
  leaseUntil: string;
  limit: number;
  /** search only these upgrades (the ones that just changed); null = every running upgrade */
  only?: string[] | null;
}

/** pending -> running for steps whose stage is current and whose lane predecessors are done */
export async function claimSteps(store: Store, r: ClaimRequest): Promise<StepRow[]> {
  const only = r.only && r.only.length <= 500 ? r.only : null;
  const scope = only ? sql`AND u.id IN (${sql.join(only)})` : sql``;
  const skipLocked = store.caps.supportsSkipLocked ? sql`FOR UPDATE OF s SKIP LOCKED` : sql``;
  const res = await sql<StepRow>`
    UPDATE steps SET state = 'running', lease_owner = ${r.owner}, lease_expires_at = ${r.leaseUntil},
      attempts = attempts + 1, started_at = ${now()}, ended_at = NULL
    WHERE id IN (
      SELECT s.id FROM upgrades u
      JOIN steps s ON s.upgrade_id = u.id AND s.stage_index = u.current_stage
      -- (state || '') keeps the planner from driving the search from every pending step of
      -- the fleet: it must start from the running upgrades and read only their current stage
      WHERE u.state IN ('prechecking', 'running') ${scope} AND (s.state || '') = 'pending'
        AND NOT EXISTS (
          SELECT 1 FROM steps p
          WHERE p.upgrade_id = s.upgrade_id AND p.stage_index = s.stage_index AND p.lane = s.lane
            AND p.ord < s.ord AND p.state NOT IN ('succeeded', 'skipped'))
      ORDER BY u.num, s.seq
      LIMIT ${r.limit} ${skipLocked})
    AND state = 'pending'
    RETURNING *`.execute(store.db);
  return res.rows;
}

/** succeeded -> rolling_back for the newest not-yet-reversed step of each rolling-back upgrade */
export async function claimRollbackSteps(store: Store, r: ClaimRequest): Promise<StepRow[]> {
  const skipLocked = store.caps.supportsSkipLocked ? sql`FOR UPDATE OF s SKIP LOCKED` : sql``;
  const res = await sql<StepRow>`
    UPDATE steps SET state = 'rolling_back', lease_owner = ${r.owner}, lease_expires_at = ${r.leaseUntil},
      attempts = attempts + 1
    WHERE id IN (
      SELECT s.id FROM upgrades u
      JOIN steps s ON s.upgrade_id = u.id AND s.rollback_order IS NOT NULL
      WHERE u.state = 'rolling_back' AND (s.state || '') = 'succeeded'
        AND NOT EXISTS (
          SELECT 1 FROM steps p WHERE p.upgrade_id = s.upgrade_id AND p.rollback_order IS NOT NULL
            AND p.rollback_order < s.rollback_order AND p.state IN ('succeeded', 'rolling_back'))
      ORDER BY u.num
      LIMIT ${r.limit} ${skipLocked})
    AND state = 'succeeded'
    RETURNING *`.execute(store.db);
  return res.rows;
}

export async function anyRollingBack(db: Db): Promise<boolean> {
  const row = await db.selectFrom('upgrades').select('id').where('state', '=', 'rolling_back').limit(1).executeTakeFirst();
  return row !== undefined;
}
