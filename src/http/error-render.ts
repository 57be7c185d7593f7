// What an API family's error renderer is: an error in, the status and body of the family's
// envelope out. Each family keeps its renderer beside its error table and installs it on its
// routes with `errorHandler(renderer)`; src/http/error-envelopes.ts finds the renderer of a request
// no route answered. This module knows no family, so the families and the native errors depend on
// it and not on one another.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export interface ErrorMeta {
  requestId: string;
  headers: IncomingHttpHeaders;
  elapsedMs: number;
}

export interface RenderedError {
  status: number;
  body: unknown;
  /** content type when not JSON (ACK's XML) */
  type?: string;
  headers?: Record<string, string>;
}

export type ErrorRenderer = (err: unknown, meta: ErrorMeta) => RenderedError;

/** A Fastify error handler that answers in one family's envelope. */
export function errorHandler(render: ErrorRenderer) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void => {
    const out = render(err, { requestId: String(req.id), headers: req.headers, elapsedMs: reply.elapsedTime });
    if (out.status >= 500) req.log.error({ err }, 'request failed');
    for (const [k, v] of Object.entries(out.headers ?? {})) reply.header(k, v);
    reply.code(out.status);
    if (out.type) reply.type(out.type);
    reply.send(out.body);
  };
}
