// Seeded chaos for the HA test and bench:ha: a small PRNG (so a failing run can be replayed with
// the same LIFTGATE_HA_SEED) and the wait for a takeover, read from the store.
import type { Store } from '../../src/store/open.ts';

/** mulberry32: small, fast, good enough to pick kill points. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The id of the running executor of a process. */
export async function executorOf(store: Store, pid: number): Promise<string | null> {
  const row = await store.db
    .selectFrom('executors')
    .select('id')
    .where('pid', '=', pid)
    .where('state', '=', 'running')
    .orderBy('started_at', 'desc')
    .executeTakeFirst();
  return row?.id ?? null;
}

/**
 * Resolves once executor `id` is no longer running and holds no step: another replica declared
 * it lost and recovered its steps. Answers how long that took from `since` (ms).
 */
export async function takenOver(store: Store, id: string, since: number, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    const ex = await store.db.selectFrom('executors').select('state').where('id', '=', id).executeTakeFirst();
    if (ex && ex.state !== 'running') {
      const held = await store.db
        .selectFrom('steps')
        .select('id')
        .where('lease_owner', '=', id)
        .where('state', 'in', ['running', 'rolling_back'])
        .limit(1)
        .executeTakeFirst();
      if (!held) return performance.now() - since;
    }
    if (performance.now() - since > timeoutMs) throw new Error(`executor ${id} was not taken over within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
