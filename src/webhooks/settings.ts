// Webhook delivery settings (docs/settings.md: LIFTGATE_WEBHOOK_*).
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
  timeoutMs: 10_000,
  retryForMs: 24 * 3600_000,
  baseDelayMs: 10_000,
  maxDelayMs: 3600_000,
  concurrency: 16,
};

export function webhookSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<WebhookSettings> {
  const out: Partial<WebhookSettings> = {};
  if (env.LIFTGATE_WEBHOOK_ALLOWED_HOSTS) {
    out.allowedHosts = env.LIFTGATE_WEBHOOK_ALLOWED_HOSTS.split(',')
      .map((h) => h.trim())
      .filter(Boolean);
  }
  const num = (v: string | undefined) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const timeout = num(env.LIFTGATE_WEBHOOK_TIMEOUT_MS);
  if (timeout !== undefined) out.timeoutMs = timeout;
  const hours = num(env.LIFTGATE_WEBHOOK_RETRY_HOURS);
  if (hours !== undefined) out.retryForMs = hours * 3600_000;
  return out;
}

/** The delay before retry number `attempt` (1 = after the first failure): exponential, capped. */
export function retryDelayMs(s: Pick<WebhookSettings, 'baseDelayMs' | 'maxDelayMs'>, attempt: number): number {
  return Math.min(s.maxDelayMs, s.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}
