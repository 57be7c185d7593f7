// DDL for tables, read from the catalog: columns (types, collations, defaults, identity, generated,
// NOT NULL, storage), CHECK constraints inline, inheritance and declarative partitioning, storage
// parameters, replica identity and row-level security; then primary key, unique and exclusion
// constraints, secondary indexes and the attachments of partition indexes, and foreign keys.
//
// Partitioned tables are built as pg_dump builds them: every partition first, then each index
// ON ONLY the parent, each partition's own index, and ALTER INDEX ... ATTACH PARTITION. Creating
// a partition after its parent's indexes would make PostgreSQL build them under generated names.
import type pg from 'pg';
import { EXT_OBJECTS_CTE, rows, userObject, userSchema } from './schema-catalog.ts';
import { RANK, withOptions, type Item } from './schema-objects.ts';

const q = (sql: string): string => `WITH RECURSIVE ${EXT_OBJECTS_CTE} ${sql}`;

interface TableRow {
  oid: number;
  name: string;
  relkind: string;
  unlogged: boolean;
  is_partition: boolean;
  replident: string;
  rls: boolean;
  force_rls: boolean;
  options: string[] | null;
  toast_options: string[] | null;
  partkey: string | null;
  bound: string | null;
  am: string | null;
  parents: string[] | null;
  parent_oids: number[] | null;
}

interface ColumnRow {
  rel: number;
  num: number;
  name: string;
  type: string;
  notnull: boolean;
  def: string | null;
  identity: string;
  generated: string;
  local: boolean;
  collation: string | null;
  storage: string | null;
  compression: string | null;
  stattarget: number | null;
  options: string[] | null;
  seq: { name: string; start: string; inc: string; min: string; max: string; cache: string; cycle: boolean } | null;
}

interface CheckRow {
  rel: number;
  name: string;
  def: string;
  valid: boolean;
  local: boolean;
  oid: number;
}

const STORAGE: Record<string, string> = { p: 'PLAIN', e: 'EXTERNAL', m: 'MAIN', x: 'EXTENDED' };
const COMPRESSION: Record<string, string> = { p: 'pglz', l: 'lz4' };

function columnDef(col: ColumnRow, withIdentity: boolean): string {
  let s = `${col.name} ${col.type}`;
  if (col.collation) s += ` COLLATE ${col.collation}`;
  if (col.generated) s += ` GENERATED ALWAYS AS (${col.def}) ${col.generated === 'v' ? 'VIRTUAL' : 'STORED'}`;
  else if (col.def !== null) s += ` DEFAULT ${col.def}`;
  if (col.notnull) s += ' NOT NULL';
  if (withIdentity && col.identity && col.seq) {
    const o = col.seq;
    s +=
      ` GENERATED ${col.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY (SEQUENCE NAME ${o.name}` +
      ` START WITH ${o.start} INCREMENT BY ${o.inc} MINVALUE ${o.min} MAXVALUE ${o.max} CACHE ${o.cache}${o.cycle ? ' CYCLE' : ' NO CYCLE'})`;
  }
  return s;
}

export interface TableSet {
  items: Item[];
  /** partitioned table oid -> all its partitions, at any depth */
  descendants: Map<number, number[]>;
}

