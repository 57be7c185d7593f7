// Blue/green upgrades of a postgres cluster (mode blue_green), across major versions: a second
// cluster (green) on the new version is built beside the running one (blue), gets blue's roles and
// schema (read from the catalog: no pg_dump of the new major is needed), is filled and kept in step
// by logical replication, and takes the traffic at a cutover behind PgBouncer. At the cutover
// replication is reversed (green publishes, blue subscribes), so for the rollback window blue keeps
// every write made on green, and a rollback is a second cutover back to blue.
//
// Everything a step needs is on disk, so any step can run in a fresh process after a crash:
//   <root>/cluster.json      the cluster clients use now (blue's nodes, or green's after cutover)
//   <root>/bluegreen.json    both clusters, what was copied, and the cutover's progress
//   <root>/bg-<upgrade>/     green's nodes (its own cluster.json while it is built)
//
// Replication objects have fixed names on both sides: publication `liftgate_bg` on the side clients
// use, subscription `liftgate_bg` on the other, one slot per database (`lg_bg_<side>_<n>`, on the
// publisher, named after the subscriber's side). A table `liftgate_bg.mark` on both sides carries
// the cutover's marker row: once green shows blue's marker, green has applied every commit before it.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { PrecheckItem, TargetNode } from '../../domain/types.ts';
import { DriverError, type StepContext, type StepResult } from '../driver.ts';
import { majorOf, type BinaryCatalog } from './binaries.ts';
import * as cl from './cluster.ts';
import type { ClusterState, NodeLayout } from './cluster.ts';
import { startCutoverWatchdog, stopCutoverWatchdog } from './cutover-watchdog-spawn.ts';
import * as ops from './node-ops.ts';
import * as pooler from './pooler.ts';
import * as sc from './schema-copy.ts';
import * as server from './server.ts';
import { switchover } from './switchover.ts';
import { compare as compareWorkload, isRead, loadWorkload } from './flighting.ts';

export type Side = 'blue' | 'green';
const other = (s: Side): Side => (s === 'blue' ? 'green' : 'blue');

export interface CutoverMark {
  /** one cutover attempt: a watchdog acts only for its own attempt */
  token: string;
  from: Side;
  to: Side;
  /** pausing: PAUSE sent; paused: clients held; switching: replication being reversed; switched: the pooler points at `to` */
  phase: 'pausing' | 'paused' | 'switching' | 'switched' | 'undone';
  /** ms since epoch: past it, the cutover is undone and clients resume where they were */
  deadline: number;
  pausedAt: number;
  watchdogPid: number | null;
}

export interface BgState {
  upgradeId: string;
  toVersion: string;
  /** the cluster before the upgrade, as cluster.json had it */
  blue: ClusterState;
  green: ClusterState | null;
  /** green's servers are built and running (a half-built green is built again) */
  greenReady: boolean;
  /** the databases replicated, in a fixed order (slot names use the position) */
  databases: string[];
  /** tables given REPLICA IDENTITY FULL for the window, per database */
  identityFull: Record<string, string[]>;
  /** statements run on green once its data is copied (foreign keys and the like), per database */
  post: Record<string, string[]>;
  postApplied: Record<string, boolean>;
  matviews: Record<string, string[]>;
  /** the side clients use */
  active: Side;
  cutover: CutoverMark | null;
  switchedAt: string | null;
}

export const PUB = 'liftgate_bg';
export const SUB = 'liftgate_bg';
/** the schema of Liftgate's own objects in each database (DDL guard, cutover marker); never copied */
export const OWN_SCHEMA = 'liftgate_bg';
/** pg_subscription is shared by every database of a server: this database's subscription of ours */
const SUB_HERE = `s.subname = '${SUB}' AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;
/** the lag a cutover waits (at most PAUSE_SETTLE_MS) to be under before it holds clients */
const PAUSE_LAG_BYTES = 64 * 1024;
const PAUSE_SETTLE_MS = 2_000;
export const slotOf = (subscriberSide: Side, i: number): string => `lg_bg_${subscriberSide}_${i}`;

/** Liftgate's own objects (schema, DDL guard, publication) are named liftgate_bg...: never the application's */
const ours = (text: string): boolean => text.includes(OWN_SCHEMA);

const named = (p: sc.SchemaProblem): string => (p.object.startsWith(p.kind) ? p.object : `${p.kind} ${p.object}`);

/** this database's subscription of ours is dropped (with its slot on the publisher) when there is one */
async function dropSubscription(c: pg.Client): Promise<void> {
  const r = await c.query(`SELECT 1 FROM pg_subscription s WHERE ${SUB_HERE}`);
  if (r.rowCount! > 0) await c.query(`DROP SUBSCRIPTION ${SUB}`);
}

/** the schema's fingerprint without the upgrade's own objects */
async function fingerprint(port: number, db: string): Promise<{ digest: string; lines: string[] }> {
  const fp = await sc.schemaFingerprint(port, db);
  const lines = fp.lines.filter((l) => !ours(l));
  return { digest: createHash('sha256').update(lines.join('\n')).digest('hex'), lines };
}

/** what the schema copy cannot carry, the upgrade's own objects aside */
async function problemsOf(port: number, db: string, toMajor: number): Promise<sc.SchemaProblem[]> {
  return (await sc.uncopyable(port, db, { toMajor })).filter((p) => !ours(p.object));
}

const bgFile = (root: string): string => path.join(root, 'bluegreen.json');

export async function loadBg(root: string): Promise<BgState | null> {
  try {
    return JSON.parse(await readFile(bgFile(root), 'utf8')) as BgState;
  } catch {
    return null;
  }
}

export async function saveBg(root: string, bg: BgState): Promise<void> {
  const file = bgFile(root);
  await writeFile(`${file}.tmp`, JSON.stringify(bg, null, 2));
  await rename(`${file}.tmp`, file);
}

export function clusterOf(bg: BgState, side: Side): ClusterState {
  const c = side === 'blue' ? bg.blue : bg.green;
  if (!c) throw new DriverError('CLUSTER_NOT_FOUND', `the ${side} cluster of upgrade ${bg.upgradeId} does not exist`);
  return c;
}

/** cluster.json at the target's root names the cluster clients use: the pooler belongs to the target */
async function activate(bg: BgState, side: Side): Promise<ClusterState> {
  const c = clusterOf(bg, side);
  const primary = await cl.findPrimary(c);
  const state: ClusterState = {
    ...c,
    root: bg.blue.root,
    primary: primary.name,
    previousPrimary: null,
    pooler: bg.blue.pooler,
  };
  await cl.saveCluster(state);
  return state;
}

/** a client on one database of a node; our own sessions may change the schema (the DDL guard lets them) */
async function withDb<T>(port: number, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database,
    connectionTimeoutMillis: 5_000,
    options: '-c liftgate.allow_ddl=on',
  });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export interface BgOptions {
  retentionSeconds: number;
  switchoverTimeoutMs: number;
  maxLagBytes: number;
  allowReplicaIdentityFull: boolean;
  maxTransactionSeconds: number;
}

export function bgOptions(options: Record<string, unknown>): BgOptions {
  const num = (k: string, d: number): number => (typeof options[k] === 'number' ? (options[k] as number) : d);
  return {
    retentionSeconds: num('retentionSeconds', 3600),
    switchoverTimeoutMs: num('switchoverTimeoutSeconds', 30) * 1000,
    maxLagBytes: num('maxLagBytes', 1048576),
    allowReplicaIdentityFull: options.allowReplicaIdentityFull !== false,
    maxTransactionSeconds: num('maxTransactionSeconds', 300),
  };
}

export interface BgEnv {
  catalog: BinaryCatalog;
  verifyTimeoutMs: number;
  pauseTimeoutMs: number;
  /** a named point inside a step where a test may kill the process (LIFTGATE_FAULT_POINT) */
  fault(point: string): void;
}

// ---- precheck ---------------------------------------------------------------------------------

const USER_TABLES = `c.relnamespace NOT IN (SELECT oid FROM pg_namespace
     WHERE nspname IN ('pg_catalog', 'information_schema', '${OWN_SCHEMA}') OR nspname LIKE 'pg_toast%' OR nspname LIKE 'pg_temp%')`;

/** tables logical replication cannot update or delete in: no primary key and no replica identity */
async function tablesWithoutIdentity(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${USER_TABLES}
        AND (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1`,
  );
  return r.rows.map((x) => x.name);
}

