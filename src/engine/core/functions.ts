// The state core's server-side function on PostgreSQL: a step's success, its event, the check of
// its stage and the stage's and upgrade's advance, in one call (one round trip, and the call is
// its own transaction). It makes exactly the moves recordSuccess and advance make in
// ./progress.ts through ./writes.ts, guarded the same way (the upgrade's row lock, the step's
// state, lease owner and fence, the upgrade's state and stage), and the caller names every event
// from the transition table (./table.ts) before the call, so the table stays the one source of
// truth. Anything else (an upgrade paused, cancelling or rolling back, a step of a stage that is
// not the current one) is answered `fallback` before anything is written, and the caller records
// the outcome the long way, in one transaction; so are a driver's effects other than node facts.
import { sql } from 'kysely';
import type { Db } from '../../store/schema.ts';

/** Bump with every change of the body below: replicas of two versions then each call their own. */
export const STEP_SUCCEEDED_FN = 'lg_step_succeeded_v1';

const BODY = `
DECLARE
  u record;
  moved int;
  nxt int;
  ev_stage text := p->>'stage_event';
  at text := p->>'at';
BEGIN
  SELECT state, current_stage, stage_count, to_version INTO u FROM upgrades WHERE id = p->>'upgrade_id' FOR UPDATE;
  IF NOT FOUND OR u.state NOT IN ('prechecking', 'running') OR u.current_stage <> (p->>'stage')::int THEN
    RETURN 'fallback';
  END IF;
  UPDATE steps SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, ended_at = at,
      log = p->>'log', result = CASE WHEN p ? 'result' THEN p->>'result' ELSE result END
    WHERE id = p->>'step_id' AND state = 'running' AND fence = (p->>'fence')::int AND lease_owner = p->>'owner';
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved <> 1 THEN
    RETURN 'lost';
  END IF;
  INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
    VALUES (p->>'project_id', p->>'target_id', p->>'upgrade_id', p->>'step_id', p->>'actor', p->>'step_event',
      'running', 'succeeded', p->>'message', '{}', at);
  -- the node facts the driver reported (as applyNodeFacts in src/store/targets-repo.ts writes them)
  UPDATE nodes n SET
      role = CASE WHEN f ? 'role' THEN f->>'role' ELSE n.role END,
      zone = CASE WHEN f ? 'zone' THEN f->>'zone' ELSE n.zone END,
      version = CASE WHEN f ? 'version' THEN f->>'version' ELSE n.version END,
      health = CASE WHEN f ? 'health' THEN f->>'health' ELSE n.health END,
      host = CASE WHEN f ? 'host' THEN f->>'host' ELSE n.host END,
      port = CASE WHEN f ? 'port' THEN (f->>'port')::int ELSE n.port END,
      engine = CASE WHEN f ? 'engine' THEN f->>'engine' ELSE n.engine END,
      shard = CASE WHEN f ? 'shard' THEN f->>'shard' ELSE n.shard END
    FROM jsonb_array_elements(coalesce(p->'facts', '[]'::jsonb)) f
    WHERE n.project_id = p->>'project_id' AND n.target_id = p->>'target_id' AND n.name = f->>'name';
  IF p ? 'version' THEN
    UPDATE targets SET version = p->>'version', release = p->>'release', engine = coalesce(p->>'engine', engine),
        updated_at = p->>'wall'
      WHERE project_id = p->>'project_id' AND id = p->>'target_id';
  END IF;
  IF EXISTS (SELECT 1 FROM steps WHERE upgrade_id = p->>'upgrade_id' AND stage_index = u.current_stage
      AND state NOT IN ('succeeded', 'skipped')) THEN
    RETURN 'recorded';
  END IF;
  -- the stage is done: it succeeds, and the next starts or the upgrade ends
  INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
    SELECT p->>'project_id', p->>'target_id', p->>'upgrade_id', NULL, p->>'actor', p->>'stage_succeed_event',
      o.state, 'succeeded', 'stage ' || (o.idx + 1) || '/' || u.stage_count || ' ' || o.name || ': succeeded',
      '{"stage":' || o.idx || '}', at
    FROM stages o WHERE o.upgrade_id = p->>'upgrade_id' AND o.idx = u.current_stage AND o.state IN ('running', 'pending');
  UPDATE stages SET state = 'succeeded', ended_at = at
    WHERE upgrade_id = p->>'upgrade_id' AND idx = u.current_stage AND state IN ('running', 'pending');
  nxt := u.current_stage + 1;
  IF nxt >= u.stage_count THEN
    UPDATE upgrades SET state = 'succeeded', updated_at = at, ended_at = at
      WHERE id = p->>'upgrade_id' AND state = u.state AND current_stage = u.current_stage;
    INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
      VALUES (p->>'project_id', p->>'target_id', p->>'upgrade_id', NULL, p->>'actor', p->>'upgrade_succeed_event',
        u.state, 'succeeded', 'upgraded to ' || u.to_version, '{}', at);
    RETURN 'advanced';
  END IF;
  IF u.state = 'prechecking' THEN
    UPDATE upgrades SET state = 'running', updated_at = at, current_stage = nxt
      WHERE id = p->>'upgrade_id' AND state = 'prechecking' AND current_stage = u.current_stage;
    INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
      VALUES (p->>'project_id', p->>'target_id', p->>'upgrade_id', NULL, p->>'actor', p->>'prechecked_event',
        'prechecking', 'running', 'prechecks passed; upgrading', '{}', at);
  ELSE
    UPDATE upgrades SET current_stage = nxt, updated_at = at
      WHERE id = p->>'upgrade_id' AND state = u.state AND current_stage = u.current_stage;
  END IF;
  WITH started AS (
    UPDATE stages SET state = 'running', started_at = coalesce(started_at, at), ended_at = NULL
      WHERE upgrade_id = p->>'upgrade_id' AND idx = nxt AND state = 'pending'
      RETURNING idx, name)
  INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
    SELECT p->>'project_id', p->>'target_id', p->>'upgrade_id', NULL, p->>'actor', p->>'stage_start_event',
      'pending', 'running', 'stage ' || (s.idx + 1) || '/' || u.stage_count || ' ' || s.name || ': running',
      '{"stage":' || s.idx || '}', at
    FROM started s;
  RETURN 'advanced';
END`;

