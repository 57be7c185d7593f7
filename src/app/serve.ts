// `liftgate serve`: the server with its executor, configured from the environment.
import path from 'node:path';
import { readSettings, type Settings } from '../domain/settings.ts';
import { buildApp } from '../http/app.ts';
import { createContext, type AppConfig } from './context.ts';
import { webhookSettingsFrom } from '../webhooks/settings.ts';
import { firstStart } from '../service/first-start.ts';
import { loadFamilies } from '../http/families.ts';
import { loadExtraDrivers } from '../drivers/registry.ts';
import { postgresPlacement } from '../service/postgres-clusters.ts';
import { localClustersMadeHere, startLocalClusters, stopLocalClusters } from '../service/local-clusters.ts';
import type { FolderLock } from '../store/folder-lock.ts';

export interface ServeOptions {
  port?: number;
  host?: string;
  /** the SQLite data folder's lock, taken before this module loaded */
  folderLock?: FolderLock;
}

/** The server's configuration from its settings (src/domain/settings.ts). */
export function configFromSettings(s: Settings): AppConfig {
  const dataDir = path.resolve(s.LIFTGATE_DATA_DIR);
  return {
    dataDir,
    databaseUrl: s.LIFTGATE_DATABASE_URL,
    pgSchema: s.LIFTGATE_DATABASE_SCHEMA,
    simTimeScale: s.LIFTGATE_SIM_TIME_SCALE,
    executor: {
      leaseMs: s.LIFTGATE_LEASE_MS,
      timeoutMs: s.LIFTGATE_EXECUTOR_TIMEOUT_MS,
      recoveryLimit: s.LIFTGATE_STEP_RECOVERY_LIMIT,
    },
    eventRetentionDays: s.LIFTGATE_EVENT_RETENTION_DAYS ?? null,
    extraDrivers: (store) => loadExtraDrivers(store, dataDir),
    metricsToken: s.LIFTGATE_METRICS_TOKEN,
    webhooks: webhookSettingsFrom(s),
    obshell: { ports: s.LIFTGATE_OBSHELL_PORTS },
  };
}

export async function serve(opts: ServeOptions = {}): Promise<void> {
  // every setting is checked before anything is opened; a bad one stops the start, naming it
  // (`liftgate serve` checks them before it takes the data folder's lock, so this is for embedders)
  const settings = readSettings(process.env, 'server');
  const port = opts.port ?? settings.PORT;
  const host = opts.host ?? settings.HOST;
  const fromSettings = configFromSettings(settings);
  // the OBShell agents listen on the interfaces the API listens on
  const config = { ...fromSettings, obshell: { ...fromSettings.obshell, host }, folderLock: opts.folderLock };
  const ctx = await createContext(config);
  // Where the postgres driver keeps clusters when not where configured, said once. Clusters the
  // service user cannot reach fail with a bare EACCES: refuse to start when the store holds
  // clusters of the driver; otherwise say so once (the demo skips pg-demo with it).
  const pg = await postgresPlacement(ctx);
  if (pg.note) console.log(`liftgate: ${pg.note}`);
  const placement = pg.problem;
  if (placement) {
    if (pg.held) {
      await ctx.close();
      throw new Error(`cannot start: ${placement}`);
    }
    console.log(`liftgate: the postgres driver cannot create clusters here: ${placement}`);
  }
  // a LIFTGATE_ADMIN_TOKEN that was revoked or rotated away is refused here, with what to change
  const {
    createdToken: created,
    warnings,
    seededDemo,
  } = await firstStart(ctx, {
    adminToken: settings.LIFTGATE_ADMIN_TOKEN,
    demo: settings.LIFTGATE_DEMO,
    noPostgresDemo: placement ?? undefined,
  }).catch(async (err: unknown) => {
    await ctx.close();
    throw err;
  });
  for (const w of warnings) console.log(`liftgate: ${w}`);
  if (seededDemo) console.log('liftgate: created the demo project "demo" with a simulated fleet');
  // the clusters this process brings up, and the ones it creates (pg-demo, `cluster create`), are
  // the ones it stops when it stops
  const clusters = await startLocalClusters(ctx, console.log);
  const app = await buildApp(ctx, {
    logger: logLevel(settings),
    families: await loadFamilies(),
    consoleDir: settings.LIFTGATE_CONSOLE_DIR,
  });
  // Signal handlers go in before the server listens: a SIGTERM that arrives as soon as the port
  // is open (Fastify logs 'listening' inside listen()) must stop the server, not kill it.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      console.log(`liftgate: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    const bound = settings.LIFTGATE_SHUTDOWN_TIMEOUT_MS;
    console.log(`liftgate: ${signal}, stopping (steps still running after ${bound} ms are left to recovery)`);
    // The bound covers everything: a step that never returns (a hung driver call) must not keep
    // the process alive. What it leaves behind is what a crash leaves, and recovery handles it.
    const timer = setTimeout(() => {
      console.log(`liftgate: still stopping after ${bound} ms: exiting; running steps are left to recovery`);
      process.exit(0);
    }, bound);
    await app.close().catch((err: unknown) => console.error(`liftgate: closing the HTTP server: ${String(err)}`));
    await ctx.executor.stop().catch((err: unknown) => console.error(`liftgate: stopping the executor: ${String(err)}`));
    await stopLocalClusters(ctx, [...clusters, ...localClustersMadeHere(ctx)], console.log);
    await ctx.close().catch((err: unknown) => console.error(`liftgate: closing the store: ${String(err)}`));
    clearTimeout(timer);
    console.log('liftgate: stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await app.listen({ port, host });
  const url = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
  console.log(`liftgate: listening on ${url} (store: ${ctx.store.describe}; console at ${url}/, API docs at ${url}/docs)`);
  const agents = ctx.obshellAgents.listening();
  if (agents.length > 0) console.log(`liftgate: OBShell agents of ${agents.length} cluster(s) on port(s) ${agents.join(', ')}`);
  if (created) {
    console.log('liftgate: first admin token (shown once, only its hash is stored):');
    console.log(`  ${created}`);
    console.log(`  export LIFTGATE_TOKEN=${created}`);
  }
}

/** LIFTGATE_LOG_LEVEL (default info); LIFTGATE_LOG=0 or level `silent` turns request logs off. */
function logLevel(s: Pick<Settings, 'LIFTGATE_LOG' | 'LIFTGATE_LOG_LEVEL'>): string | false {
  if (!s.LIFTGATE_LOG) return false;
  return s.LIFTGATE_LOG_LEVEL === 'silent' ? false : s.LIFTGATE_LOG_LEVEL;
}