/** the findings a blue/green upgrade adds to the cluster checks */
export async function blueGreenChecks(
  state: ClusterState,
  toVersion: string,
  catalog: BinaryCatalog,
  opts: BgOptions,
): Promise<PrecheckItem[]> {
  const items: PrecheckItem[] = [];
  const primary = await cl.findPrimary(state);
  if (!cl.nodeRunning(primary)) return items;
  const [s] = await server.query<{
    wal_level: string;
    slots: number;
    senders: number;
    used_slots: number;
    used_senders: number;
    bytes: string;
  }>(
    primary.port,
    `SELECT current_setting('wal_level') AS wal_level,
            current_setting('max_replication_slots')::int AS slots, current_setting('max_wal_senders')::int AS senders,
            (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
            (SELECT count(*) FROM pg_stat_replication)::int AS used_senders,
            (SELECT sum(pg_database_size(oid)) FROM pg_database WHERE NOT datistemplate)::text AS bytes`,
  );
  items.push({
    name: 'logical_decoding',
    status: s!.wal_level === 'logical' ? 'pass' : 'warn',
    message:
      s!.wal_level === 'logical'
        ? 'wal_level is logical'
        : `wal_level is ${s!.wal_level}: the stage "Enable logical decoding" restarts each node once (replicas first, then a switchover), with no client error behind a pooler`,
  });
  const databases = await sc.listDatabases(primary.port);
  const needSlots = databases.length;
  const freeSlots = s!.slots - s!.used_slots;
  const freeSenders = s!.senders - s!.used_senders;
  items.push({
    name: 'replication_slots',
    status: freeSlots >= needSlots && freeSenders >= needSlots ? 'pass' : 'fail',
    message: `${databases.length} database(s) need ${needSlots} logical slot(s) and WAL sender(s): ${freeSlots} of ${s!.slots} slots and ${freeSenders} of ${s!.senders} senders free`,
  });
  const dataBytes = Number(s!.bytes);
  const fs = await statfs(state.root);
  const free = fs.bavail * fs.bsize;
  const need = Math.round(dataBytes * state.nodes.length * 1.2) + 256 * 1048576;
  items.push({
    name: 'disk_space_green',
    status: free >= need ? 'pass' : 'fail',
    message: `green needs about ${(need / 1073741824).toFixed(2)} GiB (${state.nodes.length} nodes x ${(dataBytes / 1048576).toFixed(0)} MiB, and headroom); ${(free / 1073741824).toFixed(1)} GiB free`,
  });
  const [tx] = await server.query<{ n: number; oldest: string | null; idle: number }>(
    primary.port,
    `SELECT count(*)::int AS n, max(format('pid %s (%s, %s s)', pid, state, extract(epoch FROM now() - xact_start)::int)) AS oldest,
            count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle
       FROM pg_stat_activity WHERE xact_start < now() - make_interval(secs => $1) AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    [opts.maxTransactionSeconds],
  );
  items.push({
    name: 'long_transactions',
    status: tx!.n === 0 ? 'pass' : 'fail',
    message:
      tx!.n === 0
        ? `no transaction open longer than ${opts.maxTransactionSeconds} s`
        : `${tx!.n} transaction(s) open longer than ${opts.maxTransactionSeconds} s (${tx!.idle} idle in transaction), e.g. ${tx!.oldest}: they hold back the initial copy's snapshot and the cutover's pause`,
  });
  const extensionsDir = path.join(catalog.nativeDir(toVersion), 'share', 'postgresql', 'extension');
  for (const db of databases) {
    await withDb(primary.port, db, async (c) => {
      const noIdentity = await tablesWithoutIdentity(c);
      if (noIdentity.length > 0) {
        items.push({
          name: 'replica_identity',
          status: opts.allowReplicaIdentityFull ? 'warn' : 'fail',
          message: opts.allowReplicaIdentityFull
            ? `${db}: ${noIdentity.join(', ')} ha${noIdentity.length === 1 ? 's' : 've'} no primary key: given REPLICA IDENTITY FULL for the replication window (each UPDATE and DELETE logs the whole old row, and green finds the row by a scan of the table); set back after`
            : `${db}: ${noIdentity.join(', ')} ha${noIdentity.length === 1 ? 's' : 've'} no primary key or replica identity, and allowReplicaIdentityFull is false: add a primary key, or allow REPLICA IDENTITY FULL for the window`,
        });
      }
      const ext = await c.query<{ extname: string }>(`SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`);
      for (const e of ext.rows) {
        const ok = existsSync(path.join(extensionsDir, `${e.extname}.control`));
        items.push({
          name: 'extension',
          status: ok ? 'pass' : 'fail',
          message: ok
            ? `${db}: extension ${e.extname} is available on ${toVersion}`
            : `${db}: extension ${e.extname} is not installed in the PostgreSQL ${toVersion} binaries`,
        });
      }
    });
    for (const p of await problemsOf(primary.port, db, majorOf(toVersion))) {
      items.push({ name: 'schema_copy', status: 'fail', message: `${db}: ${named(p)}: ${p.reason}` });
    }
  }
  items.push({
    name: 'ddl_freeze',
    status: 'pass',
    message:
      'from the schema copy until the old cluster is decommissioned (or the upgrade rolled back), schema changes (DDL) on either side are refused, so the two schemas cannot drift',
  });
  if (!state.pooler) {
    items.push({
      name: 'pooler',
      status: 'warn',
      message:
        'the cluster has no pooler: at cutover every client connection gets one error and must reconnect to the new endpoint (create the cluster with a pooler to hold clients instead)',
    });
  }
  if (majorOf(state.version) === majorOf(toVersion)) {
    items.push({
      name: 'version_path',
      status: 'pass',
      message: `${state.version} -> ${toVersion} is within one major: blue/green rebuilds the cluster by replication`,
    });
  }
  return items;
}

// ---- stage 1: logical decoding ----------------------------------------------------------------

async function walLevelOf(n: NodeLayout): Promise<string | null> {
  if (!cl.nodeRunning(n)) return null;
  const [r] = await server.query<{ w: string }>(n.port, `SELECT current_setting('wal_level') AS w`);
  return r?.w ?? null;
}

/** wal_level = logical on every node: replicas restart first, then a switchover, then the old primary */
export async function enableLogical(state: ClusterState, env: BgEnv, ctx: StepContext): Promise<StepResult> {
  const { log } = ctx;
  const levels = await Promise.all(state.nodes.map(async (n) => ({ n, w: await walLevelOf(n) })));
  if (levels.every((x) => x.w === 'logical')) {
    log(`wal_level is logical on all ${state.nodes.length} nodes: nothing to do`);
    return { data: { restarted: 0 } };
  }
  state.walLevel = 'logical';
  await cl.saveCluster(state);
  let primary = await cl.findPrimary(state);
  let restarted = 0;
  const restart = async (n: NodeLayout): Promise<void> => {
    await server.writeNodeConfig(cl.dataDir(n), n.port, 'logical');
    if ((await walLevelOf(n)) === 'logical') return;
    await ops.stopMember(n, log);
    await ops.startMember(state, n, log);
    await ops.verifyMember(state, n, (await cl.nodeFacts(n)).version ?? state.version, env.verifyTimeoutMs, log, ctx.signal);
    restarted++;
    log(`${n.name}: restarted with wal_level = logical`);
  };
  for (const n of state.nodes) if (n.name !== primary.name) await restart(n);
  if ((await walLevelOf(primary)) !== 'logical') {
    const to = state.nodes.find((n) => n.name !== primary.name);
    if (!to) {
      // a single node cannot hand over: a restart is the only way (clients see it)
      await restart(primary);
    } else {
      await server.writeNodeConfig(cl.dataDir(primary), primary.port, 'logical');
      const r = await switchover(state, to.name, {
        log,
        catchUpTimeoutMs: env.verifyTimeoutMs,
        pauseTimeoutMs: env.pauseTimeoutMs,
        signal: ctx.signal,
      }).catch((e: unknown) => {
        throw e instanceof DriverError ? e : new DriverError('SWITCHOVER_FAILED', (e as Error).message, true);
      });
      log(`switchover ${r.from} -> ${r.to}: write outage ${r.outageMs} ms, clients stalled ${r.stallMs} ms`);
      const old = cl.nodeOf(state, r.from);
      await ops.startMember(state, old, log);
      primary = cl.nodeOf(state, r.to);
      await ops.verifyMember(
        state,
        old,
        (await cl.nodeFacts(old)).version ?? state.version,
        env.verifyTimeoutMs,
        log,
        ctx.signal,
      );
      restarted++;
    }
  }
  const nodes = await Promise.all(
    state.nodes.map(async (n) => {
      const f = await cl.nodeFacts(n);
      return { name: n.name, role: f.inRecovery ? 'replica' : 'primary', health: 'healthy' as const };
    }),
  );
  return { nodes, data: { restarted, primary: primary.name } };
}

// ---- stage 2: provision green -------------------------------------------------------------------

export async function provisionGreen(root: string, env: BgEnv, ctx: StepContext, targetId: string): Promise<StepResult> {
  const { log, hop, upgrade } = ctx;
  let bg = await loadBg(root);
  if (bg && bg.upgradeId !== upgrade.id) {
    throw new DriverError(
      'BLUE_GREEN_IN_PROGRESS',
      `upgrade ${bg.upgradeId} left a green cluster beside this one (${bg.green?.root ?? 'not built'}); roll it back or finish it first`,
    );
  }
  if (!bg) {
    const blue = await cl.loadCluster(root);
    bg = {
      upgradeId: upgrade.id,
      toVersion: hop.toVersion,
      blue,
      green: null,
      greenReady: false,
      databases: [],
      identityFull: {},
      post: {},
      postApplied: {},
      matviews: {},
      active: 'blue',
      cutover: null,
      switchedAt: null,
    };
    await saveBg(root, bg);
  }
  if (bg.green && bg.greenReady) {
    for (const n of bg.green.nodes) await ops.startMember(bg.green, n, log);
    log(`green (${bg.green.nodes.map((n) => n.name).join(', ')}) was built before: started what was stopped`);
    return { data: { green: bg.green.nodes.map((n) => ({ name: n.name, port: n.port })) } };
  }
  const greenRoot = path.join(root, `bg-${upgrade.id}`);
  if (existsSync(greenRoot)) {
    // built before a crash, not yet recorded: a green whose every node serves is kept, not built twice
    const adopted = await adoptGreen(greenRoot, hop.toVersion, bg.blue.nodes.length, env, log, ctx.signal);
    if (adopted) {
      bg.green = adopted;
      bg.greenReady = true;
      await saveBg(root, bg);
      return { data: { green: adopted.nodes.map((n) => ({ name: n.name, port: n.port })), adopted: true } };
    }
    log(`a half-built green at ${greenRoot} is removed and built again`);
    await cl.destroyCluster(greenRoot);
  }
  const taken = new Set(bg.blue.nodes.map((n) => n.name));
  const names: string[] = [];
  for (let i = 1; names.length < bg.blue.nodes.length; i++) if (!taken.has(`${targetId}-${i}`)) names.push(`${targetId}-${i}`);
  const t0 = Date.now();
  const green = await cl.createCluster(greenRoot, hop.toVersion, bg.blue.nodes.length - 1, env.catalog, names, log, 'logical');
  env.fault('bg.green_built');
  bg.green = green;
  bg.greenReady = true;
  await saveBg(root, bg);
  log(`green built on ${hop.toVersion} in ${Date.now() - t0} ms: ${green.nodes.map((n) => `${n.name} :${n.port}`).join(', ')}`);
  return { data: { green: green.nodes.map((n) => ({ name: n.name, port: n.port })), ms: Date.now() - t0 } };
}

async function adoptGreen(
  greenRoot: string,
  version: string,
  size: number,
  env: BgEnv,
  log: (l: string) => void,
  signal: AbortSignal,
): Promise<ClusterState | null> {
  try {
    const green = await cl.loadCluster(greenRoot);
    if (green.nodes.length !== size || green.nodes.some((n) => !existsSync(path.join(cl.dataDir(n), `PG_VERSION`)))) return null;
    for (const n of green.nodes) await ops.startMember(green, n, log);
    for (const n of green.nodes) await ops.verifyMember(green, n, version, env.verifyTimeoutMs, log, signal);
    log(`green (${green.nodes.map((n) => n.name).join(', ')}) was built before a restart and serves: kept`);
    return green;
  } catch (e) {
    log(`green at ${greenRoot} cannot be kept: ${(e as Error).message}`);
    return null;
  }
}

// ---- stage 3: roles and schema -----------------------------------------------------------------

const GUARD_SQL = (upgradeId: string): string[] => [
  `CREATE SCHEMA IF NOT EXISTS ${OWN_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${OWN_SCHEMA}.mark (token text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`,
  `CREATE OR REPLACE FUNCTION ${OWN_SCHEMA}.refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $f$
   BEGIN
     IF current_setting('liftgate.allow_ddl', true) IS DISTINCT FROM 'on' THEN
       RAISE EXCEPTION 'schema changes are refused while this database is replicated for a blue/green upgrade (%)', ${lit(upgradeId)}
         USING ERRCODE = 'object_not_in_prerequisite_state',
               HINT = 'run it after the upgrade is finalized or rolled back';
     END IF;
   END $f$`,
  `DO $d$ BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'liftgate_bg_refuse_ddl') THEN
       CREATE EVENT TRIGGER liftgate_bg_refuse_ddl ON ddl_command_start EXECUTE FUNCTION ${OWN_SCHEMA}.refuse_ddl();
     END IF;
   END $d$`,
];

const UNGUARD_SQL = [`DROP EVENT TRIGGER IF EXISTS liftgate_bg_refuse_ddl`, `DROP SCHEMA IF EXISTS ${OWN_SCHEMA} CASCADE`];

async function runAll(port: number, db: string, statements: string[]): Promise<void> {
  await withDb(port, db, async (c) => {
    for (const s of statements) await c.query(s);
  });
}

export async function copySchema(root: string, env: BgEnv, ctx: StepContext): Promise<StepResult> {
  const { log } = ctx;
  const bg = await mustLoad(root);
  const opts = bgOptions(ctx.upgrade.options);
  const blue = await cl.findPrimary(bg.blue);
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  const databases = await sc.listDatabases(blue.port);
  bg.databases = databases;
  await saveBg(root, bg);
  // DDL is refused on blue from now on: what is copied stays what blue has
  for (const db of databases) {
    await runAll(blue.port, db, GUARD_SQL(bg.upgradeId));
    const noIdentity = await withDb(blue.port, db, tablesWithoutIdentity);
    if (noIdentity.length > 0) {
      if (!opts.allowReplicaIdentityFull) {
        throw new DriverError(
          'SCHEMA_COPY_FAILED',
          `${db}: ${noIdentity.join(', ')} ha${noIdentity.length === 1 ? 's' : 've'} no primary key`,
        );
      }
      bg.identityFull[db] = [...new Set([...(bg.identityFull[db] ?? []), ...noIdentity])];
      await saveBg(root, bg);
      await runAll(
        blue.port,
        db,
        noIdentity.map((t) => `ALTER TABLE ${t} REPLICA IDENTITY FULL`),
      );
      log(`${db}: REPLICA IDENTITY FULL for ${noIdentity.join(', ')} (no primary key)`);
    }
  }
  log(`blue ${blue.name}: DDL refused by event trigger liftgate_bg_refuse_ddl in ${databases.join(', ')}`);
  const roles = await sc.exportRoles(blue.port);
  await sc.applyStatements(green.port, 'postgres', roles, log);
  log(`roles: ${roles.length} statement(s) applied on green ${green.name}`);
  const copied: Record<string, number> = {};
  for (const db of databases) {
    const blueFp = await fingerprint(blue.port, db);
    const exp = await sc.exportSchema(blue.port, db, { toMajor: majorOf(bg.toVersion) });
    const problems = exp.problems.filter((p) => !ours(p.object));
    if (problems.length > 0) {
      throw new DriverError('SCHEMA_COPY_FAILED', `${db}: ${problems.map((p) => `${named(p)}: ${p.reason}`).join('; ')}`);
    }
    bg.post[db] = exp.post;
    bg.matviews[db] = exp.matviews;
    await saveBg(root, bg);
    await ensureDatabase(blue.port, green.port, db);
    const greenFp = await fingerprint(green.port, db);
    if (greenFp.digest === blueFp.digest) {
      log(`${db}: green already has blue's schema (fingerprint ${blueFp.digest.slice(0, 12)}): not copied again`);
    } else {
      await sc.applyStatements(green.port, db, exp.pre, log);
      copied[db] = exp.pre.length;
      log(`${db}: ${exp.pre.length} statement(s) of schema applied on green`);
    }
    await runAll(green.port, db, GUARD_SQL(bg.upgradeId).slice(0, 2));
    env.fault('bg.schema_copied');
  }
  return { data: { databases, copied, roles: roles.length, identityFull: bg.identityFull } };
}

