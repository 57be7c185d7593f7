import type { UpgradeEvent } from '../domain/types.ts';
import { toEvent } from '../store/mappers.ts';
import { withActorNames } from './actor-names.ts';
import type { AppContext } from './app-context.ts';

/**
 * The project id under which events of no project are stored: the admin credential's audit trail
 * (src/service/admin-tokens.ts), read through GET /v1/system/events. events.project_id is NOT
 * NULL, and relaxing it would rebuild the whole table on SQLite; no project can have this id
 * (project ids start with a letter or a digit), so no project's reader, webhook or stream sees
 * these events.
 */
export const NO_PROJECT = '_system';

export interface EventFilter {
  afterId?: number;
  /** only events up to this id (a reader following new events stops at the store's horizon) */
  upToId?: number;
  upgradeId?: string;
  targetId?: string;
  /** only events older than this id (paging back through the audit trail) */
  beforeId?: number;
  /** exact types, or `prefix.*` for every type under a prefix */
  types?: string[];
  /** ISO-8601: events at or after this time */
  since?: string;
  limit?: number;
  /** newest first when 'desc' (the audit trail's first page); oldest first otherwise */
  order?: 'asc' | 'desc';
}

export async function listEvents(ctx: AppContext, projectId: string, f: EventFilter = {}): Promise<UpgradeEvent[]> {
  let q = ctx.store.db.selectFrom('events').selectAll().where('project_id', '=', projectId);
  if (f.afterId !== undefined) q = q.where('id', '>', f.afterId);
  if (f.upToId !== undefined) q = q.where('id', '<=', f.upToId);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  if (f.upgradeId) q = q.where('upgrade_id', '=', f.upgradeId);
  if (f.targetId) q = q.where('target_id', '=', f.targetId);
  if (f.types?.length) {
    const types = f.types;
    q = q.where((eb) =>
      eb.or(types.map((t) => (t.endsWith('.*') ? eb('type', 'like', `${t.slice(0, -1)}%`) : eb('type', '=', t)))),
    );
  }
  // created_at is an ISO-8601 UTC string in both dialects, so text order is time order
  if (f.since) q = q.where('created_at', '>=', new Date(f.since).toISOString());
  const rows = await q
    .orderBy('id', f.order === 'desc' ? 'desc' : 'asc')
    .limit(f.limit ?? 200)
    .execute();
  return withActorNames(ctx.store.db, rows.map(toEvent), 'actor');
}

/**
 * The highest event id of the project that event retention deleted (0 when none was). A reader
 * whose position is below it may have missed events: the ones older than the retention, of
 * upgrades and batches that had ended (src/engine/retention.ts).
 */
export async function prunedThrough(ctx: Pick<AppContext, 'store'>, projectId: string): Promise<number> {
  const row = await ctx.store.db
    .selectFrom('event_retention')
    .select('pruned_through')
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.pruned_through ?? 0);
}
