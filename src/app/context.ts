// The composition root: opens the store and wires the installed drivers, the executor, the
// housekeeping, the estimates, the webhooks and the event retention into one application context.
// Every facade (native API, vendor-compatible API families, CLI) calls the service functions with
// it; they know it by its type (src/service/app-context.ts), never by this module.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { systemClock, type Clock } from '../domain/clock.ts';
import type { Driver } from '../drivers/driver.ts';
import { SimDriver } from '../drivers/sim/sim-driver.ts';
import { Executor } from '../engine/executor.ts';
import { recoveryLimitFromEnv } from '../engine/core/recovery.ts';
import { FaultPoints } from '../engine/fault-points.ts';
import { Housekeeping } from '../engine/housekeeping.ts';
import { newExecutorId } from '../engine/presence.ts';
import { checkRetentionDays, EventRetention, RETENTION_EVERY_MS, retentionDaysFromEnv } from '../engine/retention.ts';
import { EstimateService } from '../estimates/service.ts';
import { lockDataFolder, sqliteFileOf, type FolderLock } from '../store/folder-lock.ts';
import { openStore, type Store } from '../store/open.ts';
import type { AppContext, ServiceConfig } from '../service/app-context.ts';
import { registerDriverVersions } from '../service/catalog.ts';
import { WebhookService } from '../webhooks/service.ts';
import type { WebhookSettings } from '../webhooks/settings.ts';
import { open as unsealSecret } from '../service/credentials.ts';
import { BATCH_SCHEDULER_TASK, runBatchScheduler } from '../service/fleet-batches.ts';
import { DEFAULT_OBSHELL_PORTS, ObshellAgents, type ObshellAgentSettings } from '../service/obshell-agents.ts';

export interface AppConfig extends ServiceConfig {
  /** multiplies simulated step durations; 0 = instant */
  simTimeScale?: number;
  executor?: {
    concurrency?: number;
    leaseMs?: number;
    pollMs?: number;
    owner?: string;
    /** a replica whose heartbeat stops for this long is lost and its steps recovered (default 5000) */
    timeoutMs?: number;
    /** recoveries of one step before it fails with STEP_RECOVERY_LIMIT (LIFTGATE_STEP_RECOVERY_LIMIT, default 5) */
    recoveryLimit?: number;
  };
  /** extra drivers (e.g. postgres) registered beside sim */
  extraDrivers?: (store: Store) => Driver[] | Promise<Driver[]>;
  faults?: FaultPoints;
  /** the source of time for the engine and the scheduler (tests pass a ManualClock) */
  clock?: Clock;
  /** how long close() lets running steps finish before it aborts them and leaves them to recovery (default 10000 ms) */
  closeGraceMs?: number;
  /** do not start the executor (tests that drive it by hand) */
  noExecutor?: boolean;
  /** the SQLite data folder's lock, when the caller took it already (serve takes it first thing) */
  folderLock?: FolderLock;
  /** webhook delivery settings (allowed hosts, time limits, retries) */
  webhooks?: Partial<WebhookSettings>;
  /** delete events older than this many days (LIFTGATE_EVENT_RETENTION_DAYS); null keeps every event */
  eventRetentionDays?: number | null;
  /** where OBShell clusters' agents listen (LIFTGATE_OBSHELL_PORTS; the host is the server's) */
  obshell?: Partial<ObshellAgentSettings>;
}

