// A digest of every table of a store, to prove a refused request wrote nothing: one value per
// table over its rows, sorted, so the order a dialect returns them in does not matter. Each
// dialect computes it in one statement: PostgreSQL hashes the rows' text, SQLite joins them as
// JSON arrays (hashed here).
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AppContext } from '../../src/service/context.ts';

export type StoreDigest = Map<string, string>;

/** Tables the digest leaves out, and why. */
export const UNDIGESTED: Record<string, string> = {
  replay_nonces: 'every signed write records its nonce or signature before its input is judged: that is the replay guard',
  rate_limit_counters: 'a refused request still counts against its rate limits',
  token_uses: 'a request records when its admin token was last used (at most every 10 minutes per token and server)',
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
      // schemas that other test files drop meanwhile. PostgreSQL hashes rows whole (no columns).
      const { rows } = await sql<{ name: string }>`
        SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${ctx.config.pgSchema ?? 'public'} AND c.relkind IN ('r', 'p')`.execute(ctx.store.db);
      all = rows.map((r) => ({ name: r.name, columns: [] }));
    } else {
      all = (await ctx.store.db.introspection.getTables())
        .filter((t) => !t.isView)
        .map((t) => ({ name: t.name, columns: t.columns.map((c) => c.name) }));
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
    const value = postgres
      ? sql`(SELECT count(*) || ':' || md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text), '')) FROM ${sql.table(t.name)} r)`
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
