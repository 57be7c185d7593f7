// Targets and their nodes.
import type { Target, TargetNode } from '../domain/types.ts';
import type { Db } from '../engine/transitions.ts';
import { now } from '../engine/transitions.ts';
import { toTarget } from './mappers.ts';

export async function loadTarget(db: Db, projectId: string, id: string): Promise<Target | null> {
  const row = await db
    .selectFrom('targets')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  const nodes = await db
    .selectFrom('nodes')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('target_id', '=', id)
    .execute();
  return toTarget(row, nodes);
}

export async function listTargets(
  db: Db,
  projectId: string,
  filter: { engine?: string; limit?: number; offset?: number } = {},
): Promise<{ items: Target[]; total: number }> {
  let q = db.selectFrom('targets').where('project_id', '=', projectId);
  if (filter.engine) q = q.where('engine', '=', filter.engine);
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await q
    .selectAll()
    .orderBy('id')
    .limit(filter.limit ?? 100)
    .offset(filter.offset ?? 0)
    .execute();
  if (rows.length === 0) return { items: [], total };
  const nodes = await db
    .selectFrom('nodes')
    .selectAll()
    .where('project_id', '=', projectId)
    .where(
      'target_id',
      'in',
      rows.map((r) => r.id),
    )
    .execute();
  return {
    items: rows.map((r) =>
      toTarget(
        r,
        nodes.filter((n) => n.target_id === r.id),
      ),
    ),
    total,
  };
}

export async function insertNodes(db: Db, projectId: string, targetId: string, nodes: TargetNode[]): Promise<void> {
  if (nodes.length === 0) return;
  await db
    .insertInto('nodes')
    .values(
      nodes.map((n, i) => ({
        project_id: projectId,
        target_id: targetId,
        name: n.name,
        ord: i,
        role: n.role,
        zone: n.zone,
        version: n.version,
        health: n.health,
        host: n.host ?? null,
        port: n.port ?? null,
      })),
    )
    .execute();
}

export type NodeFacts = Partial<TargetNode> & { name: string };

/** Records what a driver reported about nodes after a step. */
export async function applyNodeFacts(db: Db, projectId: string, targetId: string, facts: NodeFacts[]): Promise<void> {
  for (const f of facts) {
    const set: Record<string, unknown> = {};
    for (const k of ['role', 'zone', 'version', 'health', 'host', 'port'] as const) {
      if (f[k] !== undefined) set[k] = f[k];
    }
    if (Object.keys(set).length === 0) continue;
    await db
      .updateTable('nodes')
      .set(set)
      .where('project_id', '=', projectId)
      .where('target_id', '=', targetId)
      .where('name', '=', f.name)
      .execute();
  }
}

export async function setTargetVersion(
  db: Db,
  projectId: string,
  targetId: string,
  version: string,
  release: string,
): Promise<void> {
  await db
    .updateTable('targets')
    .set({ version, release, updated_at: now() })
    .where('project_id', '=', projectId)
    .where('id', '=', targetId)
    .execute();
}
