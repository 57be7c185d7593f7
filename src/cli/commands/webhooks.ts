// `liftgate webhook create|list|show|deliveries|delete`: the project's webhooks and their
// delivery log (POST/GET .../webhooks, GET/DELETE .../webhooks/{id}, GET .../webhooks/{id}/deliveries).
// A generated secret is printed once, at creation; how a receiver checks a signature is in docs/fleet.md.
import { Option, type Command } from 'commander';
import type { DeliveryOut, WebhookOut } from '../../api/credential-shapes.ts';
import { WEBHOOK_DELIVERY_STATES } from '../../domain/types.ts';
import type { Static } from '@sinclair/typebox';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { confirm, integer } from '../input.ts';
import { fields, table, when } from '../output.ts';

type WebhookT = Static<typeof WebhookOut>;
type DeliveryT = Static<typeof DeliveryOut>;

/** A webhook's id from its id or a unique prefix of it (with or without the "wh-"). */
export async function resolveWebhook(cli: Cli, ref: string): Promise<string> {
  const { items } = await cli.api.get<{ items: WebhookT[] }>(cli.p('/webhooks'));
  const exact = items.find((h) => h.id === ref);
  if (exact) return exact.id;
  const prefix = ref.startsWith('wh-') ? ref : `wh-${ref}`;
  const hits = items.filter((h) => h.id.startsWith(prefix));
  if (hits.length === 1) return hits[0].id;
  if (hits.length > 1) {
    throw new CliError(
      `webhook "${ref}" is ambiguous: it matches ${hits.map((h) => `${h.id} (${h.url})`).join(', ')}`,
      EXIT.USAGE,
      'give more of the id',
      'AMBIGUOUS',
    );
  }
  throw new CliError(
    `no webhook "${ref}" in project ${cli.project}`,
    EXIT.NOT_FOUND,
    'list them with `liftgate webhook list`',
    'WEBHOOK_NOT_FOUND',
  );
}

/** "-" for none, else the delivery's state with its last answer: "delivered (200)", "failed (connection refused)" */
function deliveryWord(cli: Cli, d: DeliveryT | undefined): string {
  if (!d) return '-';
  const why = d.lastStatus !== null ? String(d.lastStatus) : d.lastError;
  return `${cli.paint.state(d.state)}${why ? ` (${why})` : ''}`;
}

const lastDelivery = async (cli: Cli, id: string): Promise<DeliveryT | undefined> =>
  (await cli.api.get<{ items: DeliveryT[] }>(cli.p(`/webhooks/${encodeURIComponent(id)}/deliveries`), { limit: 1 })).items[0];

/** `--events upgrade.* batch.succeeded` and `--events upgrade.*,batch.*` both list two */
const eventList = (values: string[]) => values.flatMap((v) => v.split(',')).filter(Boolean);

