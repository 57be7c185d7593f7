// What every service function and every facade is handed: the store, the installed drivers, the
// executor and the background workers, as one context. Its type lives here, below the services
// that use it; the composition root (src/app/context.ts) builds it from the configuration.
import type { EventEmitter } from 'node:events';
import type { Clock } from '../domain/clock.ts';
import type { Driver } from '../drivers/driver.ts';
import type { CoreEnv } from '../engine/core/env.ts';
import type { Executor } from '../engine/executor.ts';
import type { Housekeeping } from '../engine/housekeeping.ts';
import type { EventRetention } from '../engine/retention.ts';
import type { EstimateService } from '../estimates/service.ts';
import type { Store, StoreOptions } from '../store/open.ts';
import type { WebhookService } from '../webhooks/service.ts';
import type { ObshellAgents } from './obshell-agents.ts';

/** What the services and the facades read of the configuration (the root's AppConfig holds the rest). */
export interface ServiceConfig extends StoreOptions {
  log?: (msg: string) => void;
  /** when set, GET /metrics needs `Authorization: Bearer <metricsToken>` (LIFTGATE_METRICS_TOKEN) */
  metricsToken?: string;
}

export interface AppContext {
  store: Store;
  drivers: Map<string, Driver>;
  executor: Executor;
  /** runs work once across replicas (`housekeeping.every(...)`), heartbeats this executor */
  housekeeping: Housekeeping;
  clock: Clock;
  /** emits 'change' after the executor or a service call committed something */
  changes: EventEmitter;
  config: ServiceConfig;
  estimates: EstimateService;
  webhooks: WebhookService;
  /** event retention, when LIFTGATE_EVENT_RETENTION_DAYS is set (run by the housekeeping leader) */
  retention: EventRetention | null;
  /** each OBShell cluster's own agent port; the HTTP layer lends it the listeners */
  obshellAgents: ObshellAgents;
  close(): Promise<void>;
}

/** What the state core needs of the context (its clock, row locks, drivers). */
export function coreEnv(ctx: Pick<AppContext, 'clock' | 'store' | 'drivers'>): CoreEnv {
  return {
    clock: ctx.clock,
    rowLocks: ctx.store.caps.supportsSkipLocked,
    writableCte: ctx.store.caps.supportsWritableCte,
    drivers: ctx.drivers,
  };
}

/** Signals a committed change to listeners and to the executor. */
export function changed(ctx: AppContext): void {
  ctx.changes.emit('change');
  ctx.executor.wake();
}

const readSides = new WeakMap<AppContext, AppContext>();

/**
 * The same context whose store reads through `store.read` (connections that never wait behind the
 * executor's). For pure reads only: a write through it fails on SQLite (read-only connections).
 * Each read sees every transaction committed before it starts, so a client still reads its writes.
 */
export function readSide(ctx: AppContext): AppContext {
  let r = readSides.get(ctx);
  if (!r) {
    r = { ...ctx, store: { ...ctx.store, db: ctx.store.read } };
    readSides.set(ctx, r);
  }
  return r;
}