async function ensureDatabase(bluePort: number, greenPort: number, db: string): Promise<void> {
  const exists = await server.query(greenPort, 'SELECT 1 FROM pg_database WHERE datname = $1', [db]);
  if (exists.length > 0) return;
  await server.query(greenPort, await sc.createDatabaseStatement(bluePort, db));
}

async function mustLoad(root: string): Promise<BgState> {
  const bg = await loadBg(root);
  if (!bg) throw new DriverError('CLUSTER_NOT_FOUND', `no blue/green state at ${root}: the green cluster was not provisioned`);
  return bg;
}

// ---- stage 4: initial copy -------------------------------------------------------------------

/** the subscriber side subscribes to the publisher side in every database; created only when missing */
async function subscribe(bg: BgState, publisher: Side, copyData: boolean, log: (l: string) => void): Promise<void> {
  const pubPrimary = await cl.findPrimary(clusterOf(bg, publisher));
  const subSide = other(publisher);
  const subPrimary = await cl.findPrimary(clusterOf(bg, subSide));
  const subMajor = majorOf((await cl.nodeFacts(subPrimary)).version ?? bg.toVersion);
  for (const [i, db] of bg.databases.entries()) {
    await withDb(pubPrimary.port, db, async (c) => {
      const has = await c.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [PUB]);
      if (has.rowCount === 0) await c.query(`CREATE PUBLICATION ${PUB} FOR ALL TABLES`);
    });
    await withDb(subPrimary.port, db, async (c) => {
      const has = await c.query(`SELECT subenabled FROM pg_subscription s WHERE ${SUB_HERE}`);
      if (has.rowCount! > 0) return;
      const conn = `host=127.0.0.1 port=${pubPrimary.port} user=postgres dbname=${db} application_name=liftgate_bg_${subSide}`;
      // origin = none (16+): changes the subscriber got by replication are not sent back, so the
      // two directions can never loop even if both existed at once
      const origin = subMajor >= 16 ? ', origin = none' : '';
      await c.query(
        `CREATE SUBSCRIPTION ${SUB} CONNECTION ${lit(conn)} PUBLICATION ${PUB}
           WITH (copy_data = ${copyData}, slot_name = ${lit(slotOf(subSide, i))}, synchronous_commit = 'on'${origin})`,
      );
      log(`${db}: ${subSide} subscribes to ${publisher} (${pubPrimary.name} :${pubPrimary.port}), copy_data = ${copyData}`);
    });
  }
}

