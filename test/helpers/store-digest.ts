// A digest of every table of a store, to prove a refused request wrote nothing: one value per
// table over its rows, independent of the order a dialect returns them in. Each dialect computes
// it in one statement: PostgreSQL sums a 64-bit hash of each row's text (no sort), SQLite joins
// the rows as sorted JSON arrays (hashed here). A table changed when a row was added, removed or
// updated; each value also counts the rows.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AppContext } from '../../src/service/app-context.ts';

export type StoreDigest = Map<string, string>;

/** Tables the digest leaves out, and why. */
export const UNDIGESTED: Record<string, string> = {
  replay_nonces: 'every signed write records its nonce or signature before its input is judged: that is the replay guard',
  rate_limit_counters:
    'a refused request still counts against its rate limits, and a refused authentication against the failed-authentication limit',
  token_uses: 'a request records when its admin token was last used (at most every 10 minutes per token and server)',
};

/**
 * Columns the digest leaves out, and why: time alone moves them while a Liftgate runs, so a test
 * that keeps the background workers running (test/helpers/idle.ts) would see them change between
 * any two digests. Their rows are still digested: a new executor, a changed state or a new leader
 * term is seen.
 */
export const HEARTBEAT_COLUMNS: Record<string, { columns: string[]; reason: string }> = {
  executors: {
    columns: ['heartbeat_at', 'beats'],
    reason: 'every running executor heartbeats once a second; no request writes them',
  },
  leader_leases: {
    columns: ['renewed_at', 'beats'],
    reason: 'the housekeeping leader renews its lease every heartbeat; no request writes them',
  },
};

interface Table {
  name: string;
  columns: string[];
}

const tablesOf = new WeakMap<AppContext, Table[]>();

async function tables(ctx: AppContext): Promise<Table[]> {
  let found = tablesOf.get(ctx);
  if (!found) {
    let all: Table[];
    if (ctx.store.caps.name === 'postgres') {
      // pg_catalog, for this schema only: an introspection of every schema would trip over the
      // schemas that other test files drop meanwhile. PostgreSQL hashes rows whole (no columns),
      // a table with heartbeat columns as its rows' JSON without them.
      const { rows } = await sql<{ name: string }>`
        SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${ctx.config.pgSchema ?? 'public'} AND c.relkind IN ('r', 'p')`.execute(ctx.store.db);
      all = rows.map((r) => ({ name: r.name, columns: [] }));
    } else {
      all = (await ctx.store.db.introspection.getTables())
        .filter((t) => !t.isView)
        .map((t) => ({
          name: t.name,
          columns: t.columns.map((c) => c.name).filter((c) => !HEARTBEAT_COLUMNS[t.name]?.columns.includes(c)),
        }));
    }
    found = all
      .filter((t) => !(t.name in UNDIGESTED) && !t.name.startsWith('kysely_'))
      .sort((a, b) => a.name.localeCompare(b.name));
    tablesOf.set(ctx, found);
  }
  return found;
}

export async function storeDigest(ctx: AppContext): Promise<StoreDigest> {
  const all = await tables(ctx);
  const postgres = ctx.store.caps.name === 'postgres';
  const cols = all.map((t, i) => {
    const left = HEARTBEAT_COLUMNS[t.name]?.columns;
    const row = left ? sql`(to_jsonb(r) - ARRAY[${sql.join(left.map((c) => sql.lit(c)))}]::text[])::text` : sql`r::text`;
    const value = postgres
      ? sql`(SELECT count(*) || ':' || coalesce(sum(hashtextextended(${row}, 0)), 0) FROM ${sql.table(t.name)} r)`
      : sql`(SELECT count(*) || ':' || coalesce(group_concat(x, char(10)), '') FROM (SELECT json_array(${sql.join(
          t.columns.map((c) => sql.ref(c)),
        )}) AS x FROM ${sql.table(t.name)} ORDER BY 1))`;
    return sql`${value} AS ${sql.ref(`t${i}`)}`;
  });
  const { rows } = await sql<Record<string, string>>`SELECT ${sql.join(cols)}`.execute(ctx.store.db);
  const out: StoreDigest = new Map();
  all.forEach((t, i) => {
    const v = rows[0]![`t${i}`]!;
    out.set(t.name, postgres ? v : createHash('sha256').update(v).digest('hex'));
  });
  return out;
}

/** The tables whose rows differ between two digests. */
export function changedTables(before: StoreDigest, after: StoreDigest): string[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((n) => before.get(n) !== after.get(n)).sort();
}

/** Every row of every digested table, as JSON text (the heartbeat columns left out). */
export async function storeRows(ctx: AppContext): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const t of await tables(ctx)) {
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(t.name)}`.execute(ctx.store.db);
    const left = HEARTBEAT_COLUMNS[t.name]?.columns ?? [];
    out.set(
      t.name,
      rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([c]) => !left.includes(c))))),
    );
  }
  return out;
}

/** The rows one snapshot has and the other has not (an updated row is both), by table. */
export function changedRows(before: Map<string, string[]>, after: Map<string, string[]>): { table: string; row: string }[] {
  const out: { table: string; row: string }[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(table) ?? [];
    const b = after.get(table) ?? [];
    const count = new Map<string, number>();
    for (const r of a) count.set(r, (count.get(r) ?? 0) + 1);
    for (const r of b) count.set(r, (count.get(r) ?? 0) - 1);
    for (const [row, n] of count) if (n !== 0) out.push({ table, row });
  }
  return out;
}
