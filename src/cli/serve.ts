// `liftgate serve`: the server with its executor, configured from the environment.
import path from 'node:path';
import { buildApp } from '../http/app.ts';
import { createContext, type AppConfig } from '../service/context.ts';
import { seedDemo } from '../service/demo.ts';
import { ensureAdminToken } from '../service/tokens.ts';
import { loadFamilies } from '../http/families.ts';
import { loadExtraDrivers } from '../drivers/registry.ts';

export interface ServeOptions {
  port?: number;
  host?: string;
}

export function configFromEnv(env = process.env): AppConfig {
  const dataDir = path.resolve(env.LIFTGATE_DATA_DIR ?? './data');
  const scale = env.LIFTGATE_SIM_TIME_SCALE;
  return {
    dataDir,
    databaseUrl: env.LIFTGATE_DATABASE_URL,
    pgSchema: env.LIFTGATE_DATABASE_SCHEMA,
    simTimeScale: scale !== undefined && scale !== '' ? Number(scale) : 0.05,
    executor: env.LIFTGATE_LEASE_MS ? { leaseMs: Number(env.LIFTGATE_LEASE_MS) } : undefined,
    extraDrivers: (store) => loadExtraDrivers(store, dataDir),
  };
}

export async function serve(opts: ServeOptions = {}): Promise<void> {
  const config = configFromEnv();
  if (!Number.isFinite(config.simTimeScale) || (config.simTimeScale as number) < 0) {
    throw new Error('LIFTGATE_SIM_TIME_SCALE must be a number >= 0');
  }
  const ctx = await createContext(config);
  const created = await ensureAdminToken(ctx, process.env.LIFTGATE_ADMIN_TOKEN || undefined);
  if (process.env.LIFTGATE_DEMO !== '0' && (await seedDemo(ctx))) {
    console.log('liftgate: created the demo project "demo" with a simulated fleet');
  }
  const app = await buildApp(ctx, { logger: process.env.LIFTGATE_LOG === '1', families: await loadFamilies() });
  const port = opts.port ?? Number(process.env.PORT ?? 8080);
  const host = opts.host ?? process.env.HOST ?? 'localhost';
  await app.listen({ port, host });
  const url = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
  console.log(`liftgate: listening on ${url} (store: ${ctx.store.describe}; API docs at ${url}/docs)`);
  if (created) {
    console.log('liftgate: first admin token (shown once, only its hash is stored):');
    console.log(`  ${created}`);
    console.log(`  export LIFTGATE_TOKEN=${created}`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`liftgate: ${signal}, stopping (running steps finish first)`);
    await app.close();
    await ctx.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
