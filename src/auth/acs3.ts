// Alibaba Cloud ACS3-HMAC-SHA256 request verification (the V3 signature the
// @alicloud/openapi-client and ACK SDKs send), plus a signer for our own clients.
//
// Canonical request, as the SDK computes it:
//   METHOD \n canonicalURI \n canonicalQuery \n canonicalHeaders \n signedHeaders \n contentSha256
// where canonicalHeaders already ends in "\n". stringToSign is
// "ACS3-HMAC-SHA256\n" + hex(sha256(canonicalRequest)); the signature is the hex
// HMAC-SHA256 of it keyed with the AccessKey secret (no key derivation).
//
// Error codes follow Alibaba's public common error codes (InvalidAccessKeyId.NotFound,
// SignatureDoesNotMatch, InvalidTimeStamp.Expired, SignatureNonceUsed, IncompleteSignature,
// MissingParameter). MissingAuthorization and ContentSHA256NotMatched follow Alibaba's
// naming pattern (MissingXxx, ContentMD5NotMatched) where no public code was found.

import { randomUUID } from 'node:crypto';
import {
  fail,
  headerValue,
  hmacSha256Hex,
  parseHmacAuthorization,
  rfc3986,
  safeEqual,
  sha256Hex,
  sortPairs,
  splitUrl,
  tryDecode,
  type AuthResult,
  type LookupSecret,
  type SignedRequest,
} from './auth-result.ts';
import type { ReplayGuard } from './replay-guard.ts';

export const ACS3_ALGORITHM = 'ACS3-HMAC-SHA256';
/** Alibaba documents a 15-minute validity for x-acs-date. */
export const ACS3_DEFAULT_SKEW_MS = 15 * 60 * 1000;

/** Headers that must be covered by the signature, or replay protection is moot. */
const REQUIRED_SIGNED = ['x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256'] as const;

/** Every header of the request that ACS3 requires in SignedHeaders. */
export function mustBeSigned(headers: SignedRequest['headers']): string[] {
  const names = Object.keys(headers).map((k) => k.toLowerCase());
  return ['host', ...names.filter((n) => n === 'content-type' || n.startsWith('x-acs-'))];
}
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?Z$/;

export interface Acs3VerifyOptions {
  lookupSecret: LookupSecret;
  replayGuard: ReplayGuard;
  /** Epoch milliseconds. */
  now?: () => number;
  skewMs?: number;
}

const parseAuthorization = (value: string) => parseHmacAuthorization(value, ACS3_ALGORITHM, 'Credential');

/** Each path segment decoded, then encoded like the SDK (encodeURIComponent + "*"). */
function canonicalUri(path: string): string | null {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    const decoded = tryDecode(seg);
    if (decoded === null) return null;
    out.push(encodeURIComponent(decoded).replace(/\*/g, '%2A'));
  }
  const joined = out.join('/');
  return joined === '' ? '/' : joined;
}

/** Keys are used decoded and unencoded (as the SDK does); values RFC 3986-encoded. */
function canonicalQuery(query: Array<[string, string]>): string {
  return sortPairs(query)
    .map(([k, v]) => `${k}=${rfc3986(v)}`)
    .join('&');
}

function canonicalHeaders(headers: SignedRequest['headers'], names: string[]): string {
  return names.map((n) => `${n}:${(headerValue(headers, n) ?? '').trim()}\n`).join('');
}