interface CopyFigures {
  bytesDone: number;
  bytesTotal: number;
  tablesDone: number;
  tablesTotal: number;
}

async function copyFigures(bg: BgState, sizes: Map<string, number>): Promise<CopyFigures> {
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  let bytesDone = 0;
  let tablesDone = 0;
  const seen = new Set<string>();
  for (const db of bg.databases) {
    const rows = await withDb(
      green.port,
      db,
      async (c) =>
        (
          await c.query<{ rel: string; st: string; size: string }>(
            `SELECT format('%I.%I', n.nspname, cl.relname) AS rel, r.srsubstate AS st, pg_table_size(r.srrelid)::text AS size
             FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
             JOIN pg_class cl ON cl.oid = r.srrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
            WHERE ${SUB_HERE}`,
          )
        ).rows,
    );
    for (const r of rows) {
      const key = `${db}/${r.rel}`;
      seen.add(key);
      const full = sizes.get(key) ?? 0;
      if (r.st === 'r' || r.st === 's') {
        bytesDone += full;
        tablesDone++;
      } else if (r.st === 'd' || r.st === 'f') bytesDone += Math.min(full, Number(r.size));
    }
  }
  return { bytesDone, bytesTotal: [...sizes.values()].reduce((a, b) => a + b, 0), tablesDone, tablesTotal: sizes.size };
}

