// The statements that come after every object exists: comments, owners, privileges (object and
// column ACLs, default privileges) and the database's own owner, privileges and settings.
// Objects are made on green by the superuser and handed to their owner afterwards, so their ACLs
// are replayed as the difference from the owner's default (see aclDiffSql).
import type pg from 'pg';
import {
  aclDiffSql,
  EMPTY_ACL,
  aclStatements,
  BOOTSTRAP_ROLE_OID,
  EXT_OBJECTS_CTE,
  literal,
  parseAclDiff,
  PUBLIC_SCHEMA_OID,
  rows,
  settingClause,
  standalone,
  userObject,
  userSchema,
} from './schema-catalog.ts';

const q = (sql: string): string => `WITH RECURSIVE ${EXT_OBJECTS_CTE} ${sql}`;

/** the objects the export creates, with how to name them in COMMENT / ALTER ... OWNER / GRANT */
const OWNED_OBJECTS = `
  SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass AS classid, n.oid AS objid, 'SCHEMA' AS kw,
         pg_catalog.quote_ident(n.nspname) AS name, n.nspowner AS owner, n.nspacl AS acl, 'n' AS acltype, true AS own
    FROM pg_catalog.pg_namespace n
   WHERE (${userObject('pg_namespace', 'n.oid')} OR n.oid = ${PUBLIC_SCHEMA_OID}) AND ${userSchema('n.nspname')}
  UNION ALL
  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid,
         CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
         pg_catalog.format('%I.%I', n.nspname, c.relname), c.relowner, c.relacl, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END,
         -- sequences owned by a column follow their table's owner
         NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                       AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
                       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass)
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relpersistence <> 't' AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
  UNION ALL
  SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
         pg_catalog.format('%I.%I', n.nspname, t.typname), t.typowner, t.typacl, 'T', true
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_class tc ON tc.oid = t.typrelid
   WHERE (t.typtype IN ('e', 'd', 'r') OR t.typtype = 'c' AND tc.relkind = 'c') AND ${userObject('pg_type', 't.oid')} AND ${userSchema('n.nspname')}
  UNION ALL
  SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
         pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)), p.proowner, p.proacl, 'f', true
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE p.prokind IN ('f', 'p') AND ${userObject('pg_proc', 'p.oid')} AND ${standalone('pg_proc', 'p.oid')} AND ${userSchema('n.nspname')}
  UNION ALL
  SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid, 'STATISTICS', pg_catalog.format('%I.%I', n.nspname, s.stxname),
         s.stxowner, NULL::pg_catalog.aclitem[], NULL, true
    FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
   WHERE ${userObject('pg_statistic_ext', 's.oid')} AND ${userSchema('n.nspname')}
  UNION ALL
  SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, l.oid, 'LANGUAGE', pg_catalog.quote_ident(l.lanname), l.lanowner, l.lanacl, 'l', false
    FROM pg_catalog.pg_language l WHERE l.lanispl AND l.lanacl IS NOT NULL`;

export async function ownerStatements(c: pg.Client): Promise<string[]> {
  const list = await rows<{ kw: string; name: string; owner: string }>(
    c,
    q(`SELECT o.kw, o.name, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.owner)) AS owner
         FROM (${OWNED_OBJECTS}) o WHERE o.own AND o.owner <> ${BOOTSTRAP_ROLE_OID} AND o.classid <> 'pg_catalog.pg_language'::pg_catalog.regclass
        ORDER BY o.kw, o.name`),
  );
  return list.map((o) => `ALTER ${o.kw} ${o.name} OWNER TO ${o.owner}`);
}

