import type { UpgradeEvent } from '../domain/types.ts';
import { toEvent } from '../store/mappers.ts';
import type { AppContext } from './context.ts';

export interface EventFilter {
  afterId?: number;
  upgradeId?: string;
  targetId?: string;
  limit?: number;
}

export async function listEvents(ctx: AppContext, projectId: string, f: EventFilter = {}): Promise<UpgradeEvent[]> {
  let q = ctx.store.db.selectFrom('events').selectAll().where('project_id', '=', projectId);
  if (f.afterId !== undefined) q = q.where('id', '>', f.afterId);
  if (f.upgradeId) q = q.where('upgrade_id', '=', f.upgradeId);
  if (f.targetId) q = q.where('target_id', '=', f.targetId);
  const rows = await q
    .orderBy('id')
    .limit(f.limit ?? 200)
    .execute();
  return rows.map(toEvent);
}
