// The `liftgate` command line: `serve` runs the server; every other command is a client of the
// native API (LIFTGATE_URL, LIFTGATE_TOKEN, LIFTGATE_PROJECT) and prints a table, JSON or YAML
// (--output). Exit codes are in errors.ts and docs/cli.md.
import path from 'node:path';
import { Command, Option } from 'commander';
import { readSettings, SETTINGS, SettingsError, type Settings, type SettingScope } from '../domain/settings.ts';
import { Cli } from './cli-context.ts';
import { registerAdminTokens } from './commands/admin-tokens.ts';
import { registerBatches } from './commands/batches.ts';
import { registerCatalog } from './commands/catalog.ts';
import { registerCredentials } from './commands/credentials.ts';
import { registerEvents } from './commands/events.ts';
import { registerTargets } from './commands/targets.ts';
import { registerUpgrades } from './commands/upgrades.ts';
import { registerWebhooks } from './commands/webhooks.ts';
import { CliError, EXIT, explain } from './errors.ts';
import { endQuietlyOnClosedPipe, FORMATS, Paint, colorWanted } from './output.ts';

endQuietlyOnClosedPipe();

const program = new Command();
program
  .name('liftgate')
  .description('Plan, run and control safe version upgrades of database and cluster fleets')
  .version('0.1.0', '-V, --cli-version', 'print the CLI version')
  .option('--url <url>', `Liftgate server (default: LIFTGATE_URL or ${SETTINGS.LIFTGATE_URL.default})`)
  .option('--token <token>', 'API token (default: LIFTGATE_TOKEN)')
  .option('-p, --project <id>', `project (default: LIFTGATE_PROJECT or ${SETTINGS.LIFTGATE_PROJECT.default})`)
  .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(FORMATS).default('table'))
  .option('--json', 'the same as --output json')
  .option('--no-color', 'no colours (also NO_COLOR=1; colours are only used on a terminal)')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

const cli = new Cli(program);

/** The settings of `scope`, or a usage error naming every bad variable (src/domain/settings.ts). */
function checkedSettings(scope: SettingScope): Settings {
  try {
    return readSettings(process.env, scope);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    throw new CliError(
      `cannot start: ${err.message}`,
      EXIT.USAGE,
      `set ${err.problems.length === 1 ? 'it' : 'each'} to an allowed value or unset it (docs/settings.md lists every setting)`,
      'SETTINGS_INVALID',
    );
  }
}

// a client command checks the CLI's settings before it calls anything; `serve` checks the server's
program.hook('preAction', (_program, action) => {
  if (action.name() !== 'serve') cli.useSettings(checkedSettings('cli'));
});

program
  .command('serve')
  .description('run the Liftgate server (PORT, HOST, LIFTGATE_DATA_DIR, LIFTGATE_DATABASE_URL, LIFTGATE_DEMO)')
  .option('--port <port>', 'port (default PORT or 8080)')
  .option('--host <host>', 'address to listen on (default HOST or localhost)')
  .action(async (o: { port?: string; host?: string }) => {
    // A second server on a used SQLite folder is refused before the server code even loads.
    const { lockDataFolder, sqliteFileOf } = await import('../store/folder-lock.ts');
    // Every setting is checked first: a bad one stops the start before anything is opened.
    const settings = checkedSettings('server');
    const file = sqliteFileOf({ databaseUrl: settings.LIFTGATE_DATABASE_URL, dataDir: settings.LIFTGATE_DATA_DIR });
    const folderLock = file ? lockDataFolder(path.dirname(file)) : undefined;
    const { serve } = await import('../app/serve.ts');
    await serve({ port: o.port ? Number(o.port) : undefined, host: o.host, folderLock });
  });

registerTargets(program, cli);
registerCatalog(program, cli);
registerUpgrades(program, cli);
registerEvents(program, cli);
registerBatches(program, cli);
registerCredentials(program, cli);
registerAdminTokens(program, cli);
registerWebhooks(program, cli);

// every subcommand reports wrong use the same way (exit 2) and knows the global options
for (const c of program.commands) c.exitOverride().showHelpAfterError('(add --help for usage)');

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = (err as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(EXIT.OK);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(EXIT.USAGE); // commander printed why
  const e = explain(err, cli.opts.url);
  if (cli.opts.json || cli.opts.output === 'json') {
    const details = (e.body as { error?: { details?: unknown } } | undefined)?.error?.details;
    process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint ?? null, details } })}\n`);
  } else {
    const paint = new Paint(colorWanted(process.stderr, cli.opts.color));
    process.stderr.write(
      `${paint.style('error:', 'red', 'bold')} ${e.message}\n${e.hint ? `${paint.style('hint:', 'bold')} ${e.hint}\n` : ''}`,
    );
  }
  process.exit(e.exitCode);
});
