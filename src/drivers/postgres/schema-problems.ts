// What the schema copy cannot carry to green faithfully, each named: a blue/green upgrade that
// went ahead would lose it silently, so the precheck fails on every entry. One query per kind,
// all against the catalog, cheap enough to run at every precheck.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { BinaryCatalog, majorOf } from './binaries.ts';
import { EXT_OBJECTS_CTE, FIRST_USER_OID, PUBLIC_SCHEMA_OID, rows, standalone, userObject } from './schema-catalog.ts';

export interface SchemaProblem {
  /** qualified name, e.g. "public.big_blobs" or "large object 16401" */
  object: string;
  kind: string;
  reason: string;
}

export interface ProblemOptions {
  /** the major green runs: extensions are checked against its installed binaries */
  toMajor?: number;
  /** or the extension names green offers (pg_available_extensions there); wins over toMajor */
  availableExtensions?: string[];
}

/** publications and subscriptions named so belong to the upgrade itself, not to the application */
export const REPLICATION_NAME_PREFIX = 'liftgate_';

const NOT_COPIED = 'is not copied by the schema copy; drop it on blue, or recreate it on green by hand after cutover';

/** a schema-qualified object of `catalog` that nothing copies (outside an extension) */
function namespaced(kind: string, catalog: string, nameColumn: string, namespaceColumn: string): [string, string, string] {
  return [
    kind,
    `SELECT pg_catalog.format('%I.%I', n.nspname, o.${nameColumn}) AS object FROM pg_catalog.${catalog} o
       JOIN pg_catalog.pg_namespace n ON n.oid = o.${namespaceColumn} WHERE ${userObject(catalog, 'o.oid')} AND ${standalone(catalog, 'o.oid')}`,
    NOT_COPIED,
  ];
}

