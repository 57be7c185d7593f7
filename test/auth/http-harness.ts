// Tiny node:http server for auth tests: buffers the raw body (the SDKs use chunked
// transfer), hands the request to a handler and records what arrived so a test can
// replay it byte for byte.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  rawUrl: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HandlerResult {
  status: number;
  json: unknown;
  headers?: Record<string, string>;
}

export interface TestServer {
  port: number;
  baseUrl: string;
  captured: CapturedRequest[];
  close(): Promise<void>;
}

export async function startServer(handler: (req: CapturedRequest) => Promise<HandlerResult>): Promise<TestServer> {
  const captured: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: CapturedRequest = {
        method: req.method ?? 'GET',
        rawUrl: req.url ?? '/',
        headers: { ...(req.headers as IncomingHttpHeaders) },
        body: Buffer.concat(chunks),
      };
      captured.push(request);
      handler(request).then(
        (out) => {
          res.writeHead(out.status, { 'content-type': 'application/json', ...(out.headers ?? {}) });
          res.end(JSON.stringify(out.json));
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'InternalError', message: String(err) }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    captured,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Headers of a captured request in a form fetch() accepts (hop-by-hop ones dropped). */
export function replayableHeaders(req: CapturedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || ['host', 'connection', 'transfer-encoding', 'content-length'].includes(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