export function registerWebhooks(program: Command, cli: Cli): void {
  const webhook = program
    .command('webhook')
    .alias('webhooks')
    .description('send the project\u2019s events to an HTTP receiver, signed (docs/fleet.md, "Webhooks")');

  webhook
    // the receiver's URL is an argument: --url is the global option naming the Liftgate server
    .command('create <url>')
    .description('add a webhook: the http(s) URL that receives the POSTs; a generated secret is shown once')
    .requiredOption(
      '--events <types...>',
      'event types or families, e.g. upgrade.* batch.succeeded (or comma-separated); * for every event',
    )
    .option('--secret <secret>', 'the HMAC key of the signatures (16 to 256 characters); generated when left out')
    .action(async (url: string, o: { events: string[]; secret?: string }) => {
      const h = await cli.api.post<WebhookT>(cli.p('/webhooks'), {
        url,
        events: eventList(o.events),
        ...(o.secret ? { secret: o.secret } : {}),
      });
      await cli.print(h, () =>
        [
          `webhook ${h.id} created: ${h.events.join(', ')} -> ${h.url}`,
          ...(h.secret ? ['its signing secret, shown only now; keep it where the receiver can read it:', h.secret] : []),
        ].join('\n'),
      );
    });

  webhook
    .command('list', { isDefault: true })
    .description('the project\u2019s webhooks with their last delivery')
    .action(async () => {
      const { items } = await cli.api.get<{ items: WebhookT[] }>(cli.p('/webhooks'));
      const last = await Promise.all(items.map((h) => lastDelivery(cli, h.id)));
      const withLast = items.map((h, i) => ({ ...h, lastDelivery: last[i] ?? null }));
      await cli.print({ items: withLast }, () =>
        table(
          ['WEBHOOK', 'URL', 'EVENTS', 'LAST DELIVERY', 'AT', 'CREATED BY'],
          withLast.map((h) => [
            h.id,
            h.url,
            h.events.join(','),
            deliveryWord(cli, h.lastDelivery ?? undefined),
            when(
              h.lastDelivery ? (h.lastDelivery.deliveredAt ?? h.lastDelivery.log.at(-1)?.at ?? h.lastDelivery.createdAt) : null,
            ),
            h.createdBy,
          ]),
          cli.paint,
        ),
      );
    });

  webhook
    .command('show <webhook>')
    .description('a webhook (id or id prefix) with its last delivery')
    .action(async (ref: string) => {
      const id = await resolveWebhook(cli, ref);
      const h = await cli.api.get<WebhookT>(cli.p(`/webhooks/${encodeURIComponent(id)}`));
      const d = await lastDelivery(cli, id);
      await cli.print({ ...h, lastDelivery: d ?? null }, () =>
        fields(
          [
            ['webhook', h.id],
            ['url', h.url],
            ['events', h.events.join(', ')],
            ['created', `${when(h.createdAt)} by ${h.createdBy}`],
            ['last delivery', d ? `${d.eventType}: ${deliveryWord(cli, d)}, ${d.attempts} attempt(s)` : 'none yet'],
            ['delivered', d ? when(d.deliveredAt) : undefined],
            ['next attempt', d?.state === 'pending' ? when(d.nextAttemptAt) : undefined],
          ],
          cli.paint,
        ),
      );
    });

  webhook
    .command('deliveries <webhook>')
    .description('the delivery log of a webhook (id or id prefix), newest event first')
    .addOption(new Option('--state <state>', 'only deliveries in this state').choices([...WEBHOOK_DELIVERY_STATES]))
    .option('--limit <n>', 'how many (default 50, at most 500)', integer('--limit'))
    .action(async (ref: string, o: { state?: string; limit?: number }) => {
      const id = await resolveWebhook(cli, ref);
      const res = await cli.api.get<{ items: DeliveryT[]; total: number }>(
        cli.p(`/webhooks/${encodeURIComponent(id)}/deliveries`),
        { state: o.state, limit: o.limit ?? 50 },
      );
      await cli.print(
        res,
        () =>
          table(
            ['DELIVERY', 'EVENT', 'STATE', 'ATTEMPTS', 'LAST ATTEMPT', 'NEXT ATTEMPT'],
            res.items.map((d) => [
              d.id,
              `${d.eventType} #${d.eventId}`,
              deliveryWord(cli, d),
              String(d.attempts),
              when(d.log.at(-1)?.at),
              d.state === 'pending' ? when(d.nextAttemptAt) : '-',
            ]),
            cli.paint,
          ) + (res.total > res.items.length ? `\n(${res.items.length} of ${res.total}; --limit shows more)` : ''),
      );
    });

  webhook
    .command('delete <webhook>')
    .alias('rm')
    .description('delete a webhook (id or id prefix): nothing more is sent, and its delivery log goes with it (asks first)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { yes?: boolean }) => {
      const id = await resolveWebhook(cli, ref);
      await confirm(`delete webhook ${id}`, o.yes);
      await cli.api.delete(cli.p(`/webhooks/${encodeURIComponent(id)}`));
      await cli.print({ id, deleted: true }, () => `webhook ${id} deleted`);
    });
}
