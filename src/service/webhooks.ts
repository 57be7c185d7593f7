// Webhooks per project: create (the secret is kept sealed under the master key and shown only
// when it was generated), list, get, delete, and each webhook's delivery log.
import { randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import type { WebhookDeliveryState } from '../domain/types.ts';
import { hostAllowed, isEventPattern } from '../webhooks/subscriptions.ts';
import { parseJson } from '../store/mappers.ts';
import type { WebhookDeliveryRow, WebhookRow } from '../store/schema.ts';
import type { AppContext } from './app-context.ts';
import { seal } from './credentials.ts';
import { getProject } from './projects.ts';

export interface WebhookInput {
  url: string;
  events: string[];
  secret?: string;
}

export interface Webhook {
  id: string;
  projectId: string;
  url: string;
  events: string[];
  createdBy: string;
  createdAt: string;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: number;
  eventType: string;
  state: WebhookDeliveryState;
  attempts: number;
  nextAttemptAt: string | null;
  giveUpAt: string;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  log: { at: string; status: number | null; error: string | null; ms: number }[];
}

const toWebhook = (r: WebhookRow): Webhook => ({
  id: r.id,
  projectId: r.project_id,
  url: r.url,
  events: parseJson<string[]>(r.events, []),
  createdBy: r.created_by,
  createdAt: r.created_at,
});

const toDelivery = (r: WebhookDeliveryRow): Delivery => ({
  id: r.id,
  webhookId: r.webhook_id,
  eventId: Number(r.event_id),
  eventType: r.event_type,
  state: r.state as WebhookDeliveryState,
  attempts: r.attempts,
  nextAttemptAt: r.state === 'pending' ? r.next_attempt_at : null,
  giveUpAt: r.give_up_at,
  lastStatus: r.last_status,
  lastError: r.last_error,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
  log: parseJson(r.log, []),
});

/** Refuses a URL that is not http(s) or whose host the settings do not allow. */
export function checkWebhookUrl(url: string, allowedHosts: readonly string[]): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('WEBHOOK_URL_NOT_ALLOWED', `"${url}" is not a URL; give an absolute http:// or https:// URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AppError('WEBHOOK_URL_NOT_ALLOWED', `webhook URLs must use http or https, not ${u.protocol.replace(':', '')}`);
  }
  if (u.username || u.password) {
    throw new AppError('WEBHOOK_URL_NOT_ALLOWED', 'put no credentials in the webhook URL; the signature authenticates Liftgate');
  }
  if (!hostAllowed(allowedHosts, u.hostname)) {
    throw new AppError(
      'WEBHOOK_URL_NOT_ALLOWED',
      `host ${u.hostname} is not allowed for webhooks (allowed: ${allowedHosts.join(', ')}; see LIFTGATE_WEBHOOK_ALLOWED_HOSTS)`,
    );
  }
  return u;
}

export async function createWebhook(
  ctx: AppContext,
  projectId: string,
  input: WebhookInput,
  actor: string,
): Promise<Webhook & { secret?: string }> {
  await getProject(ctx, projectId);
  checkWebhookUrl(input.url, ctx.webhooks.settings.allowedHosts);
  const bad = input.events.find((e) => !isEventPattern(e));
  if (bad !== undefined) {
    throw new AppError(
      'VALIDATION_FAILED',
      `event pattern "${bad}" is not valid; use a type such as "upgrade.succeeded", "upgrade.*" or "*"`,
    );
  }
  const generated = input.secret === undefined;
  const secret = input.secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
  const row: WebhookRow = {
    id: `wh-${randomUUID()}`,
    project_id: projectId,
    url: input.url,
    events: JSON.stringify([...new Set(input.events)]),
    secret_enc: seal(ctx, secret),
    created_by: actor,
    // the clock that stamps events, so "events after this webhook" compares like with like
    created_at: ctx.clock.now().toISOString(),
  };
  await ctx.store.db.insertInto('webhooks').values(row).execute();
  ctx.webhooks.invalidate(projectId);
  return { ...toWebhook(row), ...(generated ? { secret } : {}) };
}

export async function listWebhooks(ctx: AppContext, projectId: string): Promise<Webhook[]> {
  await getProject(ctx, projectId);
  const rows = await ctx.store.db
    .selectFrom('webhooks')
    .selectAll()
    .where('project_id', '=', projectId)
    .orderBy('created_at')
    .execute();
  return rows.map(toWebhook);
}

export async function getWebhook(ctx: AppContext, projectId: string, id: string): Promise<Webhook> {
  const row = await ctx.store.db
    .selectFrom('webhooks')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('WEBHOOK_NOT_FOUND', `webhook ${id} does not exist in project ${projectId}`);
  return toWebhook(row);
}

/** Deletes the webhook; its undelivered rows stop (the log of past deliveries goes with it). */
export async function deleteWebhook(ctx: AppContext, projectId: string, id: string): Promise<void> {
  await getWebhook(ctx, projectId, id);
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
    await trx.deleteFrom('webhooks').where('id', '=', id).where('project_id', '=', projectId).execute();
  });
  ctx.webhooks.invalidate(projectId);
}

export async function listDeliveries(
  ctx: AppContext,
  projectId: string,
  webhookId: string,
  page: { limit?: number; offset?: number; state?: string } = {},
): Promise<{ items: Delivery[]; total: number }> {
  await getWebhook(ctx, projectId, webhookId);
  let q = ctx.store.db.selectFrom('webhook_deliveries').where('webhook_id', '=', webhookId);
  if (page.state) q = q.where('state', '=', page.state);
  const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
  const rows = await q
    .selectAll()
    .orderBy('event_id', 'desc')
    .limit(page.limit ?? 50)
    .offset(page.offset ?? 0)
    .execute();
  return { items: rows.map(toDelivery), total: Number(total?.n ?? 0) };
}
