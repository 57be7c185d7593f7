// Orders the exported items so that everything an object needs exists before it: pg_depend,
// with each catalog row mapped to the item that creates it (a column default or an inline CHECK
// to its table, an array type to its element type, a constraint's index to the constraint, a
// view's rewrite rule to the view, an extension's members to the extension), then a topological
// sort that breaks ties by kind and name so the output is stable.
import type pg from 'pg';
import { EXT_OBJECTS_CTE, rows } from './schema-catalog.ts';
import type { Item } from './schema-objects.ts';

/** [dependent item key, required item key] from pg_depend */
export async function dependencyEdges(c: pg.Client): Promise<Array<[string, string]>> {
  const list = await rows<{ a: string; b: string }>(
    c,
    `WITH RECURSIVE ${EXT_OBJECTS_CTE},
     objkey(classid, objid, key) AS (
       SELECT classid, objid, 'ext:' || extoid FROM extobj
       UNION ALL
       SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, CASE
                WHEN c.relkind = 'c' THEN 'type:' || c.reltype
                WHEN c.relkind = 'S' AND idt.refobjid IS NOT NULL THEN 'rel:' || idt.refobjid
                WHEN c.relkind IN ('i', 'I') AND k.oid IS NOT NULL THEN 'con:' || k.oid
                ELSE 'rel:' || c.oid END
         FROM pg_catalog.pg_class c
         LEFT JOIN pg_catalog.pg_depend idt ON idt.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND idt.objid = c.oid
               AND idt.deptype = 'i' AND c.relkind = 'S' AND idt.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
         LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
         LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = c.oid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
        WHERE c.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, CASE
                WHEN b.typrelid <> 0 AND br.relkind <> 'c' THEN 'rel:' || b.typrelid
                ELSE 'type:' || coalesce(mr.rngtypid, b.oid) END
         FROM pg_catalog.pg_type t
         LEFT JOIN pg_catalog.pg_type e ON e.typarray = t.oid
         JOIN pg_catalog.pg_type b ON b.oid = coalesce(e.oid, t.oid)
         LEFT JOIN pg_catalog.pg_class br ON br.oid = b.typrelid
         LEFT JOIN pg_catalog.pg_range mr ON mr.rngmultitypid = b.oid
        WHERE t.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid, CASE
                WHEN k.contypid <> 0 THEN 'type:' || k.contypid
                WHEN k.contype = 'c' AND k.convalidated OR k.contype = 'n' THEN 'rel:' || k.conrelid
                WHEN k.contype = 't' THEN (SELECT 'trg:' || g.oid FROM pg_catalog.pg_trigger g WHERE g.tgconstraint = k.oid LIMIT 1)
                ELSE 'con:' || k.oid END
         FROM pg_catalog.pg_constraint k WHERE k.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid, 'rel:' || d.adrelid FROM pg_catalog.pg_attrdef d WHERE d.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid, CASE WHEN r.rulename = '_RETURN' THEN 'rel:' || r.ev_class ELSE 'rule:' || r.oid END
         FROM pg_catalog.pg_rewrite r WHERE r.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, g.oid, CASE WHEN g.tgisinternal THEN 'con:' || g.tgconstraint ELSE 'trg:' || g.oid END
         FROM pg_catalog.pg_trigger g WHERE g.oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, oid, 'pol:' || oid FROM pg_catalog.pg_policy WHERE oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, 'proc:' || oid FROM pg_catalog.pg_proc WHERE oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, 'nsp:' || oid FROM pg_catalog.pg_namespace WHERE oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, oid, 'ext:' || oid FROM pg_catalog.pg_extension WHERE oid >= 16384
       UNION ALL
       SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, oid, 'stx:' || oid FROM pg_catalog.pg_statistic_ext WHERE oid >= 16384
     ),
     -- an extension's objects map to the extension only
     keyed AS (
       SELECT DISTINCT ON (classid, objid) classid, objid, key FROM objkey
        ORDER BY classid, objid, key LIKE 'ext:%' DESC
     )
     SELECT DISTINCT a.key AS a, b.key AS b
       FROM pg_catalog.pg_depend d
       JOIN keyed a ON a.classid = d.classid AND a.objid = d.objid
       JOIN keyed b ON b.classid = d.refclassid AND b.objid = d.refobjid
      WHERE d.deptype IN ('n', 'a', 'i', 'P', 'S') AND a.key IS NOT NULL AND b.key IS NOT NULL AND a.key <> b.key
        -- a sequence OWNED BY a column is made before its table (the default uses it); OWNED BY comes later
        AND NOT (d.deptype = 'a' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                 AND EXISTS (SELECT 1 FROM pg_catalog.pg_class s WHERE s.oid = d.objid AND s.relkind = 'S'))`,
  );
  return list.map((r) => [r.a, r.b]);
}

/** a binary min-heap on (rank, name) */
class ReadyQueue {
  private readonly heap: Item[] = [];
  private static less(a: Item, b: Item): boolean {
    return a.rank !== b.rank ? a.rank < b.rank : a.name < b.name;
  }
  get size(): number {
    return this.heap.length;
  }
  push(x: Item): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!ReadyQueue.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Item {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && ReadyQueue.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && ReadyQueue.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Items in an order that satisfies every edge between two of them (edges to objects that are not
 * exported are ignored). Items caught in a cycle come last, in name order, and are returned in
 * `cycle` so the caller can report them.
 */
export function orderItems(items: Item[], edges: Array<[string, string]>): { ordered: Item[]; cycle: Item[] } {
  const byKey = new Map(items.map((i) => [i.key, i]));
  const needs = new Map<string, Set<string>>();
  for (const i of items) needs.set(i.key, new Set(i.deps.filter((d) => byKey.has(d) && d !== i.key)));
  for (const [a, b] of edges) if (byKey.has(a) && byKey.has(b) && a !== b) needs.get(a)!.add(b);
  const dependents = new Map<string, string[]>();
  for (const [a, bs] of needs) for (const b of bs) dependents.set(b, [...(dependents.get(b) ?? []), a]);
  const remaining = new Map([...needs].map(([k, v]) => [k, v.size]));
  const ready = new ReadyQueue();
  for (const i of items) if (remaining.get(i.key) === 0) ready.push(i);
  const ordered: Item[] = [];
  while (ready.size > 0) {
    const x = ready.pop();
    ordered.push(x);
    for (const d of dependents.get(x.key) ?? []) {
      const n = remaining.get(d)! - 1;
      remaining.set(d, n);
      if (n === 0) ready.push(byKey.get(d)!);
    }
  }
  const done = new Set(ordered.map((i) => i.key));
  const cycle = items.filter((i) => !done.has(i.key)).sort((a, b) => (a.name < b.name ? -1 : 1));
  return { ordered: [...ordered, ...cycle], cycle };
}
