// A canonical description of a database's schema, one sorted line per fact, equal on two servers of
// different majors when their schemas are equal. It is the oracle of the schema copy, so it does
// not reuse the exporter's readers: every user object of every per-database catalog is listed by
// pg_identify_object (an object the exporter forgot still shows up, as a line only blue has), and
// the kinds we know get a line with their definition from pg_get_*def and format_type.
// Normalised: privileges as a difference from the owner's default (17 added MAINTAIN), NOT NULL
// through attnotnull (18 also keeps them in pg_constraint), statistics targets (17 stores NULL
// where 16 stores -1), extension versions and members (green's binaries bring their own), the
// names 18 gives the foreign keys it clones onto partitions, multirange owners (see below).
// Data, sequence values and OIDs are left out.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import {
  aclDiffSql,
  EMPTY_ACL,
  EXT_OBJECTS_CTE,
  PUBLIC_SCHEMA_OID,
  rows,
  userObject,
  userSchema,
  withCatalog,
} from './schema-catalog.ts';
import { COPIED_ROLE } from './schema-roles.ts';

const q = (sql: string): string => `WITH RECURSIVE ${EXT_OBJECTS_CTE} ${sql}`;

/** every catalog whose rows are objects of one database, with the filter that keeps user objects */
const CATALOGS: Array<[string, string]> = [
  ['pg_namespace', `${userSchema('t.nspname')}`],
  ['pg_class', "t.relpersistence <> 't'"],
  ['pg_type', 'true'],
  ['pg_proc', 'true'],
  // foreign keys PostgreSQL clones onto partitions are described by their parent (below): the
  // names it generates for them differ between majors (fkey1 on 16 and 17, fkey_1 on 18)
  ['pg_constraint', "t.contype <> 'n' AND NOT (t.contype = 'f' AND t.conparentid <> 0)"],
  ['pg_trigger', 'NOT t.tgisinternal'],
  ['pg_rewrite', 'true'],
  ['pg_attrdef', 'true'],
  ['pg_policy', 'true'],
  ['pg_statistic_ext', 'true'],
  ['pg_extension', 'true'],
  ['pg_operator', 'true'],
  ['pg_opclass', 'true'],
  ['pg_opfamily', 'true'],
  ['pg_am', 'true'],
  ['pg_cast', 'true'],
  ['pg_collation', 'true'],
  ['pg_conversion', 'true'],
  ['pg_language', 'true'],
  ['pg_ts_config', 'true'],
  ['pg_ts_dict', 'true'],
  ['pg_ts_parser', 'true'],
  ['pg_ts_template', 'true'],
  ['pg_foreign_data_wrapper', 'true'],
  ['pg_foreign_server', 'true'],
  ['pg_user_mapping', 'true'],
  ['pg_event_trigger', 'true'],
  ['pg_publication', 'true'],
  ['pg_publication_rel', 'true'],
  ['pg_publication_namespace', 'true'],
  ['pg_transform', 'true'],
  ['pg_default_acl', 'true'],
];

