// Shared pieces of the schema copy: which catalog objects belong to the user (not to PostgreSQL,
// not to an extension), privileges as a difference from the built-in default, GUC quoting, and
// the read-only catalog session every export and fingerprint runs in.
import type pg from 'pg';
import { connect } from './server.ts';

/** objects with a lower OID were made by initdb and exist on every new cluster */
export const FIRST_USER_OID = 16384;
/** the bootstrap superuser, created by initdb as 'postgres' on both sides */
export const BOOTSTRAP_ROLE_OID = 10;
/** the `public` schema is made by initdb but belongs to the database's owner */
export const PUBLIC_SCHEMA_OID = 2200;

/** an empty ACL ('{}'::aclitem[] has no dimension, which aclexplode refuses); a column's default is empty */
export const EMPTY_ACL = `pg_catalog.acldefault('c', 0::pg_catalog.oid)`;

export type Row = Record<string, unknown>;

/**
 * The objects an extension brings: its members (deptype 'e') and what hangs off them (their array
 * types, row types, indexes, operator-family members...). CREATE EXTENSION makes all of them on
 * green; they are neither exported nor fingerprinted. Carries the owning extension's OID.
 */
export const EXT_OBJECTS_CTE = `extobj(classid, objid, extoid) AS (
    SELECT classid, objid, refobjid FROM pg_catalog.pg_depend WHERE deptype = 'e'
    UNION
    SELECT d.classid, d.objid, x.extoid FROM pg_catalog.pg_depend d
      JOIN extobj x ON d.refclassid = x.classid AND d.refobjid = x.objid
     WHERE d.deptype IN ('i', 'a'))`;

/** a user object: made after initdb, and not by an extension (needs EXT_OBJECTS_CTE in scope) */
export function userObject(catalog: string, oidExpr: string): string {
  return `(${oidExpr} >= ${FIRST_USER_OID} AND NOT EXISTS (SELECT 1 FROM extobj x
            WHERE x.classid = 'pg_catalog.${catalog}'::pg_catalog.regclass AND x.objid = ${oidExpr}))`;
}

/** not an internal part of another object (the constructors and casts of a multirange type, say) */
export function standalone(catalog: string, oidExpr: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dx WHERE dx.classid = 'pg_catalog.${catalog}'::pg_catalog.regclass
            AND dx.objid = ${oidExpr} AND dx.deptype = 'i')`;
}

/** schemas that hold user objects (temporary and toast schemas excluded) */
export function userSchema(nspExpr: string): string {
  return `(${nspExpr} NOT LIKE 'pg\\_%' AND ${nspExpr} <> 'information_schema')`;
}

/**
 * Privileges as a difference from what the object would have with a NULL ACL (acldefault for
 * its owner): '+grantee\tPRIV\tgrantable\tgrantor' for each entry added, '-...' for each removed.
 * Comparing differences keeps the fingerprint equal across majors whose defaults differ
 * (PostgreSQL 17 gives owners MAINTAIN), and gives the GRANT/REVOKE statements to replay.
 * `typeExpr` is acldefault's object type (an SQL "char" expression); `baseline` overrides the
 * default (EMPTY_ACL for the default privileges of one schema, which add to the global ones).
 */
export function aclDiffSql(aclExpr: string, typeExpr: string, ownerExpr: string, baseline?: string): string {
  const base = baseline ?? `pg_catalog.acldefault(${typeExpr}, ${ownerExpr})`;
  const entry = (src: string): string =>
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
            || E'\\t' || a.privilege_type || E'\\t' || a.is_grantable::text || E'\\t'
            || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantor)) AS e
       FROM pg_catalog.aclexplode(${src}) a`;
  const actual = `coalesce(${aclExpr}, ${base})`;
  return `(SELECT coalesce(pg_catalog.array_agg(d ORDER BY d), '{}') FROM (
      SELECT '+' || e AS d FROM (${entry(actual)} EXCEPT ${entry(base)}) plus
      UNION ALL
      SELECT '-' || e FROM (${entry(base)} EXCEPT ${entry(actual)}) minus) diff)`;
}

export interface AclChange {
  sign: '+' | '-';
  grantee: string;
  privilege: string;
  grantable: boolean;
  grantor: string;
}

export function parseAclDiff(entries: string[]): AclChange[] {
  return entries.map((e) => {
    const [head, privilege, grantable, grantor] = e.split('\t');
    return {
      sign: head!.charAt(0) as '+' | '-',
      grantee: head!.slice(1),
      privilege: privilege!,
      grantable: grantable === 'true',
      grantor: grantor!,
    };
  });
}

/**
 * GRANT/REVOKE statements that turn an object with default privileges into one with `changes`:
 * revokes first, then grants by the owner, then grants made by others (as that role, since
 * PostgreSQL records the grantor and only accepts GRANTED BY the current user).
 */
export function aclStatements(changes: AclChange[], on: string, owner: string, columns = ''): string[] {
  const out: string[] = [];
  const cols = columns ? ` (${columns})` : '';
  for (const c of changes.filter((x) => x.sign === '-')) out.push(`REVOKE ${c.privilege}${cols} ON ${on} FROM ${c.grantee}`);
  // a grantor other than the owner needs its grant option first: emit in rounds
  let pending = changes.filter((x) => x.sign === '+');
  const canGrant = new Set<string>([`${owner}\t*`]);
  while (pending.length > 0) {
    const ready = pending.filter((c) => canGrant.has(`${c.grantor}\t*`) || canGrant.has(`${c.grantor}\t${c.privilege}`));
    const batch = ready.length > 0 ? ready : pending; // unresolvable chain: let the server say why
    for (const c of batch) {
      const stmt = `GRANT ${c.privilege}${cols} ON ${on} TO ${c.grantee}${c.grantable ? ' WITH GRANT OPTION' : ''}`;
      if (c.grantor === owner) out.push(stmt);
      else out.push(`SET ROLE ${c.grantor}`, stmt, 'RESET ROLE');
      if (c.grantable) canGrant.add(`${c.grantee}\t${c.privilege}`);
    }
    pending = pending.filter((c) => !batch.includes(c));
  }
  return out;
}

export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** $tag$body$tag$ with a tag the body does not contain */
export function dollarQuote(body: string, tag = 'lg'): string {
  while (body.includes(`$${tag}$`)) tag += '_';
  return `$${tag}$${body}$${tag}$`;
}

/** settings whose value is a list of quoted items (pg_dump's variable_is_guc_list_quote) */
const LIST_QUOTE_SETTINGS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** 'name=value' as stored in pg_db_role_setting -> "name TO 'value'" (list settings item by item) */
export function settingClause(entry: string): string {
  const eq = entry.indexOf('=');
  const name = entry.slice(0, eq);
  const value = entry.slice(eq + 1);
  if (!LIST_QUOTE_SETTINGS.has(name.toLowerCase())) return `${name} TO ${literal(value)}`;
  const items: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '"') {
      if (quoted && value[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      items.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  items.push(cur.trim());
  return `${name} TO ${items.map(literal).join(', ')}`;
}

/**
 * Run `fn` on a dedicated connection in one read-only snapshot with an empty search_path, so every
 * name pg_get_*def and format_type print is schema-qualified. A dedicated client, not the pooled
 * one: the session setting must not leak to other users of the pool.
 */
export async function withCatalog<T>(port: number, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = connect(port, database);
  await c.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await c.query("SELECT pg_catalog.set_config('search_path', '', true)");
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function rows<R = Row>(c: pg.Client, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await c.query(sql, params)).rows as R[];
}
