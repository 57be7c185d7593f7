// Drivers beyond `sim`, registered when they can work on this machine (LIFTGATE_POSTGRES=0
// leaves the postgres driver out, LIFTGATE_REDIS=0 the redis driver).
import path from 'node:path';
import { setting } from '../domain/settings.ts';
import type { Store } from '../store/open.ts';
import type { Driver } from './driver.ts';

export const postgresEnabled = (env = process.env): boolean => setting('LIFTGATE_POSTGRES', env);

/**
 * The postgres driver keeps its clusters in $LIFTGATE_DATA_DIR/pg, or in a folder of its own when
 * its service user cannot reach that one; LIFTGATE_PG_DATA_DIR names the folder outright.
 */
export async function loadExtraDrivers(_store: Store, dataDir: string, env = process.env): Promise<Driver[]> {
  const out: Driver[] = [];
  if (postgresEnabled(env)) {
    const { PostgresDriver } = await import('./postgres/driver.ts');
    const chosen = setting('LIFTGATE_PG_DATA_DIR', env);
    out.push(new PostgresDriver(chosen ? { dataDir: chosen, pinDataDir: true } : { dataDir: path.join(dataDir, 'pg') }));
  }
  // the redis driver runs whichever of redis-server and valkey-server is installed (none: it knows no version)
  if (redisEnabled(env)) {
    const { RedisDriver } = await import('./redis/driver.ts');
    out.push(await new RedisDriver({ dataDir: path.join(dataDir, 'redis') }).init());
  }
  return out;
}

/** LIFTGATE_REDIS=0 leaves the redis driver out */
export const redisEnabled = (env = process.env): boolean => setting('LIFTGATE_REDIS', env);
