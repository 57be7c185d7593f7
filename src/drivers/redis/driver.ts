// The `redis` driver: real Redis OSS and Valkey processes (a Sentinel group, or a Redis Cluster of
// shards), upgraded in place and rolling, across engines (Redis 7.0.15 -> Valkey 8.0.1): replicas
// first, then a coordinated failover to an upgraded replica, then the old primary. The failover to
// the first node of the new engine is the point of no return. Every step reads group.json and the
// real servers, so it can run in a fresh process after a crash.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Hop, StepAction, Target, TargetNode, UpgradeMode } from '../../domain/types.ts';
import { AppError } from '../../domain/errors.ts';
import { setting } from '../../domain/settings.ts';
import { FaultPoints } from '../../engine/fault-points.ts';
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
import { adoptGroup } from './adopt.ts';
import { bringDown, bringUp } from './lifecycle.ts';
import { groupChecks } from './checks.ts';
import * as grp from './group.ts';
import type { GroupLayout, NodeLayout } from './group.ts';
import * as ops from './ops.ts';
import * as srv from './server.ts';
import type { RedisEngine } from './server.ts';

export interface RedisDriverOptions {
  /** folder holding one sub-folder per target (default $LIFTGATE_DATA_DIR/redis) */
  dataDir?: string;
  /** how long a node may take to link up and catch up, a failover to finish */
  verifyTimeoutMs?: number;
}

/** why a failover to the new engine cannot be undone (the refused rollback and the precheck quote it) */
export const NO_RETURN =
  'from this failover on, a node of the new engine is a primary; a Redis 7.0 node that needs a full resync cannot load the RDB that Valkey 8.0 writes (format 11), so the group cannot return to the old engine';

const SAFE: StepPolicy = { idempotent: true, reversible: true, interruptible: true };
const POLICY: Record<StepAction, StepPolicy> = {
  precheck: SAFE,
  backup: SAFE,
  drain: SAFE,
  // a replica only (a primary is refused): its rollback puts it back on the old engine
  stop: SAFE,
  install: SAFE,
  start: SAFE,
  verify: SAFE,
  rejoin: SAFE,
  // never re-run blindly (reconcile reads the roles); a half-done failover is left to finish
  switchover: { idempotent: false, reversible: false, interruptible: false, irreversibleBecause: NO_RETURN },
  relocate: { idempotent: false, reversible: false, interruptible: false },
  // moves the Sentinels to the new engine and drops the backup
  finalize: { idempotent: true, reversible: false, interruptible: true, irreversibleBecause: 'the upgrade is complete' },
  restore: SAFE,
  logical_decoding: SAFE,
  provision_green: SAFE,
  copy_schema: SAFE,
  initial_copy: SAFE,
  catch_up: SAFE,
  flight_green: SAFE,
  cutover: SAFE,
  rollback_window: { ...SAFE, waits: true },
  decommission: SAFE,
  // run by the executor, not here (a lone upgrade's analysis bake): it only waits and reads
  bake: SAFE,
};

export const CATALOG_DESCRIPTION = 'Installed Redis OSS and Valkey servers (redis driver): rolling upgrades, Redis -> Valkey.';

/** a node in service as the step found it: its engine, version and role as the server reports them */
const serving = (n: NodeLayout, f: ops.NodeFacts, version: string): Partial<TargetNode> & { name: string } => ({
  name: n.name,
  engine: f.engine,
  version: f.version ?? version,
  role: f.role ?? 'replica',
  health: 'healthy',
});

const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : d);

export class RedisDriver implements Driver {
  readonly name = 'redis';
  readonly capabilities: DriverCapabilities = {
    switchover: true,
    azMigration: false,
    faults: false,
    provision: true,
    engines: ['redis', 'valkey'],
  };
  private readonly faults = FaultPoints.fromEnv();
  readonly dataDir: string;
  private readonly verifyTimeoutMs: number;
  /** the groups this process created: it stops them when it stops */
  private readonly made = new Set<string>();
  private installed: { engine: RedisEngine; version: string; bin: string }[] = [];

