// Result type and small primitives shared by the vendor signature verifiers.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type AuthResult =
  { ok: true; accessKeyId: string; projectId: string } | { ok: false; code: string; message: string; httpStatus: number };

export type AuthFailure = Extract<AuthResult, { ok: false }>;

/** What the verifiers need to know about an access key. */
export interface AccessKeySecret {
  secret: string;
  projectId: string;
}

export type LookupSecret = (accessKeyId: string) => Promise<AccessKeySecret | null>;

/** Request as received, before any body parsing. Header names must be lowercased. */
export interface SignedRequest {
  method: string;
  /** Path plus query exactly as on the wire (no scheme/host). */
  rawUrl: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function fail(code: string, message: string, httpStatus: number): AuthFailure {
  return { ok: false, code, message, httpStatus };
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256Hex(key: string, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/**
 * Constant-time comparison of two ASCII strings (hex signatures). The length of
 * the presented signature is not secret, so an early length check leaks nothing.
 */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Single header value; repeated headers are joined the way Node joins them. */
export function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** percent-decode that reports malformed input instead of throwing. */
export function tryDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ is escaped. */
export function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Splits "path?query" and decodes the query into ordered [key, value] pairs. */
export function splitUrl(rawUrl: string): { path: string; query: Array<[string, string]> } | null {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1);
  const query: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = tryDecode(eq === -1 ? part : part.slice(0, eq));
    const v = tryDecode(eq === -1 ? '' : part.slice(eq + 1));
    if (k === null || v === null) return null;
    query.push([k, v]);
  }
  return { path, query };
}

/** Sort by key then value with plain code-unit order, as both vendors' SDKs do. */
export function sortPairs(pairs: Array<[string, string]>): Array<[string, string]> {
  return [...pairs].sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
}

export interface ParsedAuthorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/**
 * Parses `<ALGORITHM> <Key>=<AK>,SignedHeaders=a;b,Signature=<hex>` as both vendors send it
 * (Alibaba without spaces after the commas, Huawei with); `credentialField` names the key
 * field (`Credential` for Alibaba, `Access` for Huawei).
 */
export function parseHmacAuthorization(value: string, algorithm: string, credentialField: string): ParsedAuthorization | null {
  const space = value.indexOf(' ');
  if (space === -1 || value.slice(0, space) !== algorithm) return null;
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) return null;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get(credentialField);
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!accessKeyId || !signedHeaders || !signature || !/^[0-9a-f]{64}$/i.test(signature)) return null;
  return {
    accessKeyId,
    signedHeaders: signedHeaders.split(';').map((h) => h.trim().toLowerCase()),
    signature: signature.toLowerCase(),
  };
}
