// Minimal OceanBase OBShell client speaking the hybrid-encryption protocol the
// official SDKs use: fetch the agent's RSA public key, send X-OCS-Header as
// RSA-PKCS1-v1_5 over 53-byte chunks of {Auth, Ts, Uri, Keys}, and AES-128-CBC
// encrypt the JSON body. Used by tests and by the CLI against Liftgate's OBShell
// family (or a real agent).

import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/** The official SDKs chunk the header JSON by 53 bytes (64 - 11, as for a 512-bit key). */
export const OBSHELL_HEADER_CHUNK = 53;

export interface ObshellClientOptions {
  /** e.g. http://127.0.0.1:2886 */
  baseUrl: string;
  password: string;
  /** Header lifetime; the Go SDK uses 100 s. */
  ttlSeconds?: number;
  fetch?: typeof fetch;
}

export interface ObshellResponse {
  status: number;
  json: unknown;
}

export interface EncryptedRequest {
  header: string;
  /** base64 ciphertext, or undefined without a body */
  body?: string;
}

export class ObshellClient {
  private publicKey: KeyObject | null = null;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ObshellClientOptions) {
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** GET /api/v1/secret (unauthenticated) and cache the agent's public key. */
  async fetchPublicKey(): Promise<KeyObject> {
    if (this.publicKey) return this.publicKey;
    const res = await this.fetchImpl(`${this.options.baseUrl}/api/v1/secret`);
    if (!res.ok) throw new Error(`GET /api/v1/secret answered HTTP ${res.status}`);
    const envelope = (await res.json()) as { data?: { public_key?: string; publicKey?: string } };
    const b64 = envelope.data?.public_key ?? envelope.data?.publicKey;
    if (!b64) throw new Error('GET /api/v1/secret returned no public key');
    this.publicKey = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'pkcs1' });
    return this.publicKey;
  }

  /** Builds X-OCS-Header (and the encrypted body) for one request to `uri`; a Buffer body is sent as its bytes. */
  async encrypt(uri: string, body?: unknown, nowMs = Date.now()): Promise<EncryptedRequest> {
    const publicKey = await this.fetchPublicKey();
    let keys: Buffer | null = null;
    let encryptedBody: string | undefined;
    if (body !== undefined) {
      const key = randomBytes(16);
      const iv = randomBytes(16);
      const cipher = createCipheriv('aes-128-cbc', key, iv);
      const plain = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), 'utf8');
      encryptedBody = Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
      keys = Buffer.concat([key, iv]);
    }
    // Field names as the Go SDK marshals them; servers match them case-insensitively.
    const headerJson = JSON.stringify({
      Auth: this.options.password,
      Ts: String(Math.floor(nowMs / 1000) + (this.options.ttlSeconds ?? 100)),
      Uri: uri,
      Keys: keys ? keys.toString('base64') : null,
    });
    return { header: encryptChunked(publicKey, Buffer.from(headerJson, 'utf8')), body: encryptedBody };
  }

  async request(method: string, uri: string, body?: unknown): Promise<ObshellResponse> {
    const encrypted = await this.encrypt(uri, body);
    return this.send(method, uri, encrypted);
  }

  /** Sends an already-encrypted request; tests use it to tamper or replay. */
  async send(method: string, uri: string, encrypted: EncryptedRequest): Promise<ObshellResponse> {
    const headers: Record<string, string> = { 'X-OCS-Header': encrypted.header, Accept: 'application/json' };
    if (encrypted.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await this.fetchImpl(`${this.options.baseUrl}${uri}`, { method, headers, body: encrypted.body });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }
}

/** RSA PKCS#1 v1.5 over fixed-size chunks, concatenated, base64. */
export function encryptChunked(publicKey: KeyObject, plaintext: Buffer, chunk = OBSHELL_HEADER_CHUNK): string {
  const blocks: Buffer[] = [];
  for (let off = 0; off < plaintext.length || off === 0; off += chunk) {
    blocks.push(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, plaintext.subarray(off, off + chunk)));
    if (plaintext.length === 0) break;
  }
  return Buffer.concat(blocks).toString('base64');
}
