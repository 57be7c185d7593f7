// Huawei Cloud SDK-HMAC-SHA256 (AK/SK) request verification, as sent by
// @huaweicloud/huaweicloud-sdk-core and the other language SDKs, plus a signer.
//
//   canonicalRequest = METHOD \n canonicalURI \n canonicalQuery \n canonicalHeaders \n signedHeaders \n payloadHash
//   stringToSign     = "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" + hex(sha256(canonicalRequest))
//   signature        = hex(HMAC-SHA256(SK, stringToSign))
//
// Failures use the API Gateway's IAM authentication code APIG.0301 (HTTP 401) with
// the messages Huawei's gateway documents ("verify aksk signature fail",
// "Get secretKey failed ... ak not exist", "signature expired, signature time:...,
// server time:..."), so SDK users see familiar errors.

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

export const HUAWEI_ALGORITHM = 'SDK-HMAC-SHA256';
export const HUAWEI_DEFAULT_SKEW_MS = 15 * 60 * 1000;
export const HUAWEI_AUTH_ERROR_CODE = 'APIG.0301';
/** Headers SignedHeaders must name: host always, the others whenever the request carries them. */
export const HUAWEI_SIGNED_WHEN_PRESENT = ['host', 'x-project-id', 'x-security-token'] as const;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export interface HuaweiVerifyOptions {
  lookupSecret: LookupSecret;
  replayGuard: ReplayGuard;
  now?: () => number;
  skewMs?: number;
}

function iamFail(detail: string) {
  return fail(HUAWEI_AUTH_ERROR_CODE, `Incorrect IAM authentication information: ${detail}`, 401);
}

const parseAuthorization = (value: string) => parseHmacAuthorization(value, HUAWEI_ALGORITHM, 'Access');

/** Decoded-then-RFC-3986-encoded segments, always ending in "/". */
function canonicalUri(path: string): string | null {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    const decoded = tryDecode(seg);
    if (decoded === null) return null;
    out.push(rfc3986(decoded));
  }
  const joined = out.join('/');
  return joined.endsWith('/') ? joined : `${joined}/`;
}

export function huaweiStringToSign(
  method: string,
  rawUrl: string,
  headers: SignedRequest['headers'],
  signedHeaders: string[],
  payloadHash: string,
  sdkDate: string,
): string | null {
  const url = splitUrl(rawUrl);
  if (!url) return null;
  const uri = canonicalUri(url.path);
  if (uri === null) return null;
  const query = sortPairs(url.query)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
  const canonicalHeaders = signedHeaders.map((n) => `${n}:${headerValue(headers, n) ?? ''}\n`).join('');
  const canonicalRequest = [method.toUpperCase(), uri, query, canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
  return `${HUAWEI_ALGORITHM}\n${sdkDate}\n${sha256Hex(canonicalRequest)}`;
}

function parseSdkDate(value: string): number | null {
  const m = DATE_RE.exec(value);
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isFinite(ms) ? ms : null;
}

function formatSdkDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

export async function verifyHuaweiSdkHmac(req: SignedRequest, options: HuaweiVerifyOptions): Promise<AuthResult> {
  const now = (options.now ?? Date.now)();
  const skewMs = options.skewMs ?? HUAWEI_DEFAULT_SKEW_MS;

  const authorization = headerValue(req.headers, 'authorization');
  // With no credentials at all Huawei's gateway falls back to token auth and
  // reports the missing token; we say the same, naming both options.
  if (!authorization) return iamFail('x-auth-token not found and no AK/SK Authorization header');
  const auth = parseAuthorization(authorization);
  if (!auth) return iamFail(`Authorization header is not a valid ${HUAWEI_ALGORITHM} signature`);

  const sdkDate = headerValue(req.headers, 'x-sdk-date');
  if (!sdkDate) return iamFail('x-sdk-date not found');
  // An unsigned date could be rewritten to keep a captured request fresh forever.
  if (!auth.signedHeaders.includes('x-sdk-date')) return iamFail('x-sdk-date is not a signed header');
  // Huawei's gateway requires host and X-Sdk-Date signed; the project and STS token headers, when
  // sent, say whose request it is, so they must be covered too.
  for (const name of HUAWEI_SIGNED_WHEN_PRESENT) {
    if ((name === 'host' || headerValue(req.headers, name) !== undefined) && !auth.signedHeaders.includes(name)) {
      return iamFail(`${name} is not a signed header`);
    }
  }
  const dateMs = parseSdkDate(sdkDate);
  if (dateMs === null) return iamFail(`x-sdk-date ${sdkDate} is not in YYYYMMDDTHHMMSSZ format`);
  if (Math.abs(now - dateMs) > skewMs) {
    return iamFail(`signature expired, signature time:${sdkDate},server time:${formatSdkDate(now)}`);
  }

  // The SDK signs X-Sdk-Content-Sha256 literally when present. We only accept it
  // when it really describes the body, so the body is always covered.
  const bodyHash = sha256Hex(req.body);
  const declared = headerValue(req.headers, 'x-sdk-content-sha256');
  let payloadHash = bodyHash;
  if (declared !== undefined) {
    const unsignedButEmpty = declared === UNSIGNED_PAYLOAD && req.body.length === 0;
    if (!unsignedButEmpty && !safeEqual(declared.toLowerCase(), bodyHash)) {
      return iamFail('x-sdk-content-sha256 does not match the request body');
    }
    payloadHash = declared;
  }

  const key = await options.lookupSecret(auth.accessKeyId);
  if (!key) return iamFail(`Get secretKey failed,ak:${auth.accessKeyId},err:ak not exist`);

  const stringToSign = huaweiStringToSign(req.method, req.rawUrl, req.headers, auth.signedHeaders, payloadHash, sdkDate);
  if (stringToSign === null) return iamFail('request URL could not be decoded');
  if (!safeEqual(hmacSha256Hex(key.secret, stringToSign), auth.signature)) {
    return iamFail('verify aksk signature fail');
  }

  // Huawei signatures carry no nonce; the signature itself is unique per
  // (request, second), so (AK, signature) identifies a replay.
  const fresh = await options.replayGuard.claim(`huawei:${auth.accessKeyId}:${auth.signature}`, dateMs + skewMs + 1);
  if (!fresh) return iamFail('signature has already been used (replayed request)');

  return { ok: true, accessKeyId: auth.accessKeyId, projectId: key.projectId };
}

export interface HuaweiSignInput {
  method: string;
  /** Path plus query, already percent-encoded as it will go on the wire. */
  rawUrl: string;
  /** Every header given here is signed (as the SDK does); include `host`. */
  headers: Record<string, string>;
  body?: Buffer | string;
  accessKeyId: string;
  secretAccessKey: string;
  date?: Date;
}

/** Returns the headers to send: the input ones plus X-Sdk-Date and Authorization. */
export function signHuawei(input: HuaweiSignInput): Record<string, string> {
  const body = input.body === undefined ? Buffer.alloc(0) : Buffer.from(input.body);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  const sdkDate = formatSdkDate((input.date ?? new Date()).getTime());
  headers['x-sdk-date'] = sdkDate;
  const signed = Object.keys(headers).sort();
  const stringToSign = huaweiStringToSign(input.method, input.rawUrl, headers, signed, sha256Hex(body), sdkDate);
  if (stringToSign === null) throw new Error(`cannot canonicalise URL ${input.rawUrl}`);
  const signature = hmacSha256Hex(input.secretAccessKey, stringToSign);
  headers['authorization'] =
    `${HUAWEI_ALGORITHM} Access=${input.accessKeyId}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
  return headers;
}