export async function initialCopy(root: string, env: BgEnv, ctx: StepContext): Promise<StepResult> {
  const { log } = ctx;
  const bg = await mustLoad(root);
  const blue = await cl.findPrimary(bg.blue);
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  // what there is to copy, per table, measured on blue once
  const sizes = new Map<string, number>();
  for (const db of bg.databases) {
    await withDb(blue.port, db, async (c) => {
      const has = await c.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [PUB]);
      if (has.rowCount === 0) await c.query(`CREATE PUBLICATION ${PUB} FOR ALL TABLES`);
      const r = await c.query<{ rel: string; size: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS rel, pg_table_size(format('%I.%I', schemaname, tablename)::regclass)::text AS size
           FROM pg_publication_tables WHERE pubname = $1`,
        [PUB],
      );
      for (const x of r.rows) sizes.set(`${db}/${x.rel}`, Number(x.size));
    });
  }
  const existed = await Promise.all(
    bg.databases.map((db) =>
      withDb(green.port, db, async (c) => (await c.query(`SELECT 1 FROM pg_subscription s WHERE ${SUB_HERE}`)).rowCount! > 0),
    ),
  );
  if (existed.every(Boolean)) log('the subscriptions exist: the copy goes on where it is (not started again)');
  await subscribe(bg, 'blue', true, log);
  env.fault('bg.copy_started');
  const t0 = Date.now();
  let first: { at: number; bytes: number } | null = null;
  let figures = await copyFigures(bg, sizes);
  for (;;) {
    ctx.signal.throwIfAborted();
    figures = await copyFigures(bg, sizes);
    const now = Date.now();
    first ??= { at: now, bytes: figures.bytesDone };
    const rate = now > first.at ? ((figures.bytesDone - first.bytes) / (now - first.at)) * 1000 : 0;
    const left = figures.bytesTotal - figures.bytesDone;
    ctx.progress?.({
      ...figures,
      rateBytesPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.ceil(left / rate) : null,
      elapsedSeconds: Math.round((now - t0) / 1000),
    });
    if (figures.tablesTotal === 0 || (figures.tablesDone === figures.tablesTotal && (await copyComplete(bg, green)))) break;
    await sleep(250, undefined, { signal: ctx.signal });
  }
  const seconds = (Date.now() - t0) / 1000;
  log(
    `initial copy: ${figures.tablesDone} table(s), ${(figures.bytesTotal / 1048576).toFixed(1)} MiB in ${seconds.toFixed(1)} s (${(figures.bytesTotal / 1048576 / Math.max(seconds, 0.001)).toFixed(1)} MiB/s)`,
  );
  // constraints and the like that are cheaper once the data is in
  for (const db of bg.databases) {
    if (bg.postApplied[db] || (bg.post[db] ?? []).length === 0) continue;
    await sc.applyStatements(green.port, db, bg.post[db]!, log);
    bg.postApplied[db] = true;
    await saveBg(root, bg);
  }
  await compareSchemas(bg, log);
  return {
    data: {
      bytes: figures.bytesTotal,
      tables: figures.tablesTotal,
      seconds: Math.round(seconds * 10) / 10,
      rateBytesPerSecond: Math.round(figures.bytesTotal / Math.max(seconds, 0.001)),
    },
  };
}

async function copyComplete(bg: BgState, green: NodeLayout): Promise<boolean> {
  for (const db of bg.databases) {
    const ready = await withDb(green.port, db, async (c) => {
      const r = await c.query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS n FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE ${SUB_HERE}`,
      );
      return r.rows[0]!.n === 0;
    });
    if (!ready) return false;
  }
  return true;
}

/** both catalogs describe the same schema in every database, or the step fails naming the difference */
async function compareSchemas(bg: BgState, log: (l: string) => void): Promise<void> {
  const blue = await cl.findPrimary(bg.blue);
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  for (const db of bg.databases) {
    const [a, b] = await Promise.all([fingerprint(blue.port, db), fingerprint(green.port, db)]);
    if (a.digest !== b.digest) {
      const diff = sc.fingerprintDiff(a, b);
      throw new DriverError(
        'SCHEMA_MISMATCH',
        `${db}: blue and green differ: ${diff.slice(0, 10).join('; ')}${diff.length > 10 ? ` (and ${diff.length - 10} more)` : ''}`,
      );
    }
    log(`${db}: catalog fingerprints match (${a.digest.slice(0, 12)}, ${a.lines.length} objects)`);
  }
}

