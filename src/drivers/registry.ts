// Drivers beyond `sim`, registered when they can work on this machine (LIFTGATE_POSTGRES=0
// leaves the postgres driver out).
import path from 'node:path';
import type { Store } from '../store/open.ts';
import type { Driver } from './driver.ts';

export const postgresEnabled = (env = process.env): boolean => env.LIFTGATE_POSTGRES !== '0';

/**
 * The postgres driver keeps its clusters in $LIFTGATE_DATA_DIR/pg, or in a folder of its own when
 * its service user cannot reach that one; LIFTGATE_PG_DATA_DIR names the folder outright.
 */
export async function loadExtraDrivers(_store: Store, dataDir: string, env = process.env): Promise<Driver[]> {
  if (!postgresEnabled(env)) return [];
  const { PostgresDriver } = await import('./postgres/driver.ts');
  const chosen = env.LIFTGATE_PG_DATA_DIR;
  return [new PostgresDriver(chosen ? { dataDir: chosen, pinDataDir: true } : { dataDir: path.join(dataDir, 'pg') })];
}
