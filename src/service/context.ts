// The application context: one store, the installed drivers, one executor. Every facade (native
// API, vendor-compatible API families, CLI) calls the service functions with this context.
import { EventEmitter } from 'node:events';
import type { Driver } from '../drivers/driver.ts';
import { SimDriver } from '../drivers/sim/sim-driver.ts';
import { Executor } from '../engine/executor.ts';
import { FaultPoints } from '../engine/fault-points.ts';
import { openStore, type Store, type StoreOptions } from '../store/open.ts';
import { registerDriverVersions } from './catalog.ts';

export interface AppConfig extends StoreOptions {
  /** multiplies simulated step durations; 0 = instant */
  simTimeScale?: number;
  executor?: { concurrency?: number; leaseMs?: number; pollMs?: number; owner?: string };
  /** extra drivers (e.g. postgres) registered beside sim */
  extraDrivers?: (store: Store) => Driver[] | Promise<Driver[]>;
  faults?: FaultPoints;
  /** do not start the executor (tests that drive it by hand) */
  noExecutor?: boolean;
  log?: (msg: string) => void;
}

export interface AppContext {
  store: Store;
  drivers: Map<string, Driver>;
  executor: Executor;
  /** emits 'change' after the executor or a service call committed something */
  changes: EventEmitter;
  config: AppConfig;
  close(): Promise<void>;
}

export async function createContext(config: AppConfig): Promise<AppContext> {
  const store = await openStore(config);
  const drivers = new Map<string, Driver>();
  const sim = new SimDriver({ db: store.db, unit: store.unit, timeScale: config.simTimeScale ?? 0 });
  drivers.set(sim.name, sim);
  for (const d of (await config.extraDrivers?.(store)) ?? []) drivers.set(d.name, d);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const executor = new Executor({
    store,
    drivers,
    ...config.executor,
    faults: config.faults ?? FaultPoints.fromEnv(),
    onChange: () => changes.emit('change'),
    onError: (err) => (config.log ?? console.error)(`executor: ${err instanceof Error ? err.stack : String(err)}`),
  });
  const ctx: AppContext = {
    store,
    drivers,
    executor,
    changes,
    config,
    async close() {
      await executor.stop();
      for (const d of drivers.values()) await d.close?.();
      await store.close();
    },
  };
  try {
    await registerDriverVersions(ctx);
  } catch (err) {
    await store.close();
    throw err;
  }
  if (!config.noExecutor) executor.start();
  return ctx;
}

/** Signals a committed change to listeners and to the executor. */
export function changed(ctx: AppContext): void {
  ctx.changes.emit('change');
  ctx.executor.wake();
}
