// Server-Sent Events: the events table is the source, so a stream sees changes made by any
// Liftgate process and resumes exactly where the client left off.
// - A stream starts from now. History only when asked: `Last-Event-ID` (a reconnecting client),
//   `?since=<ISO time>`, or `?after=<event id>` (0 = everything).
// - History older than LIFTGATE_EVENT_RETENTION_DAYS may be gone. A stream asked to start before
//   the newest deleted event (a Last-Event-ID, `after` or `since` from before it) starts at the
//   oldest event still kept after that position and first sends one `events.pruned` record
//   saying so. It has no `id:` line and its data's `id` is the position asked for, so a client
//   that tracks the last id (the console, `liftgate events --follow`) stays where it was.
// - A comment line every LIFTGATE_SSE_HEARTBEAT_MS (15 s) keeps proxies from closing an idle
//   stream and lets the client notice a dead one.
// - At most LIFTGATE_SSE_MAX_STREAMS (10) open streams per credential on each server: one more
//   answers 429 with Retry-After, so a leaking client cannot hold every connection.
// - Closing the server ends every stream (otherwise an open stream would hold shutdown).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import { setting } from '../../domain/settings.ts';
import type { AppContext } from '../../service/app-context.ts';
import { listEvents, prunedThrough } from '../../service/events.ts';

/** The open streams of one server, counted per credential. */
export class EventStreams {
  readonly maxPerCredential = setting('LIFTGATE_SSE_MAX_STREAMS');
  readonly heartbeatMs = setting('LIFTGATE_SSE_HEARTBEAT_MS');
  private readonly perCredential = new Map<string, number>();
  private readonly enders = new Set<() => void>();

  acquire(credential: string): () => void {
    const n = this.perCredential.get(credential) ?? 0;
    if (n >= this.maxPerCredential) {
      throw new AppError(
        'RATE_LIMITED',
        `this credential already has ${n} open event streams (the limit is ${this.maxPerCredential}); close one first`,
        { retryAfterSeconds: 5 },
      );
    }
    this.perCredential.set(credential, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.perCredential.get(credential) ?? 1) - 1;
      if (left <= 0) this.perCredential.delete(credential);
      else this.perCredential.set(credential, left);
    };
  }

  onEnd(end: () => void): () => void {
    this.enders.add(end);
    return () => this.enders.delete(end);
  }

  /** ends every open stream (server shutdown) */
  endAll(): void {
    for (const end of [...this.enders]) end();
  }
}

/** how many event ids one read of a stream looks at */
const SCAN = 500;

export interface StreamQuery {
  after?: number;
  since?: string;
  upgrade?: string;
  target?: string;
}

/** The event id after which the stream starts. */
async function startAfter(ctx: AppContext, req: FastifyRequest, projectId: string, q: StreamQuery): Promise<number> {
  const header = req.headers['last-event-id'];
  const last = typeof header === 'string' && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : null;
  if (last !== null) return last;
  if (q.since !== undefined) {
    if (/^\d+$/.test(q.since)) return Number(q.since);
    const at = Date.parse(q.since);
    if (!Number.isFinite(at))
      throw new AppError('VALIDATION_FAILED', `querystring/since ${q.since} is not an event id or ISO-8601 time`);
    const before = await ctx.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('project_id', '=', projectId)
      .where('created_at', '<', new Date(at).toISOString())
      .executeTakeFirst();
    return Number(before?.id ?? 0);
  }
  if (q.after !== undefined) return q.after;
  const latest = await ctx.store.db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(latest?.id ?? 0);
}

export async function streamEvents(
  ctx: AppContext,
  streams: EventStreams,
  credential: string,
  req: FastifyRequest,
  reply: FastifyReply,
  projectId: string,
  q: StreamQuery,
): Promise<void> {
  let release: () => void;
  try {
    release = streams.acquire(credential);
  } catch (err) {
    reply.header('retry-after', '5');
    throw err;
  }
  let after: number;
  let pruned: number;
  try {
    after = await startAfter(ctx, req, projectId, q);
    pruned = await prunedThrough(ctx, projectId);
  } catch (err) {
    release();
    throw err;
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  if (after < pruned)
    res.write(`event: events.pruned\ndata: ${JSON.stringify(prunedNotice(projectId, after, pruned, ctx.clock.now()))}\n\n`);
  let closed = false;
  let wake: (() => void) | null = null;
  const end = () => {
    closed = true;
    wake?.();
  };
  const onChange = () => wake?.();
  ctx.changes.on('change', onChange);
  const forget = streams.onEnd(end);
  req.raw.on('close', end);
  let lastWrite = Date.now();
  try {
    while (!closed) {
      // only up to the events' horizon: an event still to commit below it is never passed
      const upTo = await ctx.store.horizon.upTo();
      if (upTo > after) {
        const events = await listEvents(ctx, projectId, {
          afterId: after,
          upToId: upTo,
          upgradeId: q.upgrade,
          targetId: q.target,
          limit: SCAN,
        });
        for (const e of events) {
          res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
          lastWrite = Date.now();
        }
        const more = events.length === SCAN;
        after = more ? events[events.length - 1].id : upTo;
        if (more) continue;
      }
      // Wait for a change in this process, or poll for changes made by other processes.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
      if (!closed && Date.now() - lastWrite >= streams.heartbeatMs) {
        res.write(': heartbeat\n\n');
        lastWrite = Date.now();
      }
    }
  } catch (err) {
    req.log.error({ err }, 'event stream failed');
  } finally {
    ctx.changes.off('change', onChange);
    forget();
    release();
    res.end();
  }
}

/** The record a stream starting before deleted history sends first (shaped like an event). */
function prunedNotice(projectId: string, after: number, pruned: number, at: Date) {
  return {
    id: after,
    projectId,
    targetId: null,
    upgradeId: null,
    stepId: null,
    actor: 'retention',
    type: 'events.pruned',
    fromState: null,
    toState: null,
    message: `events up to id ${pruned} older than the retention (LIFTGATE_EVENT_RETENTION_DAYS) were deleted; this stream starts at the oldest event kept after id ${after}`,
    data: { after, prunedThrough: pruned },
    createdAt: at.toISOString(),
  };
}
