// The `postgres` driver: real local PostgreSQL clusters (one primary, N streaming replicas) upgraded
// in place by minor version. Every step reads the cluster's layout from disk (cluster.json under the
// target's folder) and the real server state, so it can run in a fresh process after a crash.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setting } from '../../domain/settings.ts';
import type { FlightingStat, Hop, NodeHealth, SliName, StepAction, Target, TargetNode, UpgradeMode } from '../../domain/types.ts';
import {
  DriverError,
  type Driver,
  type DriverCapabilities,
  type DriverCatalogEntry,
  type LocalClusters,
  type PrecheckInput,
  type PrecheckResult,
  type ReconcileResult,
  type StepContext,
  type StepPolicy,
  type StepResult,
  type Topology,
  precheckStep,
} from '../driver.ts';
import { bringDown, bringUp } from './lifecycle.ts';
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
import { forgetSlis, measureSlis } from './slis.ts';
import { switchover } from './switchover.ts';
import * as bgx from './blue-green.ts';
import { FaultPoints } from '../../engine/fault-points.ts';

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
  // blue/green (blue-green.ts): every step reads bluegreen.json and the servers, and does what is missing
  // a rolling restart with a switchover inside: a cancel lets it finish
  logical_decoding: { idempotent: true, reversible: true, interruptible: false },
  provision_green: { idempotent: true, reversible: true, interruptible: true },
  copy_schema: { idempotent: true, reversible: true, interruptible: true },
  initial_copy: { idempotent: true, reversible: true, interruptible: true },
  catch_up: { idempotent: true, reversible: true, interruptible: true },
  // reads only, on both live clusters
  flight_green: { idempotent: true, reversible: true, interruptible: true },
  // clients are held while it runs: never re-run blindly (reconcile reads the cutover's mark), never cut short
  cutover: { idempotent: false, reversible: true, interruptible: false },
  rollback_window: { idempotent: true, reversible: true, interruptible: true, waits: true },
  // removes the old cluster: past it there is no way back
  decommission: { idempotent: true, reversible: false, interruptible: false },
  // run by the executor, not here (a lone upgrade's analysis bake): it only waits and reads
  bake: { idempotent: true, reversible: true, interruptible: true },
};

/** the description the driver's catalog entries carry (older ones, with minor routes only, are updated) */
export const CATALOG_DESCRIPTION =
  'Installed PostgreSQL binaries (postgres driver): minor upgrades in place (rolling), major upgrades by blue_green.';
export const OLD_CATALOG_DESCRIPTION =
  'Installed PostgreSQL binaries (postgres driver); minor upgrades within the major version.';

export class PostgresDriver implements Driver {
  readonly name = 'postgres';
  readonly capabilities: DriverCapabilities = {
    switchover: true,
    azMigration: false,
    faults: false,
    provision: true,
    blueGreen: true,
  };
  private readonly faults = FaultPoints.fromEnv();
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
    this.configuredDataDir = path.resolve(opts.dataDir ?? path.join(setting('LIFTGATE_DATA_DIR'), 'pg'));
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

  /**
   * the catalog entries for those versions: any older version may upgrade to each; a route that
   * crosses a major version runs as blue_green (routeRefusal says so for the other modes)
   */
  catalogEntries(): DriverCatalogEntry[] {
    return this.installedVersions().map((version) => ({
      engine: 'postgresql',
      version,
      release: version,
      displayName: `PostgreSQL ${version}`,
      description: CATALOG_DESCRIPTION,
      upgradableFrom: [],
      supersedesDescription: OLD_CATALOG_DESCRIPTION,
    }));
  }

  /** a major version cannot be upgraded in place (no pg_upgrade in the binaries): only blue_green */
  routeRefusal(hops: Hop[], mode: UpgradeMode): string | null {
    if (mode === 'blue_green' || mode === 'az_migration') return null;
    const major = hops.find((h) => majorOf(h.fromVersion) !== majorOf(h.toVersion));
    if (!major) return null;
    return `${hops[0]!.fromVersion} -> ${hops[hops.length - 1]!.toVersion} crosses a major version, which a ${mode} upgrade cannot do (the installed binaries ship no pg_upgrade): request mode "blue_green", which builds a new cluster on ${hops[hops.length - 1]!.toVersion} beside this one, copies the data by logical replication and switches clients over with a way back`;
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

  readonly local: LocalClusters = {
    label: 'postgres cluster',
    rootOf: (t) => this.rootOf(t),
    exists: (root) => existsSync(path.join(root, 'cluster.json')),
    bringUp,
    bringDown,
    madeHere: () => [...this.made],
  };

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
          throw new DriverError('POOLER_NOT_INSTALLED', `pgbouncer not found at ${pooler.pgbouncerBinary()}`);
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
    forgetSlis(this.rootOf(target));
  }

