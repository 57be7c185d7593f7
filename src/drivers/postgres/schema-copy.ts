// The schema (and roles) of a blue cluster, exported from its catalog as SQL for green on a newer
// major, for a blue/green upgrade whose data then follows by logical replication. The installed
// binaries have no pg_dump, so this is the part of pg_dump such an upgrade needs, built from
// pg_get_*def, format_type and pg_depend. What it cannot carry faithfully is a named problem
// (schema-problems.ts), never a silent omission; schema-fingerprint.ts is the check that green
// ended up with the same schema.
//
// Foreign keys are in `pre`: logical replication applies rows with session_replication_role =
// replica (initial copy included), where the triggers that enforce them do not fire, so they cost
// nothing during the copy and green needs no validating scan of every table before cutover.
// `post` sets the sequences, which logical replication does not carry: export it again
// (sequenceValues) once blue has stopped writing, at cutover.
import { type ProblemOptions, findProblems, type SchemaProblem } from './schema-problems.ts';
import { literal, rows, withCatalog, EXT_OBJECTS_CTE, userObject, userSchema } from './schema-catalog.ts';
import {
  extensionItems,
  functionItems,
  policyItems,
  RANK,
  schemaItems,
  sequenceItems,
  statisticsItems,
  triggerItems,
  typeItems,
  viewItems,
} from './schema-objects.ts';
import { dependencyEdges, orderItems } from './schema-order.ts';
import {
  aclStatementsFor,
  commentStatements,
  databaseStatements,
  defaultPrivilegeStatements,
  ownerStatements,
} from './schema-privileges.ts';
import { foreignKeys, indexItems, tableItems } from './schema-tables.ts';
import { connect, query } from './server.ts';
import type pg from 'pg';

export type { ProblemOptions, SchemaProblem } from './schema-problems.ts';
export { extensionsOfMajor, REPLICATION_NAME_PREFIX } from './schema-problems.ts';
export { exportRoles } from './schema-roles.ts';
export { fingerprintDiff, schemaFingerprint } from './schema-fingerprint.ts';

export interface ExportedSchema {
  database: string;
  /** run on green before the data copy: every object, foreign keys, comments, owners, privileges */
  pre: string[];
  /** run on green after the initial data copy: sequence values */
  post: string[];
  /** qualified names of materialized views in dependency order, to REFRESH on green before cutover */
  matviews: string[];
  /** anything it cannot copy faithfully; the precheck fails naming each */
  problems: SchemaProblem[];
}

/** the databases to copy: every one that accepts connections, except the templates */
export async function listDatabases(port: number): Promise<string[]> {
  const list = await query<{ datname: string }>(
    port,
    'SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname',
  );
  return list.map((d) => d.datname);
}

/** CREATE DATABASE for green with blue's encoding and locale (owner, settings and privileges are in `pre`) */
export async function createDatabaseStatement(port: number, database: string): Promise<string> {
  const [d] = await query<{ name: string; encoding: string; j: Record<string, string | null> }>(
    port,
    `SELECT pg_catalog.quote_ident(d.datname) AS name, pg_catalog.pg_encoding_to_char(d.encoding) AS encoding, pg_catalog.to_jsonb(d) AS j
       FROM pg_catalog.pg_database d WHERE d.datname = $1`,
    [database],
  );
  if (!d) throw new Error(`database ${database} not found`);
  const provider = ({ c: 'libc', i: 'icu', b: 'builtin' } as Record<string, string>)[d.j.datlocprovider ?? 'c'] ?? 'libc';
  let s = `CREATE DATABASE ${d.name} WITH TEMPLATE template0 ENCODING ${literal(d.encoding)} LOCALE_PROVIDER ${provider}`;
  s += ` LC_COLLATE ${literal(d.j.datcollate ?? 'C')} LC_CTYPE ${literal(d.j.datctype ?? 'C')}`;
  const locale = d.j.datlocale ?? d.j.daticulocale; // renamed in 17
  if (provider === 'icu' && locale) s += ` ICU_LOCALE ${literal(locale)}`;
  if (provider === 'icu' && d.j.daticurules) s += ` ICU_RULES ${literal(d.j.daticurules)}`;
  if (provider === 'builtin' && locale) s += ` BUILTIN_LOCALE ${literal(locale)}`;
  return s;
}

