// The delivery worker: claims due outbox rows under a lease (FOR UPDATE SKIP LOCKED on
// PostgreSQL, so replicas share the work without sending a row twice at once; the single writer
// on SQLite), POSTs each signed payload with a time limit, and records the attempt with a guarded
// update. It runs beside the executor, never in its path: a slow or failing receiver costs a
// timer and a socket, not a step. Every due time is read from the injectable clock.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../store/open.ts';
import type { WebhookDeliveryRow } from '../store/schema.ts';
import { parseJson } from '../store/mappers.ts';
import { retryDelayMs, type WebhookSettings } from './settings.ts';
import { SIGNATURE_HEADER, signatureHeader } from './signing.ts';
import { hostAllowed } from './subscriptions.ts';

/** how many attempts a delivery's log keeps (the oldest are dropped) */
const LOG_KEEP = 20;

export interface AttemptResult {
  status: number | null;
  error: string | null;
  ms: number;
}

export class DeliveryWorker {
  readonly owner = `whk-${randomUUID().slice(0, 8)}`;
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: WebhookSettings,
    /** the webhook's secret in clear, from its sealed form */
    private readonly unseal: (sealed: string) => string,
  ) {}

  /** Claims what is due and starts the attempts; returns how many were started. */
  async tick(): Promise<number> {
    const free = this.settings.concurrency - this.inFlight;
    if (free <= 0) return 0;
    const rows = await this.claim(free);
    for (const row of rows) {
      this.inFlight++;
      const p = this.attempt(row).finally(() => {
        this.inFlight--;
        this.running.delete(p);
      });
      this.running.add(p);
    }
    return rows.length;
  }

  /** Waits for the attempts in flight (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async claim(limit: number): Promise<WebhookDeliveryRow[]> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    // the lease outlives one attempt's time limit; an expired lease means its worker died
    const leaseUntil = new Date(now.getTime() + this.settings.timeoutMs + 30_000).toISOString();
    const db = this.store.db;
    let due = db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', nowIso)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', nowIso)]))
      .orderBy('next_attempt_at')
      .limit(limit);
    if (this.store.caps.supportsSkipLocked) due = due.forUpdate().skipLocked();
    return db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: this.owner, lease_expires_at: leaseUntil })
      .where('id', 'in', due)
      .where('state', '=', 'pending')
      .returningAll()
      .execute();
  }

  private async attempt(row: WebhookDeliveryRow): Promise<void> {
    const hook = await this.store.db.selectFrom('webhooks').selectAll().where('id', '=', row.webhook_id).executeTakeFirst();
    if (!hook) {
      await this.store.db.deleteFrom('webhook_deliveries').where('id', '=', row.id).execute();
      return;
    }
    const result = await this.post(hook.url, this.unseal(hook.secret_enc), row);
    await this.record(row, result, !hostAllowed(this.settings.allowedHosts, new URL(hook.url).hostname));
  }

  private async post(url: string, secret: string, row: WebhookDeliveryRow): Promise<AttemptResult> {
    const started = performance.now();
    const host = new URL(url).hostname;
    if (!hostAllowed(this.settings.allowedHosts, host)) {
      return { status: null, error: `host ${host} is no longer allowed (LIFTGATE_WEBHOOK_ALLOWED_HOSTS)`, ms: 0 };
    }
    const timestamp = Math.floor(this.clock.now().getTime() / 1000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Liftgate-Webhooks/1',
          [SIGNATURE_HEADER]: signatureHeader(secret, timestamp, row.payload),
          'Liftgate-Event': row.event_type,
          'Liftgate-Delivery': row.id,
        },
        body: row.payload,
      });
      // the receiver's answer is not read beyond its status; drop the body
      await res.body?.cancel().catch(() => undefined);
      const ms = Math.round(performance.now() - started);
      return res.status >= 200 && res.status < 300
        ? { status: res.status, error: null, ms }
        : { status: res.status, error: `receiver answered ${res.status}`, ms };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.settings.timeoutMs} ms` : (e.cause?.code ?? e.message);
      return { status: null, error: why, ms: Math.round(performance.now() - started) };
    }
  }

  /** Records the attempt, guarded on this worker's lease: a row another worker took is left alone. */
  private async record(row: WebhookDeliveryRow, r: AttemptResult, forbidden: boolean): Promise<void> {
    const now = this.clock.now();
    const attempts = row.attempts + 1;
    const log = [
      ...parseJson<unknown[]>(row.log, []),
      { at: now.toISOString(), status: r.status, error: r.error, ms: r.ms },
    ].slice(-LOG_KEEP);
    const ok = r.error === null;
    const next = new Date(now.getTime() + retryDelayMs(this.settings, attempts));
    const giveUp = forbidden || next.toISOString() > row.give_up_at;
    await this.store.db
      .updateTable('webhook_deliveries')
      .set({
        state: ok ? 'delivered' : giveUp ? 'failed' : 'pending',
        attempts,
        next_attempt_at: ok || giveUp ? row.next_attempt_at : next.toISOString(),
        lease_owner: null,
        lease_expires_at: null,
        last_status: r.status,
        last_error: r.error,
        log: JSON.stringify(log),
        delivered_at: ok ? now.toISOString() : null,
      })
      .where('id', '=', row.id)
      .where('lease_owner', '=', this.owner)
      .where('state', '=', 'pending')
      .execute();
  }
}

/** Rows still to deliver (for metrics and tests). */
export async function pendingDeliveries(store: Store): Promise<number> {
  const r = await store.db
    .selectFrom('webhook_deliveries')
    .select(sql<number>`count(*)`.as('n'))
    .where('state', '=', 'pending')
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}
