// The `postgres` driver: real local PostgreSQL clusters (one primary, N streaming replicas) upgraded
// in place by minor version. Every step reads the cluster's layout from disk (cluster.json under the
// target's folder) and the real server state, so it can run in a fresh process after a crash.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { FlightingStat, NodeHealth, StepAction, Target, TargetNode } from '../../domain/types.ts';
import {
  DriverError,
  type Driver,
  type DriverCapabilities,
  type DriverCatalogEntry,
  type PrecheckInput,
  type PrecheckResult,
  type ReconcileResult,
  type StepContext,
  type StepPolicy,
  type StepResult,
  type Topology,
} from '../driver.ts';
import { BinaryCatalog, majorOf, scanInstalledVersions } from './binaries.ts';
import { clusterChecks } from './checks.ts';
import { onlineBackupTar } from './clone.ts';
import { DEFAULT_HOME, placePostgres, prepareOwnDataDir } from './placement.ts';
import { serviceUserReach, type ReachPath } from './reach.ts';
import * as cl from './cluster.ts';
import type { ClusterState } from './cluster.ts';
import { loadWorkload, runFlighting, topStatements } from './flighting.ts';
import * as ops from './node-ops.ts';
import * as pooler from './pooler.ts';
import { switchover } from './switchover.ts';

export interface PostgresDriverOptions {
  /**
   * folder holding one sub-folder per target (default $LIFTGATE_DATA_DIR/pg or ./data/pg); when
   * run as root and the service user cannot reach it, new clusters go to the driver's own folder
   * under `home` instead (placement.ts)
   */
  dataDir?: string;
  /** keep new clusters in dataDir even out of the service user's reach (an operator's explicit choice) */
  pinDataDir?: boolean;
  /** the driver's own location, for clusters and binaries the service user cannot reach where they are */
  home?: string;
  /** the node_modules folder searched for binaries (default Liftgate's own) */
  nodeModules?: string;
  /** version -> folder with bin/ lib/ share/, overriding what is found in node_modules (used where it is) */
  binaries?: Record<string, string>;
  /** how long verify waits for a replica to reach the primary's LSN */
  verifyTimeoutMs?: number;
  /** replication lag bound for precheck */
  maxLagBytes?: number;
  /** how long a pooler PAUSE may wait for running transactions */
  pauseTimeoutMs?: number;
}

const POLICY: Record<StepAction, StepPolicy> = {
  precheck: { idempotent: true, reversible: true, interruptible: true },
  backup: { idempotent: true, reversible: true, interruptible: true },
  drain: { idempotent: true, reversible: true, interruptible: true },
  stop: { idempotent: true, reversible: true, interruptible: true },
  // one symlink swap: it is either done or not
  install: { idempotent: true, reversible: true, interruptible: true },
  start: { idempotent: true, reversible: true, interruptible: true },
  verify: { idempotent: true, reversible: true, interruptible: true },
  // a blind re-run could cost a second outage: the executor asks reconcile() first; stopped
  // halfway it could leave the old primary stopped and fenced with no new one promoted, so a
  // cancel lets it finish
  switchover: { idempotent: false, reversible: true, interruptible: false },
  rejoin: { idempotent: true, reversible: true, interruptible: true },
  relocate: { idempotent: false, reversible: false, interruptible: false },
  // finalize drops the backup: past it, the upgrade is committed
  finalize: { idempotent: true, reversible: false, interruptible: true },
  // starts a node on the binaries it has: its reversal is left to the reversals before it
  restore: { idempotent: true, reversible: true, interruptible: true },
};

export class PostgresDriver implements Driver {
  readonly name = 'postgres';
  readonly capabilities: DriverCapabilities = { switchover: true, azMigration: false, faults: false, provision: true };
  readonly catalog: BinaryCatalog;
  /** where new clusters go */
  readonly dataDir: string;
  /** where new clusters go, and which binaries they run, when that is not where configured, and why: for the start log */
  readonly placementNote: string | null;
  private readonly configuredDataDir: string;
  private readonly ownDataDir: boolean;
  /** the clusters this driver created and has not destroyed: its process stops them when it stops */
  private readonly made = new Set<string>();
  private readonly verifyTimeoutMs: number;
  private readonly maxLagBytes: number;
  private readonly pauseTimeoutMs: number;