// ---- stage 5: catch-up -------------------------------------------------------------------------

/** how far the subscriber side is behind, in bytes of the publisher's WAL (the largest over databases) */
async function lagBytes(bg: BgState, publisher: Side): Promise<number> {
  const p = await cl.findPrimary(clusterOf(bg, publisher));
  const slots = bg.databases.map((_, i) => slotOf(other(publisher), i));
  const [r] = await server.query<{ lag: string | null; missing: number }>(
    p.port,
    `SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))::bigint::text AS lag,
            ($2::int - count(*))::int AS missing
       FROM pg_replication_slots WHERE slot_name = ANY($1)`,
    [slots, slots.length],
  );
  if (r!.missing > 0)
    throw new DriverError(
      'REPLICATION_FAILED',
      `${r!.missing} of ${slots.length} replication slot(s) on ${publisher} are missing`,
    );
  return Number(r!.lag ?? 0);
}

export async function catchUp(root: string, ctx: StepContext): Promise<StepResult> {
  const bg = await mustLoad(root);
  const opts = bgOptions(ctx.upgrade.options);
  const t0 = Date.now();
  let lag = await lagBytes(bg, 'blue');
  while (lag > opts.maxLagBytes) {
    ctx.progress?.({ lagBytes: lag, boundBytes: opts.maxLagBytes, elapsedSeconds: Math.round((Date.now() - t0) / 1000) });
    await sleep(200, undefined, { signal: ctx.signal });
    lag = await lagBytes(bg, 'blue');
  }
  ctx.progress?.({ lagBytes: lag, boundBytes: opts.maxLagBytes, elapsedSeconds: Math.round((Date.now() - t0) / 1000) });
  ctx.log(`green is ${lag} bytes behind blue (bound ${opts.maxLagBytes}) after ${Date.now() - t0} ms`);
  await refreshMatviews(bg, 'green', ctx.log);
  return { data: { lagBytes: lag, ms: Date.now() - t0 } };
}

async function refreshMatviews(bg: BgState, side: Side, log: (l: string) => void): Promise<void> {
  const p = await cl.findPrimary(clusterOf(bg, side));
  for (const db of bg.databases) {
    const views = bg.matviews[db] ?? [];
    if (views.length === 0) continue;
    await runAll(
      p.port,
      db,
      views.map((v) => `REFRESH MATERIALIZED VIEW ${v}`),
    );
    log(`${db}: ${views.length} materialized view(s) refreshed on ${side}`);
  }
}

// ---- optional: flighting on green -----------------------------------------------------------

/**
 * The workload's read statements (options.flightingSql) on blue's and green's primaries, answers
 * and timings compared (both are in step, within the catch-up's bound). Writes are skipped: both
 * clusters are live. A statement that fails only on green fails the step, before any client moves.
 */
export async function flightGreen(root: string, ctx: StepContext): Promise<StepResult> {
  const bg = await mustLoad(root);
  const sqlText = ctx.upgrade.options.flightingSql;
  const statements = typeof sqlText === 'string' ? await loadWorkload(sqlText) : [];
  const reads = statements.filter(isRead);
  const skipped = statements.length - reads.length;
  if (skipped > 0) ctx.log(`${skipped} statement(s) that write are not replayed: blue and green are live`);
  const blue = await cl.findPrimary(bg.blue);
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  const stat = await compareWorkload(blue.port, green.port, reads, ctx.log);
  ctx.progress?.({ executed: stat.totalExecuted, exceptions: stat.exceptions, incorrect: stat.incorrect, slow: stat.slow });
  if (stat.exceptions > 0) {
    const first = stat.details?.find((d) => d.kind === 'exception');
    throw new DriverError(
      'FLIGHTING_FAILED',
      `${stat.exceptions} statement(s) failed on green only, e.g. ${first?.statement ?? '?'}: ${first?.message ?? ''}`,
    );
  }
  return { data: { ...stat, skippedWrites: skipped } };
}

// ---- stage 6: cutover (and back) -----------------------------------------------------------------

export interface SwitchFigures {
  from: Side;
  to: Side;
  stallMs: number;
  lagBytesAtPause: number;
  sequences: number;
  alreadyDone?: boolean;
}

/**
 * Moves clients from the side they use to the other: PAUSE at the pooler, the marker row written
 * on `from` and waited for on `to` (so `to` has applied every commit), sequences copied, the old
 * subscription disabled, `from` subscribed to `to`, the pooler pointed at `to`, RESUME. Anything not
 * done by the deadline is undone and clients resume on `from`. A watchdog process started at PAUSE
 * does the same if this process dies before it is done.
 */
