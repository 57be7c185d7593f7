// Password hashing for credentials the client sends in clear inside an encrypted
// envelope (OBShell's `auth`). Stored as scrypt hashes so a leaked database does
// not leak the passwords. (HMAC secrets for the Alibaba/Huawei families cannot be
// hashed: the server needs the secret itself to recompute signatures, so those
// are stored encrypted instead; see docs/SECURITY.md.)

import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PARAMS = { N: 16384, r: 8, p: 1 } as const;

/**
 * How many slow hashes this process computed: the figure behind "an OBShell request costs at
 * most one scrypt, however many passwords are stored" (tests read it; it holds no secret).
 */
export const slowHashCount = { hashes: 0, verifications: 0 };
const KEY_LEN = 32;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, KEY_LEN, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Returns "scrypt$N$r$p$salt$hash" (base64url fields). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  slowHashCount.hashes++;
  const hash = await scrypt(password, salt, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Constant-time check of a candidate against a hashPassword() result. */
export async function verifyPassword(candidate: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  slowHashCount.verifications++;
  const actual = await scrypt(candidate, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
