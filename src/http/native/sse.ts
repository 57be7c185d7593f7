// Server-Sent Events: the events table is the source, so a stream resumes exactly where the
// client left off (Last-Event-ID) and sees changes made by any Liftgate process.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../service/context.ts';
import { listEvents } from '../../service/events.ts';

export async function streamEvents(
  ctx: AppContext,
  req: FastifyRequest,
  reply: FastifyReply,
  projectId: string,
  q: { after?: number; upgrade?: string; target?: string },
): Promise<void> {
  const lastHeader = Number(req.headers['last-event-id']);
  let after = Number.isFinite(lastHeader) && lastHeader > 0 ? lastHeader : (q.after ?? 0);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let closed = false;
  let wake: (() => void) | null = null;
  const onChange = () => wake?.();
  ctx.changes.on('change', onChange);
  req.raw.on('close', () => {
    closed = true;
    wake?.();
  });
  try {
    while (!closed) {
      const events = await listEvents(ctx, projectId, { afterId: after, upgradeId: q.upgrade, targetId: q.target, limit: 500 });
      for (const e of events) {
        res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        after = e.id;
      }
      if (events.length === 500) continue;
      // Wait for a change in this process, or poll for changes made by other processes.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
      if (!closed) res.write(': keep-alive\n\n');
    }
  } finally {
    ctx.changes.off('change', onChange);
    res.end();
  }
}