  constructor(opts: RedisDriverOptions = {}) {
    this.dataDir = path.resolve(opts.dataDir ?? path.join(setting('LIFTGATE_DATA_DIR'), 'redis'));
    this.verifyTimeoutMs = opts.verifyTimeoutMs ?? 60_000;
  }

  /** reads which servers are installed (once, at start) */
  async init(): Promise<this> {
    this.installed = await srv.installedServers();
    return this;
  }

  installedServers(): { engine: RedisEngine; version: string }[] {
    return this.installed.map(({ engine, version }) => ({ engine, version }));
  }

  /** each installed server; Valkey takes Redis 7.x (the route ElastiCache sells in place) */
  catalogEntries(): DriverCatalogEntry[] {
    return this.installed.map(({ engine, version }) => ({
      engine,
      version,
      release: version,
      displayName: `${engine === 'redis' ? 'Redis OSS' : 'Valkey'} ${version}`,
      description: CATALOG_DESCRIPTION,
      upgradableFrom: engine === 'valkey' ? ['redis:7.*'] : [],
    }));
  }

  stepPolicy(action: StepAction): StepPolicy {
    return POLICY[action];
  }

  routeRefusal(hops: Hop[], mode: UpgradeMode, target?: Target): string | null {
    if (mode === 'blue_green' || mode === 'az_migration') return null; // refused by the capabilities
    if (mode !== 'rolling' || !target) return null;
    const lonely = this.shardsWithoutReplica(target);
    if (lonely.length === 0) return null;
    const last = hops[hops.length - 1];
    return `${lonely.join(', ')} ha${lonely.length === 1 ? 's' : 've'} no replica: a rolling upgrade never stops a primary, it fails over to an upgraded replica first. Add a replica, or request mode "stop_service", which stops the node, starts it on ${last?.toEngine ?? target.engine} ${last?.toVersion ?? ''} and has a short outage`;
  }

  private shardsWithoutReplica(target: Target): string[] {
    const byShard = new Map<string, number>();
    for (const n of target.nodes) byShard.set(n.shard ?? '', (byShard.get(n.shard ?? '') ?? 0) + 1);
    return [...byShard].filter(([, c]) => c < 2).map(([s]) => (s ? `shard ${s}` : `the group ${target.id}`));
  }

  rootOf(target: Target): string {
    const r = target.driverConfig.root;
    return typeof r === 'string' ? r : path.join(this.dataDir, target.projectId, target.id);
  }

  readonly local: LocalClusters = {
    label: 'redis group',
    rootOf: (t) => this.rootOf(t),
    exists: (root) => grp.groupExists(root),
    bringUp,
    bringDown,
    madeHere: () => [...this.made],
  };

  private async group(target: Target): Promise<GroupLayout> {
    try {
      return await grp.loadGroup(this.rootOf(target));
    } catch (e) {
      throw new DriverError(
        'CLUSTER_NOT_FOUND',
        `no redis group for ${target.id} at ${this.rootOf(target)}: ${(e as Error).message}`,
      );
    }
  }

