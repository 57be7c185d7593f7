// `liftgate admin-tokens list|create|rotate|revoke|events`: the admin credential, the tokens that
// reach every project. A secret is printed once (create, rotate); lists never show one. Rotating
// or revoking asks on a terminal, as `tokens revoke` does, and needs --yes off one. After a rotate
// or revoke of the token this CLI calls with, or of the one the server registered from
// LIFTGATE_ADMIN_TOKEN, it says what to change.
import type { Command } from 'commander';
import type { AdminTokenT, SystemEventT, WhoamiT } from '../../api/credential-shapes.ts';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { confirm, integer } from '../input.ts';
import { actorLabel, table, when } from '../output.ts';

/** an admin token and an event of no project as the API answers them (src/api/credential-shapes.ts) */
const PATH = '/v1/admin-tokens';
/** the name the server gives the admin token it registers from LIFTGATE_ADMIN_TOKEN */
const FROM_ENV = 'LIFTGATE_ADMIN_TOKEN';

const list = (cli: Cli) => cli.api.get<{ items: AdminTokenT[] }>(PATH);
const whoami = (cli: Cli) => cli.api.get<WhoamiT>('/v1/whoami');

/** an admin token by id, unique id prefix or name */
async function resolve(cli: Cli, ref: string): Promise<AdminTokenT> {
  const { items } = await list(cli);
  const exact = items.filter((c) => c.id === ref || c.name === ref);
  const hits = exact.length ? exact : items.filter((c) => c.id.startsWith(ref));
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) {
    throw new CliError(
      `admin token "${ref}" is ambiguous: it matches ${hits.map((c) => `${c.id} (${c.name})`).join(', ')}`,
      EXIT.USAGE,
      'give the full id',
      'AMBIGUOUS',
    );
  }
  throw new CliError(`no admin token "${ref}"`, EXIT.NOT_FOUND, 'list them with `liftgate admin-tokens list`');
}

/** Notes on what to change after the secret of `t` stopped working; printed with the outcome. */
function afterChange(cli: Cli, t: AdminTokenT, mine: boolean, newSecret?: string): string[] {
  const notes: string[] = [];
  if (mine) {
    notes.push(
      newSecret
        ? `this CLI was calling with that token: update LIFTGATE_TOKEN (or --token) wherever it is set:\n  export LIFTGATE_TOKEN=${newSecret}`
        : 'this CLI was calling with that token: set LIFTGATE_TOKEN (or --token) to another admin token',
    );
  }
  if (t.name === FROM_ENV) {
    notes.push(
      newSecret
        ? `the server registered this token from ${FROM_ENV}: set that variable to the new secret (or unset it) before the server's next start, which otherwise refuses to start`
        : `the server registered this token from ${FROM_ENV}: unset that variable (or set it to another admin token) before the server's next start, which otherwise refuses to start`,
    );
  }
  if (notes.length && cli.format !== 'table') for (const n of notes) process.stderr.write(`note: ${n}\n`);
  return cli.format === 'table' ? notes : [];
}

export function registerAdminTokens(program: Command, cli: Cli): void {
  const group = program
    .command('admin-tokens')
    .alias('admin-token')
    .description('admin tokens: the tokens that reach every project (needs one)');

  group
    .command('list', { isDefault: true })
    .description('the admin tokens, without their secrets; * marks the one this CLI calls with')
    .action(async () => {
      const [res, me] = await Promise.all([list(cli), whoami(cli)]);
      await cli.print(res, () =>
        table(
          ['ID', 'NAME', 'CREATED', 'BY', 'EXPIRES', 'ROTATED', 'LAST USED', 'STATE'],
          res.items.map((c) => [
            `${c.id}${c.id === me.tokenId ? ' *' : ''}`,
            c.name || '-',
            when(c.createdAt),
            c.createdBy ?? '-',
            c.expiresAt ? when(c.expiresAt) : 'never',
            when(c.rotatedAt),
            c.lastUsedAt ? when(c.lastUsedAt) : 'never',
            cli.paint.state(c.expiresAt && Date.parse(c.expiresAt) < Date.now() ? 'expired' : 'active'),
          ]),
          cli.paint,
        ),
      );
    });

  group
    .command('create')
    .description('mint another admin token (its secret is shown once), e.g. to hand over without a gap')
    .option('--name <name>', 'a name to recognise it by')
    .option('--expires <time>', 'ISO-8601 time after which it stops working')
    .action(async (o: { name?: string; expires?: string }) => {
      const body = { ...(o.name ? { name: o.name } : {}), ...(o.expires ? { expiresAt: o.expires } : {}) };
      const c = await cli.api.post<AdminTokenT & { token: string }>(PATH, body);
      await cli.print(c, () =>
        [`admin token ${c.id} created; keep the secret now, it is not shown again:`, `  ${c.token}`].join('\n'),
      );
    });

  group
    .command('rotate <token>')
    .description('give an admin token (id, unique id prefix or name) a new secret; the old one stops working at once')
    .option('--expires <time>', 'a new expiry (ISO-8601), or `never`; default: the token keeps its expiry')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { expires?: string; yes?: boolean }) => {
      const [t, me] = await Promise.all([resolve(cli, ref), whoami(cli)]);
      const mine = t.id === me.tokenId;
      await confirm(
        `rotate admin token ${t.id} (${t.name}); its current secret stops working at once${mine ? ', and this CLI calls with it' : ''}`,
        o.yes,
      );
      const body = o.expires === undefined ? {} : { expiresAt: o.expires === 'never' ? null : o.expires };
      const c = await cli.api.post<AdminTokenT & { token: string }>(`${PATH}/${encodeURIComponent(t.id)}/rotate`, body);
      const notes = afterChange(cli, t, mine, c.token);
      await cli.print(c, () =>
        [
          `admin token ${c.id} rotated; its old secret no longer works. Keep the new one now, it is not shown again:`,
          `  ${c.token}`,
          ...notes,
        ].join('\n'),
      );
    });

  group
    .command('revoke <token>')
    .description(
      'revoke an admin token (id, unique id prefix or name); it stops working at once. The last one that works is kept',
    )
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { yes?: boolean }) => {
      const [t, me] = await Promise.all([resolve(cli, ref), whoami(cli)]);
      const mine = t.id === me.tokenId;
      await confirm(`revoke admin token ${t.id} (${t.name})${mine ? ', the one this CLI calls with' : ''}`, o.yes);
      await cli.api.delete(`${PATH}/${encodeURIComponent(t.id)}`);
      const notes = afterChange(cli, t, mine);
      await cli.print({ id: t.id, revoked: true }, () => [`admin token ${t.id} revoked`, ...notes].join('\n'));
    });

  group
    .command('events')
    .description('the audit trail of the admin tokens (created, rotated, revoked), oldest first')
    .option('--limit <n>', 'the newest this many (default 200)', integer('--limit'))
    .action(async (o: { limit?: number }) => {
      const res = await cli.api.get<{ items: SystemEventT[] }>('/v1/system/events', {
        type: 'credential.*',
        limit: o.limit ?? 200,
      });
      const items = [...res.items].reverse();
      await cli.print({ items }, () =>
        table(
          ['TIME', 'TYPE', 'ACTOR', 'MESSAGE'],
          items.map((e) => [when(e.createdAt), e.type, actorLabel(e), e.message]),
          cli.paint,
        ),
      );
    });
}