/** Builds the string to sign; null when the URL cannot be decoded. */
export function acs3StringToSign(
  method: string,
  rawUrl: string,
  headers: SignedRequest['headers'],
  signedHeaders: string[],
  contentSha256: string,
): string | null {
  const url = splitUrl(rawUrl);
  if (!url) return null;
  const uri = canonicalUri(url.path);
  if (uri === null) return null;
  const canonicalRequest = [
    method.toUpperCase(),
    uri,
    canonicalQuery(url.query),
    canonicalHeaders(headers, signedHeaders),
    signedHeaders.join(';'),
    contentSha256,
  ].join('\n');
  return `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
}

function parseAcsDate(value: string): number | null {
  const m = DATE_RE.exec(value);
  if (!m) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

export async function verifyAcs3(req: SignedRequest, options: Acs3VerifyOptions): Promise<AuthResult> {
  const now = (options.now ?? Date.now)();
  const skewMs = options.skewMs ?? ACS3_DEFAULT_SKEW_MS;

  const authorization = headerValue(req.headers, 'authorization');
  if (!authorization) {
    return fail('MissingAuthorization', 'Authorization is mandatory for this action.', 400);
  }
  const auth = parseAuthorization(authorization);
  if (!auth) {
    return fail('IncompleteSignature', `The request signature does not conform to Aliyun standards (${ACS3_ALGORITHM}).`, 400);
  }
  for (const name of REQUIRED_SIGNED) {
    if (!headerValue(req.headers, name)) {
      return fail(
        'MissingParameter',
        `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
        400,
      );
    }
    if (!auth.signedHeaders.includes(name)) {
      return fail('IncompleteSignature', `The request signature does not cover "${name}".`, 400);
    }
  }
  // Alibaba's V3 rule: host, content-type (when sent) and every x-acs-* header are signed. An
  // unsigned host would let a captured request be sent to another endpoint; an unsigned
  // x-acs-action or x-acs-security-token could be swapped.
  for (const name of mustBeSigned(req.headers)) {
    if (!auth.signedHeaders.includes(name)) {
      return fail('IncompleteSignature', `The request signature does not cover "${name}".`, 400);
    }
  }

  const dateValue = headerValue(req.headers, 'x-acs-date')!;
  const dateMs = parseAcsDate(dateValue);
  if (dateMs === null) {
    return fail('InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.', 400);
  }
  // Reject both stale and far-future dates: a future date would otherwise extend
  // how long a captured request stays replayable.
  if (Math.abs(now - dateMs) > skewMs) {
    return fail(
      'InvalidTimeStamp.Expired',
      `Specified time stamp or date value is expired. Server time: ${new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')}.`,
      400,
    );
  }

  const claimedSha = headerValue(req.headers, 'x-acs-content-sha256')!.toLowerCase();
  if (!safeEqual(claimedSha, sha256Hex(req.body))) {
    return fail('ContentSHA256NotMatched', 'Specified content SHA256 is not matched with our calculation.', 400);
  }

  const key = await options.lookupSecret(auth.accessKeyId);
  if (!key) return fail('InvalidAccessKeyId.NotFound', 'Specified access key is not found.', 404);

  const stringToSign = acs3StringToSign(req.method, req.rawUrl, req.headers, auth.signedHeaders, claimedSha);
  if (stringToSign === null) {
    return fail('IncompleteSignature', 'The request URL could not be decoded for signing.', 400);
  }
  if (!safeEqual(hmacSha256Hex(key.secret, stringToSign), auth.signature)) {
    // The string to sign is derived from public request data only, and Alibaba also
    // returns it, which saves client authors a lot of guessing.
    return fail(
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`,
      400,
    );
  }

  // Claimed last so that only authenticated requests take up guard memory. The
  // nonce stays remembered for as long as its x-acs-date would be accepted.
  const nonce = headerValue(req.headers, 'x-acs-signature-nonce')!;
  const fresh = await options.replayGuard.claim(`acs3:${auth.accessKeyId}:${nonce}`, dateMs + skewMs + 1);
  if (!fresh) return fail('SignatureNonceUsed', 'Specified signature nonce was used already.', 400);

  return { ok: true, accessKeyId: auth.accessKeyId, projectId: key.projectId };
}

export interface Acs3SignInput {
  method: string;
  /** Path plus query, already percent-encoded as it will go on the wire. */
  rawUrl: string;
  /** Must include `host` when the server checks it; names are lowercased here. */
  headers: Record<string, string>;
  body?: Buffer | string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Defaults to now. */
  date?: Date;
  nonce?: string;
}

/** Returns the headers to send: the input ones plus x-acs-* and Authorization. */
export function signAcs3(input: Acs3SignInput): Record<string, string> {
  const body = input.body === undefined ? Buffer.alloc(0) : Buffer.from(input.body);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers['x-acs-date'] = (input.date ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  headers['x-acs-signature-nonce'] = input.nonce ?? randomUUID().replace(/-/g, '');
  headers['x-acs-content-sha256'] = sha256Hex(body);
  // Same selection rule as the SDK: host, content-type and every x-acs-* header.
  const signed = Object.keys(headers)
    .filter((k) => k === 'host' || k === 'content-type' || k.startsWith('x-acs-'))
    .sort();
  const stringToSign = acs3StringToSign(input.method, input.rawUrl, headers, signed, headers['x-acs-content-sha256']);
  if (stringToSign === null) throw new Error(`cannot canonicalise URL ${input.rawUrl}`);
  const signature = hmacSha256Hex(input.accessKeySecret, stringToSign);
  headers['authorization'] =
    `${ACS3_ALGORITHM} Credential=${input.accessKeyId},SignedHeaders=${signed.join(';')},Signature=${signature}`;
  return headers;
}
