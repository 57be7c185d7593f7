// Roles for green, read from pg_authid: each created only when missing, then given blue's
// attributes and password hash (PostgreSQL stores a SCRAM or MD5 verifier passed to PASSWORD as
// is), memberships with their options and grantor, role settings, comments, and privileges on
// settings. The bootstrap superuser and the built-in pg_* roles exist on every cluster already.
import { BOOTSTRAP_ROLE_OID, dollarQuote, literal, settingClause } from './schema-catalog.ts';
import { query } from './server.ts';

interface RoleRow {
  name: string;
  raw: string;
  super: boolean;
  inherit: boolean;
  createrole: boolean;
  createdb: boolean;
  login: boolean;
  replication: boolean;
  bypassrls: boolean;
  connlimit: number;
  password: string | null;
  valid_until: string | null;
  comment: string | null;
}

/** roles the copy carries: not the bootstrap superuser, not the built-in pg_* roles */
export const COPIED_ROLE = `a.oid <> ${BOOTSTRAP_ROLE_OID} AND a.rolname <> 'postgres' AND a.rolname !~ '^pg_'`;

export async function exportRoles(port: number): Promise<string[]> {
  const roles = await query<RoleRow>(
    port,
    `SELECT pg_catalog.quote_ident(a.rolname) AS name, a.rolname AS raw, a.rolsuper AS super, a.rolinherit AS inherit,
            a.rolcreaterole AS createrole, a.rolcreatedb AS createdb, a.rolcanlogin AS login, a.rolreplication AS replication,
            a.rolbypassrls AS bypassrls, a.rolconnlimit AS connlimit, a.rolpassword AS password,
            CASE WHEN a.rolvaliduntil IS NULL THEN NULL WHEN a.rolvaliduntil = 'infinity' THEN 'infinity'
                 ELSE pg_catalog.to_char(a.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' END AS valid_until,
            pg_catalog.shobj_description(a.oid, 'pg_authid') AS comment
       FROM pg_catalog.pg_authid a WHERE ${COPIED_ROLE} ORDER BY a.rolname`,
  );
  const out: string[] = [];
  for (const r of roles) {
    out.push(
      `DO ${dollarQuote(`BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${literal(r.raw)}) THEN CREATE ROLE ${r.name}; END IF; END`)}`,
    );
  }
  for (const r of roles) {
    const flag = (on: boolean, word: string): string => (on ? word : `NO${word}`);
    let s =
      `ALTER ROLE ${r.name} WITH ${flag(r.super, 'SUPERUSER')} ${flag(r.inherit, 'INHERIT')} ${flag(r.createrole, 'CREATEROLE')}` +
      ` ${flag(r.createdb, 'CREATEDB')} ${flag(r.login, 'LOGIN')} ${flag(r.replication, 'REPLICATION')} ${flag(r.bypassrls, 'BYPASSRLS')}` +
      ` CONNECTION LIMIT ${r.connlimit} PASSWORD ${r.password === null ? 'NULL' : literal(r.password)}`;
    if (r.valid_until !== null) s += ` VALID UNTIL ${literal(r.valid_until)}`;
    out.push(s);
  }
  // in creation order: a grantor's own ADMIN OPTION was granted before it granted to others
  const members = await query<{ role: string; member: string; grantor: string; admin: boolean; inherit: boolean; set: boolean }>(
    port,
    `SELECT pg_catalog.quote_ident(r.rolname) AS role, pg_catalog.quote_ident(a.rolname) AS member,
            pg_catalog.quote_ident(g.rolname) AS grantor, m.admin_option AS admin, m.inherit_option AS inherit, m.set_option AS set
       FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_authid r ON r.oid = m.roleid
       JOIN pg_catalog.pg_authid a ON a.oid = m.member JOIN pg_catalog.pg_authid g ON g.oid = m.grantor
      WHERE a.rolname !~ '^pg_' ORDER BY m.oid`,
  );
  for (const m of members) {
    const opts = `ADMIN ${m.admin ? 'TRUE' : 'FALSE'}, INHERIT ${m.inherit ? 'TRUE' : 'FALSE'}, SET ${m.set ? 'TRUE' : 'FALSE'}`;
    out.push(`GRANT ${m.role} TO ${m.member} WITH ${opts} GRANTED BY ${m.grantor}`);
  }
  const settings = await query<{ role: string | null; setting: string }>(
    port,
    `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(s.setrole)) END AS role, x.setting
       FROM pg_catalog.pg_db_role_setting s, LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY x(setting, i)
      WHERE s.setdatabase = 0 ORDER BY 1 NULLS FIRST, x.i`,
  );
  for (const s of settings) out.push(`ALTER ROLE ${s.role ?? 'ALL'} SET ${settingClause(s.setting)}`);
  for (const r of roles) if (r.comment !== null) out.push(`COMMENT ON ROLE ${r.name} IS ${literal(r.comment)}`);
  const params = await query<{ name: string; grantee: string; privilege: string; grantable: boolean }>(
    port,
    `SELECT p.parname AS name, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END AS grantee,
            x.privilege_type AS privilege, x.is_grantable AS grantable
       FROM pg_catalog.pg_parameter_acl p, LATERAL pg_catalog.aclexplode(p.paracl) x ORDER BY 1, 2, 3`,
  );
  for (const p of params) {
    out.push(`GRANT ${p.privilege} ON PARAMETER ${p.name} TO ${p.grantee}${p.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
  return out;
}
