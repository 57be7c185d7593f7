// `liftgate tokens create|list|revoke`, `liftgate access-keys create|list|revoke` and `whoami`.
// A secret is printed once, at creation; lists never show one.
import { Option, type Command } from 'commander';
import type { AccessKeyT, TokenT, WhoamiT } from '../../api/credential-shapes.ts';
import { ROLES } from '../../domain/types.ts';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { confirm } from '../input.ts';
import { fields, table, when } from '../output.ts';

/** a token or an access key as the API lists it (src/api/credential-shapes.ts) */
type CredentialView = TokenT | AccessKeyT;

/** a credential by id or unique name */
async function resolveCredential(cli: Cli, path: string, kind: string, ref: string): Promise<string> {
  const res = await cli.api.get<{ items: CredentialView[] }>(cli.p(path));
  const hits = res.items.filter((c) => c.id === ref || c.name === ref);
  const byPrefix = hits.length ? hits : res.items.filter((c) => c.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0].id;
  if (byPrefix.length > 1) {
    throw new CliError(
      `${kind} "${ref}" is ambiguous: it matches ${byPrefix.map((c) => `${c.id} (${c.name})`).join(', ')}`,
      EXIT.USAGE,
      'give the full id',
      'AMBIGUOUS',
    );
  }
  throw new CliError(
    `no ${kind} "${ref}" in project ${cli.project}`,
    EXIT.NOT_FOUND,
    `list them with \`liftgate ${path.slice(1)} list\``,
  );
}

function register(cli: Cli, group: Command, path: string, kind: string, secretOf: (c: Record<string, unknown>) => string[]) {
  group
    .command('create')
    .description(`create a ${kind} (its secret is shown once)`)
    .option('--name <name>', 'a name to recognise it by')
    .addOption(new Option('--role <role>', 'viewer, operator or admin (default: your own role)').choices([...ROLES]))
    .option('--expires <time>', 'ISO-8601 time after which it stops working')
    .action(async (o: { name?: string; role?: string; expires?: string }) => {
      const body = {
        ...(o.name ? { name: o.name } : {}),
        ...(o.role ? { role: o.role } : {}),
        ...(o.expires ? { expiresAt: o.expires } : {}),
      };
      const c = await cli.api.post<Record<string, unknown>>(cli.p(path), body);
      await cli.print(c, () =>
        [`${kind} ${String(c.id ?? c.accessKeyId)} created; keep the secret now, it is not shown again:`, ...secretOf(c)].join(
          '\n',
        ),
      );
    });
  group
    .command('list', { isDefault: true })
    .description(`the ${kind}s of the project`)
    .action(async () => {
      const res = await cli.api.get<{ items: CredentialView[] }>(cli.p(path));
      await cli.print(res, () =>
        table(
          ['ID', 'NAME', 'ROLE', 'CREATED', 'BY', 'EXPIRES', 'STATE'],
          res.items.map((c) => [
            c.id,
            c.name || '-',
            c.role ?? '-',
            when(c.createdAt),
            c.createdBy ?? '-',
            c.expiresAt ? when(c.expiresAt) : 'never',
            cli.paint.state(c.expiresAt && Date.parse(c.expiresAt) < Date.now() ? 'expired' : 'active'),
          ]),
          cli.paint,
        ),
      );
    });
  group
    .command('revoke <id>')
    .description(`revoke a ${kind} (by id, unique id prefix or name); it stops working at once`)
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { yes?: boolean }) => {
      const id = await resolveCredential(cli, path, kind, ref);
      await confirm(`revoke ${kind} ${id}`, o.yes);
      await cli.api.delete(cli.p(`${path}/${encodeURIComponent(id)}`));
      await cli.print({ id, revoked: true }, () => `${kind} ${id} revoked`);
    });
}

export function registerCredentials(program: Command, cli: Cli): void {
  const tokens = program.command('tokens').alias('token').description('bearer tokens of the project');
  register(cli, tokens, '/tokens', 'token', (c) => [`  ${String(c.token)}`]);
  const keys = program.command('access-keys').alias('access-key').description('access keys of the vendor API families');
  register(cli, keys, '/access-keys', 'access key', (c) => [
    `  AccessKey ID:     ${String(c.accessKeyId ?? c.id)}`,
    `  AccessKey secret: ${String(c.accessKeySecret ?? c.secret)}`,
  ]);

  program
    .command('whoami')
    .description('the token in use: its id, role and project')
    .action(async () => {
      const w = await cli.api.get<WhoamiT>('/v1/whoami');
      await cli.print(w, () =>
        fields(
          [
            ['token', w.tokenId],
            ['role', w.role],
            ['project', w.projectId ?? '(admin: every project)'],
            ['expires', w.expiresAt ? when(w.expiresAt) : 'never'],
            ['server', cli.opts.url],
          ],
          cli.paint,
        ),
      );
    });
}
