// Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the webhook's secret, sent as
// `Liftgate-Signature: t=<unix seconds>,v1=<hex>`. The timestamp inside the signed text lets a
// receiver refuse replays older than its tolerance; "v1" names the scheme so it can evolve.
// How to verify, in any language, is in docs/fleet.md ("Webhooks").
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Liftgate-Signature';

export function sign(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${sign(secret, timestamp, body)}`;
}

/** Checks a header against the body (receivers in Node can use this; tests use their own). */
export function verify(secret: string, header: string, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1)) return false;
  return timingSafeEqual(Buffer.from(v1, 'hex'), Buffer.from(sign(secret, t, body), 'hex'));
}