export async function switchSides(root: string, env: BgEnv, ctx: StepContext, to: Side): Promise<SwitchFigures> {
  const { log } = ctx;
  const bg = await mustLoad(root);
  const from = other(to);
  if (bg.active === to) {
    log(`clients already use ${to}: completing what follows the switch`);
    await afterSwitch(bg, from, log);
    return { from, to, stallMs: 0, lagBytesAtPause: 0, sequences: 0, alreadyDone: true };
  }
  const opts = bgOptions(ctx.upgrade.options);
  const fromP = await cl.findPrimary(clusterOf(bg, from));
  const toP = await cl.findPrimary(clusterOf(bg, to));
  await refreshMatviews(bg, to, log);
  // clients are held while `to` applies what it is behind at the pause: the closer it is, the
  // shorter the hold, so give it a moment (bounded) to come within a small lag first
  const t0 = Date.now();
  let lagBytesAtPause = await lagBytes(bg, from);
  while (lagBytesAtPause > PAUSE_LAG_BYTES && Date.now() - t0 < PAUSE_SETTLE_MS) {
    await sleep(10, undefined, { signal: ctx.signal });
    lagBytesAtPause = await lagBytes(bg, from);
  }
  const poolPort = bg.blue.pooler?.port;
  const mark: CutoverMark = {
    token: randomUUID(),
    from,
    to,
    phase: 'pausing',
    deadline: Date.now() + opts.switchoverTimeoutMs,
    pausedAt: Date.now(),
    watchdogPid: null,
  };
  bg.cutover = mark;
  await saveBg(root, bg);
  if (poolPort) mark.watchdogPid = startCutoverWatchdog(root, mark.token, mark.deadline);
  await saveBg(root, bg);
  const left = (): number => mark.deadline - Date.now();
  const timedOut = (what: string): DriverError =>
    new DriverError(
      'CUTOVER_TIMEOUT',
      `cutover ${from} -> ${to} did not finish within ${opts.switchoverTimeoutMs / 1000} s (${what}); undone, clients resumed on ${from}`,
      true,
    );
  try {
    if (poolPort) {
      try {
        await pooler.pause(poolPort, Math.max(1, left()));
      } catch (e) {
        throw timedOut(`PAUSE waited for running transactions: ${(e as Error).message}`);
      }
    }
    mark.pausedAt = Date.now();
    mark.phase = 'paused';
    await saveBg(root, bg);
    log(
      poolPort ? `pgbouncer :${poolPort}: PAUSE (${lagBytesAtPause} bytes behind at pause)` : 'no pooler: clients are not held',
    );
    env.fault('bg.cutover_paused');
    // every commit on `from` before the marker is applied on `to` once the marker shows there
    for (const db of bg.databases) {
      await withDb(fromP.port, db, (c) => c.query(`INSERT INTO ${OWN_SCHEMA}.mark (token) VALUES ($1)`, [`${mark.token}`]));
    }
    for (const db of bg.databases) {
      await withDb(toP.port, db, async (c) => {
        for (;;) {
          const r = await c.query(`SELECT 1 FROM ${OWN_SCHEMA}.mark WHERE token = $1`, [mark.token]);
          if (r.rowCount! > 0) return;
          if (left() <= 0) throw timedOut(`${to} had not applied ${from}'s last changes in ${db}`);
          await sleep(2);
        }
      });
    }
    const sequences = await copySequences(bg, fromP, toP);
    if (left() <= 0) throw timedOut('copying sequence values');
    mark.phase = 'switching';
    await saveBg(root, bg);
    env.fault('bg.cutover_switching');
    // the old direction stops first, then the new one starts: nothing can loop
    for (const db of bg.databases) {
      await withDb(toP.port, db, (c) => c.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`));
    }
    await subscribe(bg, to, false, log);
    for (const db of bg.databases) await runAll(toP.port, db, GUARD_SQL(bg.upgradeId));
    if (left() <= 0) throw timedOut('reversing replication');
    if (poolPort) await pooler.repoint(root, poolPort, toP.port);
    mark.phase = 'switched';
    bg.active = to;
    bg.switchedAt = new Date().toISOString();
    await saveBg(root, bg);
    await activate(bg, to);
    env.fault('bg.cutover_repointed');
    let stallMs = 0;
    if (poolPort) {
      await pooler.resume(poolPort);
      stallMs = Date.now() - mark.pausedAt;
      log(`pgbouncer :${poolPort}: RELOAD (-> ${toP.name} :${toP.port}), RESUME; clients held ${stallMs} ms`);
    }
    stopCutoverWatchdog(mark.watchdogPid);
    await afterSwitch(bg, from, log);
    await saveBg(root, bg);
    return { from, to, stallMs, lagBytesAtPause, sequences };
  } catch (e) {
    stopCutoverWatchdog(mark.watchdogPid);
    if (mark.phase === 'switched') throw e;
    await undoSwitch(root, log).catch((u: unknown) => log(`undo failed: ${(u as Error).message}`));
    if (e instanceof DriverError) throw e;
    throw new DriverError('CUTOVER_FAILED', `cutover ${from} -> ${to} failed and was undone: ${(e as Error).message}`, true);
  }
}

async function copySequences(bg: BgState, fromP: NodeLayout, toP: NodeLayout): Promise<number> {
  let n = 0;
  for (const db of bg.databases) {
    const seqs = await withDb(
      fromP.port,
      db,
      async (c) =>
        (
          await c.query<{ s: string; n: string; v: string | null; start: string }>(
            `SELECT schemaname AS s, sequencename AS n, last_value::text AS v, start_value::text AS start FROM pg_sequences
            WHERE schemaname <> '${OWN_SCHEMA}'`,
          )
        ).rows,
    );
    if (seqs.length === 0) continue;
    await withDb(toP.port, db, (c) =>
      c.query(
        `SELECT setval(format('%I.%I', s, n)::regclass, v, called) FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[]) AS t(s, n, v, called)`,
        [seqs.map((x) => x.s), seqs.map((x) => x.n), seqs.map((x) => x.v ?? x.start), seqs.map((x) => x.v !== null)],
      ),
    );
    n += seqs.length;
  }
  return n;
}

/** after a switch: the old direction's subscription (disabled) and its slot go, and the old publication */
async function afterSwitch(bg: BgState, from: Side, log: (l: string) => void): Promise<void> {
  const to = other(from);
  const fromP = await cl.findPrimary(clusterOf(bg, from));
  const toP = await cl.findPrimary(clusterOf(bg, to));
  for (const db of bg.databases) {
    await withDb(toP.port, db, dropSubscription);
    await withDb(fromP.port, db, (c) => c.query(`DROP PUBLICATION IF EXISTS ${PUB}`));
  }
  if (bg.blue.pooler && pooler.poolerRunning(bg.blue.root)) {
    // after a crash between PAUSE and RESUME the pooler may still hold clients: always release it
    await pooler.resume(bg.blue.pooler.port).catch(() => undefined);
  }
  log(`${to} publishes to ${from}; the ${from} -> ${to} subscription and its slot are dropped`);
}

/**
 * Undoes a cutover that did not reach `switched`: the new direction's subscription is dropped,
 * the old one enabled again, the pooler pointed back (it never moved) and resumed. Safe to run
 * again and from another process (the watchdog): each part checks what is there.
 */
export async function undoSwitch(root: string, log: (l: string) => void): Promise<boolean> {
  const bg = await loadBg(root);
  const mark = bg?.cutover;
  if (!bg || !mark || mark.phase === 'switched' || mark.phase === 'undone') {
    if (bg?.blue.pooler && mark?.phase === 'switched') await pooler.resume(bg.blue.pooler.port).catch(() => undefined);
    return false;
  }
  const { from, to } = mark;
  const fromP = await cl.findPrimary(clusterOf(bg, from));
  const toP = await cl.findPrimary(clusterOf(bg, to));
  for (const db of bg.databases) {
    await withDb(fromP.port, db, dropSubscription);
    await withDb(toP.port, db, async (c) => {
      await c.query(`DROP PUBLICATION IF EXISTS ${PUB}`);
      const r = await c.query(`SELECT 1 FROM pg_subscription s WHERE ${SUB_HERE}`);
      if (r.rowCount! > 0) await c.query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
    });
  }
  if (bg.blue.pooler) {
    await pooler.repoint(bg.blue.root, bg.blue.pooler.port, fromP.port);
    await pooler.resume(bg.blue.pooler.port).catch(() => undefined);
  }
  mark.phase = 'undone';
  await saveBg(root, bg);
  log(`cutover ${from} -> ${to} undone: ${to} subscribes to ${from} again, clients resumed on ${from}`);
  return true;
}

/** the target as clients see it now: the nodes of the side they use, and the endpoint */
export async function nodesOf(bg: BgState, side: Side): Promise<{ nodes: TargetNode[]; endpointPort: number }> {
  const c = clusterOf(bg, side);
  const primary = await cl.findPrimary(c);
  const nodes: TargetNode[] = [];
  for (const n of c.nodes) {
    const f = await cl.nodeFacts(n);
    nodes.push({
      name: n.name,
      role: n.name === primary.name ? 'primary' : 'replica',
      zone: 'local',
      version: f.version ?? c.version,
      health: f.running && !f.error ? 'healthy' : 'stopped',
      host: '127.0.0.1',
      port: n.port,
    });
  }
  return { nodes, endpointPort: bg.blue.pooler?.port ?? primary.port };
}

// ---- stage 7: rollback window; stage 8: decommission ------------------------------------------

export async function rollbackWindow(root: string, ctx: StepContext): Promise<StepResult> {
  const bg = await mustLoad(root);
  const seconds = typeof ctx.step.params.retentionSeconds === 'number' ? ctx.step.params.retentionSeconds : 3600;
  const since = Date.parse(bg.switchedAt ?? ctx.step.startedAt ?? new Date().toISOString());
  const until = since + seconds * 1000;
  ctx.log(`blue keeps every write made on green until ${new Date(until).toISOString()} (${seconds} s); rollback returns to it`);
  for (;;) {
    const lag = await lagBytes(bg, bg.active).catch(() => null);
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    ctx.progress?.({ until: new Date(until).toISOString(), secondsLeft: left, reverseLagBytes: lag });
    if (left <= 0) break;
    await sleep(Math.min(1000, until - Date.now()), undefined, { signal: ctx.signal });
  }
  ctx.log('the rollback window ended');
  return { data: { until: new Date(until).toISOString() } };
}

export async function decommission(root: string, ctx: StepContext): Promise<StepResult> {
  const { log } = ctx;
  const bg = await loadBg(root);
  if (!bg) {
    log('blue is already decommissioned');
    const state = await cl.loadCluster(root);
    const primary = await cl.findPrimary(state);
    return { data: { alreadyDone: true, primary: primary.name } };
  }
  if (bg.active !== 'green') throw new DriverError('REPLICATION_FAILED', 'clients still use blue: nothing to decommission');
  requireSwitched(bg);
  const green = await cl.findPrimary(clusterOf(bg, 'green'));
  const blueAlive = (await Promise.all(bg.blue.nodes.map((n) => cl.nodeRunning(n)))).some(Boolean);
  if (blueAlive) {
    const blue = await cl.findPrimary(bg.blue);
    for (const db of bg.databases) {
      await withDb(blue.port, db, dropSubscription).catch((e: unknown) =>
        log(`${db}: dropping blue's subscription: ${(e as Error).message}`),
      );
    }
  }
  for (const db of bg.databases) {
    await withDb(green.port, db, async (c) => {
      await c.query(`DROP PUBLICATION IF EXISTS ${PUB}`);
      for (const t of bg.identityFull[db] ?? []) await c.query(`ALTER TABLE ${t} REPLICA IDENTITY DEFAULT`);
      for (const s of UNGUARD_SQL) await c.query(s);
      // slots of the reverse direction that a dead blue could not drop
      await c.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'lg_bg_%' AND NOT active`,
      );
    });
  }
  for (const n of bg.blue.nodes) await cl.stopNode(n).catch(() => false);
  server.closeSessions(bg.blue.nodes.map((n) => n.port));
  for (const n of bg.blue.nodes) await rm(n.dir, { recursive: true, force: true });
  await rm(path.join(root, 'backups'), { recursive: true, force: true });
  const state = await activate(bg, 'green');
  await rm(bgFile(root), { force: true });
  log(
    `blue (${bg.blue.nodes.map((n) => n.name).join(', ')}) stopped and removed; DDL allowed again; the cluster is ${state.nodes.map((n) => n.name).join(', ')}`,
  );
  return { data: { removed: bg.blue.nodes.map((n) => n.name) } };
}

function requireSwitched(bg: BgState): void {
  if (bg.cutover && bg.cutover.phase !== 'switched') {
    throw new DriverError('REPLICATION_FAILED', `the last cutover is ${bg.cutover.phase}, not switched`);
  }
}

// ---- reversals -------------------------------------------------------------------------------

/** initial copy reversed: green stops subscribing, blue stops publishing and gets its settings back */
export async function undoInitialCopy(root: string, log: (l: string) => void): Promise<void> {
  const bg = await loadBg(root);
  if (!bg) return;
  const blue = await cl.findPrimary(bg.blue);
  if (bg.green && bg.green.nodes.some((n) => cl.nodeRunning(n))) {
    const green = await cl.findPrimary(bg.green);
    for (const db of bg.databases) {
      await withDb(green.port, db, dropSubscription).catch(() => undefined);
    }
  }
  for (const db of bg.databases) {
    await withDb(blue.port, db, async (c) => {
      await c.query(`DROP PUBLICATION IF EXISTS ${PUB}`);
      await c.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'lg_bg_%' AND NOT active`,
      );
    });
  }
  log('green no longer subscribes to blue; blue publishes nothing');
}

