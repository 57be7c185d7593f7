// Webhook delivery settings (docs/settings.md: LIFTGATE_WEBHOOK_*).
import { SETTINGS, type Settings } from '../domain/settings.ts';

export interface WebhookSettings {
  /** hosts webhooks may call; empty = any http(s) host, loopback included */
  allowedHosts: string[];
  /** one delivery attempt's time limit */
  timeoutMs: number;
  /** how long a delivery is retried before it is given up */
  retryForMs: number;
  /** the first retry's delay; each further retry doubles it up to maxDelayMs */
  baseDelayMs: number;
  maxDelayMs: number;
  /** attempts in flight at once (per process) */
  concurrency: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  allowedHosts: [],
  timeoutMs: SETTINGS.LIFTGATE_WEBHOOK_TIMEOUT_MS.default,
  retryForMs: SETTINGS.LIFTGATE_WEBHOOK_RETRY_HOURS.default * 3600_000,
  baseDelayMs: 10_000,
  maxDelayMs: 3600_000,
  concurrency: 16,
};

type WebhookSettingNames = 'LIFTGATE_WEBHOOK_ALLOWED_HOSTS' | 'LIFTGATE_WEBHOOK_TIMEOUT_MS' | 'LIFTGATE_WEBHOOK_RETRY_HOURS';

/** LIFTGATE_WEBHOOK_* (src/domain/settings.ts), as the delivery's settings. */
export function webhookSettingsFrom(s: Pick<Settings, WebhookSettingNames>): Partial<WebhookSettings> {
  return {
    allowedHosts: s.LIFTGATE_WEBHOOK_ALLOWED_HOSTS,
    timeoutMs: s.LIFTGATE_WEBHOOK_TIMEOUT_MS,
    retryForMs: s.LIFTGATE_WEBHOOK_RETRY_HOURS * 3600_000,
  };
}

/** The delay before retry number `attempt` (1 = after the first failure): exponential, capped. */
export function retryDelayMs(s: Pick<WebhookSettings, 'baseDelayMs' | 'maxDelayMs'>, attempt: number): number {
  return Math.min(s.maxDelayMs, s.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}
