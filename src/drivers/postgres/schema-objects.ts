// DDL for the objects around tables, read from the catalog: schemas, extensions, types (enum,
// domain, composite, range), sequences, functions and procedures, views and materialized views,
// triggers, row-level security policies and extended statistics. Each becomes one Item that
// the exporter orders by its dependencies (schema-order.ts).
import type pg from 'pg';
import {
  BOOTSTRAP_ROLE_OID,
  dollarQuote,
  EXT_OBJECTS_CTE,
  literal,
  rows,
  standalone,
  userObject,
  userSchema,
} from './schema-catalog.ts';

/** one unit of DDL; `deps` are keys of other items that must exist first */
export interface Item {
  key: string;
  rank: number;
  name: string;
  sql: string[];
  deps: string[];
}

/** tie-break order among items whose dependencies are met: the order a person would write them */
export const RANK = {
  schema: 0,
  extension: 1,
  type: 2,
  sequence: 3,
  function: 4,
  table: 5,
  ownedBy: 6,
  constraint: 7,
  index: 8,
  attach: 9,
  view: 10,
  matview: 11,
  trigger: 12,
  policy: 13,
  statistics: 14,
} as const;

const q = (sql: string): string => `WITH RECURSIVE ${EXT_OBJECTS_CTE} ${sql}`;

/** reloptions ['fillfactor=90'] -> "fillfactor='90'" */
export function withOptions(opts: string[] | null, prefix = ''): string[] {
  return (opts ?? []).map((o) => {
    const eq = o.indexOf('=');
    return `${prefix}${o.slice(0, eq)}=${literal(o.slice(eq + 1))}`;
  });
}

export async function schemaItems(c: pg.Client): Promise<{ items: Item[]; hasPublic: boolean }> {
  const list = await rows<{ oid: number; name: string }>(
    c,
    q(`SELECT n.oid, pg_catalog.quote_ident(n.nspname) AS name FROM pg_catalog.pg_namespace n
        WHERE ${userObject('pg_namespace', 'n.oid')} AND ${userSchema('n.nspname')} ORDER BY n.nspname`),
  );
  const [pub] = await rows<{ n: number }>(c, `SELECT count(*)::int AS n FROM pg_catalog.pg_namespace WHERE nspname = 'public'`);
  const items = list.map((s) => ({
    key: `nsp:${s.oid}`,
    rank: RANK.schema,
    name: s.name,
    sql: [`CREATE SCHEMA ${s.name}`],
    deps: [],
  }));
  return { items, hasPublic: (pub?.n ?? 0) > 0 };
}

export async function extensionItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<{ oid: number; name: string; schema: string; owner: string; owner_oid: number }>(
    c,
    `SELECT e.oid, pg_catalog.quote_ident(e.extname) AS name, pg_catalog.quote_ident(n.nspname) AS schema,
            pg_catalog.pg_get_userbyid(e.extowner) AS owner, e.extowner AS owner_oid
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.oid >= 16384 ORDER BY e.extname`,
  );
  return list.map((e) => {
    // the version is left to green's default: its binaries may not ship blue's
    const create = `CREATE EXTENSION IF NOT EXISTS ${e.name} WITH SCHEMA ${e.schema}`;
    if (e.owner_oid === BOOTSTRAP_ROLE_OID)
      return { key: `ext:${e.oid}`, rank: RANK.extension, name: e.name, sql: [create], deps: [] };
    // an extension belongs to the role that created it (there is no ALTER EXTENSION OWNER): create it
    // as that role, which needs CREATE on the database; green's database may not be its yet
    const owner = literal(e.owner);
    const body = `
DECLARE lent boolean := NOT pg_catalog.has_database_privilege(${owner}, pg_catalog.current_database(), 'CREATE');
BEGIN
  IF lent THEN EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO %I', pg_catalog.current_database(), ${owner}); END IF;
  EXECUTE pg_catalog.format('SET ROLE %I', ${owner});
  ${create};
  RESET ROLE;
  IF lent THEN EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM %I', pg_catalog.current_database(), ${owner}); END IF;
END`;
    return { key: `ext:${e.oid}`, rank: RANK.extension, name: e.name, sql: [`DO ${dollarQuote(body)}`], deps: [] };
  });
}

