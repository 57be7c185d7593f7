// `liftgate events [--follow] [--type ...] [--since ...]`: the audit trail, and live changes
// through the server's Server-Sent Events stream (resumed with Last-Event-ID when it drops).
import type { Command } from 'commander';
import type { EventT } from '../../api/target-shapes.ts';
import type { Cli } from '../cli-context.ts';
import { ApiError } from '../client.ts';
import { integer, parseSince } from '../input.ts';
import { actorLabel, shortId, table, when } from '../output.ts';
import { resolveTarget, resolveUpgrade } from '../resolve.ts';

interface EventsOptions {
  follow?: boolean;
  type?: string;
  since?: string;
  target?: string;
  upgrade?: string;
  limit?: number;
}

const PAGE = 1000;

function typeFilter(types: string | undefined): (type: string) => boolean {
  if (!types) return () => true;
  const list = types.split(',');
  return (t) => list.some((p) => (p.endsWith('.*') ? t.startsWith(p.slice(0, -1)) : t === p));
}

/** Reads an SSE stream, calling onEvent for each `data:` record; returns when the stream ends. */
async function readStream(res: Response, onEvent: (data: string) => Promise<void>): Promise<void> {
  if (!res.body) return;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const record = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = record
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) await onEvent(data);
    }
  }
}

export function registerEvents(program: Command, cli: Cli): void {
  program
    .command('events')
    .description('the audit trail of the project: every state change and operator action')
    .option('-f, --follow', 'keep printing new events as they happen')
    .option('--type <types>', 'comma-separated types; upgrade.* matches every upgrade event')
    .option('--since <when>', 'from this long ago (10m, 2h, 3d) or from an ISO-8601 time')
    .option('--target <target>', 'only this target (id or name)')
    .option('--upgrade <upgrade>', 'only this upgrade (id, id prefix or target)')
    .option('--limit <n>', 'at most this many past events (default 200; all with --since)', integer('--limit'))
    .action(async (o: EventsOptions) => {
      const target = o.target ? await resolveTarget(cli, o.target) : undefined;
      const upgrade = o.upgrade ? await resolveUpgrade(cli, o.upgrade) : undefined;
      const since = o.since ? parseSince(o.since) : undefined;
      const query = { target, upgrade, type: o.type, since };
      const line = (e: EventT) =>
        table(
          ['TIME', 'TYPE', 'TARGET', 'UPGRADE', 'ACTOR', 'MESSAGE'],
          [[when(e.createdAt), e.type, e.targetId ?? '-', shortId(e.upgradeId), actorLabel(e), e.message]],
          cli.paint,
        )
          .split('\n')
          .slice(1)
          .join('');

      // the past: with --since every event since then (oldest first), otherwise the newest
      // --limit (200), read newest first and shown in time order
      let past: EventT[] = [];
      let after = 0;
      const wanted = o.limit ?? (since ? Infinity : 200);
      if (since) {
        for (;;) {
          const page = await cli.api.get<{ items: EventT[] }>(cli.p('/events'), { ...query, after, limit: PAGE });
          past.push(...page.items);
          if (page.items.length) after = page.items[page.items.length - 1].id;
          if (page.items.length < PAGE || past.length >= wanted) break;
        }
        past = past.slice(0, wanted);
      } else if (!o.follow || o.limit !== undefined) {
        let before: number | undefined;
        while (past.length < wanted) {
          const limit = Math.min(PAGE, wanted - past.length);
          const page = await cli.api.get<{ items: EventT[] }>(cli.p('/events'), { ...query, order: 'desc', before, limit });
          past.push(...page.items);
          if (page.items.length < limit) break;
          before = page.items[page.items.length - 1].id;
        }
        past.reverse();
        after = past.at(-1)?.id ?? 0;
      }
      const shown = past;
      if (!o.follow) {
        await cli.print({ items: shown }, () =>
          table(
            ['TIME', 'TYPE', 'TARGET', 'UPGRADE', 'ACTOR', 'MESSAGE'],
            shown.map((e) => [when(e.createdAt), e.type, e.targetId ?? '-', shortId(e.upgradeId), actorLabel(e), e.message]),
            cli.paint,
          ),
        );
        return;
      }
      for (const e of shown) await cli.printRecord(e, () => line(e));
      if (!since && o.limit === undefined) {
        // follow from now: start after the newest event there is
        const newest = await cli.api.get<{ items: { id: number }[] }>(cli.p('/events'), { order: 'desc', limit: 1 });
        after = Math.max(after, newest.items[0]?.id ?? 0);
      }
      const accept = typeFilter(o.type);
      for (;;) {
        try {
          const res = await cli.api.fetch(cli.api.url(cli.p('/events'), { target, upgrade, after }), {
            headers: cli.api.headers({ accept: 'text/event-stream', 'last-event-id': String(after) }),
          });
          if (!res.ok) {
            const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
            throw new ApiError(res.status, body?.error?.code ?? String(res.status), body?.error?.message ?? res.statusText, body);
          }
          await readStream(res, async (data) => {
            const e = JSON.parse(data) as EventT;
            after = Math.max(after, e.id);
            if (accept(e.type) && (!since || e.createdAt >= since)) await cli.printRecord(e, () => line(e));
          });
        } catch (e) {
          // a dropped stream is resumed; a refused one (bad token, no project) is an error
          if (e instanceof ApiError && e.status !== 0) throw e;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
}