/** copy_schema reversed: blue's DDL guard goes and its tables get their replica identity back */
export async function undoCopySchema(root: string, log: (l: string) => void): Promise<void> {
  const bg = await loadBg(root);
  if (!bg) return;
  const blue = await cl.findPrimary(bg.blue);
  for (const db of bg.databases) {
    await withDb(blue.port, db, async (c) => {
      for (const t of bg.identityFull[db] ?? []) await c.query(`ALTER TABLE ${t} REPLICA IDENTITY DEFAULT`);
      for (const s of UNGUARD_SQL) await c.query(s);
    });
  }
  log(`blue: DDL allowed again${Object.values(bg.identityFull).flat().length ? '; replica identity set back' : ''}`);
}

/** provision_green reversed: green's servers and files go, and the blue/green state with them */
export async function undoProvisionGreen(root: string, log: (l: string) => void): Promise<void> {
  const bg = await loadBg(root);
  if (!bg) return;
  if (bg.active === 'green') throw new DriverError('ROLLBACK_FAILED', 'clients use green: switch back to blue first');
  if (bg.green) {
    await cl.destroyCluster(bg.green.root);
    server.closeSessions(bg.green.nodes.map((n) => n.port));
    log(`green (${bg.green.nodes.map((n) => n.name).join(', ')}) stopped and removed`);
  }
  await activate(bg, 'blue');
  await rm(bgFile(root), { force: true });
}

export { ops as nodeOps };
