// OceanBase OBShell hybrid encryption, server side.
//
// A client fetches the agent's RSA public key (GET /api/v1/secret), then sends
// X-OCS-Header = base64(RSA-PKCS1-v1_5 blocks of JSON {auth, ts, uri, keys}) and,
// when there is a body, base64(AES-CBC-PKCS7(body)) under the key and IV in
// `keys`. OBShell matches field names case-insensitively (the Go SDK sends
// "Auth", "Ts", "Uri", "Keys"; `keys` is base64 of key || iv).
//
// Checks, in order (each failure has OBShell's code; replay is our addition):
//   missing header            400 Request.Header.NotFound
//   cannot decrypt / parse    401 Security.Authentication.Header.DecryptFailed
//   uri differs from request  401 Security.Authentication.Header.UriMismatch
//   ts in the past            401 Security.Authentication.Expired
//   ts too far in the future  401 Security.Authentication.Timestamp.Invalid
//   wrong password            401 Security.Authentication.Unauthorized
//   header seen before        401 Security.Authentication.Header.Replayed
// Why the replay key is per RSA block, and what the scheme cannot protect
// against, is explained in docs/SECURITY.md.

import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { fail, type AuthFailure } from './auth-result.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { RsaPkcs1Decryptor } from './rsa-pkcs1-decrypt.ts';

export const OBSHELL_RSA_BITS = 1024;
/** The Python SDK stamps ts = now + 100 000 s; allow that plus clock skew. */
export const OBSHELL_DEFAULT_MAX_TTL_SECONDS = 100_000 + 15 * 60;
/** 64 blocks = 3.3 KB of header JSON; bounds the RSA work one request can cause. */
const MAX_HEADER_BLOCKS = 64;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export interface ObshellHeader {
  auth: string;
  /** Expiry, unix seconds. */
  ts: number;
  uri: string;
  /** AES key and IV; null when the request carries no body. */
  key: Buffer | null;
  iv: Buffer | null;
}

export type ObshellHeaderResult = ({ ok: true } & ObshellHeader) | AuthFailure;
export type ObshellBodyResult = { ok: true; body: Buffer } | AuthFailure;

export interface ObshellServerOptions {
  replayGuard: ReplayGuard;
  maxTtlSeconds?: number;
}

export interface DecryptHeaderContext {
  /** Path plus query of the request, as on the wire. */
  requestUri: string;
  /** Epoch milliseconds; defaults to Date.now(). */
  now?: number;
  /** Checks the password; must compare in constant time (see verifyPassword). */
  verifyAuth: (auth: string) => Promise<boolean>;
}

const DECRYPT_FAILED = 'Security.Authentication.Header.DecryptFailed';

/**
 * Names of the top-level members of a JSON object text, in order, with
 * duplicates kept. JSON.parse silently keeps the last duplicate, which would let
 * an attacker who appends self-encrypted RSA blocks override fields.
 */
function topLevelKeys(text: string): string[] | null {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return null;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

function parseHeaderJson(text: string): (Omit<ObshellHeader, 'ts'> & { ts: string }) | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const names = topLevelKeys(text);
  if (!names) return null;
  const lowered = names.map((n) => n.toLowerCase());
  if (new Set(lowered).size !== lowered.length) return null;
  const fields = new Map<string, unknown>();
  for (const [name, value] of Object.entries(parsed)) fields.set(name.toLowerCase(), value);

  const auth = fields.get('auth');
  const ts = fields.get('ts');
  const uri = fields.get('uri');
  const keys = fields.get('keys');
  if (typeof auth !== 'string' || typeof uri !== 'string') return null;
  if (typeof ts !== 'string' && typeof ts !== 'number') return null;
  let key: Buffer | null = null;
  let iv: Buffer | null = null;
  if (keys !== undefined && keys !== null && keys !== '') {
    if (typeof keys !== 'string' || !BASE64_RE.test(keys)) return null;
    const raw = Buffer.from(keys, 'base64');
    // 16-byte IV after a 16-byte (AES-128) or 32-byte (AES-256) key.
    if (raw.length !== 32 && raw.length !== 48) return null;
    key = raw.subarray(0, raw.length - 16);
    iv = raw.subarray(raw.length - 16);
  }
  return { auth, ts: String(ts), uri, key, iv };
}