  async provision(target: Target): Promise<{ nodes: TargetNode[]; driverConfig: Record<string, unknown> }> {
    const cfg = target.driverConfig;
    const topology =
      cfg.topology === 'cluster' ? 'cluster' : cfg.topology === 'sentinel' || cfg.topology === undefined ? 'sentinel' : null;
    if (!topology)
      throw new AppError(
        'VALIDATION_FAILED',
        `driverConfig.topology must be "sentinel" or "cluster", not ${JSON.stringify(cfg.topology)}`,
      );
    if (!srv.isRedisEngine(target.engine))
      throw new AppError('VALIDATION_FAILED', `the redis driver runs engines redis and valkey, not ${target.engine}`);
    const have = this.installed.find((i) => i.engine === target.engine);
    if (!have || have.version !== target.version) {
      throw new AppError(
        'VERSION_NOT_FOUND',
        `${target.engine} ${target.version} is not installed on this host (have ${this.installed.map((i) => `${i.engine} ${i.version}`).join(', ') || 'none'})`,
      );
    }
    const replicas = num(cfg.replicas, 2);
    const shards = num(cfg.shards, 3);
    const replicasPerShard = num(cfg.replicasPerShard, 1);
    if (topology === 'sentinel' && (replicas < 0 || replicas > 5))
      throw new AppError('VALIDATION_FAILED', 'driverConfig.replicas must be 0 to 5');
    if (topology === 'cluster' && (shards < 1 || shards > 8 || replicasPerShard < 0 || replicasPerShard > 3)) {
      throw new AppError('VALIDATION_FAILED', 'driverConfig.shards must be 1 to 8 and replicasPerShard 0 to 3');
    }
    const root = this.rootOf(target);
    if (cfg.provision === false) return this.adopt(target, root);
    if (grp.groupExists(root)) {
      throw new DriverError('CLUSTER_EXISTS', `a redis group already exists at ${root}; remove it or choose another target id`);
    }
    try {
      const g = await grp.createGroup(root, target.id, {
        topology,
        engine: target.engine,
        replicas,
        shards,
        replicasPerShard,
        backlogBytes: 64 * 1_048_576,
      });
      this.made.add(root);
      const topo = await this.inspect({ ...target, driverConfig: { ...cfg, root } });
      return { nodes: topo.nodes, driverConfig: { ...cfg, topology, root, ...this.configOf(g) } };
    } catch (e) {
      await grp.destroyGroup(root).catch(() => undefined);
      throw e instanceof DriverError ? e : new DriverError('PROVISION_FAILED', (e as Error).message);
    }
  }

  /** registers a group that already runs on this host; its processes and data stay its own */
  private async adopt(target: Target, root: string): Promise<{ nodes: TargetNode[]; driverConfig: Record<string, unknown> }> {
    if (grp.groupExists(root)) throw new DriverError('CLUSTER_EXISTS', `${root} already holds a group; choose another target id`);
    try {
      const g = await adoptGroup(root, target.id, target.driverConfig);
      const topo = await this.inspect({ ...target, driverConfig: { ...target.driverConfig, root } });
      const wrong = topo.nodes.filter((n) => n.engine !== target.engine || n.version !== target.version);
      if (wrong.length > 0) {
        throw new AppError(
          'VALIDATION_FAILED',
          `the target says ${target.engine} ${target.version}, but ${wrong.map((n) => `${n.name} (port ${n.port}) runs ${n.engine} ${n.version}`).join(', ')}`,
        );
      }
      return { nodes: topo.nodes, driverConfig: { ...target.driverConfig, topology: g.topology, root, ...this.configOf(g) } };
    } catch (e) {
      await rm(root, { recursive: true, force: true }).catch(() => undefined);
      throw e instanceof DriverError || e instanceof AppError ? e : new DriverError('PROVISION_FAILED', (e as Error).message);
    }
  }

