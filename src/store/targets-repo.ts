// Targets and their nodes.
import type { Target, TargetNode } from '../domain/types.ts';
import type { Db } from './schema.ts';
import { now } from '../domain/clock.ts';
import { toTarget } from './mappers.ts';
import type { NodeRow, TargetRow } from './schema.ts';
import type { Selectable } from 'kysely';

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

/**
 * Several targets with their nodes in two statements (the executor's claim of many steps);
 * keyed by targetKey(projectId, id). Absent targets are absent from the map.
 */
export async function loadTargets(db: Db, refs: readonly { projectId: string; id: string }[]): Promise<Map<string, Target>> {
  const found = new Map<string, Target>();
  if (refs.length === 0) return found;
  const projects = [...new Set(refs.map((r) => r.projectId))];
  const ids = [...new Set(refs.map((r) => r.id))];
  const wanted = new Set(refs.map((r) => targetKey(r.projectId, r.id)));
  const rows = await db.selectFrom('targets').selectAll().where('project_id', 'in', projects).where('id', 'in', ids).execute();
  const nodes = await db
    .selectFrom('nodes')
    .selectAll()
    .where('project_id', 'in', projects)
    .where('target_id', 'in', ids)
    .execute();
  const byTarget = new Map<string, NodeRow[]>();
  for (const n of nodes) {
    const k = targetKey(n.project_id, n.target_id);
    const list = byTarget.get(k);
    if (list) list.push(n);
    else byTarget.set(k, [n]);
  }
  for (const r of rows) {
    const k = targetKey(r.project_id, r.id);
    // the two IN lists also match other projects' targets of the same id
    if (wanted.has(k)) found.set(k, toTarget(r, byTarget.get(k) ?? []));
  }
  return found;
}

/** Targets from rows read elsewhere (a claim brings them as JSON), by targetKey. */
export function targetsOfRows(rows: readonly { target: Selectable<TargetRow>; nodes: NodeRow[] }[]): Map<string, Target> {
  return new Map(rows.map((r) => [targetKey(r.target.project_id, r.target.id), toTarget(r.target, r.nodes)]));
}

export const targetKey = (projectId: string, id: string): string => `${projectId}\u0000${id}`;

export interface TargetFilter {
  engine?: string;
  version?: string;
  /** every key must have this value */
  labels?: Record<string, string>;
  limit?: number;
  offset?: number;
}

export async function listTargets(
  db: Db,
  projectId: string,
  filter: TargetFilter = {},
): Promise<{ items: Target[]; total: number }> {
  let q = db.selectFrom('targets').where('project_id', '=', projectId);
  if (filter.engine) q = q.where('engine', '=', filter.engine);
  if (filter.version) q = q.where('version', '=', filter.version);
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom('target_labels as l')
          .select('l.key')
          .whereRef('l.project_id', '=', 'targets.project_id')
          .whereRef('l.target_id', '=', 'targets.id')
          .where('l.key', '=', key)
          .where('l.value', '=', value),
      ),
    );
  }
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
        engine: n.engine ?? null,
        shard: n.shard ?? null,
      })),
    )
    .execute();
}

export type NodeFacts = Partial<TargetNode> & { name: string };

/** A target moved onto other nodes (a blue/green cutover): its node list is replaced as a whole. */
export async function replaceNodes(db: Db, projectId: string, targetId: string, nodes: TargetNode[]): Promise<void> {
  await db.deleteFrom('nodes').where('project_id', '=', projectId).where('target_id', '=', targetId).execute();
  await insertNodes(db, projectId, targetId, nodes);
}

/** Merges keys a driver changed into a target's driverConfig. */
export async function patchDriverConfig(
  db: Db,
  projectId: string,
  targetId: string,
  patch: Record<string, unknown>,
): Promise<void> {
  const row = await db
    .selectFrom('targets')
    .select('driver_config')
    .where('project_id', '=', projectId)
    .where('id', '=', targetId)
    .executeTakeFirst();
  if (!row) return;
  const cfg = { ...(JSON.parse(row.driver_config) as Record<string, unknown>), ...patch };
  await db
    .updateTable('targets')
    .set({ driver_config: JSON.stringify(cfg), updated_at: now() })
    .where('project_id', '=', projectId)
    .where('id', '=', targetId)
    .execute();
}

/** Records what a driver reported about nodes after a step. */
export async function applyNodeFacts(db: Db, projectId: string, targetId: string, facts: NodeFacts[]): Promise<void> {
  for (const f of facts) {
    const set: Record<string, unknown> = {};
    for (const k of ['role', 'zone', 'version', 'health', 'host', 'port', 'engine', 'shard'] as const) {
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
  /** the engine moves with the version on a route that changes it */
  engine?: string | null,
): Promise<void> {
  await db
    .updateTable('targets')
    .set({ version, release, ...(engine ? { engine } : {}), updated_at: now() })
    .where('project_id', '=', projectId)
    .where('id', '=', targetId)
    .execute();
}

/** Replaces a target's labels: the JSON column shown with the target and the index rows filters use. */
export async function setLabels(db: Db, projectId: string, targetId: string, labels: Record<string, string>): Promise<void> {
  await db.deleteFrom('target_labels').where('project_id', '=', projectId).where('target_id', '=', targetId).execute();
  const rows = Object.entries(labels).map(([key, value]) => ({ project_id: projectId, target_id: targetId, key, value }));
  if (rows.length > 0) await db.insertInto('target_labels').values(rows).execute();
  await db
    .updateTable('targets')
    .set({ labels: JSON.stringify(labels) })
    .where('project_id', '=', projectId)
    .where('id', '=', targetId)
    .execute();
}
