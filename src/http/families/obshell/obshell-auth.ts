// Authentication of the OBShell-style family: the agent's RSA key pair (kept across
// restarts) and the check of X-OCS-Header plus the AES-encrypted body.
//
// The key pair lives in the data folder, `obshell-rsa.pem` (PKCS#8 PEM, mode 0600), like the
// master key of src/service/credentials.ts, and never enters the database or the logs. A
// restart keeps the public key that clients already cached. Replicas serving this family
// behind one address must share the file (or each answer its own /api/v1/secret).
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { AuthFailure } from '../../../auth/auth-result.ts';
import { ObshellServerCrypto } from '../../../auth/obshell-crypto.ts';
import { ReplayGuardFullError } from '../../../auth/replay-guard.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { storeReplayGuard } from '../../../service/credentials.ts';
import { verifyObshellPassword } from '../../../service/obshell-passwords.ts';
import { assertCleanInput } from '../../input-guards.ts';
import { readOrCreateKeyFile } from '../../../store/key-file.ts';
import { ObshellError, type ObshellErrorKey } from './i18n.ts';

export const KEY_FILE = 'obshell-rsa.pem';

/** Loads the key pair from the data folder, creating it on first start. */
export function loadServerCrypto(ctx: AppContext): ObshellServerCrypto {
  const dir = ctx.config.dataDir ?? './data';
  const file = path.join(dir, KEY_FILE);
  const options = { replayGuard: storeReplayGuard(ctx) };
  // two processes starting at once on one folder end up with the one key the first wrote
  const pem = readOrCreateKeyFile(file, () => ObshellServerCrypto.generate(options).privateKeyPem());
  return ObshellServerCrypto.fromPrivateKeyPem(pem, options);
}

const FAILURE_KEYS: Record<string, ObshellErrorKey> = {
  'Request.Header.NotFound': 'headerNotFound',
  'Security.Authentication.Header.DecryptFailed': 'headerDecryptFailed',
  'Security.Authentication.Header.UriMismatch': 'uriMismatch',
  'Security.Authentication.Expired': 'expired',
  'Security.Authentication.Timestamp.Invalid': 'timestampInvalid',
  'Security.Authentication.Unauthorized': 'unauthorized',
  'Security.Authentication.Header.Replayed': 'replayed',
  'Security.DecryptFailed': 'bodyDecryptFailed',
};

function toError(f: AuthFailure): ObshellError {
  const key = FAILURE_KEYS[f.code] ?? 'unauthorized';
  // The crypto module's messages never hold secrets; they fill OBShell's %s slots.
  return new ObshellError(key, [f.message]);
}

export interface ObshellCaller {
  projectId: string;
  targetId: string;
  /** the decrypted JSON body, or undefined without one */
  body: unknown;
}

/**
 * Verifies X-OCS-Header against the raw request URI and the password of the one cluster the
 * agent port serves (`cluster`, null when the port serves none now), and decrypts and parses the
 * body. Throws ObshellError on any failure.
 */
export async function authenticate(
  ctx: AppContext,
  crypto: ObshellServerCrypto,
  req: FastifyRequest,
  cluster: { projectId: string; targetId: string } | null,
): Promise<ObshellCaller> {
  const header = req.headers['x-ocs-header'];
  let result;
  try {
    result = await crypto.decryptHeader(Array.isArray(header) ? header[0] : header, {
      requestUri: req.raw.url ?? req.url,
      // the password proves who the caller is; it never chooses the cluster
      verifyAuth: async (auth) =>
        cluster !== null && (await verifyObshellPassword(ctx, cluster.projectId, cluster.targetId, auth)),
    });
  } catch (err) {
    if (err instanceof ReplayGuardFullError) throw new ObshellError('replayGuardFull', ['too many requests in flight']);
    throw err;
  }
  if (!result.ok) throw toError(result);
  if (!cluster) throw new ObshellError('unauthorized');
  const caller = { projectId: cluster.projectId, targetId: cluster.targetId };

  const raw = req.body;
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') return { ...caller, body: undefined };
  const decrypted = crypto.decryptBody(text, result.key, result.iv);
  if (!decrypted.ok) throw toError(decrypted);
  let body: unknown;
  try {
    body = JSON.parse(decrypted.body.toString('utf8')) as unknown;
  } catch {
    // JSON.parse's message quotes the decrypted body; the answer must not.
    throw new ObshellError('bindJsonFailed', ['the decrypted body is not valid JSON']);
  } finally {
    decrypted.body.fill(0);
  }
  // The other families' bodies are checked by the root hook; this one is only readable now.
  assertCleanInput(body, 'body');
  return { ...caller, body };
}