  constructor(opts: PostgresDriverOptions = {}) {
    this.configuredDataDir = path.resolve(opts.dataDir ?? path.join(process.env.LIFTGATE_DATA_DIR ?? 'data', 'pg'));
    const placed = placePostgres({
      dataDir: this.configuredDataDir,
      pinned: opts.pinDataDir ?? false,
      home: opts.home ?? DEFAULT_HOME,
      installed: scanInstalledVersions(opts.nodeModules),
    });
    this.dataDir = placed.dataDir;
    this.ownDataDir = placed.own;
    this.placementNote = placed.note;
    this.catalog = new BinaryCatalog(opts.binaries, placed.installed, placed.known);
    this.verifyTimeoutMs = opts.verifyTimeoutMs ?? 30_000;
    this.maxLagBytes = opts.maxLagBytes ?? 16 * 1048576;
    this.pauseTimeoutMs = opts.pauseTimeoutMs ?? 5_000;
  }

  /** PostgreSQL versions whose binaries are installed: the catalog should know all of them */
  installedVersions(): string[] {
    return this.catalog.versions();
  }

  /** the catalog entries for those versions: minor upgrades within a major only (no pg_upgrade) */
  catalogEntries(): DriverCatalogEntry[] {
    return this.installedVersions().map((version) => ({
      engine: 'postgresql',
      version,
      release: version,
      displayName: `PostgreSQL ${version}`,
      description: 'Installed PostgreSQL binaries (postgres driver); minor upgrades within the major version.',
      upgradableFrom: [`${majorOf(version)}.*`],
    }));
  }

  stepPolicy(action: StepAction): StepPolicy {
    return POLICY[action];
  }

  /**
   * null when the service user can reach the clusters' folder, every version's binaries and the
   * given clusters; else which folder stops it and what to change
   */
  reachProblem(clusters: { name: string; root: string }[] = []): string | null {
    const versions = this.catalog.versions();
    if (versions.length === 0) return null;
    return serviceUserReach([
      { what: 'data folder', path: this.dataDir, kind: 'data' },
      ...versions.map((v): ReachPath => ({
        what: `PostgreSQL ${v} binaries`,
        path: path.join(this.catalog.nativeDir(v), 'bin', 'postgres'),
        kind: 'binaries',
      })),
      ...clusters.map((c): ReachPath => ({ what: `cluster ${c.name}`, path: c.root, kind: 'cluster' })),
    ]);
  }

  /** roots of the clusters this driver (this process) created and has not destroyed */
  madeHere(): string[] {
    return [...this.made];
  }

  rootOf(target: Target): string {
    const r = target.driverConfig.root;
    return typeof r === 'string' ? r : path.join(this.dataDir, target.projectId, target.id);
  }

  private async state(target: Target): Promise<ClusterState> {
    try {
      return await cl.loadCluster(this.rootOf(target));
    } catch (e) {
      throw new DriverError(
        'CLUSTER_NOT_FOUND',
        `no postgres cluster for ${target.id} at ${this.rootOf(target)}: ${(e as Error).message}`,
      );
    }
  }

  async provision(target: Target): Promise<{ nodes: TargetNode[]; driverConfig: Record<string, unknown> }> {
    const cfg = target.driverConfig;
    const replicas = typeof cfg.replicas === 'number' ? cfg.replicas : 2;
    if (!this.catalog.has(target.version)) {
      throw new DriverError(
        'VERSION_NOT_INSTALLED',
        `PostgreSQL ${target.version} is not installed (have ${this.catalog.versions().join(', ')})`,
      );
    }
    const root = this.rootOf(target);
    if (this.ownDataDir && root.startsWith(this.dataDir + path.sep)) {
      try {
        prepareOwnDataDir(this.dataDir, path.dirname(root), this.configuredDataDir);
      } catch (e) {
        throw new DriverError('PROVISION_FAILED', `cannot make ${path.dirname(root)}: ${(e as Error).message}`);
      }
    }
    // a folder or binaries the service user cannot reach would fail later as a bare EACCES
    const unreachable = serviceUserReach([
      { what: 'data folder', path: root, kind: typeof target.driverConfig.root === 'string' ? 'cluster' : 'data' },
      {
        what: `PostgreSQL ${target.version} binaries`,
        path: path.join(this.catalog.nativeDir(target.version), 'bin', 'postgres'),
        kind: 'binaries',
      },
    ]);
    if (unreachable) throw new DriverError('PROVISION_FAILED', unreachable);
    // a cluster left there (its target deleted from a wiped store) holds data: never overwrite or remove it
    if (existsSync(path.join(root, 'cluster.json'))) {
      throw new DriverError(
        'CLUSTER_EXISTS',
        `a postgres cluster already exists at ${root}; remove it or choose another target id`,
      );
    }
    const names = Array.from({ length: replicas + 1 }, (_, i) => `${target.id}-${i + 1}`);
    try {
      const state = await cl.createCluster(root, target.version, replicas, this.catalog, names);
      if (cfg.pooler === true) {
        if (!pooler.poolerInstalled())
          throw new DriverError('POOLER_NOT_INSTALLED', `pgbouncer not found at ${pooler.PGBOUNCER}`);
        const port = await cl.freePort();
        await pooler.startPooler(root, port, cl.nodeOf(state, state.primary).port);
        state.pooler = { port };
        await cl.saveCluster(state);
      }
      const topo = await this.inspect({ ...target, driverConfig: { ...cfg, root } });
      const primary = cl.nodeOf(state, state.primary);
      this.made.add(root);
      return {
        nodes: topo.nodes,
        driverConfig: {
          ...cfg,
          root,
          nodes: state.nodes.map((n) => ({ name: n.name, port: n.port, dataDir: cl.dataDir(n) })),
          poolerPort: state.pooler?.port ?? null,
          endpoint: { host: '127.0.0.1', port: state.pooler?.port ?? primary.port },
        },
      };
    } catch (e) {
      await cl.destroyCluster(root).catch(() => undefined);
      throw e instanceof DriverError ? e : new DriverError('PROVISION_FAILED', (e as Error).message);
    }
  }