export class ObshellServerCrypto {
  private readonly decryptor: RsaPkcs1Decryptor;
  private readonly publicDerBase64: string;
  private readonly maxTtlMs: number;

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly options: ObshellServerOptions,
  ) {
    this.decryptor = new RsaPkcs1Decryptor(privateKey);
    this.publicDerBase64 = createPublicKey(privateKey).export({ type: 'pkcs1', format: 'der' }).toString('base64');
    this.maxTtlMs = (options.maxTtlSeconds ?? OBSHELL_DEFAULT_MAX_TTL_SECONDS) * 1000;
  }

  /** A fresh 1024-bit key pair: the size OBShell clients expect. */
  static generate(options: ObshellServerOptions): ObshellServerCrypto {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: OBSHELL_RSA_BITS });
    return new ObshellServerCrypto(privateKey, options);
  }

  /** Restores a key persisted with privateKeyPem() (PKCS#8 or PKCS#1 PEM). */
  static fromPrivateKeyPem(pem: string, options: ObshellServerOptions): ObshellServerCrypto {
    return new ObshellServerCrypto(createPrivateKey(pem), options);
  }

  /** PKCS#8 PEM for persistence. The caller must store it encrypted; never log it. */
  privateKeyPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** What GET /api/v1/secret returns: base64 of the PKCS#1 DER public key. */
  publicKeyBase64(): string {
    return this.publicDerBase64;
  }

  async decryptHeader(xOcsHeader: string | undefined, ctx: DecryptHeaderContext): Promise<ObshellHeaderResult> {
    const now = ctx.now ?? Date.now();
    if (xOcsHeader === undefined || xOcsHeader.trim() === '') {
      return fail('Request.Header.NotFound', 'request header X-OCS-Header not found', 400);
    }
    const b64 = xOcsHeader.trim();
    const ciphertext = BASE64_RE.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    const k = this.decryptor.modulusBytes;
    if (ciphertext.length === 0 || ciphertext.length % k !== 0 || ciphertext.length / k > MAX_HEADER_BLOCKS) {
      return fail(DECRYPT_FAILED, 'decrypt X-OCS-Header failed', 401);
    }
    let plaintext: Buffer;
    try {
      plaintext = this.decryptor.decryptBlocks(ciphertext);
    } catch {
      return fail(DECRYPT_FAILED, 'decrypt X-OCS-Header failed', 401);
    }
    // Any padding error has already become pseudo-random bytes, so a bad block and
    // a bad JSON document end up here on the same path with the same answer.
    const header = parseHeaderJson(plaintext.toString('utf8'));
    plaintext.fill(0);
    if (!header) return fail(DECRYPT_FAILED, 'decrypt X-OCS-Header failed', 401);

    if (header.uri !== ctx.requestUri) {
      return fail(
        'Security.Authentication.Header.UriMismatch',
        `header uri '${header.uri}' does not match request uri '${ctx.requestUri}'`,
        401,
      );
    }
    if (!/^\d{1,12}$/.test(header.ts)) {
      return fail('Security.Authentication.Timestamp.Invalid', `invalid timestamp '${header.ts}'`, 401);
    }
    const tsMs = Number(header.ts) * 1000;
    if (tsMs < now) return fail('Security.Authentication.Expired', 'auth expired', 401);
    if (tsMs > now + this.maxTtlMs) {
      return fail('Security.Authentication.Timestamp.Invalid', `timestamp ${header.ts} is too far in the future`, 401);
    }
    if (!(await ctx.verifyAuth(header.auth))) {
      return fail('Security.Authentication.Unauthorized', 'unauthorized: incorrect password', 401);
    }

    // Each RSA block is unique per encryption (random padding), and a replay must
    // reuse the block that holds the password because only the client can produce
    // it. Keying on every block therefore also catches replays that append extra
    // self-encrypted blocks, which keying on the whole header would miss.
    for (let off = 0; off < ciphertext.length; off += k) {
      const blockHash = createHash('sha256')
        .update(ciphertext.subarray(off, off + k))
        .digest('base64url');
      if (!(await this.options.replayGuard.claim(`obshell:${blockHash}`, tsMs + 1))) {
        return fail('Security.Authentication.Header.Replayed', 'X-OCS-Header has already been used', 401);
      }
    }
    return { ok: true, auth: header.auth, ts: Number(header.ts), uri: header.uri, key: header.key, iv: header.iv };
  }

  /**
   * Decrypts a body sent as base64 (optionally as a JSON string literal, which is
   * how some clients serialise it). One code for every failure: no padding oracle.
   */
  decryptBody(encoded: string, key: Buffer | null, iv: Buffer | null): ObshellBodyResult {
    const failure = fail('Security.DecryptFailed', 'decrypt request body failed', 400);
    if (!key || !iv) return failure;
    let b64 = encoded.trim();
    if (b64.startsWith('"')) {
      try {
        const inner: unknown = JSON.parse(b64);
        if (typeof inner !== 'string') return failure;
        b64 = inner;
      } catch {
        return failure;
      }
    }
    if (!BASE64_RE.test(b64)) return failure;
    const data = Buffer.from(b64, 'base64');
    if (data.length === 0 || data.length % 16 !== 0) return failure;
    try {
      const decipher = createDecipheriv(key.length === 32 ? 'aes-256-cbc' : 'aes-128-cbc', key, iv);
      return { ok: true, body: Buffer.concat([decipher.update(data), decipher.final()]) };
    } catch {
      return failure;
    }
  }
}
