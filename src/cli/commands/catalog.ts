// `liftgate catalog list|add`, `liftgate cluster create|delete` (real PostgreSQL clusters of the
// postgres driver) and `liftgate projects`.
import type { Command } from 'commander';
import type { CatalogVersionT, ProjectT, TargetDetailT } from '../../api/target-shapes.ts';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { asObject, confirm, integer, readDocument } from '../input.ts';
import { table } from '../output.ts';
import { resolveTarget } from '../resolve.ts';
import { showTarget } from './targets.ts';

interface CatalogAddOptions {
  file?: string;
  release?: string;
  imageId?: string;
  displayName?: string;
  description?: string;
  priority?: number;
  upgradableFrom?: string;
  barrier?: boolean;
  deprecated?: boolean;
}

export function registerCatalog(program: Command, cli: Cli): void {
  const catalog = program.command('catalog').description('the versions each engine can be upgraded to');
  catalog
    .command('list <engine>')
    .description('the known versions of an engine, oldest first')
    .action(async (engine: string) => {
      const res = await cli.api.get<{ items: CatalogVersionT[] }>(`/v1/catalog/${encodeURIComponent(engine)}/versions`);
      await cli.print(res, () =>
        table(
          ['VERSION', 'RELEASE', 'IMAGE', 'PRIORITY', 'FROM', 'NOTES'],
          res.items.map((v) => [
            v.version,
            v.release || '-',
            v.imageId || '-',
            String(v.priority),
            v.upgradableFrom.length ? v.upgradableFrom.join(',') : 'any older',
            [v.barrier ? 'barrier' : '', v.deprecated ? cli.paint.style('deprecated', 'yellow') : ''].filter(Boolean).join(' ') ||
              '-',
          ]),
          cli.paint,
        ),
      );
    });
  catalog
    .command('add <engine> [version]')
    .description('add a version to an engine\u2019s catalog (admin), from flags or a JSON or YAML file')
    .option('-f, --file <file>', 'JSON or YAML with the version\u2019s fields; - reads stdin')
    .option('--release <release>', 'release or build')
    .option('--image-id <id>', 'image id')
    .option('--display-name <name>', 'display name')
    .option('--description <text>', 'description')
    .option('--priority <n>', 'priority (0-1000)', integer('--priority'))
    .option('--upgradable-from <versions>', 'comma-separated versions that may upgrade straight to this one')
    .option('--barrier', 'a barrier: upgrades must stop here on the way past')
    .option('--deprecated', 'deprecated: no upgrade may go to it')
    .action(async (engine: string, version: string | undefined, o: CatalogAddOptions) => {
      const body = {
        ...(o.file ? asObject(await readDocument(o.file), o.file) : {}),
        ...(version ? { version } : {}),
        ...(o.release ? { release: o.release } : {}),
        ...(o.imageId ? { imageId: o.imageId } : {}),
        ...(o.displayName ? { displayName: o.displayName } : {}),
        ...(o.description ? { description: o.description } : {}),
        ...(o.priority !== undefined ? { priority: o.priority } : {}),
        ...(o.upgradableFrom ? { upgradableFrom: o.upgradableFrom.split(',').filter(Boolean) } : {}),
        ...(o.barrier ? { barrier: true } : {}),
        ...(o.deprecated ? { deprecated: true } : {}),
      };
      if (!body.version)
        throw new CliError('a catalog entry needs a version', EXIT.USAGE, 'liftgate catalog add <engine> <version>');
      const v = await cli.api.post<CatalogVersionT>(`/v1/catalog/${encodeURIComponent(engine)}/versions`, body);
      await cli.print(v, () => `catalog: ${engine} ${v.version} added`);
    });

  const cluster = program
    .command('cluster')
    .description('real clusters the server creates and runs (the postgres and redis drivers)');
  cluster
    .command('create <name>')
    .description(
      'create a PostgreSQL cluster (one primary, N streaming replicas), a Redis Sentinel group or a Redis Cluster, and register it as a target',
    )
    .option('--engine <engine>', 'postgresql, redis or valkey', 'postgresql')
    .requiredOption('--version <version>', 'an installed version, e.g. 16.13 or 7.0.15 (see `liftgate catalog list <engine>`)')
    .option('--replicas <n>', 'replicas of the primary (postgresql; redis --topology sentinel)', integer('--replicas'), 2)
    .option('--pooler', 'postgresql: put PgBouncer in front (zero-error switchovers)')
    .option('--topology <topology>', 'redis: sentinel (a primary, its replicas, three Sentinels) or cluster', 'sentinel')
    .option('--shards <n>', 'redis --topology cluster: shards', integer('--shards'), 3)
    .option(
      '--replicas-per-shard <n>',
      'redis --topology cluster: replicas of each shard\u2019s primary',
      integer('--replicas-per-shard'),
      1,
    )
    .action(
      async (
        name: string,
        o: {
          engine: string;
          version: string;
          replicas: number;
          pooler?: boolean;
          topology: string;
          shards: number;
          replicasPerShard: number;
        },
      ) => {
        const redis = o.engine === 'redis' || o.engine === 'valkey';
        if (o.engine !== 'postgresql' && !redis) {
          throw new CliError(
            `the cluster command creates postgresql, redis and valkey clusters, not ${o.engine}`,
            EXIT.USAGE,
            'use --engine postgresql or --engine redis',
          );
        }
        const driverConfig = redis
          ? o.topology === 'cluster'
            ? { provision: true, topology: 'cluster', shards: o.shards, replicasPerShard: o.replicasPerShard }
            : { provision: true, topology: 'sentinel', replicas: o.replicas }
          : { provision: true, replicas: o.replicas, pooler: Boolean(o.pooler) };
        const t = await cli.api.post<TargetDetailT>(cli.p('/targets'), {
          id: name,
          kind: 'cluster',
          engine: o.engine,
          version: o.version,
          driver: redis ? 'redis' : 'postgres',
          driverConfig,
        });
        if (cli.format !== 'table') return cli.print(t, () => '');
        process.stdout.write(
          `cluster ${t.id} created: ${redis ? o.engine : 'PostgreSQL'} ${t.version}, ${t.nodes.length} nodes\n\n`,
        );
        await showTarget(cli, t.id);
      },
    );
  cluster
    .command('delete <cluster>')
    .description('stop a cluster, delete its data and its target')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, o: { yes?: boolean }) => {
      const id = await resolveTarget(cli, ref);
      await confirm(`destroy cluster ${id} and its data`, o.yes);
      await cli.api.delete(cli.p(`/targets/${encodeURIComponent(id)}`));
      await cli.print({ id, deleted: true }, () => `cluster ${id} destroyed`);
    });

  const projects = program.command('projects').alias('project').description('projects (tenants)');
  projects
    .command('list', { isDefault: true })
    .description('the projects this token reaches')
    .action(async () => {
      const res = await cli.api.get<{ items: ProjectT[] }>('/v1/projects');
      await cli.print(res, () =>
        table(
          ['PROJECT', 'NAME', 'CURRENT'],
          res.items.map((p) => [p.id, p.name, p.id === cli.project ? '*' : '']),
          cli.paint,
        ),
      );
    });
  projects
    .command('create <id>')
    .description('create a project (admin)')
    .option('--name <name>', 'display name')
    .action(async (id: string, o: { name?: string }) => {
      const p = await cli.api.post<ProjectT>('/v1/projects', { id, ...(o.name ? { name: o.name } : {}) });
      await cli.print(p, () => `project ${p.id} created; use it with --project ${p.id} or LIFTGATE_PROJECT=${p.id}`);
    });
}