interface TypeRow {
  oid: number;
  typtype: string;
  name: string;
  labels: string[] | null;
  base: string | null;
  notnull: boolean;
  default_expr: string | null;
  collation: string | null;
  checks: Array<{ def: string; valid: boolean }> | null;
  attrs: string[] | null;
  subtype: string | null;
  opclass: string | null;
  rng_collation: string | null;
  subdiff: string | null;
  multirange: string | null;
}

export async function typeItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<TypeRow>(
    c,
    q(`SELECT t.oid, t.typtype, pg_catalog.format('%I.%I', n.nspname, t.typname) AS name,
              (SELECT pg_catalog.array_agg(pg_catalog.quote_literal(e.enumlabel) ORDER BY e.enumsortorder)
                 FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) AS labels,
              CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS base,
              t.typnotnull AS notnull, pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS default_expr,
              CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation
                   THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS collation,
              (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('def', pg_catalog.format('CONSTRAINT %I %s', k.conname,
                        pg_catalog.pg_get_constraintdef(k.oid)), 'valid', k.convalidated) ORDER BY k.conname)
                 FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c') AS checks,
              (SELECT pg_catalog.array_agg(pg_catalog.format('%I %s%s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                        CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' || pg_catalog.format('%I.%I', acn.nspname, aco.collname) ELSE '' END)
                        ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
                 LEFT JOIN pg_catalog.pg_collation aco ON aco.oid = a.attcollation
                 LEFT JOIN pg_catalog.pg_namespace acn ON acn.oid = aco.collnamespace
                WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS attrs,
              pg_catalog.format_type(r.rngsubtype, NULL) AS subtype,
              CASE WHEN NOT oc.opcdefault THEN pg_catalog.format('%I.%I', ocn.nspname, oc.opcname) END AS opclass,
              CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
                   THEN pg_catalog.format('%I.%I', rcn.nspname, rco.collname) END AS rng_collation,
              CASE WHEN r.rngsubdiff <> 0 THEN pg_catalog.format('%I.%I', dn.nspname, dp.proname) END AS subdiff,
              (SELECT pg_catalog.format('%I.%I', mn.nspname, m.typname) FROM pg_catalog.pg_type m
                 JOIN pg_catalog.pg_namespace mn ON mn.oid = m.typnamespace WHERE m.oid = r.rngmultitypid) AS multirange
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
         LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
         LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
         LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
         LEFT JOIN pg_catalog.pg_class tc ON tc.oid = t.typrelid
         LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
         LEFT JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
         LEFT JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc
         LEFT JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
         LEFT JOIN pg_catalog.pg_collation rco ON rco.oid = r.rngcollation
         LEFT JOIN pg_catalog.pg_namespace rcn ON rcn.oid = rco.collnamespace
         LEFT JOIN pg_catalog.pg_proc dp ON dp.oid = r.rngsubdiff
         LEFT JOIN pg_catalog.pg_namespace dn ON dn.oid = dp.pronamespace
        WHERE (t.typtype IN ('e', 'd') OR t.typtype = 'c' AND tc.relkind = 'c' OR t.typtype = 'r' AND r.rngcanonical = 0)
          AND ${userObject('pg_type', 't.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 3`),
  );
  return list.map((t) => {
    const sql: string[] = [];
    if (t.typtype === 'e') sql.push(`CREATE TYPE ${t.name} AS ENUM (${(t.labels ?? []).join(', ')})`);
    else if (t.typtype === 'c') sql.push(`CREATE TYPE ${t.name} AS (\n  ${(t.attrs ?? []).join(',\n  ')}\n)`);
    else if (t.typtype === 'r') {
      const opts = [`SUBTYPE = ${t.subtype}`];
      if (t.opclass) opts.push(`SUBTYPE_OPCLASS = ${t.opclass}`);
      if (t.rng_collation) opts.push(`COLLATION = ${t.rng_collation}`);
      if (t.subdiff) opts.push(`SUBTYPE_DIFF = ${t.subdiff}`);
      if (t.multirange) opts.push(`MULTIRANGE_TYPE_NAME = ${t.multirange}`);
      sql.push(`CREATE TYPE ${t.name} AS RANGE (${opts.join(', ')})`);
    } else {
      let d = `CREATE DOMAIN ${t.name} AS ${t.base}`;
      if (t.collation) d += ` COLLATE ${t.collation}`;
      if (t.default_expr !== null) d += ` DEFAULT ${t.default_expr}`;
      if (t.notnull) d += ' NOT NULL';
      for (const k of (t.checks ?? []).filter((x) => x.valid)) d += ` ${k.def}`;
      sql.push(d);
      for (const k of (t.checks ?? []).filter((x) => !x.valid)) sql.push(`ALTER DOMAIN ${t.name} ADD ${k.def}`);
    }
    return { key: `type:${t.oid}`, rank: RANK.type, name: t.name, sql, deps: [] };
  });
}