/** [kind, SQL returning `object`, reason]; each SQL runs with EXT_OBJECTS_CTE in scope */
const CHECKS: Array<[string, string, string]> = [
  [
    'large object',
    `SELECT 'large object ' || oid AS object FROM pg_catalog.pg_largeobject_metadata`,
    'large objects are not carried by logical replication',
  ],
  [
    'event trigger',
    `SELECT pg_catalog.quote_ident(evtname) AS object FROM pg_catalog.pg_event_trigger e WHERE ${userObject('pg_event_trigger', 'e.oid')} AND ${standalone('pg_event_trigger', 'e.oid')}`,
    NOT_COPIED,
  ],
  [
    'rule',
    `SELECT pg_catalog.format('%I on %I.%I', r.rulename, n.nspname, c.relname) AS object
       FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE r.rulename <> '_RETURN' AND ${userObject('pg_rewrite', 'r.oid')} AND ${standalone('pg_rewrite', 'r.oid')}`,
    `${NOT_COPIED} (logical replication applies rows without rewrite rules, so their effect on green could not be verified)`,
  ],
  [
    'foreign table',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'f' AND ${userObject('pg_class', 'c.oid')}`,
    'foreign tables, their servers and user mappings are not copied, and logical replication does not carry their data',
  ],
  [
    'foreign server',
    `SELECT pg_catalog.quote_ident(srvname) AS object FROM pg_catalog.pg_foreign_server s WHERE ${userObject('pg_foreign_server', 's.oid')} AND ${standalone('pg_foreign_server', 's.oid')}`,
    NOT_COPIED,
  ],
  [
    'foreign-data wrapper',
    `SELECT pg_catalog.quote_ident(fdwname) AS object FROM pg_catalog.pg_foreign_data_wrapper w WHERE ${userObject('pg_foreign_data_wrapper', 'w.oid')} AND ${standalone('pg_foreign_data_wrapper', 'w.oid')}`,
    NOT_COPIED,
  ],
  [
    'unlogged table',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'u' AND ${userObject('pg_class', 'c.oid')}`,
    'the data of unlogged tables is not carried by logical replication (the table itself would be created empty)',
  ],
  [
    'typed table',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.reloftype <> 0 AND ${userObject('pg_class', 'c.oid')}`,
    'tables created OF a composite type are not copied',
  ],
  [
    'column order',
    // a partition or inheritance child is created from its parents (their columns first, in their
    // order); one attached or inherited later with its own order would come out reordered
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
        AND ${userObject('pg_class', 'c.oid')}
        AND (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
            IS DISTINCT FROM
            (SELECT pg_catalog.array_agg(x.name ORDER BY x.ord) FROM (
               SELECT a.attname AS name, min(i.inhseqno::bigint * 100000 + a.attnum) AS ord
                 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.inhparent
                WHERE i.inhrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped GROUP BY a.attname
               UNION ALL
               SELECT a.attname, 1000000000 + a.attnum FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attinhcount = 0) x)`,
    'its columns are not in the order of its parent table, and the copy would create them in that order',
  ],
  [
    'aggregate',
    `SELECT pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS object
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE p.prokind IN ('a', 'w') AND ${userObject('pg_proc', 'p.oid')} AND ${standalone('pg_proc', 'p.oid')}`,
    NOT_COPIED,
  ],
  [
    'C function',
    `SELECT pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS object
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE l.lanname = 'c' AND p.prokind IN ('f', 'p') AND ${userObject('pg_proc', 'p.oid')} AND ${standalone('pg_proc', 'p.oid')}`,
    'a C-language function outside an extension needs its shared library built for the new major',
  ],
  [
    'operator',
    `SELECT pg_catalog.format('%I.%s(%s, %s)', n.nspname, o.oprname, pg_catalog.format_type(o.oprleft, NULL), pg_catalog.format_type(o.oprright, NULL)) AS object
       FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace WHERE ${userObject('pg_operator', 'o.oid')} AND ${standalone('pg_operator', 'o.oid')}`,
    NOT_COPIED,
  ],
  namespaced('operator class', 'pg_opclass', 'opcname', 'opcnamespace'),
  namespaced('operator family', 'pg_opfamily', 'opfname', 'opfnamespace'),
  [
    'cast',
    `SELECT pg_catalog.format('(%s AS %s)', pg_catalog.format_type(c.castsource, NULL), pg_catalog.format_type(c.casttarget, NULL)) AS object
       FROM pg_catalog.pg_cast c WHERE ${userObject('pg_cast', 'c.oid')} AND ${standalone('pg_cast', 'c.oid')}`,
    NOT_COPIED,
  ],
  namespaced('collation', 'pg_collation', 'collname', 'collnamespace'),
  namespaced('conversion', 'pg_conversion', 'conname', 'connamespace'),
  [
    'text search configuration',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.cfgname) AS object FROM pg_catalog.pg_ts_config c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace WHERE ${userObject('pg_ts_config', 'c.oid')} AND ${standalone('pg_ts_config', 'c.oid')}
     UNION ALL SELECT pg_catalog.format('%I.%I', n.nspname, d.dictname) FROM pg_catalog.pg_ts_dict d
       JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace WHERE ${userObject('pg_ts_dict', 'd.oid')} AND ${standalone('pg_ts_dict', 'd.oid')}
     UNION ALL SELECT pg_catalog.format('%I.%I', n.nspname, p.prsname) FROM pg_catalog.pg_ts_parser p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.prsnamespace WHERE ${userObject('pg_ts_parser', 'p.oid')} AND ${standalone('pg_ts_parser', 'p.oid')}
     UNION ALL SELECT pg_catalog.format('%I.%I', n.nspname, t.tmplname) FROM pg_catalog.pg_ts_template t
       JOIN pg_catalog.pg_namespace n ON n.oid = t.tmplnamespace WHERE ${userObject('pg_ts_template', 't.oid')} AND ${standalone('pg_ts_template', 't.oid')}`,
    NOT_COPIED,
  ],
  [
    'language',
    `SELECT pg_catalog.quote_ident(lanname) AS object FROM pg_catalog.pg_language l WHERE ${userObject('pg_language', 'l.oid')} AND ${standalone('pg_language', 'l.oid')}`,
    NOT_COPIED,
  ],
  [
    'transform',
    `SELECT pg_catalog.format('FOR %s LANGUAGE %I', pg_catalog.format_type(t.trftype, NULL), l.lanname) AS object
       FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang WHERE ${userObject('pg_transform', 't.oid')} AND ${standalone('pg_transform', 't.oid')}`,
    NOT_COPIED,
  ],
  [
    'access method',
    `SELECT pg_catalog.quote_ident(amname) AS object FROM pg_catalog.pg_am a WHERE ${userObject('pg_am', 'a.oid')} AND ${standalone('pg_am', 'a.oid')}`,
    NOT_COPIED,
  ],
  [
    'type',
    `SELECT pg_catalog.format('%I.%I', n.nspname, t.typname) AS object FROM pg_catalog.pg_type t
       JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE (t.typtype = 'p' OR (t.typtype = 'b' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)))
        AND ${userObject('pg_type', 't.oid')} AND ${standalone('pg_type', 't.oid')}`,
    'base and shell types made outside an extension (CREATE TYPE with C functions) are not copied',
  ],
  [
    'range type',
    `SELECT pg_catalog.format('%I.%I', n.nspname, t.typname) AS object FROM pg_catalog.pg_range r
       JOIN pg_catalog.pg_type t ON t.oid = r.rngtypid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE r.rngcanonical <> 0 AND ${userObject('pg_type', 't.oid')} AND ${standalone('pg_type', 't.oid')}`,
    'a range type with a canonical function needs a C function; it is not copied',
  ],
  [
    'table',
    `SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_type e ON e.typarray = t.oid
       JOIN pg_catalog.pg_type b ON b.oid = coalesce(e.oid, t.oid)
      WHERE c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND ${userObject('pg_class', 'c.oid')}
        AND (b.typtype = 'p' AND b.oid >= 16384 OR b.typtype = 'b' AND ${userObject('pg_type', 'b.oid')} AND ${standalone('pg_type', 'b.oid')})`,
    'has a column of a type that is not copied',
  ],
  [
    'tablespace',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.reltablespace <> 0 AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND ${userObject('pg_class', 'c.oid')}
     UNION ALL SELECT 'database ' || pg_catalog.quote_ident(d.datname) FROM pg_catalog.pg_database d
      JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace WHERE d.datname = pg_catalog.current_database() AND t.spcname <> 'pg_default'`,
    'lives in a tablespace other than the default; green has only the default tablespace',
  ],
  [
    'security label',
    `SELECT pg_catalog.format('%s %s', o.type, o.identity) AS object FROM pg_catalog.pg_seclabel s,
            pg_catalog.pg_identify_object(s.classoid, s.objoid, s.objsubid) o
     UNION ALL SELECT pg_catalog.format('%s %s', o.type, o.identity) FROM pg_catalog.pg_shseclabel s,
            pg_catalog.pg_identify_object(s.classoid, s.objoid, 0) o`,
    NOT_COPIED,
  ],
  [
    'publication',
    `SELECT pg_catalog.quote_ident(pubname) AS object FROM pg_catalog.pg_publication WHERE pubname NOT LIKE '${REPLICATION_NAME_PREFIX}%'`,
    'publications are replication settings of blue; they are not copied',
  ],
  [
    'subscription',
    `SELECT pg_catalog.quote_ident(subname) AS object FROM pg_catalog.pg_subscription
      WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
        AND subname NOT LIKE '${REPLICATION_NAME_PREFIX}%'`,
    'subscriptions are replication settings of blue; they are not copied',
  ],
  [
    'trigger',
    `SELECT pg_catalog.format('%I on %I.%I', t.tgname, n.nspname, c.relname) AS object FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgenabled IN ('A', 'R') AND ${userObject('pg_trigger', 't.oid')} AND ${standalone('pg_trigger', 't.oid')}`,
    'is enabled ALWAYS or REPLICA, so on green it would fire again for every row the subscription applies',
  ],
  [
    'index',
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS object FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND ${userObject('pg_class', 'c.oid')}`,
    'is invalid (an interrupted CREATE INDEX CONCURRENTLY, or a partitioned index missing partitions); drop or rebuild it on blue',
  ],
  [
    'extension member privileges',
    `SELECT pg_catalog.format('%s %s (extension %I)', o.type, o.identity, e.extname) AS object
       FROM (SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, oid AS objid, relacl AS acl FROM pg_catalog.pg_class
             UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, proacl FROM pg_catalog.pg_proc
             UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, typacl FROM pg_catalog.pg_type
             UNION ALL SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, nspacl FROM pg_catalog.pg_namespace) a
       JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid AND d.objsubid = 0 AND d.deptype = 'e'
       JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
       LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = a.classid AND ip.objoid = a.objid AND ip.objsubid = 0
       CROSS JOIN LATERAL pg_catalog.pg_identify_object(a.classid, a.objid, 0) o
      WHERE a.acl IS DISTINCT FROM ip.initprivs`,
    'privileges on an object of an extension were changed after CREATE EXTENSION; they are not copied',
  ],
  [
    'built-in object privileges',
    `SELECT pg_catalog.format('%s %s', o.type, o.identity) AS object
       FROM (SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, oid AS objid, relacl AS acl FROM pg_catalog.pg_class
             UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, proacl FROM pg_catalog.pg_proc
             UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, typacl FROM pg_catalog.pg_type
             UNION ALL SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, nspacl FROM pg_catalog.pg_namespace
              WHERE oid <> ${PUBLIC_SCHEMA_OID}) a
       LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = a.classid AND ip.objoid = a.objid AND ip.objsubid = 0
       CROSS JOIN LATERAL pg_catalog.pg_identify_object(a.classid, a.objid, 0) o
      WHERE a.objid < ${FIRST_USER_OID} AND a.acl IS DISTINCT FROM ip.initprivs
        -- initdb records the initial privileges of pg_catalog only
        AND (o.schema = 'pg_catalog' OR o.type = 'schema' AND o.identity = 'pg_catalog')`,
    'privileges on an object of PostgreSQL itself were changed; they are not copied',
  ],
  [
    'database',
    `SELECT 'database ' || pg_catalog.quote_ident(datname) AS object FROM pg_catalog.pg_database WHERE NOT datallowconn AND NOT datistemplate`,
    'does not accept connections, so its schema cannot be read or copied (a cluster-wide finding, listed for every database)',
  ],
];

/** the extension names the new major's installed binaries offer, or null when none are installed */
export function extensionsOfMajor(major: number, catalog = new BinaryCatalog()): string[] | null {
  const version = catalog
    .versions()
    .filter((v) => majorOf(v) === major)
    .pop();
  if (!version) return null;
  const dir = path.join(catalog.nativeDir(version), 'share', 'postgresql', 'extension');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.control'))
    .map((f) => f.slice(0, -'.control'.length));
}

/** every problem of the database `c` is connected to, in a stable order */
export async function findProblems(c: pg.Client, opts: ProblemOptions = {}): Promise<SchemaProblem[]> {
  const out: SchemaProblem[] = [];
  for (const [kind, sql, reason] of CHECKS) {
    for (const r of await rows<{ object: string }>(c, `WITH RECURSIVE ${EXT_OBJECTS_CTE} ${sql}`)) {
      out.push({ object: r.object, kind, reason });
    }
  }
  const available = opts.availableExtensions ?? (opts.toMajor ? extensionsOfMajor(opts.toMajor) : null);
  if (available) {
    const have = new Set(available);
    const exts = await rows<{ name: string; raw: string }>(
      c,
      `SELECT pg_catalog.quote_ident(extname) AS name, extname AS raw FROM pg_catalog.pg_extension
        WHERE oid >= 16384 ORDER BY extname`,
    );
    const where = opts.availableExtensions ? 'on green' : `in the PostgreSQL ${opts.toMajor} binaries`;
    for (const e of exts) {
      if (!have.has(e.raw)) out.push({ object: e.name, kind: 'extension', reason: `is not available ${where}` });
    }
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.object.localeCompare(b.object));
}