export async function aclStatementsFor(c: pg.Client, hasPublic: boolean): Promise<string[]> {
  const list = await rows<{ kw: string; name: string; owner: string; diff: string[] }>(
    c,
    q(`SELECT o.kw, o.name, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.owner)) AS owner,
              ${aclDiffSql('o.acl', 'o.acltype::"char"', 'o.owner')} AS diff
         FROM (${OWNED_OBJECTS}) o WHERE o.acl IS NOT NULL ORDER BY o.kw, o.name`),
  );
  const out: string[] = [];
  // green's fresh public schema also grants USAGE to PUBLIC: back to the owner's default first
  if (hasPublic) out.push('REVOKE ALL ON SCHEMA public FROM PUBLIC');
  for (const o of list) {
    const on = o.kw === 'MATERIALIZED VIEW' || o.kw === 'VIEW' ? `TABLE ${o.name}` : `${o.kw} ${o.name}`;
    out.push(...aclStatements(parseAclDiff(o.diff), on, o.owner));
  }
  const cols = await rows<{ tbl: string; col: string; owner: string; diff: string[] }>(
    c,
    q(`SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl, pg_catalog.quote_ident(a.attname) AS col,
              pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) AS owner,
              ${aclDiffSql('a.attacl', `'c'`, 'c.relowner')} AS diff
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm')
          AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
        ORDER BY 1, a.attnum`),
  );
  for (const x of cols) out.push(...aclStatements(parseAclDiff(x.diff), `TABLE ${x.tbl}`, x.owner, x.col));
  return out;
}

const DEFACL_KIND: Record<string, [string, string]> = {
  r: ['TABLES', 'r'],
  S: ['SEQUENCES', 's'],
  f: ['FUNCTIONS', 'f'],
  T: ['TYPES', 'T'],
  n: ['SCHEMAS', 'n'],
  L: ['LARGE OBJECTS', 'L'],
};

