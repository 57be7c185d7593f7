// The web console: the files `npm run build:console` wrote to dist/console, served by this
// server at `/` (no second server). The console's own routes (/login, /projects/...) answer with
// its index.html so a reload or a shared link opens the same view; API paths are untouched.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const DEFAULT_CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/console');

// Scripts and styles come only from this server; the API is same-origin, so nothing else is needed.
const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Liftgate</title>
<link rel="icon" href="data:,"></head><body style="font-family:system-ui;margin:3rem">
<h1>Liftgate</h1><p>The web console has not been built. Run <code>npm run build:console</code>
(it runs as part of <code>npm ci</code>) and restart the server.</p>
<p>The API is at <a href="/docs">/docs</a>.</p></body></html>`;

export async function consoleRoutes(app: FastifyInstance, opts: { dir?: string }): Promise<void> {
  const dir = opts.dir ?? DEFAULT_CONSOLE_DIR;
  const indexFile = path.join(dir, 'index.html');
  const built = fs.existsSync(indexFile);
  const page = () => (built ? fs.readFileSync(indexFile, 'utf8') : NOT_BUILT);

  app.addHook('onSend', async (req, reply) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/html')) {
      reply.header('content-security-policy', CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    }
  });

  const sendPage = async (_req: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page());
  for (const url of ['/', '/login', '/projects/*']) app.get(url, { schema: { hide: true } }, sendPage);

  if (!built) return;
  await app.register(fastifyStatic, {
    root: dir,
    wildcard: false,
    index: false,
    decorateReply: false,
    cacheControl: false,
    // File names under assets/ carry a content hash, so they never change.
    setHeaders(res, file) {
      const hashed = file.startsWith(path.join(dir, 'assets') + path.sep);
      res.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
    allowedPath: (p) => p !== '/index.html',
  });
}
