// OBShell hybrid encryption: our client against our server-side crypto, over HTTP.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { ObshellServerCrypto } from '../../src/auth/obshell-crypto.ts';
import { InMemoryReplayGuard } from '../../src/auth/replay-guard.ts';
import { RsaPkcs1Decryptor } from '../../src/auth/rsa-pkcs1-decrypt.ts';
import { hashPassword, verifyPassword } from '../../src/auth/password-hash.ts';
import { ObshellClient, encryptChunked } from '../../src/clients/obshell-client.ts';
import { startServer, type CapturedRequest, type TestServer } from './http-harness.ts';

const PASSWORD = 'ob-root-pässword';
let server: TestServer;
let crypto: ObshellServerCrypto;
let storedHash: string;

function envelope(status: number, data: unknown, error?: { code: string; message: string }) {
  return { successful: status < 400, timestamp: new Date().toISOString(), duration: 0, status, traceId: 't', data, error };
}

async function handle(req: CapturedRequest) {
  if (req.method === 'GET' && req.rawUrl === '/api/v1/secret') {
    return { status: 200, json: envelope(200, { public_key: crypto.publicKeyBase64() }) };
  }
  const raw = req.headers['x-ocs-header'];
  const header = await crypto.decryptHeader(Array.isArray(raw) ? raw[0] : raw, {
    requestUri: req.rawUrl,
    verifyAuth: (auth) => verifyPassword(auth, storedHash),
  });
  if (!header.ok) {
    return { status: header.httpStatus, json: envelope(header.httpStatus, null, { code: header.code, message: header.message }) };
  }
  let body: unknown = null;
  if (req.body.length > 0) {
    const decrypted = crypto.decryptBody(req.body.toString('utf8'), header.key, header.iv);
    if (!decrypted.ok) return { status: decrypted.httpStatus, json: envelope(decrypted.httpStatus, null, decrypted) };
    body = JSON.parse(decrypted.body.toString('utf8'));
  }
  return { status: 200, json: envelope(200, { uri: header.uri, method: req.method, body }) };
}

function errorCode(json: unknown): string | undefined {
  return (json as { error?: { code?: string } }).error?.code;
}

function client(options: Partial<ConstructorParameters<typeof ObshellClient>[0]> = {}) {
  return new ObshellClient({ baseUrl: server.baseUrl, password: PASSWORD, ...options });
}

before(async () => {
  storedHash = await hashPassword(PASSWORD);
  crypto = ObshellServerCrypto.generate({ replayGuard: new InMemoryReplayGuard() });
  server = await startServer(handle);
});
after(async () => {
  await server.close();
});

