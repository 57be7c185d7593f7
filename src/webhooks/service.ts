// The webhook machinery of one process: the outbox feeder and the delivery worker, paced by a
// timer. Both are safe on every replica at once (the feeder's cursor is locked per batch, the
// worker claims rows with SKIP LOCKED), so a replica that dies leaves nothing undone.
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../store/open.ts';
import { DeliveryWorker } from './delivery.ts';
import { OutboxFeeder } from './outbox.ts';
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from './settings.ts';

export class WebhookService {
  readonly settings: WebhookSettings;
  readonly feeder: OutboxFeeder;
  readonly worker: DeliveryWorker;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;

  constructor(
    store: Store,
    clock: Clock,
    settings: Partial<WebhookSettings>,
    unseal: (sealed: string) => string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.settings = { ...DEFAULT_WEBHOOK_SETTINGS, ...settings };
    this.feeder = new OutboxFeeder(store, clock, () => this.settings.retryForMs);
    this.worker = new DeliveryWorker(store, clock, this.settings, unseal);
  }

  /** Creates the feeder's durable cursor (before the executor starts). */
  ensureCursor(): Promise<void> {
    return this.feeder.ensureCursor();
  }

  start(everyMs = 250): void {
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
  }

  /** One round: feed the outbox from new events, then start the attempts that are due. */
  tick(): Promise<void> {
    this.busy ??= (async () => {
      try {
        await this.feeder.drain();
        await this.worker.tick();
      } catch (err) {
        this.onError(err);
      } finally {
        this.busy = null;
      }
    })();
    return this.busy;
  }

  invalidate(projectId?: string): void {
    this.feeder.invalidate(projectId);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
    await this.worker.idle();
  }
}
