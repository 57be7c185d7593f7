// `liftgate targets list|show|add|update|delete|obshell-password`, the window and exclusion
// commands (target-windows.ts), and `liftgate faults add`.
import { Option, type Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import {
  asObject,
  collect,
  collectPairs,
  confirm,
  integer,
  parseNode,
  parseWindow,
  readDocument,
  readSecretLine,
} from '../input.ts';
import type { PasswordSetT } from '../../api/credential-shapes.ts';
import type { FaultT, TargetDetailT, TargetT } from '../../api/target-shapes.ts';
import { engineVersion } from '../../domain/engine-labels.ts';
import { SIM_FAULT_KINDS, SLI_NAMES, TARGET_KINDS } from '../../domain/types.ts';
import { fields, table, when } from '../output.ts';
import { resolveTarget } from '../resolve.ts';
import { describeWindow, registerTargetWindows } from './target-windows.ts';

export async function showTarget(cli: Cli, id: string): Promise<void> {
  const t = await cli.api.get<TargetDetailT>(cli.p(`/targets/${encodeURIComponent(id)}`));
  await cli.print(t, () => {
    const labels = t.labels && Object.keys(t.labels).length ? Object.entries(t.labels).map(([k, v]) => `${k}=${v}`) : [];
    const head = fields(
      [
        ['target', t.id],
        ['name', t.name],
        ['kind', t.kind],
        ['engine', `${t.engine} ${t.version}${t.release ? ` (${t.release})` : ''}`],
        ['driver', t.driver],
        ['region', t.region],
        ['labels', labels.length ? labels.join(', ') : undefined],
        ['window', describeWindow(t.maintenanceWindow)],
        [
          'exclusions',
          t.maintenanceExclusions.length
            ? t.maintenanceExclusions.map((x) => `${when(x.from)} to ${when(x.to)}${x.reason ? ` (${x.reason})` : ''}`).join('; ')
            : undefined,
        ],
        ['endpoint', t.endpoint ? `${t.endpoint.host}:${t.endpoint.port}` : undefined],
        ['obshell agent', t.obshellAgent ? `${t.obshellAgent.host}:${t.obshellAgent.port}` : undefined],
        ['updated', when(t.updatedAt)],
      ],
      cli.paint,
    );
    // a group mid-way to another engine names each node's engine with its version
    const mixed = t.nodes.some((n) => n.engine !== undefined && n.engine !== t.engine);
    const sharded = t.nodes.some((n) => n.shard !== undefined);
    const nodes = table(
      ['NODE', 'ROLE', 'ZONE', ...(sharded ? ['SHARD'] : []), 'VERSION', 'HEALTH'],
      t.nodes.map((n) => [
        n.name,
        n.role,
        n.zone,
        ...(sharded ? [n.shard ?? '-'] : []),
        mixed ? engineVersion(n.engine ?? t.engine, n.version) : n.version,
        cli.paint.state(n.health),
      ]),
      cli.paint,
    );
    return `${head}\n\n${nodes}`;
  });
}

interface AddOptions {
  file?: string;
  name?: string;
  kind?: string;
  engine?: string;
  version?: string;
  release?: string;
  region?: string;
  driver?: string;
  config?: Record<string, string>;
  window?: string;
  node?: string[];
  label?: Record<string, string>;
}

/** JSON-ish values in `--config key=value`: numbers and booleans become what they say */
function typed(v: string): unknown {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v !== '' && Number.isFinite(Number(v))) return Number(v);
  return v;
}

function bodyFromFlags(id: string | undefined, o: AddOptions): Record<string, unknown> {
  return {
    ...(id ? { id } : {}),
    ...(o.name ? { name: o.name } : {}),
    ...(o.kind ? { kind: o.kind } : {}),
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.version ? { version: o.version } : {}),
    ...(o.release ? { release: o.release } : {}),
    ...(o.region ? { region: o.region } : {}),
    ...(o.driver ? { driver: o.driver } : {}),
    ...(o.config ? { driverConfig: Object.fromEntries(Object.entries(o.config).map(([k, v]) => [k, typed(v)])) } : {}),
    ...(o.window ? { maintenanceWindow: parseWindow(o.window) } : {}),
    ...(o.node?.length ? { nodes: o.node.map(parseNode) } : {}),
    ...(o.label ? { labels: o.label } : {}),
  };
}