export async function tableItems(c: pg.Client): Promise<TableSet> {
  const tables = await rows<TableRow>(
    c,
    q(`SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relkind, c.relpersistence = 'u' AS unlogged,
              c.relispartition AS is_partition, c.relreplident::text AS replident, c.relrowsecurity AS rls, c.relforcerowsecurity AS force_rls,
              c.reloptions AS options, t.reloptions AS toast_options,
              CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partkey,
              CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS bound,
              am.amname AS am,
              (SELECT pg_catalog.array_agg(pg_catalog.format('%I.%I', pn.nspname, p.relname) ORDER BY i.inhseqno)
                 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
                 JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid) AS parents,
              (SELECT pg_catalog.array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS parent_oids
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
        WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND c.reloftype = 0
          AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 2`),
  );
  const oids = tables.map((t) => t.oid);
  const columns = await rows<ColumnRow>(
    c,
    `SELECT a.attrelid AS rel, a.attnum AS num, pg_catalog.quote_ident(a.attname) AS name,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity::text AS identity, a.attgenerated::text AS generated,
            a.attislocal AS local,
            CASE WHEN a.attcollation <> t.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS collation,
            CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
            NULLIF(a.attcompression::text, '') AS compression,
            NULLIF(a.attstattarget::int, -1) AS stattarget, a.attoptions AS options,
            (SELECT pg_catalog.json_build_object('name', pg_catalog.format('%I.%I', sn.nspname, sc.relname), 'start', s.seqstart::text,
                      'inc', s.seqincrement::text, 'min', s.seqmin::text, 'max', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle)
               FROM pg_catalog.pg_depend dp JOIN pg_catalog.pg_class sc ON sc.oid = dp.objid
               JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid
              WHERE dp.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dp.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND dp.refobjid = a.attrelid AND dp.refobjsubid = a.attnum AND dp.deptype = 'i' AND sc.relkind = 'S'
              LIMIT 1) AS seq
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
       LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
      WHERE a.attrelid = ANY($1::pg_catalog.oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [oids],
  );
  const checks = await rows<CheckRow>(
    c,
    `SELECT k.conrelid AS rel, pg_catalog.quote_ident(k.conname) AS name, pg_catalog.pg_get_constraintdef(k.oid) AS def,
            k.convalidated AS valid, k.conislocal AS local, k.oid
       FROM pg_catalog.pg_constraint k WHERE k.conrelid = ANY($1::pg_catalog.oid[]) AND k.contype = 'c'
      ORDER BY k.conrelid, k.conname`,
    [oids],
  );
  const colsOf = new Map<number, ColumnRow[]>();
  for (const col of columns) colsOf.set(col.rel, [...(colsOf.get(col.rel) ?? []), col]);
  const byOid = new Map(tables.map((t) => [t.oid, t]));

  const items: Item[] = [];
  for (const t of tables) {
    const cols = colsOf.get(t.oid) ?? [];
    const local = checks.filter((k) => k.rel === t.oid && k.local);
    const inline = local.filter((k) => k.valid).map((k) => `CONSTRAINT ${k.name} ${k.def}`);
    const opts = [...withOptions(t.options), ...withOptions(t.toast_options, 'toast.')];
    const tail =
      (t.partkey ? ` PARTITION BY ${t.partkey}` : '') +
      (t.am && t.am !== 'heap' ? ` USING ${t.am}` : '') +
      (opts.length ? ` WITH (${opts.join(', ')})` : '');
    const kind = t.unlogged ? 'UNLOGGED TABLE' : 'TABLE';
    const sql: string[] = [];
    // columns a partition or inheritance child takes from its parents come with them; only
    // what differs from the first parent that has the column is set on the child
    const parentCols = new Map<string, ColumnRow>();
    for (const p of t.parent_oids ?? [])
      for (const pc of colsOf.get(p) ?? []) if (!parentCols.has(pc.name)) parentCols.set(pc.name, pc);
    if (t.is_partition) {
      const elems = inline.length ? ` (\n  ${inline.join(',\n  ')}\n)` : '';
      sql.push(`CREATE ${kind} ${t.name} PARTITION OF ${t.parents![0]}${elems}\n${t.bound}${tail}`);
    } else {
      const elems = [...cols.filter((x) => x.local).map((x) => columnDef(x, true)), ...inline];
      const inherits = t.parents?.length ? ` INHERITS (${t.parents.join(', ')})` : '';
      sql.push(`CREATE ${kind} ${t.name} (\n  ${elems.join(',\n  ')}\n)${inherits}${tail}`);
    }
    for (const col of cols) {
      const alter = `ALTER TABLE ${t.name} ALTER COLUMN ${col.name}`;
      const inherited = parentCols.get(col.name);
      if (inherited && (t.is_partition || !col.local) && !col.generated) {
        if (col.def !== null && col.def !== inherited.def) sql.push(`${alter} SET DEFAULT ${col.def}`);
        if (col.def === null && inherited.def !== null) sql.push(`${alter} DROP DEFAULT`);
        if (col.notnull && !inherited.notnull) sql.push(`${alter} SET NOT NULL`);
      }
      if (col.storage) sql.push(`${alter} SET STORAGE ${STORAGE[col.storage]}`);
      if (col.compression) sql.push(`${alter} SET COMPRESSION ${COMPRESSION[col.compression]}`);
      if (col.stattarget !== null) sql.push(`${alter} SET STATISTICS ${col.stattarget}`);
      if (col.options?.length) sql.push(`${alter} SET (${col.options.join(', ')})`);
    }
    if (t.replident === 'f') sql.push(`ALTER TABLE ${t.name} REPLICA IDENTITY FULL`);
    if (t.replident === 'n') sql.push(`ALTER TABLE ${t.name} REPLICA IDENTITY NOTHING`);
    if (t.rls) sql.push(`ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY`);
    if (t.force_rls) sql.push(`ALTER TABLE ${t.name} FORCE ROW LEVEL SECURITY`);
    const deps = (t.parent_oids ?? []).map((p) => `rel:${p}`);
    items.push({ key: `rel:${t.oid}`, rank: RANK.table, name: t.name, sql, deps });
    for (const k of local.filter((x) => !x.valid)) {
      const only = / NO INHERIT\b/.test(k.def) ? 'ONLY ' : '';
      items.push({
        key: `con:${k.oid}`,
        rank: RANK.constraint,
        name: `${k.name} on ${t.name}`,
        sql: [`ALTER TABLE ${only}${t.name} ADD CONSTRAINT ${k.name} ${k.def}`],
        deps: [`rel:${t.oid}`],
      });
    }
  }

  const descendants = new Map<number, number[]>();
  const childrenOf = (p: number): number[] => tables.filter((t) => t.is_partition && t.parent_oids?.[0] === p).map((t) => t.oid);
  for (const t of tables) {
    if (t.relkind !== 'p') continue;
    const all: number[] = [];
    const stack = childrenOf(t.oid);
    while (stack.length) {
      const x = stack.pop()!;
      all.push(x);
      if (byOid.get(x)?.relkind === 'p') stack.push(...childrenOf(x));
    }
    descendants.set(t.oid, all);
  }
  return { items, descendants };
}

interface IndexRow {
  oid: number;
  key: string;
  name: string;
  short: string;
  tbl: string;
  rel: number;
  def: string;
  clustered: boolean;
  replident: boolean;
  parent_key: string | null;
  constraint_name: string | null;
}

/**
 * Primary key, unique and exclusion constraints and the other indexes, with CLUSTER ON, REPLICA
 * IDENTITY USING INDEX and the attachment of each partition's index to its parent's.
 */
export async function indexItems(c: pg.Client, descendants: Map<number, number[]>): Promise<Item[]> {
  const list = await rows<IndexRow>(
    c,
    q(`SELECT i.indexrelid AS oid, coalesce('con:' || k.oid, 'rel:' || i.indexrelid) AS key,
              pg_catalog.format('%I.%I', n.nspname, ic.relname) AS name, pg_catalog.quote_ident(ic.relname) AS short,
              pg_catalog.format('%I.%I', n.nspname, tc.relname) AS tbl,
              i.indrelid AS rel, coalesce(pg_catalog.pg_get_constraintdef(k.oid), pg_catalog.pg_get_indexdef(i.indexrelid)) AS def,
              i.indisclustered AS clustered, i.indisreplident AS replident, pg_catalog.quote_ident(k.conname) AS constraint_name,
              (SELECT coalesce('con:' || pk.oid, 'rel:' || h.inhparent) FROM pg_catalog.pg_inherits h
                 LEFT JOIN pg_catalog.pg_index pi ON pi.indexrelid = h.inhparent
                 LEFT JOIN pg_catalog.pg_constraint pk ON pk.conindid = h.inhparent AND pk.conrelid = pi.indrelid AND pk.contype IN ('p', 'u', 'x')
                WHERE h.inhrelid = i.indexrelid) AS parent_key
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
         LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
        WHERE tc.relkind IN ('r', 'p', 'm') AND tc.relpersistence <> 't' AND i.indisvalid
          AND ${userObject('pg_class', 'tc.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 4, 3`),
  );
  const nameOf = new Map(list.map((x) => [x.key, x.name]));
  const items: Item[] = [];
  for (const x of list) {
    const sql = [x.constraint_name ? `ALTER TABLE ONLY ${x.tbl} ADD CONSTRAINT ${x.constraint_name} ${x.def}` : x.def];
    if (x.clustered) sql.push(`ALTER TABLE ${x.tbl} CLUSTER ON ${x.short}`);
    if (x.replident) sql.push(`ALTER TABLE ${x.tbl} REPLICA IDENTITY USING INDEX ${x.short}`);
    const deps = [`rel:${x.rel}`, ...(descendants.get(x.rel) ?? []).map((d) => `rel:${d}`)];
    const rank = x.constraint_name ? RANK.constraint : RANK.index;
    items.push({ key: x.key, rank, name: x.name, sql, deps });
    const parentName = x.parent_key ? nameOf.get(x.parent_key) : undefined;
    if (x.parent_key && parentName) {
      items.push({
        key: `attach:${x.oid}`,
        rank: RANK.attach,
        name: x.name,
        sql: [`ALTER INDEX ${parentName} ATTACH PARTITION ${x.name}`],
        deps: [x.parent_key, x.key],
      });
    }
  }
  return items;
}

/**
 * Foreign keys, appended to `pre` after everything else. On a partitioned table the constraint is
 * added to the parent only (PostgreSQL adds it to each partition); ONLY elsewhere.
 */
export async function foreignKeys(c: pg.Client): Promise<string[]> {
  const list = await rows<{ tbl: string; name: string; def: string; partitioned: boolean }>(
    c,
    q(`SELECT pg_catalog.format('%I.%I', n.nspname, tc.relname) AS tbl, pg_catalog.quote_ident(k.conname) AS name,
              pg_catalog.pg_get_constraintdef(k.oid) AS def, tc.relkind = 'p' AS partitioned
         FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class tc ON tc.oid = k.conrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND tc.relpersistence <> 't'
          AND ${userObject('pg_class', 'tc.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 1, 2`),
  );
  return list.map((k) => `ALTER TABLE ${k.partitioned ? '' : 'ONLY '}${k.tbl} ADD CONSTRAINT ${k.name} ${k.def}`);
}