describe('OBShell client against the server-side crypto', () => {
  test('fetches /api/v1/secret, then an encrypted POST with a body round-trips', async () => {
    const c = client();
    const key = await c.fetchPublicKey();
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 1024);
    const body = { version: '4.3.5.1', release: '101000012025', mode: 'ROLLING', upgradeDir: '/tmp/ob', note: 'ü'.repeat(40) };
    const res = await c.request('POST', '/api/v1/ob/upgrade', body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual((res.json as { data: unknown }).data, { uri: '/api/v1/ob/upgrade', method: 'POST', body });
    // A long header (password, uri, keys) spans several 53-byte chunks.
    const sent = String(server.captured.at(-1)!.headers['x-ocs-header']);
    assert.ok(Buffer.from(sent, 'base64').length >= 3 * 128);
  });

  test('a GET with a query string and no body is accepted', async () => {
    const res = await client().request('GET', '/api/v1/task/dag/123?show_detail=true');
    assert.equal(res.status, 200, JSON.stringify(res.json));
  });

  test('a tampered header is DecryptFailed (401)', async () => {
    const c = client();
    const enc = await c.encrypt('/api/v1/ob/upgrade', { a: 1 });
    const bytes = Buffer.from(enc.header, 'base64');
    // one bit in every 128-byte RSA block: a block that fails its padding decrypts to pseudo-random
    // bytes of a pseudo-random length (implicit rejection), so a single tampered middle block can
    // now and then leave a header that parses with a garbled uri (UriMismatch); with the first
    // block tampered the header never parses
    for (let i = 10; i < bytes.length; i += 128) bytes[i] = bytes[i]! ^ 0x40;
    const res = await c.send('POST', '/api/v1/ob/upgrade', { ...enc, header: bytes.toString('base64') });
    assert.equal(res.status, 401);
    assert.equal(errorCode(res.json), 'Security.Authentication.Header.DecryptFailed');
  });

  test('a header made for another uri is UriMismatch (401)', async () => {
    const c = client();
    const enc = await c.encrypt('/api/v1/ob/info');
    const res = await c.send('POST', '/api/v1/ob/upgrade', enc);
    assert.equal(res.status, 401);
    assert.equal(errorCode(res.json), 'Security.Authentication.Header.UriMismatch');
  });

  test('an expired ts is Security.Authentication.Expired (401)', async () => {
    const res = await client({ ttlSeconds: -5 }).request('GET', '/api/v1/ob/info');
    assert.equal(res.status, 401);
    assert.equal(errorCode(res.json), 'Security.Authentication.Expired');
  });

  test('a replayed header is rejected, even with an extra self-encrypted block appended', async () => {
    const c = client();
    const enc = await c.encrypt('/api/v1/ob/upgrade', { v: 1 });
    assert.equal((await c.send('POST', '/api/v1/ob/upgrade', enc)).status, 200);
    const again = await c.send('POST', '/api/v1/ob/upgrade', enc);
    assert.equal(again.status, 401);
    assert.equal(errorCode(again.json), 'Security.Authentication.Header.Replayed');
    // Anyone can encrypt to the public key; trailing whitespace keeps the JSON valid.
    const padding = encryptChunked(await c.fetchPublicKey(), Buffer.from('   '));
    const extended = Buffer.concat([Buffer.from(enc.header, 'base64'), Buffer.from(padding, 'base64')]).toString('base64');
    const sneaky = await c.send('POST', '/api/v1/ob/upgrade', { ...enc, header: extended });
    assert.equal(errorCode(sneaky.json), 'Security.Authentication.Header.Replayed');
  });

  test('a missing header is Request.Header.NotFound (400)', async () => {
    const res = await fetch(`${server.baseUrl}/api/v1/ob/info`);
    assert.equal(res.status, 400);
    assert.equal(errorCode(await res.json()), 'Request.Header.NotFound');
  });

  test('a wrong password is Security.Authentication.Unauthorized (401)', async () => {
    const res = await client({ password: 'guess' }).request('GET', '/api/v1/ob/info');
    assert.equal(res.status, 401);
    assert.equal(errorCode(res.json), 'Security.Authentication.Unauthorized');
  });

  test('duplicate (case-insensitive) fields are refused, so appended blocks cannot override them', async () => {
    const pub = createPublicKey({ key: Buffer.from(crypto.publicKeyBase64(), 'base64'), format: 'der', type: 'pkcs1' });
    const ts = String(Math.floor(Date.now() / 1000) + 60);
    const json = `{"Auth":"${PASSWORD}","Ts":"${ts}","Uri":"/api/v1/ob/info","uri":"/api/v1/ob/info"}`;
    const res = await client().send('GET', '/api/v1/ob/info', { header: encryptChunked(pub, Buffer.from(json)) });
    assert.equal(errorCode(res.json), 'Security.Authentication.Header.DecryptFailed');
  });
});

describe('OBShell server key handling', () => {
  test('a key persisted as PEM decrypts headers made for the original public key', async () => {
    const original = ObshellServerCrypto.generate({ replayGuard: new InMemoryReplayGuard() });
    const restored = ObshellServerCrypto.fromPrivateKeyPem(original.privateKeyPem(), { replayGuard: new InMemoryReplayGuard() });
    assert.equal(restored.publicKeyBase64(), original.publicKeyBase64());
    const pub = createPublicKey({ key: Buffer.from(original.publicKeyBase64(), 'base64'), format: 'der', type: 'pkcs1' });
    const now = Date.now();
    const json = JSON.stringify({
      auth: 'pw',
      ts: String(Math.floor(now / 1000) + 30),
      uri: '/x',
      keys: randomBytes(32).toString('base64'),
    });
    const res = await restored.decryptHeader(encryptChunked(pub, Buffer.from(json)), {
      requestUri: '/x',
      now,
      verifyAuth: async (a) => a === 'pw',
    });
    assert.equal(res.ok, true);
    assert.equal(res.ok && res.key?.length, 16);
  });

  test('PKCS#1 v1.5 unpadding: real messages round-trip; bad padding yields a stable synthetic message', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const d = new RsaPkcs1Decryptor(privateKey);
    for (const len of [0, 1, 53, 117]) {
      const m = randomBytes(len);
      assert.deepEqual(d.decryptBlock(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, m)), m);
    }
    const badEm = Buffer.concat([Buffer.from([0x00, 0x01]), randomBytes(126)]);
    const bad = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, badEm);
    const first = d.decryptBlock(bad);
    assert.deepEqual(d.decryptBlock(bad), first);
    assert.ok(first.length <= 117);
    // Different bad ciphertexts give different synthetic messages (not a fixed error value).
    const outputs = new Set(
      [
        first,
        ...[1, 2].map(() =>
          d.decryptBlock(
            publicEncrypt(
              { key: publicKey, padding: constants.RSA_NO_PADDING },
              Buffer.concat([Buffer.from([0x00, 0x01]), randomBytes(126)]),
            ),
          ),
        ),
      ].map((b) => b.toString('hex')),
    );
    assert.ok(outputs.size > 1);
  });
});
