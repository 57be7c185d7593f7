// RSA PKCS#1 v1.5 decryption (RSAES-PKCS1-v1_5) built on Node's raw RSA, with a
// constant-time padding check and implicit rejection.
//
// Why this exists: Node.js 20 refuses RSA_PKCS1_PADDING for privateDecrypt
// (CVE-2023-46809, the Marvin timing attack) unless the process runs with
// --security-revert. OBShell's protocol needs PKCS#1 v1.5, so we do the private
// operation with RSA_NO_PADDING (OpenSSL still applies blinding) and unpad here.
//
// Implicit rejection (the technique OpenSSL 3.2 adopted, described in
// draft-irtf-cfrg-rsa-guidance): when the padding is wrong we do not fail; we
// return a synthetic message derived with HMAC from the private key and the
// ciphertext. It is deterministic per ciphertext and indistinguishable from a
// real decryption to anyone without the key, so callers have no padding-valid /
// padding-invalid branch for an attacker to time or observe. The padding check
// itself is written branch-free over all k bytes. JavaScript gives no hard
// constant-time guarantee (JIT), but nothing here branches or indexes memory on
// secret data.

import { constants, createHash, createHmac, privateDecrypt, type KeyObject } from 'node:crypto';

const MAX_LEN_CANDIDATES = 128;

/** 1 if x (0..255) is zero, else 0, without branching. */
function isZero8(x: number): number {
  return ((x - 1) >>> 31) & 1;
}

/** 1 if a < b for 0 <= a, b < 2^30, else 0. */
function lessThan(a: number, b: number): number {
  return ((a - b) >>> 31) & 1;
}

/** a when bit is 1, b when bit is 0. */
function select(bit: number, a: number, b: number): number {
  const mask = -bit;
  return (a & mask) | (b & ~mask);
}

/** The PRF of the implicit-rejection scheme: HMAC-SHA256 in counter mode. */
function prf(kdk: Buffer, label: string, bytes: number): Buffer {
  const out: Buffer[] = [];
  const bits = Buffer.alloc(2);
  bits.writeUInt16BE(bytes * 8);
  for (let i = 0, have = 0; have < bytes; i++, have += 32) {
    const counter = Buffer.alloc(2);
    counter.writeUInt16BE(i);
    out.push(createHmac('sha256', kdk).update(counter).update(label).update(bits).digest());
  }
  return Buffer.concat(out).subarray(0, bytes);
}

export class RsaPkcs1Decryptor {
  readonly modulusBytes: number;
  /** SHA-256 of the private exponent: the key for deriving synthetic messages. */
  private readonly rejectionKey: Buffer;

  constructor(private readonly privateKey: KeyObject) {
    const jwk = privateKey.export({ format: 'jwk' });
    if (jwk.kty !== 'RSA' || !jwk.n || !jwk.d) throw new TypeError('an RSA private key is required');
    const n = Buffer.from(jwk.n, 'base64url');
    this.modulusBytes = n[0] === 0 ? n.length - 1 : n.length;
    const d = Buffer.from(jwk.d, 'base64url');
    const dPadded = Buffer.alloc(this.modulusBytes);
    d.copy(dPadded, this.modulusBytes - d.length);
    this.rejectionKey = createHash('sha256').update(dPadded).digest();
  }

  /**
   * Decrypts one k-byte block. Returns the message, or for malformed padding a
   * synthetic message of pseudo-random length. Throws only on public conditions
   * (wrong block length, ciphertext not below the modulus).
   */
  decryptBlock(block: Buffer): Buffer {
    const k = this.modulusBytes;
    if (block.length !== k) throw new RangeError(`RSA block must be ${k} bytes`);
    const em = privateDecrypt({ key: this.privateKey, padding: constants.RSA_NO_PADDING }, block);

    // Synthetic message, computed for every block so both paths cost the same.
    const kdk = createHmac('sha256', this.rejectionKey).update(block).digest();
    const candidates = prf(kdk, 'length', MAX_LEN_CANDIDATES * 2);
    const synthetic = prf(kdk, 'message', k);
    const maxMsgLen = k - 2 - 8 - 1;
    let lenMask = maxMsgLen;
    for (let s = 1; s < 16; s <<= 1) lenMask |= lenMask >> s;
    let synLen = 0;
    for (let i = 0; i < MAX_LEN_CANDIDATES; i++) {
      const candidate = ((candidates[2 * i]! << 8) | candidates[2 * i + 1]!) & lenMask;
      synLen = select(lessThan(candidate, maxMsgLen + 1), candidate, synLen);
    }

    // EM = 0x00 || 0x02 || PS (>= 8 non-zero bytes) || 0x00 || M
    let good = isZero8(em[0]!) & isZero8(em[1]! ^ 2);
    let foundZero = 0;
    let zeroIndex = 0;
    for (let i = 2; i < k; i++) {
      const z = isZero8(em[i]!);
      zeroIndex = select(z & (foundZero ^ 1), i, zeroIndex);
      foundZero |= z;
    }
    good &= foundZero;
    good &= lessThan(zeroIndex, 10) ^ 1;
    const realLen = k - zeroIndex - 1;

    // Both candidates sit at the tail of a k-byte buffer; pick byte by byte.
    const out = Buffer.alloc(k);
    for (let i = 0; i < k; i++) out[i] = select(good, em[i]!, synthetic[i]!);
    const len = select(good, realLen, synLen);
    em.fill(0);
    return out.subarray(k - len);
  }

  /** Decrypts concatenated k-byte blocks (the chunked scheme OBShell uses). */
  decryptBlocks(ciphertext: Buffer): Buffer {
    const k = this.modulusBytes;
    if (ciphertext.length === 0 || ciphertext.length % k !== 0)
      throw new RangeError('ciphertext is not a whole number of RSA blocks');
    const parts: Buffer[] = [];
    for (let off = 0; off < ciphertext.length; off += k) parts.push(this.decryptBlock(ciphertext.subarray(off, off + k)));
    return Buffer.concat(parts);
  }
}
