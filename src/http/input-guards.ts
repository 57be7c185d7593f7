// Checks every request passes before any handler, store or credential lookup sees its values:
// no NUL character anywhere (PostgreSQL text and jsonb refuse U+0000, so a NUL that got through
// would be a 500 on one store and stored data on the other), no body nested deeper than a JSON
// document of this API ever needs (deep nesting would exhaust the stack of later code), no
// non-finite number, and a bounded URL. Each refusal is a 400 (414 for the URL) that names the offending field.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.ts';

export const MAX_URL_LENGTH = 8192;
export const MAX_BODY_DEPTH = 32;

/**
 * Throws a VALIDATION_FAILED naming the first field of `value` (keys included) that holds a NUL,
 * or the place where it nests deeper than MAX_BODY_DEPTH. Iterative, so depth cannot overflow it.
 */
export function assertCleanInput(value: unknown, where: string): void {
  const stack: [unknown, string, number][] = [[value, where, 0]];
  while (stack.length > 0) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw nulError(path);
      continue;
    }
    // Ajv coerces "1e400" in a query to Infinity and then skips minimum/maximum for it.
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new AppError('VALIDATION_FAILED', `${path} must be a finite number`, { path });
    }
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v)) continue;
    if (depth >= MAX_BODY_DEPTH) {
      throw new AppError('VALIDATION_FAILED', `${path} nests more than ${MAX_BODY_DEPTH} levels deep`, { path });
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${path}[${i}]`, depth + 1]));
      continue;
    }
    for (const [k, item] of Object.entries(v)) {
      const child = `${path}.${k}`;
      if (k.includes('\u0000')) throw nulError(`${path} (a key)`);
      stack.push([item, child, depth + 1]);
    }
  }
}

function nulError(path: string): AppError {
  // The path names the field; the value itself is not echoed.
  return new AppError('VALIDATION_FAILED', `${path.replace(/\u0000/g, '\\u0000')} must not contain NUL (\\u0000) characters`, {
    path,
  });
}

function checkHeadersParamsQuery(req: FastifyRequest): void {
  const url = req.raw.url ?? req.url;
  if (url.length > MAX_URL_LENGTH) throw new AppError('URI_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`);
  for (const [name, value] of Object.entries(req.headers)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.some((x) => typeof x === 'string' && x.includes('\u0000'))) throw nulError(`header ${name}`);
  }
  assertCleanInput(req.params, 'params');
  assertCleanInput(req.query, 'querystring');
}

/** Installs the checks as root hooks, so every family's scope (and the not-found handler) runs them. */
export function installInputGuards(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => checkHeadersParamsQuery(req));
  // preHandler: after schema coercion, and after the families that verify signatures have parsed
  // their JSON bodies (in preValidation).
  app.addHook('preHandler', async (req) => {
    assertCleanInput(req.params, 'params');
    assertCleanInput(req.query, 'querystring');
    assertCleanInput(req.body, 'body');
  });
}
