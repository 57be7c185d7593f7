// Who acted, by name. An event's or an upgrade's actor is stored as the credential's id
// (`token:<id>`, `admin:<id>`, `ak:<id>`): an id never changes and no two credentials share one,
// so the audit trail stays exact. The readers are given the credential's name beside it
// (`actorName`), looked up when they read, so events written before names were shown read the
// same way. A credential deleted since (a revoked token) has no name left to show: its actor is
// shown as stored. Actors that are not credentials (`system`, `policy`, `executor`,
// `obshell:<target>`) have no name.
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

const CREDENTIAL = /^(token|admin|ak):(.+)$/;

/** actor -> the name of its credential, for the actors that are credentials still known */
export async function actorNames(db: Kysely<Database>, actors: Iterable<string>): Promise<Map<string, string>> {
  const tokens = new Set<string>();
  const keys = new Set<string>();
  for (const a of actors) {
    const m = CREDENTIAL.exec(a);
    if (m) (m[1] === 'ak' ? keys : tokens).add(m[2]);
  }
  const names = new Map<string, string>();
  if (tokens.size > 0) {
    const rows = await db
      .selectFrom('api_tokens')
      .select(['id', 'kind', 'name'])
      .where('id', 'in', [...tokens])
      .execute();
    for (const r of rows) names.set(`${r.kind === 'admin' ? 'admin' : 'token'}:${r.id}`, r.name);
  }
  if (keys.size > 0) {
    const rows = await db
      .selectFrom('access_keys')
      .select(['id', 'name'])
      .where('id', 'in', [...keys])
      .execute();
    for (const r of rows) if (r.name) names.set(`ak:${r.id}`, r.name);
  }
  return names;
}

/** each item with `<field>Name` beside its actor field when the actor is a credential with a name */
export async function withActorNames<T extends object, K extends keyof T & string>(
  db: Kysely<Database>,
  items: T[],
  field: K,
): Promise<(T & Partial<Record<`${K}Name`, string>>)[]> {
  const names = await actorNames(
    db,
    items.map((i) => String(i[field])),
  );
  if (names.size === 0) return items;
  return items.map((i) => {
    const name = names.get(String(i[field]));
    return name === undefined ? i : { ...i, [`${field}Name`]: name };
  });
}