  async destroy(target: Target): Promise<void> {
    await cl.destroyCluster(this.rootOf(target));
    this.made.delete(this.rootOf(target));
  }

  async inspect(target: Target): Promise<Topology> {
    const state = await this.state(target);
    const nodes: TargetNode[] = [];
    let version: string | undefined;
    // every node at once: the answers are independent
    const all = await Promise.all(
      state.nodes.map(async (n) => ({ n, f: await cl.nodeFacts(n), linked: await cl.linkedVersion(n, this.catalog) })),
    );
    for (const { n, f, linked } of all) {
      let role = state.primary === n.name ? 'primary' : 'replica';
      let health: NodeHealth = 'stopped';
      if (f.running && f.error) health = 'unhealthy';
      else if (f.running) {
        role = f.inRecovery ? 'replica' : 'primary';
        health = role === 'primary' || f.receiving?.status === 'streaming' ? 'healthy' : 'unhealthy';
      }
      const v = f.version ?? linked ?? state.version;
      if (role === 'primary') version = v;
      nodes.push({ name: n.name, role, zone: 'local', version: v, health, host: '127.0.0.1', port: n.port });
    }
    return { nodes, version };
  }

  async precheck(input: PrecheckInput): Promise<PrecheckResult> {
    const state = await this.state(input.target);
    const items = await clusterChecks(state, input.hops, this.catalog, { maxLagBytes: this.maxLagBytes });
    const last = input.hops[input.hops.length - 1];
    let flighting: FlightingStat | null = null;
    if (last && !items.some((i) => i.status === 'fail')) {
      const lines: string[] = [];
      try {
        flighting = await this.flight(state, input.hops[0]!.fromVersion, last.toVersion, input.options, (l) => lines.push(l));
      } catch (e) {
        items.push({ name: 'flighting', status: 'fail', message: `flighting failed: ${(e as Error).message}` });
      }
      if (flighting) {
        const bad = flighting.exceptions + flighting.incorrect;
        items.push({
          name: 'flighting',
          status: bad > 0 ? 'warn' : flighting.slow > 0 ? 'warn' : 'pass',
          message: `executed ${flighting.totalExecuted}: ${flighting.exceptions} exceptions, ${flighting.incorrect} incorrect, ${flighting.slow} slow, DQL speedup ${flighting.dqlSpeedup}`,
        });
      }
    }
    const dataMiB = 32; // measured clone rate here is ~100 MiB/s; this keeps the estimate honest for small clusters
    return {
      items,
      flighting,
      estimate: {
        stopInstanceSeconds: 0.2,
        backupDataSeconds: Math.max(1, Math.round(dataMiB / 100)),
        upgradeInstanceSeconds: state.nodes.length * 2,
      },
    };
  }

  /** flighting when a workload is given (options.flightingSql) or pg_stat_statements is installed */
  async flight(
    state: ClusterState,
    fromVersion: string,
    toVersion: string,
    options: Record<string, unknown>,
    log: (l: string) => void,
  ): Promise<FlightingStat | null> {
    const primary = await cl.findPrimary(state);
    const statements =
      typeof options.flightingSql === 'string' ? await loadWorkload(options.flightingSql) : await topStatements(primary.port);
    if (!statements || statements.length === 0) return null;
    return runFlighting({ root: state.root, primary, fromVersion, toVersion, catalog: this.catalog, statements, log });
  }