const installed = new WeakMap<object, Promise<void>>();

/**
 * Installs the function in the store's schema once per store (idempotent across replicas: they
 * serialise on an advisory lock and the second finds it there).
 */
export function ensureStepSucceededFn(db: Db, key: object): Promise<void> {
  let p = installed.get(key);
  if (!p) {
    p = install(db);
    installed.set(key, p);
    p.catch(() => installed.delete(key));
  }
  return p;
}

async function install(db: Db): Promise<void> {
  const found = await sql<{ f: string | null }>`SELECT to_regprocedure(${`${STEP_SUCCEEDED_FN}(jsonb)`})::text AS f`.execute(db);
  if (found.rows[0]?.f) return;
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('liftgate core functions'))`.execute(trx);
    const again = await sql<{ f: string | null }>`SELECT to_regprocedure(${`${STEP_SUCCEEDED_FN}(jsonb)`})::text AS f`.execute(
      trx,
    );
    if (again.rows[0]?.f) return;
    await sql.raw(`CREATE FUNCTION ${STEP_SUCCEEDED_FN}(p jsonb) RETURNS text LANGUAGE plpgsql AS $fn$${BODY}$fn$`).execute(trx);
  });
}

export type StepSucceeded = 'lost' | 'recorded' | 'advanced' | 'fallback';

/** One call of the function (see the top of this file); `p` as built by recordSuccessInOne. */
export async function callStepSucceeded(db: Db, p: Record<string, unknown>): Promise<StepSucceeded> {
  const res = await sql<{ r: StepSucceeded }>`SELECT ${sql.raw(STEP_SUCCEEDED_FN)}(${JSON.stringify(p)}::jsonb) AS r`.execute(db);
  return res.rows[0].r;
}