interface SeqRow {
  oid: number;
  name: string;
  type: string;
  start: string;
  inc: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  unlogged: boolean;
  owned_by: string | null;
  owned_table: number | null;
}

/** standalone sequences (identity sequences are made with their column) and their OWNED BY */
export async function sequenceItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<SeqRow>(
    c,
    q(`SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, pg_catalog.format_type(s.seqtypid, NULL) AS type,
              s.seqstart::text AS start, s.seqincrement::text AS inc, s.seqmin::text AS min, s.seqmax::text AS max,
              s.seqcache::text AS cache, s.seqcycle AS cycle, c.relpersistence = 'u' AS unlogged,
              o.owned_by, o.owned_table
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
         LEFT JOIN LATERAL (
           SELECT pg_catalog.format('%I.%I.%I', tn.nspname, t.relname, a.attname) AS owned_by, t.oid AS owned_table
             FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'a') o ON true
        WHERE c.relkind = 'S' AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                            AND d.objid = c.oid AND d.deptype = 'i')
        ORDER BY 2`),
  );
  const items: Item[] = [];
  for (const s of list) {
    const create =
      `CREATE ${s.unlogged ? 'UNLOGGED ' : ''}SEQUENCE ${s.name} AS ${s.type} START WITH ${s.start} INCREMENT BY ${s.inc}` +
      ` MINVALUE ${s.min} MAXVALUE ${s.max} CACHE ${s.cache}${s.cycle ? ' CYCLE' : ' NO CYCLE'}`;
    items.push({ key: `rel:${s.oid}`, rank: RANK.sequence, name: s.name, sql: [create], deps: [] });
    if (s.owned_by) {
      items.push({
        key: `owned:${s.oid}`,
        rank: RANK.ownedBy,
        name: s.name,
        sql: [`ALTER SEQUENCE ${s.name} OWNED BY ${s.owned_by}`],
        deps: [`rel:${s.oid}`, `rel:${s.owned_table}`],
      });
    }
  }
  return items;
}

export async function functionItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<{ oid: number; name: string; def: string }>(
    c,
    q(`SELECT p.oid, pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS name,
              pg_catalog.pg_get_functiondef(p.oid) AS def
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         JOIN pg_catalog.pg_language l ON l.oid = p.prolang
        WHERE p.prokind IN ('f', 'p') AND l.lanname <> 'c' AND ${userObject('pg_proc', 'p.oid')} AND ${standalone('pg_proc', 'p.oid')}
          AND ${userSchema('n.nspname')}
        ORDER BY 2`),
  );
  return list.map((f) => ({ key: `proc:${f.oid}`, rank: RANK.function, name: f.name, sql: [f.def.trimEnd()], deps: [] }));
}

interface ViewRow {
  oid: number;
  name: string;
  relkind: string;
  def: string;
  options: string[] | null;
  am: string | null;
  defaults: Array<{ col: string; expr: string }> | null;
}