  async execute(ctx: StepContext): Promise<StepResult> {
    const state = await this.state(ctx.target);
    const { step, hop, log } = ctx;
    const node = step.node ? cl.nodeOf(state, step.node) : null;
    const need = (): cl.NodeLayout => {
      if (!node) throw new DriverError('NODE_REQUIRED', `step ${step.action} needs a node`);
      return node;
    };
    switch (step.action) {
      case 'precheck': {
        const r = await this.precheck({
          target: ctx.target,
          toVersion: ctx.upgrade.toVersion,
          hops: [hop],
          mode: ctx.upgrade.mode,
          options: ctx.upgrade.options,
        });
        for (const i of r.items) log(`${i.status.toUpperCase()} ${i.name}${i.node ? ` ${i.node}` : ''}: ${i.message}`);
        const failed = r.items.filter((i) => i.status === 'fail');
        if (failed.length > 0)
          throw new DriverError(
            'PRECHECK_FAILED',
            failed.map((i) => `${i.name}${i.node ? ` ${i.node}` : ''}: ${i.message}`).join('; '),
          );
        return { data: { items: r.items, flighting: r.flighting } };
      }
      case 'backup': {
        const primary = await cl.findPrimary(state);
        const dir = path.join(state.root, 'backups', ctx.upgrade.id);
        const res = await onlineBackupTar(primary.port, cl.dataDir(primary), dir, { label: `liftgate-${ctx.upgrade.id}`, log });
        log(
          `backup of ${primary.name} in ${res.file}: ${(res.bytes / 1048576).toFixed(1)} MiB, ${res.startLsn}..${res.stopLsn}, ${res.ms} ms`,
        );
        return { data: { path: dir, file: res.file, bytes: res.bytes, startLsn: res.startLsn, stopLsn: res.stopLsn } };
      }
      case 'drain': {
        const n = need();
        const primary = await cl.findPrimary(state);
        log(
          primary.name === n.name
            ? `${n.name}: primary, writes move at switchover`
            : `${n.name}: replica serves no routed traffic; nothing to drain`,
        );
        return {};
      }
      case 'stop': {
        const n = need();
        const primary = await cl.findPrimary(state);
        if (primary.name === n.name && cl.nodeRunning(n) && ctx.upgrade.mode === 'rolling') {
          throw new DriverError('PRIMARY_STOP_REFUSED', `${n.name} is the primary: switch over before stopping it`);
        }
        const serverMs = await ops.stopMember(n, log);
        return { node: { name: n.name, health: 'stopped' }, data: { serverMs } };
      }
      case 'install': {
        const n = need();
        await ops.swapBinaries(n, hop.toVersion, this.catalog, log);
        return { node: { name: n.name, health: 'stopped' }, data: { binaries: this.catalog.nativeDir(hop.toVersion) } };
      }
      case 'start': {
        const n = need();
        const serverMs = await ops.startMember(state, n, log);
        const f = await cl.nodeFacts(n);
        return {
          data: { serverMs },
          node: {
            name: n.name,
            version: f.version ?? hop.toVersion,
            health: 'healthy',
            role: f.inRecovery ? 'replica' : 'primary',
          },
        };
      }
      case 'verify': {
        const n = need();
        const v = await ops.verifyMember(state, n, hop.toVersion, this.verifyTimeoutMs, log, ctx.signal);
        return { node: { name: n.name, version: v.version, role: v.role, health: 'healthy' } };
      }
      case 'switchover':
        return this.doSwitchover(ctx, state, typeof step.params.to === 'string' ? step.params.to : null);
      case 'rejoin': {
        const n = need();
        const v = await ops.rejoinMember(state, n, hop.toVersion, this.verifyTimeoutMs, log, ctx.signal);
        return { node: { name: n.name, role: 'replica', health: 'healthy', version: v.version } };
      }
      case 'finalize': {
        const topo = await this.inspect(ctx.target);
        const behind = topo.nodes.filter((x) => x.version !== hop.toVersion || x.health !== 'healthy');
        if (behind.length > 0) {
          throw new DriverError('FINALIZE_INCOMPLETE', behind.map((x) => `${x.name}: ${x.version} ${x.health}`).join('; '), true);
        }
        const tRm = Date.now();
        await rm(path.join(state.root, 'backups', ctx.upgrade.id), { recursive: true, force: true });
        log(
          `all ${topo.nodes.length} nodes on ${hop.toVersion} and healthy; backup ${ctx.upgrade.id} removed in ${Date.now() - tRm} ms`,
        );
        return { nodes: topo.nodes };
      }
      case 'relocate':
        throw new DriverError('UNSUPPORTED', 'the postgres driver cannot move nodes between zones');
      case 'restore':
        return this.restoreNode(state, need(), ctx);
    }
  }