export async function createContext(config: AppConfig): Promise<AppContext> {
  // settings are checked before anything is opened
  const recoveryLimit = config.executor?.recoveryLimit ?? recoveryLimitFromEnv();
  const retentionDays =
    config.eventRetentionDays !== undefined ? checkRetentionDays(config.eventRetentionDays) : retentionDaysFromEnv();
  // SQLite has one writer: a second process on the same folder is refused before it touches it.
  const file = sqliteFileOf(config);
  const folderLock = config.folderLock ?? (file ? lockDataFolder(path.dirname(file)) : null);
  let store: Store;
  try {
    // a frozen replica's open transaction must not outlast the time it takes to declare it lost
    store = await openStore({ pgIdleInTransactionMs: Math.max(3000, 2 * (config.executor?.timeoutMs ?? 5000)), ...config });
  } catch (err) {
    folderLock?.release();
    throw err;
  }
  const clock = config.clock ?? systemClock;
  const drivers = new Map<string, Driver>();
  const sim = new SimDriver({
    db: store.db,
    unit: store.unit,
    timeScale: config.simTimeScale ?? 0,
    clock,
    rowLocks: store.caps.supportsSkipLocked,
    writableCte: store.caps.supportsWritableCte,
  });
  drivers.set(sim.name, sim);
  for (const d of (await config.extraDrivers?.(store)) ?? []) drivers.set(d.name, d);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const log = config.log ?? console.error;
  const housekeeping = new Housekeeping({
    db: store.db,
    executorId: config.executor?.owner ?? newExecutorId(),
    timeoutMs: config.executor?.timeoutMs,
    onLost: (ids) => {
      log(`liftgate: executor${ids.length > 1 ? 's' : ''} ${ids.join(', ')} lost (no heartbeat); recovering their steps`);
      executor.recoverNow();
    },
    onRejoined: (id) => {
      log(`liftgate: this executor was declared lost while it could not heartbeat; it rejoins as ${id}`);
      executor.rejoin(id);
    },
    onError: (err) => log(`housekeeping: ${err instanceof Error ? err.stack : String(err)}`),
  });
  const executor = new Executor({
    store,
    drivers,
    ...config.executor,
    recoveryLimit,
    owner: housekeeping.presence.id,
    leader: housekeeping,
    clock,
    faults: config.faults ?? FaultPoints.fromEnv(),
    onChange: () => changes.emit('change'),
    onError: (err) => log(`executor: ${err instanceof Error ? err.stack : String(err)}`),
  });
  const estimates = new EstimateService(store, drivers, clock, (err) =>
    (config.log ?? console.error)(`estimates: ${err instanceof Error ? err.stack : String(err)}`),
  );
  const webhooks = new WebhookService(
    store,
    clock,
    config.webhooks ?? {},
    (sealed) => unsealSecret(ctx, sealed),
    (err) => log(`webhooks: ${err instanceof Error ? err.stack : String(err)}`),
  );
  const ctx: AppContext = {
    store,
    drivers,
    executor,
    housekeeping,
    clock,
    changes,
    config,
    estimates,
    webhooks,
    retention: retentionDays === null ? null : new EventRetention({ store, clock, days: retentionDays, drivers }),
    obshellAgents: new ObshellAgents(
      store.db,
      { ports: config.obshell?.ports ?? DEFAULT_OBSHELL_PORTS, host: config.obshell?.host ?? 'localhost' },
      log,
    ),
    async close() {
      // a step still running after the grace is aborted and left to recovery (a hung driver
      // call must not keep a closing context, a test or an embedding program, waiting forever)
      await executor.stop(config.closeGraceMs ?? 10_000);
      await housekeeping.stop();
      await estimates.stop();
      await webhooks.stop();
      await ctx.obshellAgents.detach();
      for (const d of drivers.values()) await d.close?.();
      await store.close();
      folderLock?.release();
    },
  };
  // once across replicas, on the housekeeping leader; a context without an executor moves no batch
  if (!config.noExecutor) housekeeping.every(BATCH_SCHEDULER_TASK, 1000, async () => void (await runBatchScheduler(ctx)));
  const retention = ctx.retention;
  if (retention) housekeeping.every('event-retention', RETENTION_EVERY_MS, async () => void (await retention.prune()));
  try {
    await registerDriverVersions(ctx);
    // the consumers' cursors exist before the executor writes its first event
    await estimates.ensureCursor();
    await webhooks.ensureCursor();
    await housekeeping.start();
  } catch (err) {
    await store.close();
    folderLock?.release();
    throw err;
  }
  if (!config.noExecutor) executor.start();
  estimates.start(500);
  webhooks.start();
  return ctx;
}