export async function viewItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<ViewRow>(
    c,
    q(`SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relkind, pg_catalog.pg_get_viewdef(c.oid) AS def,
              c.reloptions AS options, am.amname AS am,
              (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('col', pg_catalog.quote_ident(a.attname),
                        'expr', pg_catalog.pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum)
                 FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                WHERE d.adrelid = c.oid) AS defaults
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
        WHERE c.relkind IN ('v', 'm') AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 2`),
  );
  return list.map((v) => {
    const body = v.def.trim().replace(/;$/, '');
    const opts = withOptions(v.options);
    const withClause = opts.length ? ` WITH (${opts.join(', ')})` : '';
    const sql =
      v.relkind === 'v'
        ? [`CREATE VIEW ${v.name}${withClause} AS\n${body}`]
        : [
            `CREATE MATERIALIZED VIEW ${v.name}${v.am && v.am !== 'heap' ? ` USING ${v.am}` : ''}${withClause} AS\n${body}\nWITH NO DATA`,
          ];
    for (const d of v.defaults ?? []) sql.push(`ALTER VIEW ${v.name} ALTER COLUMN ${d.col} SET DEFAULT ${d.expr}`);
    return { key: `rel:${v.oid}`, rank: v.relkind === 'v' ? RANK.view : RANK.matview, name: v.name, sql, deps: [] };
  });
}

const TRIGGER_STATE: Record<string, string> = { D: 'DISABLE', A: 'ENABLE ALWAYS', R: 'ENABLE REPLICA' };

export async function triggerItems(c: pg.Client): Promise<Item[]> {
  // clones on partitions (tgparentid) come with the parent's trigger
  const list = await rows<{ oid: number; name: string; tbl: string; def: string; enabled: string }>(
    c,
    q(`SELECT t.oid, pg_catalog.quote_ident(t.tgname) AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl,
              pg_catalog.pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled
         FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ${userObject('pg_trigger', 't.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 3, 2`),
  );
  return list.map((t) => {
    const sql = [t.def];
    const state = TRIGGER_STATE[t.enabled];
    if (state) sql.push(`ALTER TABLE ${t.tbl} ${state} TRIGGER ${t.name}`);
    return { key: `trg:${t.oid}`, rank: RANK.trigger, name: `${t.name} on ${t.tbl}`, sql, deps: [] };
  });
}

const POLICY_CMD: Record<string, string> = { r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE', '*': 'ALL' };

export async function policyItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<{
    oid: number;
    name: string;
    tbl: string;
    cmd: string;
    permissive: boolean;
    roles: string;
    qual: string | null;
    wcheck: string | null;
  }>(
    c,
    q(`SELECT p.oid, pg_catalog.quote_ident(p.polname) AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl,
              p.polcmd::text AS cmd, p.polpermissive AS permissive,
              (SELECT pg_catalog.string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END, ', '
                        ORDER BY CASE WHEN r = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(r)::text END)
                 FROM pg_catalog.unnest(p.polroles) r) AS roles,
              pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual, pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS wcheck
         FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE ${userObject('pg_policy', 'p.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 3, 2`),
  );
  return list.map((p) => {
    let sql = `CREATE POLICY ${p.name} ON ${p.tbl} AS ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${POLICY_CMD[p.cmd]} TO ${p.roles}`;
    if (p.qual !== null) sql += ` USING (${p.qual})`;
    if (p.wcheck !== null) sql += ` WITH CHECK (${p.wcheck})`;
    return { key: `pol:${p.oid}`, rank: RANK.policy, name: `${p.name} on ${p.tbl}`, sql: [sql], deps: [] };
  });
}

export async function statisticsItems(c: pg.Client): Promise<Item[]> {
  const list = await rows<{ oid: number; name: string; def: string; target: number | null }>(
    c,
    q(`SELECT s.oid, pg_catalog.format('%I.%I', n.nspname, s.stxname) AS name, pg_catalog.pg_get_statisticsobjdef(s.oid) AS def,
              NULLIF(s.stxstattarget::int, -1) AS target
         FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
        WHERE ${userObject('pg_statistic_ext', 's.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 2`),
  );
  return list.map((s) => {
    const sql = [s.def];
    if (s.target !== null) sql.push(`ALTER STATISTICS ${s.name} SET STATISTICS ${s.target}`);
    return { key: `stx:${s.oid}`, rank: RANK.statistics, name: s.name, sql, deps: [] };
  });
}