  /**
   * A cancel found the node out of service: start it again on the binaries it has (the version
   * it runs, old or new) as a member of the cluster (a standby of the real primary, or the
   * primary when it is the recorded one and no other node is), and verify it serves: the primary
   * takes a write, a replica streams and catches up. A node in service is only verified.
   */
  private async restoreNode(state: ClusterState, n: cl.NodeLayout, ctx: StepContext): Promise<StepResult> {
    const version = await cl.linkedVersion(n, this.catalog);
    if (!version) throw new DriverError('START_FAILED', `${n.name} has no PostgreSQL binaries linked; it cannot be started`);
    const was = cl.nodeRunning(n) ? 'running' : 'stopped';
    await ops.startMember(state, n, ctx.log);
    const v = await ops.verifyMember(state, n, version, this.verifyTimeoutMs, ctx.log, ctx.signal);
    const summary =
      was === 'stopped'
        ? `started on ${version} as ${v.role}; it was stopped`
        : `in service on ${version} as ${v.role}; nothing to do`;
    return {
      node: { name: n.name, version: v.version, role: v.role, health: 'healthy' },
      data: { summary, started: was === 'stopped' },
    };
  }

  private async doSwitchover(ctx: StepContext, state: ClusterState, to: string | null): Promise<StepResult> {
    let toName = to;
    if (!toName) {
      // no choice from the planner: the first streaming replica already on the target version
      const primary = await cl.findPrimary(state);
      for (const n of state.nodes) {
        if (n.name === primary.name) continue;
        const f = await cl.nodeFacts(n);
        if (f.running && f.inRecovery && f.version === ctx.hop.toVersion && f.receiving?.status === 'streaming') {
          toName = n.name;
          break;
        }
      }
      if (!toName) throw new DriverError('NO_SWITCHOVER_CANDIDATE', `no streaming replica on ${ctx.hop.toVersion}`);
    }
    try {
      const r = await switchover(state, toName, {
        log: ctx.log,
        catchUpTimeoutMs: this.verifyTimeoutMs,
        pauseTimeoutMs: this.pauseTimeoutMs,
        signal: ctx.signal,
      });
      const newVersion = (await cl.nodeFacts(cl.nodeOf(state, r.to))).version ?? undefined;
      return {
        nodes: [
          { name: r.from, role: 'replica', health: cl.nodeRunning(cl.nodeOf(state, r.from)) ? 'healthy' : 'stopped' },
          { name: r.to, role: 'primary', health: 'healthy', ...(newVersion ? { version: newVersion } : {}) },
        ],
        data: { from: r.from, to: r.to, outageMs: r.outageMs, stallMs: r.stallMs },
      };
    } catch (e) {
      throw e instanceof DriverError ? e : new DriverError('SWITCHOVER_FAILED', (e as Error).message, true);
    }
  }

  async rollback(ctx: StepContext): Promise<StepResult> {
    const state = await this.state(ctx.target);
    const { step, hop, log } = ctx;
    switch (step.action) {
      case 'stop':
      case 'install':
      case 'start':
      case 'verify':
      case 'rejoin': {
        if (!step.node) return {};
        const n = cl.nodeOf(state, step.node);
        const v = await ops.restoreMember(state, n, hop.fromVersion, this.catalog, this.verifyTimeoutMs, log);
        return { node: { name: n.name, version: v.version, role: v.role, health: 'healthy' } };
      }
      case 'switchover': {
        const back = state.previousPrimary;
        if (!back) return {};
        const primary = await cl.findPrimary(state);
        if (primary.name === back) return {};
        const n = cl.nodeOf(state, back);
        await ops.startMember(state, n, log);
        await cl.waitCaughtUp(primary, n, this.verifyTimeoutMs, ctx.signal);
        return this.doSwitchover(ctx, state, back);
      }
      case 'backup':
        await rm(path.join(state.root, 'backups', ctx.upgrade.id), { recursive: true, force: true });
        log(`backup ${ctx.upgrade.id} removed`);
        return {};
      default:
        log(`${step.action}: nothing to undo`);
        return {};
    }
  }

  async reconcile(ctx: StepContext): Promise<ReconcileResult> {
    if (ctx.step.action !== 'switchover') return 'unknown';
    const state = await this.state(ctx.target);
    const primary = await cl.findPrimary(state);
    const to = ctx.step.params.to;
    if (typeof to === 'string' && primary.name === to && cl.nodeRunning(primary)) return 'applied';
    if (cl.nodeRunning(primary) && primary.name === state.primary && state.previousPrimary === null) return 'not_applied';
    return 'unknown';
  }
}
