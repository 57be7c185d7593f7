// Every error answer in the envelope of the API family the request was addressed to, including the
// answers no route's own error handler sees: unknown paths, bad percent-encoding and over-long path
// parameters (Fastify refuses those before routing), body parse failures of a request no route
// matched, and malformed requests Node's HTTP parser refuses before Fastify sees them.
//
// Each family has one renderer (error -> status, body; src/http/error-render.ts) beside its error
// table; its routes install it with `errorHandler(renderer)`, and requests without a route find it
// here by their path prefix.
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../domain/errors.ts';
import { renderAckError, renderHologresError } from './families/alibaba/errors.ts';
import { renderCssError } from './families/huawei/css-errors.ts';
import { renderGaussError } from './families/huawei/gaussdb-messages.ts';
import { renderObshellError } from './families/obshell/envelope.ts';
import { errorHandler, type ErrorRenderer } from './error-render.ts';
import { renderNativeError } from './errors.ts';
import { agentPortOf } from './obshell-agent-servers.ts';

export type FamilyName = 'native' | 'ack' | 'hologres' | 'css' | 'gaussdb' | 'obshell';

export const RENDERERS: Record<FamilyName, ErrorRenderer> = {
  native: renderNativeError,
  ack: renderAckError,
  hologres: renderHologresError,
  css: renderCssError,
  gaussdb: renderGaussError,
  obshell: renderObshellError,
};

/** The path prefixes of each family's routes, most specific first; anything else is native. */
const PREFIXES: [string, FamilyName][] = [
  ['/api/v1/instances/', 'hologres'],
  ['/api/v1/', 'obshell'],
  ['/api/v2/', 'ack'],
  ['/tasks/', 'ack'],
  ['/clusters/', 'ack'],
  ['/v1.0/', 'css'],
  ['/v3/', 'gaussdb'],
];

/** The family a raw request URL is addressed to, by its prefix (the raw URL, before any decoding). */
export function familyOf(rawUrl: string): FamilyName {
  for (const [prefix, family] of PREFIXES) if (rawUrl.startsWith(prefix)) return family;
  return 'native';
}

/** The family a request is addressed to: every request to an OBShell agent's port is OBShell's. */
export function familyOfRequest(req: FastifyRequest): FamilyName {
  return agentPortOf(req.raw) !== undefined ? 'obshell' : familyOf(req.raw.url ?? req.url);
}

/** The error handler for requests without a route of their own: the family of the path answers. */
export function errorHandlerByPath(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  errorHandler(RENDERERS[familyOfRequest(req)])(err, req, reply);
}

/** Node's HTTP parser errors (bad request line, headers too large, ...): no request exists yet. */
const CLIENT_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'HEADERS_TOO_LARGE', message: 'the request line and headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' },
};
const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Fastify's clientErrorHandler: answers a request the parser refused in the envelope of the family
 * its request line names, when the line could be read, without echoing any of it.
 */
export function clientErrorHandler(
  err: Error & { code?: string; rawPacket?: unknown },
  socket: Socket,
  family?: FamilyName,
): void {
  if (socket.destroyed) return;
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy(err);
    return;
  }
  const known = CLIENT_ERRORS[err.code ?? ''] ?? { code: 'BAD_REQUEST', message: 'the request is not valid HTTP/1.1' };
  const line = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 512).toString('latin1') : '';
  const path = /^[A-Z]+ (\/\S*)/.exec(line)?.[1] ?? '/';
  const out = RENDERERS[family ?? familyOf(path)](new AppError(known.code, known.message), {
    requestId: randomUUID(),
    headers: {},
    elapsedMs: 0,
  });
  const body = typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
  const head = [
    `HTTP/1.1 ${out.status} ${REASONS[out.status] ?? 'Bad Request'}`,
    `Content-Type: ${out.type ?? 'application/json; charset=utf-8'}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(out.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