export function registerTargets(program: Command, cli: Cli): void {
  const targets = program.command('targets').alias('target').description('list, show, add, update and delete targets');

  targets
    .command('list', { isDefault: true })
    .description('list the targets of the project')
    .option('--engine <engine>', 'only this engine')
    .option('--label <key=value>', 'only targets with this label (repeatable)', collectPairs)
    .action(async (o: { engine?: string; label?: Record<string, string> }) => {
      const label = o.label ? Object.entries(o.label).map(([k, v]) => `${k}=${v}`) : [];
      const items = await cli.api.all<TargetT>(cli.p('/targets'), {
        engine: o.engine,
        ...(label.length ? { label } : {}),
      });
      await cli.print({ items }, () =>
        table(
          ['TARGET', 'NAME', 'KIND', 'ENGINE', 'VERSION', 'DRIVER', 'NODES', 'WINDOW'],
          items.map((t) => [
            t.id,
            t.name && t.name !== t.id ? t.name : '-',
            t.kind,
            t.engine,
            t.version,
            t.driver,
            String(t.nodes.length),
            describeWindow(t.maintenanceWindow),
          ]),
          cli.paint,
        ),
      );
    });

  targets
    .command('show <target>')
    .description('a target with its nodes (by id or name)')
    .action(async (ref: string) => showTarget(cli, await resolveTarget(cli, ref)));

  targets
    .command('add [id]')
    .description('add a target from flags, or from a JSON or YAML file (a list adds each)')
    .option('-f, --file <file>', 'JSON or YAML with the target (or a list of targets); - reads stdin')
    .option('--name <name>', 'display name (unique names can stand in for ids)')
    .addOption(new Option('--kind <kind>', 'cluster or instance').choices([...TARGET_KINDS]))
    .option('--engine <engine>', 'engine, e.g. elasticsearch, postgresql')
    .option('--version <version>', 'installed version')
    .option('--release <release>', 'release or build')
    .option('--region <region>', 'region')
    .option('--driver <driver>', 'sim, postgres, ... (default sim)')
    .option('--config <key=value>', 'driver configuration (repeatable)', collectPairs)
    .option('--window <HH:MM-HH:MM>', 'daily maintenance window in UTC')
    .option('--node <name:role:zone>', 'a node (repeatable)', collect)
    .option('--label <key=value>', 'a label (repeatable)', collectPairs)
    .action(async (id: string | undefined, o: AddOptions) => {
      const fromFile = o.file ? await readDocument(o.file) : {};
      const docs = Array.isArray(fromFile) ? fromFile : [fromFile];
      if (docs.length > 1 && id) throw new CliError('give an id only when adding one target', EXIT.USAGE);
      const flags = bodyFromFlags(id, o);
      const created: TargetT[] = [];
      for (const [i, doc] of docs.entries()) {
        const body: Record<string, unknown> = { kind: 'cluster', ...asObject(doc, `target ${i + 1} of ${o.file}`), ...flags };
        if (!body.id)
          throw new CliError('a target needs an id', EXIT.USAGE, 'liftgate targets add <id> --engine ... --version ...');
        if (!body.engine || !body.version) {
          throw new CliError(`target ${String(body.id)} needs --engine and --version`, EXIT.USAGE);
        }
        created.push(await cli.api.post<TargetT>(cli.p('/targets'), body));
      }
      const value = created.length === 1 && !Array.isArray(fromFile) ? created[0] : { items: created };
      await cli.print(value, () =>
        created.map((t) => `target ${t.id} added (${t.engine} ${t.version}, ${t.nodes.length} nodes)`).join('\n'),
      );
    });

  targets
    .command('update <target>')
    .description('change a target (by id or name) from flags or a JSON or YAML file')
    .option('-f, --file <file>', 'JSON or YAML with the fields to change; - reads stdin')
    .option('--name <name>', 'display name')
    .option('--release <release>', 'release or build')
    .option('--region <region>', 'region')
    .option('--window <HH:MM-HH:MM|none>', 'daily maintenance window in UTC, or none')
    .option('--label <key=value>', 'set a label (repeatable)', collectPairs)
    .action(async (ref: string, o: AddOptions) => {
      const id = await resolveTarget(cli, ref);
      const body = {
        ...(o.file ? asObject(await readDocument(o.file), o.file) : {}),
        ...(o.name ? { name: o.name } : {}),
        ...(o.release ? { release: o.release } : {}),
        ...(o.region ? { region: o.region } : {}),
        ...(o.window ? { maintenanceWindow: parseWindow(o.window) } : {}),
        ...(o.label ? { labels: o.label } : {}),
      };
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change', EXIT.USAGE, 'give --name, --release, --region, --window, --label or --file');
      }
      const t = await cli.api.patch<TargetT>(cli.p(`/targets/${encodeURIComponent(id)}`), body);
      await cli.print(t, () => `target ${t.id} updated`);
    });

  targets
    .command('delete <target>')
    .alias('rm')
    .description('delete a target (by id or name); a provisioned cluster is destroyed with it')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { yes?: boolean }) => {
      const id = await resolveTarget(cli, ref);
      await confirm(`delete target ${id}`, o.yes);
      await cli.api.delete(cli.p(`/targets/${encodeURIComponent(id)}`));
      await cli.print({ id, deleted: true }, () => `target ${id} deleted`);
    });

  targets
    .command('obshell-password <target>')
    .description("set an OceanBase cluster's OBShell password (read from stdin) and show its own OBShell agent address")
    .requiredOption('--password-stdin', 'read the password from stdin (its first line), so it stays out of the shell history')
    .action(async (ref: string) => {
      const id = await resolveTarget(cli, ref);
      const password = readSecretLine();
      const res = await cli.api.put<PasswordSetT>(cli.p(`/targets/${encodeURIComponent(id)}/obshell-password`), { password });
      const a = res.obshellAgent;
      await cli.print(res, () =>
        a
          ? `OBShell password of ${id} set; point OBShell clients at ${a.host}:${a.port} (this cluster's own agent address)`
          : `OBShell password of ${id} set; its agent address is given when a server of this store listens for it`,
      );
    });

  registerTargetWindows(targets, cli);

  const faults = program.command('faults').description('inject faults into simulated targets (the sim driver)');
  faults
    .command('add <target>')
    .description('make a step of a simulated target fail, hang, crash or time out')
    .requiredOption('--step <action>', 'the step action, e.g. drain, stop, install, start, health_check, switchover')
    .addOption(new Option('--kind <kind>', 'what happens').choices([...SIM_FAULT_KINDS]).default('fail'))
    .option('--node <node>', 'only on this node')
    .option('--times <n>', 'how many times (default 1)', integer('--times'))
    .option('--transient', 'kinds fail and health_timeout: a transient error, which a retry-safe step is retried after')
    .addOption(new Option('--sli <name>', 'kind regress: the indicator the step makes worse').choices([...SLI_NAMES]))
    .option('--value <n>', 'kind regress: the value the indicator takes once the step ran', Number)
    .action(
      async (
        ref: string,
        o: { step: string; kind: string; node?: string; times?: number; transient?: boolean; sli?: string; value?: number },
      ) => {
        const id = await resolveTarget(cli, ref);
        const f = await cli.api.post<FaultT>(cli.p(`/targets/${encodeURIComponent(id)}/faults`), {
          step: o.step,
          kind: o.kind,
          ...(o.node ? { node: o.node } : {}),
          ...(o.times ? { times: o.times } : {}),
          ...(o.transient ? { transient: true } : {}),
          ...(o.sli !== undefined ? { sli: o.sli } : {}),
          ...(o.value !== undefined ? { value: o.value } : {}),
        });
        const what = `${f.transient ? 'transient ' : ''}${f.kind}${f.sli ? ` (${f.sli} = ${f.value})` : ''}`;
        await cli.print(f, () => `fault added to ${id}: ${what} at ${f.step}${f.node ? ` on ${f.node}` : ''} (${f.times}x)`);
      },
    );
}
