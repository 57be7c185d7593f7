// Replay protection shared by every vendor auth scheme.
//
// A verifier calls claim(key, expiresAtMs) only after the request has been fully
// authenticated, so an unauthenticated client cannot fill the guard's memory.
// `expiresAtMs` is the moment after which the request would be rejected anyway
// (its timestamp fell out of the skew window), so remembering the key until then
// is enough and nothing needs to be kept longer.

export interface ReplayGuard {
  /**
   * Records `key` until `expiresAtMs`. Resolves true the first time a key is
   * claimed and false while an earlier claim of the same key is still remembered.
   */
  claim(key: string, expiresAtMs: number): Promise<boolean>;
}

/** Thrown when the guard is full of unexpired keys; callers should answer 503. */
export class ReplayGuardFullError extends Error {
  readonly code = 'REPLAY_GUARD_FULL';
  constructor(limit: number) {
    super(`replay guard holds ${limit} unexpired keys; refusing new requests until some expire`);
    this.name = 'ReplayGuardFullError';
  }
}

export interface InMemoryReplayGuardOptions {
  /** Upper bound on remembered keys (memory bound). Default 100 000. */
  maxEntries?: number;
  /** Clock in epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/**
 * Single-process guard. Entries live in a Map (insertion order) plus a min-heap
 * on expiry so pruning costs O(log n) per expired key instead of a full scan.
 * When every slot holds an unexpired key it fails closed (throws) rather than
 * evicting, because evicting a live key would silently re-open a replay window.
 */
export class InMemoryReplayGuard implements ReplayGuard {
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly expiries = new Map<string, number>();
  private readonly heap: Array<{ key: string; at: number }> = [];

  constructor(options: InMemoryReplayGuardOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
  }

  get size(): number {
    return this.expiries.size;
  }

  async claim(key: string, expiresAtMs: number): Promise<boolean> {
    const now = this.now();
    this.prune(now);
    const existing = this.expiries.get(key);
    if (existing !== undefined && existing > now) return false;
    // Already expired requests are rejected by the verifiers before they get here;
    // remembering them would only waste a slot.
    if (expiresAtMs <= now) return true;
    if (this.expiries.size >= this.maxEntries) throw new ReplayGuardFullError(this.maxEntries);
    this.expiries.set(key, expiresAtMs);
    this.push({ key, at: expiresAtMs });
    return true;
  }

  private prune(now: number): void {
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const top = this.pop()!;
      // A key is in the heap once per claim; only delete if this heap entry is current.
      if (this.expiries.get(top.key) === top.at) this.expiries.delete(top.key);
    }
  }

  private push(item: { key: string; at: number }): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): { key: string; at: number } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < h.length && h[l]!.at < h[smallest]!.at) smallest = l;
        if (r < h.length && h[r]!.at < h[smallest]!.at) smallest = r;
        if (smallest === i) break;
        [h[smallest], h[i]] = [h[i]!, h[smallest]!];
        i = smallest;
      }
    }
    return top;
  }
}
