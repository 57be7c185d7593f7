// Checks recorded events against the state core's transition table: every event that records a
// state change (it names a to_state) must match a rule by type, entity, from, to and cause.
import type { Kysely } from 'kysely';
import { causeOf, rulesOfEvent, type Entity } from '../../src/engine/core/table.ts';
import type { Database } from '../../src/store/schema.ts';

export interface TableCheck {
  /** events that match no rule, described */
  violations: string[];
  /** the rules that were seen, as "entity.name" */
  seen: Set<string>;
  /** how many transitions were checked */
  checked: number;
}

export async function checkEventsAgainstTable(db: Kysely<Database>): Promise<TableCheck> {
  const events = await db
    .selectFrom('events')
    .select(['id', 'type', 'actor', 'from_state', 'to_state'])
    .where('to_state', 'is not', null)
    .orderBy('id')
    .execute();
  const violations: string[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    const prefix = e.type.split('.')[0];
    if (!['upgrade', 'stage', 'step', 'batch', 'wave'].includes(prefix)) continue;
    const entity = prefix as Entity;
    const match = rulesOfEvent(e.type).find(
      (r) =>
        r.entity === entity &&
        (e.from_state === null ? r.rule.from.length === 0 : r.rule.from.includes(e.from_state)) &&
        r.rule.to.includes(e.to_state as string) &&
        r.rule.by.includes(causeOf(e.actor)),
    );
    if (match) seen.add(`${match.entity}.${match.name}`);
    else violations.push(`#${e.id} ${entity} ${e.type} ${e.from_state ?? '(new)'} -> ${e.to_state} by ${e.actor}`);
  }
  return { violations, seen, checked: events.length };
}