/** ALTER DEFAULT PRIVILEGES, last: on green they would otherwise apply to the objects being created */
export async function defaultPrivilegeStatements(c: pg.Client): Promise<string[]> {
  const list = await rows<{ role: string; schema: string | null; kind: string; diff: string[] }>(
    c,
    `SELECT pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)) AS role, pg_catalog.quote_ident(n.nspname) AS schema,
            d.defaclobjtype::text AS kind,
            ${aclDiffSql(
              'd.defaclacl',
              `''`,
              'd.defaclrole',
              // a schema's entries add to the global ones; a global entry replaces the built-in default
              `CASE WHEN d.defaclnamespace = 0
                    THEN pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END, d.defaclrole)
                    ELSE ${EMPTY_ACL} END`,
            )} AS diff
       FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
      ORDER BY 1, 2 NULLS FIRST, 3`,
  );
  const out: string[] = [];
  for (const d of list) {
    const [objects] = DEFACL_KIND[d.kind] ?? [d.kind];
    const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${d.role}${d.schema ? ` IN SCHEMA ${d.schema}` : ''}`;
    for (const x of parseAclDiff(d.diff)) {
      if (x.sign === '-') out.push(`${head} REVOKE ${x.privilege} ON ${objects} FROM ${x.grantee}`);
      else out.push(`${head} GRANT ${x.privilege} ON ${objects} TO ${x.grantee}${x.grantable ? ' WITH GRANT OPTION' : ''}`);
    }
  }
  return out;
}

/** COMMENT ON for every copied object that has one (and the public schema's, which may differ) */
export async function commentStatements(c: pg.Client): Promise<string[]> {
  const list = await rows<{ target: string | null; text: string | null }>(
    c,
    q(`SELECT CASE d.classoid
                WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                  (SELECT CASE WHEN d.objsubid <> 0 THEN 'COLUMN ' || pg_catalog.format('%I.%I.%I', n.nspname, c.relname,
                                 (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum = d.objsubid))
                               ELSE CASE c.relkind WHEN 'v' THEN 'VIEW ' WHEN 'm' THEN 'MATERIALIZED VIEW ' WHEN 'S' THEN 'SEQUENCE '
                                      WHEN 'i' THEN 'INDEX ' WHEN 'I' THEN 'INDEX ' WHEN 'c' THEN 'TYPE ' ELSE 'TABLE ' END
                                    || pg_catalog.format('%I.%I', n.nspname, c.relname) END
                     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = d.objoid AND c.relkind <> 'f' AND ${userSchema('n.nspname')})
                WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
                  (SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN ' ELSE 'TYPE ' END || pg_catalog.format('%I.%I', n.nspname, t.typname)
                     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = d.objoid)
                WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
                  (SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END
                          || pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
                     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                    WHERE p.oid = d.objoid AND p.prokind IN ('f', 'p'))
                WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN
                  (SELECT 'CONSTRAINT ' || pg_catalog.quote_ident(k.conname) || ' ON '
                          || CASE WHEN k.contypid <> 0 THEN 'DOMAIN ' || pg_catalog.format('%I.%I', tn.nspname, t.typname)
                                  ELSE pg_catalog.format('%I.%I', cn.nspname, c.relname) END
                     FROM pg_catalog.pg_constraint k
                     LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
                     LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
                    WHERE k.oid = d.objoid AND k.contype <> 'n')
                WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                  (SELECT 'TRIGGER ' || pg_catalog.format('%I ON %I.%I', g.tgname, n.nspname, c.relname)
                     FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE g.oid = d.objoid AND g.tgparentid = 0)
                WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
                  (SELECT 'POLICY ' || pg_catalog.format('%I ON %I.%I', p.polname, n.nspname, c.relname)
                     FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE p.oid = d.objoid)
                WHEN 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN
                  (SELECT 'SCHEMA ' || pg_catalog.quote_ident(nspname) FROM pg_catalog.pg_namespace WHERE oid = d.objoid)
                WHEN 'pg_catalog.pg_extension'::pg_catalog.regclass THEN
                  (SELECT 'EXTENSION ' || pg_catalog.quote_ident(extname) FROM pg_catalog.pg_extension WHERE oid = d.objoid)
                WHEN 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass THEN
                  (SELECT 'STATISTICS ' || pg_catalog.format('%I.%I', n.nspname, s.stxname) FROM pg_catalog.pg_statistic_ext s
                     JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace WHERE s.oid = d.objoid)
              END AS target, d.description AS text
         FROM pg_catalog.pg_description d
        WHERE d.objoid >= 16384 AND NOT EXISTS (SELECT 1 FROM extobj x WHERE x.classid = d.classoid AND x.objid = d.objoid)
        UNION ALL
       SELECT 'SCHEMA public', (SELECT description FROM pg_catalog.pg_description
                                  WHERE classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND objoid = ${PUBLIC_SCHEMA_OID})
        WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE oid = ${PUBLIC_SCHEMA_OID})
        ORDER BY 1`),
  );
  return list
    .filter((x) => x.target !== null)
    .map((x) => `COMMENT ON ${x.target} IS ${x.text === null ? 'NULL' : literal(x.text)}`);
}

/** the database's owner, connection limit, privileges, settings (its own and its roles'), comment */
export async function databaseStatements(c: pg.Client, database: string): Promise<string[]> {
  const [d] = await rows<{
    name: string;
    owner: string;
    owner_oid: number;
    connlimit: number;
    diff: string[];
    comment: string | null;
  }>(
    c,
    `SELECT pg_catalog.quote_ident(d.datname) AS name, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.datdba)) AS owner,
            d.datdba AS owner_oid, d.datconnlimit AS connlimit, ${aclDiffSql('d.datacl', `'d'`, 'd.datdba')} AS diff,
            pg_catalog.shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_catalog.pg_database d WHERE d.datname = $1`,
    [database],
  );
  if (!d) throw new Error(`database ${database} not found`);
  const out: string[] = [];
  if (d.owner_oid !== BOOTSTRAP_ROLE_OID) out.push(`ALTER DATABASE ${d.name} OWNER TO ${d.owner}`);
  if (d.connlimit !== -1) out.push(`ALTER DATABASE ${d.name} CONNECTION LIMIT ${d.connlimit}`);
  out.push(...aclStatements(parseAclDiff(d.diff), `DATABASE ${d.name}`, d.owner));
  const settings = await rows<{ role: string | null; setting: string }>(
    c,
    `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(s.setrole)) END AS role,
            x.setting
       FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase,
            LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY x(setting, i)
      WHERE d.datname = $1 ORDER BY 1 NULLS FIRST, x.i`,
    [database],
  );
  for (const s of settings) {
    const head = s.role ? `ALTER ROLE ${s.role} IN DATABASE ${d.name}` : `ALTER DATABASE ${d.name}`;
    out.push(`${head} SET ${settingClause(s.setting)}`);
  }
  if (d.comment !== null) out.push(`COMMENT ON DATABASE ${d.name} IS ${literal(d.comment)}`);
  return out;
}
