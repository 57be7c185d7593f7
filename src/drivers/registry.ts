// Drivers beyond `sim`, registered when they can work on this machine.
import path from 'node:path';
import type { Store } from '../store/open.ts';
import type { Driver } from './driver.ts';

export async function loadExtraDrivers(_store: Store, dataDir: string): Promise<Driver[]> {
  const { PostgresDriver } = await import('./postgres/driver.ts');
  return [new PostgresDriver({ dataDir: path.join(dataDir, 'pg') })];
}