async function sequenceValueStatements(c: pg.Client): Promise<string[]> {
  const seqs = await rows<{ name: string; start: string }>(
    c,
    `WITH RECURSIVE ${EXT_OBJECTS_CTE}
     SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, s.seqstart::text AS start
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
      WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND ${userObject('pg_class', 'c.oid')} AND ${userSchema('n.nspname')}
      ORDER BY 1`,
  );
  // read from the sequences themselves: pg_sequence_last_value hides a value set with is_called = false
  const out: string[] = [];
  for (let i = 0; i < seqs.length; i += 200) {
    const chunk = seqs.slice(i, i + 200);
    const values = await rows<{ i: number; last: string; called: boolean }>(
      c,
      chunk.map((x, j) => `SELECT ${j} AS i, last_value::text AS last, is_called AS called FROM ${x.name}`).join(' UNION ALL '),
    );
    for (const v of values.sort((a, b) => a.i - b.i)) {
      const seq = chunk[v.i]!;
      // a sequence never used is as green creates it
      if (v.called || v.last !== seq.start) out.push(`SELECT pg_catalog.setval(${literal(seq.name)}, ${v.last}, ${v.called})`);
    }
  }
  return out;
}

/** setval for every sequence that has moved: for green at cutover, after blue stopped writing */
export async function sequenceValues(port: number, database: string): Promise<string[]> {
  return withCatalog(port, database, sequenceValueStatements);
}

export async function exportSchema(port: number, database: string, opts: ProblemOptions = {}): Promise<ExportedSchema> {
  return withCatalog(port, database, async (c) => {
    const problems = await findProblems(c, opts);
    const { items: schemas, hasPublic } = await schemaItems(c);
    const tables = await tableItems(c);
    const items = [
      ...schemas,
      ...(await extensionItems(c)),
      ...(await typeItems(c)),
      ...(await sequenceItems(c)),
      ...(await functionItems(c)),
      ...tables.items,
      ...(await indexItems(c, tables.descendants)),
      ...(await viewItems(c)),
      ...(await triggerItems(c)),
      ...(await policyItems(c)),
      ...(await statisticsItems(c)),
    ];
    const { ordered, cycle } = orderItems(items, await dependencyEdges(c));
    for (const i of cycle) {
      problems.push({
        object: i.name,
        kind: 'dependency cycle',
        reason: 'depends, through other objects, on itself; no creation order exists',
      });
    }
    const pre = [
      // bodies may name tables made later; every name in the statements is schema-qualified
      'SET check_function_bodies = false',
      "SELECT pg_catalog.set_config('search_path', '', false)",
      'SET client_min_messages = warning',
      ...(hasPublic ? [] : ['DROP SCHEMA IF EXISTS public']),
      ...ordered.flatMap((i) => i.sql),
      ...(await foreignKeys(c)),
      ...(await commentStatements(c)),
      ...(await ownerStatements(c)),
      ...(await aclStatementsFor(c, hasPublic)),
      ...(await defaultPrivilegeStatements(c)),
      ...(await databaseStatements(c, database)),
    ];
    return {
      database,
      pre,
      post: await sequenceValueStatements(c),
      matviews: ordered.filter((i) => i.rank === RANK.matview).map((i) => i.name),
      problems: problems.sort((a, b) => a.kind.localeCompare(b.kind) || a.object.localeCompare(b.object)),
    };
  });
}

/** the same list as exportSchema().problems (it is that list): a handful of catalog queries */
export async function uncopyable(port: number, database: string, opts: ProblemOptions = {}): Promise<SchemaProblem[]> {
  return (await exportSchema(port, database, opts)).problems;
}

/**
 * Run `statements` on `database` in one transaction: all of them or none. Every statement the
 * export produces can run in a transaction block.
 */
export async function applyStatements(
  port: number,
  database: string,
  statements: string[],
  log: (l: string) => void = () => undefined,
): Promise<void> {
  const c = connect(port, database);
  await c.connect();
  const t0 = Date.now();
  try {
    await c.query('BEGIN');
    for (let i = 0; i < statements.length; i++) {
      try {
        await c.query(statements[i]!);
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        const msg = `statement ${i + 1} of ${statements.length} failed on ${database}: ${(e as Error).message}\n${statements[i]!.slice(0, 1000)}`;
        log(msg);
        throw new Error(msg);
      }
    }
    await c.query('COMMIT');
    log(`${database}: applied ${statements.length} statements in ${Date.now() - t0} ms`);
  } finally {
    await c.end().catch(() => undefined);
  }
}