  /** what the target's driverConfig shows of the group: where its Sentinels are and the name they monitor */
  private configOf(g: GroupLayout): Record<string, unknown> {
    return g.topology === 'sentinel'
      ? { masterName: g.masterName, sentinels: g.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })) }
      : { seeds: g.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) };
  }

  async destroy(target: Target): Promise<void> {
    await grp.destroyGroup(this.rootOf(target));
    this.made.delete(this.rootOf(target));
  }

  async inspect(target: Target): Promise<Topology> {
    const g = await this.group(target);
    const nodes = await Promise.all(
      g.nodes.map(async (n): Promise<TargetNode> => {
        const f = await ops.nodeFacts(n);
        const installed = this.installed.find((i) => i.engine === n.engine)?.version ?? '';
        return {
          name: n.name,
          role: f.role ?? 'replica',
          zone: 'local',
          version: f.version ?? installed,
          engine: f.running ? f.engine : n.engine,
          health: !f.running ? 'stopped' : f.role === 'primary' || f.linkUp ? 'healthy' : 'unhealthy',
          host: '127.0.0.1',
          port: n.port,
          ...(n.shard ? { shard: n.shard } : {}),
        };
      }),
    );
    return { nodes };
  }

  private engines(ctx: { hop: Hop; target: Target }): { from: RedisEngine; to: RedisEngine } {
    const from = ctx.hop.fromEngine ?? ctx.target.engine;
    const to = ctx.hop.toEngine ?? ctx.target.engine;
    if (!srv.isRedisEngine(from) || !srv.isRedisEngine(to))
      throw new DriverError('UNSUPPORTED', `the redis driver runs redis and valkey, not ${from} -> ${to}`);
    return { from, to };
  }

  async precheck(input: PrecheckInput): Promise<PrecheckResult> {
    const g = await this.group(input.target);
    const hop = input.hops[input.hops.length - 1];
    if (!hop) return { items: [], flighting: null, estimate: null };
    const { from, to } = this.engines({ hop, target: input.target });
    const firstFailover = g.nodes.find((n) => !input.target.nodes.some((x) => x.name === n.name && x.role === 'primary'));
    const noReturn =
      input.mode === 'rolling' && from !== to
        ? `the first failover to a ${to} node (${firstFailover ? `e.g. to ${firstFailover.name}` : 'a switchover stage'}) is the point of no return: before it, a rollback puts the replicas back on ${from} ${hop.fromVersion}; from it on, rollback is refused (${NO_RETURN})`
        : null;
    const items = await groupChecks(g, hop, from, to, noReturn);
    return {
      items,
      flighting: null,
      estimate: { stopInstanceSeconds: 0.2, backupDataSeconds: 1, upgradeInstanceSeconds: g.nodes.length * 2 },
    };
  }

  /** refuses an upgrade the group cannot take now, before it is stored (4xx, not a failed step) */
  async admission(target: Target, hops: Hop[]): Promise<string | null> {
    const hop = hops[hops.length - 1];
    if (!hop) return null;
    const to = hop.toEngine ?? target.engine;
    if (!srv.isRedisEngine(to)) return null;
    const missing = await srv.binaryProblem(to, hop.toVersion);
    if (missing) return missing;
    const g = await this.group(target).catch(() => null);
    if (g?.topology === 'cluster') {
      const problems = await grp.clusterProblems(g);
      if (problems.length > 0)
        return `the cluster is not healthy: ${problems.join('; ')}; assign every slot (CLUSTER ADDSLOTS) and fix the nodes first`;
    }
    return null;
  }

  async execute(ctx: StepContext): Promise<StepResult> {
    const g = await this.group(ctx.target);
    const { step, log, signal } = ctx;
    const node = step.node ? grp.nodeOf(g, step.node) : null;
    const need = (): NodeLayout => {
      if (!node) throw new DriverError('NODE_REQUIRED', `step ${step.action} needs a node`);
      return node;
    };
    const { to } = this.engines(ctx);
    switch (step.action) {
      case 'precheck':
        return precheckStep(this, ctx);
      case 'backup':
        return this.backup(g, ctx);
      case 'drain': {
        const n = need();
        log(
          `${n.name}: ${(await grp.roleOf(n)) === 'primary' ? 'primary: its clients move at the failover' : 'replica: no routed writes to drain'}`,
        );
        return {};
      }
      case 'stop': {
        const n = need();
        if (ctx.upgrade.mode === 'stop_service') {
          await srv.stop(n);
          log(`${n.name}: stopped`);
        } else await ops.stopReplica(n, log);
        return { node: { name: n.name, health: 'stopped' } };
      }
      case 'install': {
        const n = need();
        await ops.setEngine(g, n, to, log);
        return { node: { name: n.name, engine: to, health: 'stopped' } };
      }
      case 'start': {
        const n = need();
        await ops.startNode(n, log);
        return { node: serving(n, await ops.nodeFacts(n), ctx.hop.toVersion) };
      }
      case 'verify': {
        const n = need();
        const f = await ops.nodeFacts(n);
        if (f.engine !== n.engine || (f.engine === to && f.version !== ctx.hop.toVersion)) {
          throw new DriverError('VERIFY_FAILED', `${n.name} runs ${f.engine} ${f.version}, expected ${to} ${ctx.hop.toVersion}`);
        }
        if (f.role === 'replica') await ops.waitInStep(g, n, this.verifyTimeoutMs, signal);
        log(
          `${n.name}: ${f.engine} ${f.version}, ${f.role}${f.role === 'replica' ? ', linked and in step with its primary' : ''}`,
        );
        return { node: serving(n, f, ctx.hop.toVersion) };
      }
      case 'rejoin': {
        const summary = await ops.healthGate(g, this.verifyTimeoutMs, signal);
        log(`health gate: ${summary}`);
        return node ? { node: { name: node.name, health: 'healthy' } } : {};
      }
      case 'switchover':
        return this.switchover(g, ctx);
      case 'finalize':
        return this.finalize(g, ctx, to);
      case 'restore': {
        const n = need();
        const was = srv.running(n);
        await ops.startNode(n, log);
        const f = await ops.nodeFacts(n);
        if (f.role === 'replica') await ops.waitInStep(g, n, this.verifyTimeoutMs, signal);
        return {
          node: serving(n, f, ''),
          data: {
            summary: was
              ? `in service on ${f.engine} ${f.version}; nothing to do`
              : `started on ${f.engine} ${f.version}; it was stopped`,
            started: !was,
          },
        };
      }
      default:
        throw new DriverError('UNSUPPORTED', `the redis driver has no step ${step.action}`);
    }
  }

  /** an RDB of every primary, kept under backups/<upgrade> until the upgrade finishes */
  private async backup(g: GroupLayout, ctx: StepContext): Promise<StepResult> {
    const dir = path.join(g.root, 'backups', ctx.upgrade.id);
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const n of g.nodes) {
      if ((await grp.roleOf(n)) !== 'primary') continue;
      const before = Number(await srv.call(n.port, 'LASTSAVE'));
      await srv.call(n.port, 'BGSAVE').catch((e: Error) => {
        if (!/already in progress|scheduled/i.test(e.message)) throw e;
      });
      await srv.waitFor(
        `${n.name}: BGSAVE`,
        async () => Number(await srv.call(n.port, 'LASTSAVE')) > before,
        this.verifyTimeoutMs,
        ctx.signal,
      );
      const file = path.join(dir, `${n.name}.rdb`);
      await copyFile(path.join(n.dir, 'dump.rdb'), file);
      files.push(file);
      ctx.log(`${n.name}: RDB saved to ${file}`);
    }
    return { data: { path: dir, files } };
  }

  private async switchover(g: GroupLayout, ctx: StepContext): Promise<StepResult> {
    const toName = typeof ctx.step.params.to === 'string' ? ctx.step.params.to : null;
    if (!toName) throw new DriverError('NO_SWITCHOVER_CANDIDATE', 'the switchover names no node to hand over to');
    const to = grp.nodeOf(g, toName);
    try {
      const r = await ops.failover(g, to, this.verifyTimeoutMs, ctx.log, ctx.signal, () =>
        this.faults.hitDriver('redis.failover_issued'),
      );
      const facts = await ops.nodeFacts(to);
      return {
        nodes: [
          ...(r.from ? [{ name: r.from, role: 'replica', health: 'healthy' as const }] : []),
          {
            name: r.to,
            role: 'primary',
            health: 'healthy',
            engine: facts.engine,
            ...(facts.version ? { version: facts.version } : {}),
          },
        ],
        data: { from: r.from, to: r.to, switchMs: r.switchMs },
      };
    } catch (e) {
      throw e instanceof DriverError ? e : new DriverError('SWITCHOVER_FAILED', (e as Error).message, true);
    }
  }

  /**
   * Every node on the new engine and healthy; the Sentinels moved to the new engine one at a time
   * (each restarted on its own config, which it rewrote itself); the backup dropped.
   */
  private async finalize(g: GroupLayout, ctx: StepContext, to: RedisEngine): Promise<StepResult> {
    const topo = await this.inspect(ctx.target);
    const behind = topo.nodes.filter((n) => n.version !== ctx.hop.toVersion || n.engine !== to || n.health !== 'healthy');
    if (behind.length > 0) {
      throw new DriverError(
        'FINALIZE_INCOMPLETE',
        behind.map((n) => `${n.name}: ${n.engine} ${n.version} ${n.health}`).join('; '),
        true,
      );
    }
    if (g.topology === 'sentinel') {
      const primary = await grp.findPrimary(g);
      for (const s of g.sentinels) {
        if (s.engine === to && srv.running(s)) continue;
        await srv.stop(s);
        s.engine = to;
        await grp.saveGroup(g);
        await srv.start(s, { sentinel: true });
        await grp.waitSentinels(g, primary.port, g.nodes.length - 1, this.verifyTimeoutMs, ctx.signal);
        ctx.log(`${s.name}: Sentinel restarted on ${to}; it names ${primary.name} with the others`);
      }
    }
    await ops.healthGate(g, this.verifyTimeoutMs, ctx.signal);
    await rm(path.join(g.root, 'backups', ctx.upgrade.id), { recursive: true, force: true });
    ctx.log(`all ${topo.nodes.length} nodes on ${to} ${ctx.hop.toVersion} and healthy; backup removed`);
    return { nodes: topo.nodes };
  }

  async rollback(ctx: StepContext): Promise<StepResult> {
    const g = await this.group(ctx.target);
    const { step, log } = ctx;
    const { from } = this.engines(ctx);
    switch (step.action) {
      case 'stop':
      case 'install':
      case 'start':
      case 'verify':
      case 'rejoin': {
        if (!step.node) return {};
        const n = grp.nodeOf(g, step.node);
        const f = await ops.restoreReplica(g, n, from, this.verifyTimeoutMs, log, ctx.signal);
        return {
          node: { name: n.name, engine: f.engine, version: f.version ?? ctx.hop.fromVersion, role: 'replica', health: 'healthy' },
        };
      }
      case 'backup':
        await rm(path.join(g.root, 'backups', ctx.upgrade.id), { recursive: true, force: true });
        log(`backup ${ctx.upgrade.id} removed`);
        return {};
      default:
        log(`${step.action}: nothing to undo`);
        return {};
    }
  }

  /**
   * After a crash during a failover: the roles say whether it took effect. The node named is the
   * primary: applied (the Sentinels are pointed at it if they were not yet). The old primary still
   * is, with the named node its replica: not applied, the step runs again.
   */
  async reconcile(ctx: StepContext): Promise<ReconcileResult> {
    if (ctx.step.action !== 'switchover') return 'unknown';
    const g = await this.group(ctx.target);
    const toName = ctx.step.params.to;
    if (typeof toName !== 'string') return 'unknown';
    const to = grp.nodeOf(g, toName);
    // a FAILOVER still in progress settles within its own timeout
    await srv
      .waitFor(
        'a FAILOVER in progress to settle',
        async () => {
          for (const n of g.nodes) {
            const i = await srv.info(n.port, 'replication').catch(() => null);
            if (i?.master_failover_state && i.master_failover_state !== 'no-failover') return false;
          }
          return true;
        },
        30_000,
      )
      .catch(() => undefined);
    const facts = await ops.nodeFacts(to);
    if (facts.role === 'primary') {
      if (g.topology === 'sentinel') await ops.settleSentinelFailover(g, to, ctx.log, ctx.signal, this.verifyTimeoutMs);
      ctx.log(`${to.name} is the primary: the failover took effect`);
      return 'applied';
    }
    if (facts.role === 'replica' && facts.linkUp) {
      ctx.log(`${to.name} is still a replica: the failover did not happen`);
      return 'not_applied';
    }
    return 'unknown';
  }
}