/** [SQL returning `line`] for the kinds whose definition we can print */
const DETAILS: string[] = [
  // schemas
  `SELECT pg_catalog.format('schema %I owner=%I acl=%s', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner),
            ${aclDiffSql('n.nspacl', `'n'`, 'n.nspowner')}) AS line
     FROM pg_catalog.pg_namespace n
    WHERE (${userObject('pg_namespace', 'n.oid')} OR n.oid = ${PUBLIC_SCHEMA_OID}) AND ${userSchema('n.nspname')}`,
  // extensions: not their version, which green's binaries choose
  `SELECT pg_catalog.format('extension %I schema=%I owner=%I', e.extname, n.nspname, pg_catalog.pg_get_userbyid(e.extowner))
     FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.oid >= 16384`,
  // relations
  `SELECT pg_catalog.format('relation %s.%s kind=%s persistence=%s owner=%I acl=%s options=%s toast=%s am=%s replident=%s rls=%s/%s partkey=%s bound=%s inherits=%s oftype=%s',
            pg_catalog.quote_ident(n.nspname), pg_catalog.quote_ident(c.relname), c.relkind, c.relpersistence, pg_catalog.pg_get_userbyid(c.relowner),
            ${aclDiffSql('c.relacl', `CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char"`, 'c.relowner')},
            (SELECT pg_catalog.array_agg(o ORDER BY o) FROM pg_catalog.unnest(c.reloptions) o),
            (SELECT pg_catalog.array_agg(o ORDER BY o) FROM pg_catalog.unnest(t.reloptions) o),
            CASE WHEN c.relkind IN ('r', 'm') AND am.amname <> 'heap' OR c.relkind IN ('i', 'I') THEN am.amname END,
            CASE WHEN c.relkind IN ('r', 'p') THEN c.relreplident END, c.relrowsecurity, c.relforcerowsecurity,
            CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
            CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
            (SELECT pg_catalog.array_agg(i.inhparent::pg_catalog.regclass::text ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid),
            CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END)
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
    WHERE c.relkind <> 't' AND c.relpersistence <> 't' AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}`,
  // columns of tables, views, composite types
  `SELECT pg_catalog.format('column %s.%s.%s #%s %s collation=%s notnull=%s default=%s identity=%s generated=%s storage=%s compression=%s stats=%s options=%s acl=%s',
            pg_catalog.quote_ident(n.nspname), pg_catalog.quote_ident(c.relname), pg_catalog.quote_ident(a.attname),
            pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
            pg_catalog.format_type(a.atttypid, a.atttypmod),
            CASE WHEN a.attcollation <> ty.typcollation THEN a.attcollation::pg_catalog.regcollation::text END,
            a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
            CASE WHEN a.attstorage <> ty.typstorage THEN a.attstorage END, NULLIF(a.attcompression::text, ''),
            NULLIF(a.attstattarget::int, -1), a.attoptions,
            ${aclDiffSql('a.attacl', `'c'`, 'c.relowner')})
     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f') AND c.relpersistence <> 't'
      AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}`,
  // constraints of tables and domains (NOT NULL is attnotnull / typnotnull)
  `SELECT pg_catalog.format('constraint %s %s %s', CASE WHEN k.contype = 'f' AND k.conparentid <> 0
              THEN pg_catalog.format('clone of %s in %s', p.identity, k.conrelid::pg_catalog.regclass) ELSE o.identity END,
            k.contype, pg_catalog.pg_get_constraintdef(k.oid))
     FROM pg_catalog.pg_constraint k
     CROSS JOIN LATERAL pg_catalog.pg_identify_object('pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid, 0) o
     LEFT JOIN LATERAL (
       WITH RECURSIVE up(oid, parent) AS (
         SELECT k.oid, k.conparentid
         UNION ALL SELECT u.oid, u.conparentid FROM pg_catalog.pg_constraint u JOIN up ON u.oid = up.parent)
       SELECT i.identity FROM up, pg_catalog.pg_identify_object('pg_catalog.pg_constraint'::pg_catalog.regclass, up.oid, 0) i
        WHERE up.parent = 0) p ON k.conparentid <> 0
    WHERE k.contype <> 'n' AND ${userObject('pg_constraint', 'k.oid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // indexes
  `SELECT pg_catalog.format('index %s %s clustered=%s replident=%s valid=%s', o.identity, pg_catalog.pg_get_indexdef(i.indexrelid),
            i.indisclustered, i.indisreplident, i.indisvalid)
     FROM pg_catalog.pg_index i, pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid, 0) o
    WHERE ${userObject('pg_class', 'i.indexrelid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // sequences (not their values)
  `SELECT pg_catalog.format('sequence %s %s start=%s inc=%s min=%s max=%s cache=%s cycle=%s owned=%s', o.identity,
            pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
            (SELECT pg_catalog.string_agg(d.deptype::text || ':' || pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), ',')
               FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = s.seqrelid
                AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass))
     FROM pg_catalog.pg_sequence s, pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, s.seqrelid, 0) o
    WHERE ${userObject('pg_class', 's.seqrelid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // types
  // a multirange (and its array) belongs to its range's owner from 17 on; 16 let them differ
  `SELECT pg_catalog.format('type %s %s owner=%s acl=%s labels=%s base=%s notnull=%s default=%s collation=%s range=%s', o.identity, t.typtype,
            CASE WHEN t.typtype = 'm' OR el.typtype = 'm' THEN '(range''s)' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(t.typowner)) END,
            ${aclDiffSql('t.typacl', `'T'`, 't.typowner')},
            (SELECT pg_catalog.array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid),
            CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END, t.typnotnull,
            pg_catalog.pg_get_expr(t.typdefaultbin, 0), CASE WHEN t.typcollation <> 0 THEN t.typcollation::pg_catalog.regcollation::text END,
            (SELECT pg_catalog.format('%s opc=%s coll=%s canonical=%s diff=%s multi=%s', pg_catalog.format_type(r.rngsubtype, NULL),
                      (SELECT opcname FROM pg_catalog.pg_opclass WHERE oid = r.rngsubopc), r.rngcollation::pg_catalog.regcollation, r.rngcanonical::pg_catalog.regproc, r.rngsubdiff::pg_catalog.regproc,
                      pg_catalog.format_type(r.rngmultitypid, NULL))
               FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid))
     FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type el ON el.typarray = t.oid
     CROSS JOIN LATERAL pg_catalog.pg_identify_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0) o
    WHERE ${userObject('pg_type', 't.oid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // functions and procedures (aggregates are listed by name only)
  `SELECT pg_catalog.format('function %s kind=%s owner=%I acl=%s def=%s', o.identity, p.prokind, pg_catalog.pg_get_userbyid(p.proowner),
            ${aclDiffSql('p.proacl', `'f'`, 'p.proowner')},
            CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.to_json(pg_catalog.pg_get_functiondef(p.oid))::text END)
     FROM pg_catalog.pg_proc p, pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0) o
    WHERE ${userObject('pg_proc', 'p.oid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // views and materialized views
  `SELECT pg_catalog.format('view %s %s', o.identity, pg_catalog.to_json(pg_catalog.pg_get_viewdef(c.oid))::text)
     FROM pg_catalog.pg_class c, pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0) o
    WHERE c.relkind IN ('v', 'm') AND ${userObject('pg_class', 'c.oid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  // triggers (with the clones on partitions) and rules other than views'
  `SELECT pg_catalog.format('trigger %s enabled=%s %s', o.identity, g.tgenabled, pg_catalog.pg_get_triggerdef(g.oid))
     FROM pg_catalog.pg_trigger g, pg_catalog.pg_identify_object('pg_catalog.pg_trigger'::pg_catalog.regclass, g.oid, 0) o
    WHERE NOT g.tgisinternal AND ${userObject('pg_trigger', 'g.oid')} AND ${userSchema("coalesce(o.schema, '')")}`,
  `SELECT pg_catalog.format('rule %s %s', o.identity, pg_catalog.to_json(pg_catalog.pg_get_ruledef(r.oid))::text)
     FROM pg_catalog.pg_rewrite r, pg_catalog.pg_identify_object('pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid, 0) o
    WHERE r.rulename <> '_RETURN' AND ${userObject('pg_rewrite', 'r.oid')}`,
  // row-level security policies, extended statistics
  `SELECT pg_catalog.format('policy %s cmd=%s permissive=%s roles=%s using=%s check=%s', o.identity, p.polcmd, p.polpermissive,
            (SELECT pg_catalog.array_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END ORDER BY 1)
               FROM pg_catalog.unnest(p.polroles) r),
            pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
     FROM pg_catalog.pg_policy p, pg_catalog.pg_identify_object('pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, 0) o
    WHERE ${userObject('pg_policy', 'p.oid')}`,
  `SELECT pg_catalog.format('statistics %s owner=%I target=%s %s', o.identity, pg_catalog.pg_get_userbyid(s.stxowner),
            NULLIF(s.stxstattarget::int, -1), pg_catalog.pg_get_statisticsobjdef(s.oid))
     FROM pg_catalog.pg_statistic_ext s, pg_catalog.pg_identify_object('pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid, 0) o
    WHERE ${userObject('pg_statistic_ext', 's.oid')}`,
  // default privileges, language privileges
  `SELECT pg_catalog.format('default privileges %s %s', o.identity, ${aclDiffSql(
    'd.defaclacl',
    `''`,
    'd.defaclrole',
    `CASE WHEN d.defaclnamespace = 0 THEN pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END, d.defaclrole)
          ELSE ${EMPTY_ACL} END`,
  )})
     FROM pg_catalog.pg_default_acl d, pg_catalog.pg_identify_object('pg_catalog.pg_default_acl'::pg_catalog.regclass, d.oid, 0) o`,
  `SELECT pg_catalog.format('language %I acl=%s', l.lanname, ${aclDiffSql('l.lanacl', `'l'`, 'l.lanowner')})
     FROM pg_catalog.pg_language l WHERE l.lanacl IS NOT NULL`,
  // comments
  `SELECT pg_catalog.format('comment %s %s: %s', o.type, o.identity, pg_catalog.to_json(d.description)::text)
     FROM pg_catalog.pg_description d, pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    WHERE (d.objoid >= 16384 AND NOT EXISTS (SELECT 1 FROM extobj x WHERE x.classid = d.classoid AND x.objid = d.objoid)
           OR d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.objoid = ${PUBLIC_SCHEMA_OID})
      AND coalesce(o.schema, '') NOT LIKE 'pg\\_%'`,
  // the database itself
  `SELECT pg_catalog.format('database %I encoding=%s locale=%s owner=%I connlimit=%s acl=%s comment=%s', d.datname,
            pg_catalog.pg_encoding_to_char(d.encoding),
            (SELECT pg_catalog.jsonb_object_agg(k, v) FROM pg_catalog.jsonb_each_text(pg_catalog.to_jsonb(d)) x(k, v)
              WHERE k IN ('datcollate', 'datctype', 'datlocprovider', 'daticulocale', 'datlocale', 'daticurules') AND v IS NOT NULL),
            pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit, ${aclDiffSql('d.datacl', `'d'`, 'd.datdba')},
            pg_catalog.to_json(pg_catalog.shobj_description(d.oid, 'pg_database'))::text)
     FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()`,
  `SELECT pg_catalog.format('setting database role=%s %s', CASE WHEN s.setrole = 0 THEN '*' ELSE pg_catalog.pg_get_userbyid(s.setrole)::text END, x)
     FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase, pg_catalog.unnest(s.setconfig) x
    WHERE d.datname = pg_catalog.current_database()`,
];

/** cluster-wide: the roles the copy carries, their memberships, settings and comments */
const ROLE_DETAILS: string[] = [
  `SELECT pg_catalog.format('role %I super=%s inherit=%s createrole=%s createdb=%s login=%s replication=%s bypassrls=%s connlimit=%s valid=%s password=%s comment=%s',
            a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolreplication, a.rolbypassrls,
            a.rolconnlimit, a.rolvaliduntil AT TIME ZONE 'UTC', pg_catalog.md5(a.rolpassword),
            pg_catalog.to_json(pg_catalog.shobj_description(a.oid, 'pg_authid'))::text) AS line
     FROM pg_catalog.pg_authid a WHERE ${COPIED_ROLE}`,
  `SELECT pg_catalog.format('membership %I member=%I grantor=%I admin=%s inherit=%s set=%s', r.rolname, a.rolname, g.rolname,
            m.admin_option, m.inherit_option, m.set_option)
     FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_authid r ON r.oid = m.roleid
     JOIN pg_catalog.pg_authid a ON a.oid = m.member JOIN pg_catalog.pg_authid g ON g.oid = m.grantor WHERE a.rolname !~ '^pg_'`,
  `SELECT pg_catalog.format('setting role=%s %s', CASE WHEN s.setrole = 0 THEN '*' ELSE pg_catalog.pg_get_userbyid(s.setrole)::text END, x)
     FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) x WHERE s.setdatabase = 0`,
  `SELECT pg_catalog.format('parameter %s acl=%s', p.parname, p.paracl) FROM pg_catalog.pg_parameter_acl p`,
];

async function fingerprintLines(c: pg.Client, roles: boolean): Promise<string[]> {
  const lines: string[] = [];
  const objects = CATALOGS.map(
    ([cat, filter]) =>
      `SELECT 'pg_catalog.${cat}'::pg_catalog.regclass AS classid, t.oid AS objid FROM pg_catalog.${cat} t
        WHERE ${filter} AND (${userObject(cat, 't.oid')}${cat === 'pg_namespace' ? ` OR t.oid = ${PUBLIC_SCHEMA_OID}` : ''})`,
  ).join('\n UNION ALL ');
  for (const r of await rows<{ line: string }>(
    c,
    q(`SELECT pg_catalog.format('object %s %s', o.type, o.identity) AS line
         FROM (${objects}) x, pg_catalog.pg_identify_object(x.classid, x.objid, 0) o
        WHERE coalesce(o.schema, '') NOT LIKE 'pg\\_%'`),
  )) {
    lines.push(r.line);
  }
  for (const sql of [...DETAILS, ...(roles ? ROLE_DETAILS : [])]) {
    for (const r of await rows<Record<string, string>>(c, q(sql))) lines.push(Object.values(r)[0]!);
  }
  return lines.sort();
}

/**
 * The schema of `database` as sorted lines and their SHA-256. With `roles` (the default) the
 * cluster's roles are part of it, so a copy that forgot a role or a membership differs too.
 */
export async function schemaFingerprint(
  port: number,
  database: string,
  opts: { roles?: boolean } = {},
): Promise<{ digest: string; lines: string[] }> {
  const lines = await withCatalog(port, database, (c) => fingerprintLines(c, opts.roles ?? true));
  return { digest: createHash('sha256').update(lines.join('\n')).digest('hex'), lines };
}

/** what differs between two fingerprints, blue (`a`) against green (`b`) */
export function fingerprintDiff(a: { lines: string[] }, b: { lines: string[] }): string[] {
  const count = new Map<string, number>();
  for (const l of a.lines) count.set(l, (count.get(l) ?? 0) + 1);
  const onlyB: string[] = [];
  for (const l of b.lines) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else onlyB.push(l);
  }
  const onlyA = [...count].flatMap(([l, n]) => Array<string>(n).fill(l));
  return [...onlyA.sort().map((l) => `- only on blue: ${l}`), ...onlyB.sort().map((l) => `+ only on green: ${l}`)];
}
