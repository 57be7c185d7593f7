// The `liftgate` command line: `serve` runs the server; every other command is a client of the
// native API (LIFTGATE_URL, LIFTGATE_TOKEN) and can print JSON with --json.
import { Command, Option } from 'commander';
import { UPGRADE_ACTIONS } from '../engine/operations.ts';
import { ApiClient, ApiError } from './client.ts';
import { printTable, watchUpgrade } from './render.ts';

const program = new Command();
program
  .name('liftgate')
  .description('Plan, run and control safe version upgrades of database and cluster fleets')
  .addOption(new Option('--url <url>', 'Liftgate server').env('LIFTGATE_URL').default('http://localhost:8080'))
  .addOption(new Option('--token <token>', 'API token').env('LIFTGATE_TOKEN'))
  .addOption(new Option('-p, --project <id>', 'project').env('LIFTGATE_PROJECT').default('demo'))
  .option('--json', 'print JSON');

const client = () => {
  const o = program.opts<{ url: string; token?: string }>();
  return new ApiClient(o.url, o.token);
};
const g = () => program.opts<{ project: string; json?: boolean }>();
const out = (value: unknown, human: () => void) => (g().json ? console.log(JSON.stringify(value, null, 2)) : human());

program
  .command('serve')
  .description('run the Liftgate server (PORT, HOST, LIFTGATE_DATA_DIR, LIFTGATE_DATABASE_URL, LIFTGATE_DEMO)')
  .option('--port <port>', 'port (default PORT or 8080)')
  .option('--host <host>', 'address to listen on (default HOST or localhost)')
  .action(async (o: { port?: string; host?: string }) => {
    const { serve } = await import('./serve.ts');
    await serve({ port: o.port ? Number(o.port) : undefined, host: o.host });
  });

program
  .command('targets')
  .description('list the targets of a project')
  .action(async () => {
    const res = await client().get<{ items: { id: string; engine: string; version: string; kind: string; nodes: unknown[] }[] }>(
      `/v1/projects/${g().project}/targets`,
    );
    out(res, () =>
      printTable(
        ['TARGET', 'KIND', 'ENGINE', 'VERSION', 'NODES'],
        res.items.map((t) => [t.id, t.kind, t.engine, t.version, String(t.nodes.length)]),
      ),
    );
  });

program
  .command('precheck <target> <version>')
  .description('check a target before upgrading it to a version')
  .option('--mode <mode>', 'rolling | stop_service', 'rolling')
  .action(async (target: string, version: string, o: { mode: string }) => {
    const report = await client().post<{ id: string; state: string; items: { name: string; status: string; message: string }[] }>(
      `/v1/projects/${g().project}/targets/${target}/prechecks`,
      { toVersion: version, mode: o.mode, wait: true },
    );
    out(report, () => {
      console.log(`precheck ${report.id}: ${report.state}`);
      printTable(
        ['STATUS', 'CHECK', 'MESSAGE'],
        report.items.map((i) => [i.status.toUpperCase(), i.name, i.message]),
      );
    });
    if (report.state === 'failed') process.exitCode = 2;
  });

const upgrade = program.command('upgrade').description('start and control upgrades');
upgrade
  .command('start <target> <version>')
  .description('start an upgrade (rolling by default)')
  .option('--mode <mode>', 'rolling | stop_service | az_migration', 'rolling')
  .option('--force', 'run even if the precheck finds blocking problems')
  .option('--parallelism <n>', 'nodes upgraded at once in rolling mode')
  .option('--window', 'wait for the target\u2019s maintenance window')
  .option('--at <time>', 'start at an ISO-8601 time')
  .option('--watch', 'watch it until it ends')
  .action(
    async (
      target: string,
      version: string,
      o: { mode: string; force?: boolean; parallelism?: string; window?: boolean; at?: string; watch?: boolean },
    ) => {
      const body = {
        targetId: target,
        toVersion: version,
        mode: o.mode,
        force: Boolean(o.force),
        ...(o.window ? { schedule: { kind: 'window' } } : o.at ? { schedule: { kind: 'at', at: o.at } } : {}),
        ...(o.parallelism ? { options: { parallelism: Number(o.parallelism) } } : {}),
      };
      const u = await client().post<{ id: string; state: string }>(`/v1/projects/${g().project}/upgrades`, body);
      out(u, () => console.log(`upgrade ${u.id} ${u.state}`));
      if (o.watch) process.exitCode = await watchUpgrade(client(), g().project, u.id, Boolean(g().json));
    },
  );
upgrade
  .command('status [upgrade]')
  .description('show an upgrade, or list the recent ones')
  .action(async (id?: string) => {
    if (!id) {
      const res = await client().get<{
        items: { id: string; targetId: string; fromVersion: string; toVersion: string; mode: string; state: string }[];
      }>(`/v1/projects/${g().project}/upgrades`);
      out(res, () =>
        printTable(
          ['UPGRADE', 'TARGET', 'FROM', 'TO', 'MODE', 'STATE'],
          res.items.map((u) => [u.id, u.targetId, u.fromVersion, u.toVersion, u.mode, u.state]),
        ),
      );
      return;
    }
    const u = await client().get<{
      state: string;
      error: string | null;
      stages: { name: string; state: string; steps: { name: string; node: string | null; state: string; attempts: number }[] }[];
    }>(`/v1/projects/${g().project}/upgrades/${id}`);
    out(u, () => {
      console.log(`upgrade ${id}: ${u.state}${u.error ? ` (${u.error})` : ''}`);
      printTable(
        ['STAGE', 'STEP', 'NODE', 'STATE', 'ATTEMPTS'],
        u.stages.flatMap((s) => s.steps.map((st) => [s.name, st.name, st.node ?? '-', st.state, String(st.attempts)])),
      );
    });
  });
upgrade
  .command('watch <upgrade>')
  .description('live per-node progress bars until the upgrade ends')
  .action(async (id: string) => {
    process.exitCode = await watchUpgrade(client(), g().project, id, Boolean(g().json));
  });
for (const action of UPGRADE_ACTIONS) {
  upgrade
    .command(`${action} <upgrade>`)
    .description(`${action} an upgrade`)
    .action(async (id: string) => {
      const u = await client().post<{ id: string; state: string }>(`/v1/projects/${g().project}/upgrades/${id}/actions`, {
        action,
      });
      out(u, () => console.log(`upgrade ${u.id} ${u.state}`));
    });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ApiError) {
    if (g().json) console.error(JSON.stringify(err.body));
    else console.error(`error: ${err.code}: ${err.message}`);
    process.exit(err.status === 0 ? 3 : 1);
  }
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