  /** replication lag, rollback and conflict rates, refused connections (slis.ts says how each is measured) */
  async slis(target: Target): Promise<Partial<Record<SliName, number>>> {
    return measureSlis(await this.state(target));
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
    const blueGreen = input.mode === 'blue_green';
    const last = input.hops[input.hops.length - 1];
    const items = await clusterChecks(state, input.hops, this.catalog, { maxLagBytes: this.maxLagBytes }, blueGreen);
    if (blueGreen && last && this.catalog.has(last.toVersion) && (await bgx.loadBg(state.root)) === null) {
      items.push(...(await bgx.blueGreenChecks(state, last.toVersion, this.catalog, bgx.bgOptions(input.options))));
    }
    let flighting: FlightingStat | null = null;
    // flighting replays the workload on a copy of the data on the new binaries: within a major only
    if (last && !blueGreen && !items.some((i) => i.status === 'fail')) {
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
      case 'precheck':
        return precheckStep(this, ctx);
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
      case 'logical_decoding':
        return bgx.enableLogical(state, this.bgEnv(), ctx);
      case 'provision_green':
        return bgx.provisionGreen(state.root, this.bgEnv(), ctx, ctx.target.id);
      case 'copy_schema':
        return bgx.copySchema(state.root, this.bgEnv(), ctx);
      case 'initial_copy':
        return bgx.initialCopy(state.root, this.bgEnv(), ctx);
      case 'catch_up':
        return bgx.catchUp(state.root, ctx);
      case 'flight_green':
        return bgx.flightGreen(state.root, ctx);
      case 'cutover':
        return this.cutover(ctx, state.root, 'green');
      case 'rollback_window':
        return bgx.rollbackWindow(state.root, ctx);
      case 'decommission': {
        const r = await bgx.decommission(state.root, ctx);
        const topo = await this.inspect(ctx.target);
        return { ...r, replaceNodes: topo.nodes };
      }
      case 'bake':
        // the executor runs a bake itself (src/engine/bake.ts); a driver never gets one
        throw new DriverError('STEP_FAILED', 'a bake is run by the executor, not by the postgres driver');
    }
  }

  private bgEnv(): bgx.BgEnv {
    return {
      catalog: this.catalog,
      verifyTimeoutMs: this.verifyTimeoutMs,
      pauseTimeoutMs: this.pauseTimeoutMs,
      fault: (point) => this.faults.hitDriver(point),
    };
  }

  /** a blue/green switch of clients to `to`; the target's nodes become that side's */
  private async cutover(ctx: StepContext, root: string, to: bgx.Side): Promise<StepResult> {
    const r = await bgx.switchSides(root, this.bgEnv(), ctx, to);
    const bg = await bgx.loadBg(root);
    const side = bg ? await bgx.nodesOf(bg, to) : null;
    return {
      ...(side
        ? {
            replaceNodes: side.nodes,
            driverConfig: {
              nodes: (bg ? bgx.clusterOf(bg, to).nodes : []).map((n) => ({ name: n.name, port: n.port, dataDir: cl.dataDir(n) })),
              endpoint: { host: '127.0.0.1', port: side.endpointPort },
            },
          }
        : {}),
      data: { ...r },
    };
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
      case 'cutover':
        // a second cutover, back to blue: every write made on green is on blue by then
        return this.cutover(ctx, state.root, 'blue');
      case 'initial_copy':
        await bgx.undoInitialCopy(state.root, log);
        return {};
      case 'copy_schema':
        await bgx.undoCopySchema(state.root, log);
        return {};
      case 'provision_green':
        await bgx.undoProvisionGreen(state.root, log);
        return {};
      case 'logical_decoding':
        log('wal_level stays logical (it costs little; a later blue/green upgrade needs it)');
        return {};
      default:
        log(`${step.action}: nothing to undo`);
        return {};
    }
  }

  async reconcile(ctx: StepContext): Promise<ReconcileResult> {
    if (ctx.step.action === 'cutover') {
      // the mark says how far the cutover got: switched is done (the pooler is released); anything
      // short of it is undone, so the step runs again from the start
      const root = this.rootOf(ctx.target);
      const bg = await bgx.loadBg(root);
      if (!bg) return 'unknown';
      const want: bgx.Side = ctx.step.state === 'rolling_back' ? 'blue' : 'green';
      if (bg.active === want) {
        if (bg.cutover?.phase === 'switched' && bg.blue.pooler) await pooler.resume(bg.blue.pooler.port).catch(() => undefined);
        return 'applied';
      }
      await bgx.undoSwitch(root, ctx.log);
      return 'not_applied';
    }
    if (ctx.step.action !== 'switchover') return 'unknown';
    const state = await this.state(ctx.target);
    const primary = await cl.findPrimary(state);
    const to = ctx.step.params.to;
    if (typeof to === 'string' && primary.name === to && cl.nodeRunning(primary)) return 'applied';
    if (cl.nodeRunning(primary) && primary.name === state.primary && state.previousPrimary === null) return 'not_applied';
    return 'unknown';
  }
}
