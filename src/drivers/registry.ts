// Drivers beyond `sim`, registered when they can work on this machine (LIFTGATE_POSTGRES=0
// leaves the postgres driver out).
import path from 'node:path';
import type { Store } from '../store/open.ts';
import type { Driver } from './driver.ts';

export const postgresEnabled = (env = process.env): boolean => env.LIFTGATE_POSTGRES !== '0';

export async function loadExtraDrivers(_store: Store, dataDir: string): Promise<Driver[]> {
  if (!postgresEnabled()) return [];
  const { PostgresDriver } = await import('./postgres/driver.ts');
  return [new PostgresDriver({ dataDir: path.join(dataDir, 'pg') })];
}

/**
 * Before start: a message saying what to change when the postgres driver's service user cannot
 * reach its clusters' folder or the PostgreSQL binaries; null when it can (or the driver is off).
 */
export async function postgresPlacementProblem(dataDir: string): Promise<string | null> {
  if (!postgresEnabled()) return null;
  const { scanInstalledVersions } = await import('./postgres/binaries.ts');
  const { serviceUserReach } = await import('./postgres/reach.ts');
  const installed = scanInstalledVersions();
  if (installed.length === 0) return null;
  return serviceUserReach([
    { what: 'data folder', path: path.join(dataDir, 'pg') },
    ...installed.map((v) => ({ what: `PostgreSQL ${v.version} binaries`, path: path.join(v.nativeDir, 'bin', 'postgres') })),
  ]);
}
