// A client-side write load on a Redis or Valkey deployment (a Sentinel group or a Redis Cluster),
// used by bench/redis.ts and by tests: one `SET <prefix>:<n> <n>` every few ms, each followed by
// `WAIT 1 <timeout>` on the same connection, in one pipeline. A write counts as acknowledged only
// when that WAIT answers >= 1: at least one replica holds it, so a failover that loses it is a lost
// write. missingOn() is the oracle: it reads every acknowledged key back from each node directly.
//
// The clients retry the way an application would configure ioredis:
// - Sentinel: `new Redis({ sentinels, name })` asks the sentinels for the primary on every
//   (re)connect, reconnects with a short backoff, treats READONLY (a write that reached a primary
//   just demoted) as a reason to reconnect, so it asks the sentinels again, and listens for the
//   sentinels' +switch-master (failoverDetector) to leave a replaced primary at once. Commands cut
//   off by a disconnect are sent again on the new connection. What stays client-visible is a
//   command that fails despite that (an error reply other than READONLY, a command the client gave
//   up on after maxRetriesPerRequest reconnects, a WAIT unblocked by the demotion).
// - Cluster: a WAIT has no key, so the cluster client would send it to any node. The pair goes to
//   the node that serves the key's slot, as the cluster client knows it (`Cluster.slots`, kept
//   fresh by the client's own slot refreshes), over a connection of its own to that node, and
//   follows a MOVED or ASK reply to the named node (up to MAX_REDIRECTIONS), as the cluster client
//   does. A MOVED refreshes the client's slot map. Redirections followed are counted, not errors.
// A client without any of that (one plain connection to the primary it started with, no retry)
// would see every write fail from the first failover on: "Connection is closed" once the old
// primary closes its clients, READONLY (Sentinel) or MOVED (Cluster) if it reconnects to the same
// address, now a replica; its writes would stop being acknowledged for good.
//
// An acknowledgement is only trusted if the connection did not drop between the pipeline's send
// and the WAIT's reply: ioredis sends commands cut off by a disconnect again, and a WAIT sent
// again alone on a new connection answers at once for that connection's (empty) writes. Such a
// write is counted as `unconfirmed`, neither acknowledged nor an error.
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import calculateSlot from 'ioredis/built/utils/calculateSlot.js';

export interface Addr {
  host: string;
  port: number;
}

export type RedisLoadTarget =
  { topology: 'sentinel'; sentinels: Addr[]; masterName: string } | { topology: 'cluster'; nodes: Addr[] };

export interface RedisLoadOptions {
  /** pause between the start of one write and the next, ms (default 2) */
  intervalMs?: number;
  /** keys are `<keyPrefix>:<n>` (default `lg-load`) */
  keyPrefix?: string;
  /** the WAIT's timeout, ms (default 1000) */
  waitTimeoutMs?: number;
}

export interface AckedWrite {
  key: string;
  value: string;
  /** when the WAIT answered (ms since epoch) */
  at: number;
  /** host:port of the node that took the write */
  node: string;
}

export interface ErrorGroup {
  count: number;
  /** the first few messages, with when they happened */
  first: { at: number; message: string }[];
}

export interface LoadStats {
  attempts: number;
  acked: number;
  /** WAIT answered 0: no replica confirmed within the timeout */
  unacked: number;
  /** the first few of those: when the WAIT answered, on which node */
  unackedLog: { at: number; node: string }[];
  /** the connection dropped between the send and the WAIT's reply (see the header) */
  unconfirmed: number;
  /** MOVED/ASK replies followed to the named node (cluster) */
  redirections: number;
  /** client-visible errors, by kind: READONLY, MOVED, CLUSTERDOWN, connection, timeout, ... */
  errors: Record<string, ErrorGroup>;
  errorCount: number;
  /** longest time between consecutive acknowledged writes, ms */
  maxGapMs: number;
}

export interface MissingReport {
  node: string;
  /** acknowledged keys this node should hold (all of them; in a cluster those of its shard's slots) */
  checked: number;
  /** absent, or with another value */
  missing: number;
  sample: string[];
  /** the replica had not caught up with its primary when read (so `missing` may include lag) */
  lagging?: boolean;
}

const MAX_REDIRECTIONS = 16;
const KEEP_MESSAGES = 5;
const READ_BATCH = 1000;

/** READONLY, MOVED, CLUSTERDOWN, ...; connection and timeout for the client's own failures */
export function errorKind(message: string): string {
  if (/^ERR WAIT cannot be used with replica/.test(message)) return 'WAIT on a replica';
  const word = /^([A-Z]{3,})\b/.exec(message)?.[1];
  if (word && word !== 'ERR') return word;
  if (/timed? ?out/i.test(message)) return 'timeout';
  if (/connection|ECONN|EPIPE|stream|socket|closed|max retries|reached the max/i.test(message)) return 'connection';
  return word === 'ERR' ? `ERR ${message.slice(4).split(' ').slice(0, 3).join(' ')}` : 'other';
}

export class RedisWriteLoad {
  private readonly intervalMs: number;
  private readonly prefix: string;
  private readonly waitTimeoutMs: number;
  private readonly ackList: AckedWrite[] = [];
  private readonly errorGroups: Record<string, ErrorGroup> = {};
  private readonly unackedLog: { at: number; node: string }[] = [];
  private counts = { attempts: 0, unacked: 0, unconfirmed: 0, redirections: 0, errors: 0 };
  private sentinel: Redis | null = null;
  private cluster: Cluster | null = null;
  /** cluster: one connection per node address, for the SET + WAIT pairs */
  private readonly nodeConns = new Map<string, Redis>();
  /** how many times each connection closed: an acknowledgement needs the same count before and after */
  private readonly closes = new WeakMap<Redis, number>();
  private running = false;
  private loop: Promise<void> | null = null;
  private next = 1;

  constructor(
    private readonly target: RedisLoadTarget,
    opts: RedisLoadOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 2;
    this.prefix = opts.keyPrefix ?? 'lg-load';
    this.waitTimeoutMs = opts.waitTimeoutMs ?? 1000;
  }

  /** Connects (failing if the deployment cannot be reached) and starts the write loop. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.target.topology === 'sentinel') {
      const c = new Redis({
        sentinels: this.target.sentinels,
        name: this.target.masterName,
        role: 'master',
        lazyConnect: true,
        connectTimeout: 2000,
        commandTimeout: this.waitTimeoutMs + 4000,
        retryStrategy: (times) => Math.min(20 * times, 500),
        sentinelRetryStrategy: (times) => Math.min(50 * times, 1000),
        reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
        failoverDetector: true,
        maintNotifications: 'disabled',
      });
      this.watch(c);
      c.on('error', () => undefined); // reconnects are counted through 'close' and failed commands
      await c.connect();
      this.sentinel = c;
    } else {
      const c = new Cluster(this.target.nodes, {
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        maxRedirections: MAX_REDIRECTIONS,
        slotsRefreshInterval: 1000,
        redisOptions: { connectTimeout: 2000 },
        lazyConnect: true,
      });
      c.on('error', () => undefined);
      await c.connect();
      this.cluster = c;
    }
    this.running = true;
    this.loop = this.run();
  }

  /** Ends the loop (after the write in flight) and closes every connection. */
  async stop(): Promise<LoadStats> {
    this.running = false;
    await this.loop;
    this.loop = null;
    this.sentinel?.disconnect();
    this.sentinel = null;
    this.cluster?.disconnect();
    this.cluster = null;
    for (const c of this.nodeConns.values()) c.disconnect();
    this.nodeConns.clear();
    return this.stats();
  }

  get acked(): readonly AckedWrite[] {
    return this.ackList;
  }

  stats(): LoadStats {
    return {
      attempts: this.counts.attempts,
      acked: this.ackList.length,
      unacked: this.counts.unacked,
      unackedLog: this.unackedLog,
      unconfirmed: this.counts.unconfirmed,
      redirections: this.counts.redirections,
      errors: this.errorGroups,
      errorCount: this.counts.errors,
      maxGapMs: this.maxGapWithin(-Infinity, Infinity),
    };
  }

  /**
   * The longest interval between consecutive acknowledged writes that overlaps [fromMs, toMs]
   * (ms since epoch): the outage a client saw around one failover. An interval still open (no
   * acknowledgement after it yet) counts up to now.
   */
  maxGapWithin(fromMs: number, toMs: number): number {
    const a = this.ackList;
    let max = 0;
    for (let i = 1; i < a.length; i++) {
      if (a[i]!.at >= fromMs && a[i - 1]!.at <= toMs) max = Math.max(max, a[i]!.at - a[i - 1]!.at);
    }
    const last = a[a.length - 1];
    if (last && this.running && last.at <= toMs) max = Math.max(max, Date.now() - last.at);
    return max;
  }

  /**
   * Reads every acknowledged key back from each node over a plain connection of its own and
   * reports the keys absent or with another value. A replica is first given time (catchUpMs,
   * default 10 s) to reach its primary's replication offset, so lag is not taken for loss; in a
   * cluster a node is asked only for the keys of its shard's slots (replicas after READONLY).
   */
  async missingOn(nodes: Addr[], opts: { catchUpMs?: number } = {}): Promise<MissingReport[]> {
    const out: MissingReport[] = [];
    for (const n of nodes) out.push(await this.missingOnNode(n, opts.catchUpMs ?? 10_000));
    return out;
  }

  private async missingOnNode(n: Addr, catchUpMs: number): Promise<MissingReport> {
    const name = `${n.host}:${n.port}`;
    const c = plainConnection(n);
    try {
      await c.connect();
      const clustered = /cluster_enabled:1/.test(await c.info('cluster'));
      let keys = this.ackList;
      if (clustered) {
        await c.readonly();
        const served = servedSlots(String(await c.cluster('NODES')));
        keys = keys.filter((k) => served.has(calculateSlot(k.key)));
      }
      const lagging = !(await caughtUp(c, catchUpMs));
      const values: (string | null)[] = [];
      for (let i = 0; i < keys.length; i += READ_BATCH) {
        const batch = keys.slice(i, i + READ_BATCH).map((k) => k.key);
        if (!clustered) {
          values.push(...(await c.mget(batch)));
          continue;
        }
        const p = c.pipeline();
        for (const k of batch) p.get(k);
        for (const [err, v] of (await p.exec()) ?? []) {
          if (err) throw new Error(`${name}: reading back: ${err.message}`);
          values.push(v as string | null);
        }
      }
      const bad = keys.filter((k, i) => values[i] !== k.value);
      return {
        node: name,
        checked: keys.length,
        missing: bad.length,
        sample: bad.slice(0, 10).map((k) => k.key),
        ...(lagging ? { lagging } : {}),
      };
    } finally {
      c.disconnect();
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const began = Date.now();
      const n = this.next++;
      this.counts.attempts++;
      try {
        if (this.sentinel) await this.writeSentinel(this.sentinel, n);
        else if (this.cluster) await this.writeCluster(this.cluster, n);
      } catch (e) {
        this.error(e);
      }
      const rest = this.intervalMs - (Date.now() - began);
      if (rest > 0) await sleep(rest);
      else await new Promise((r) => setImmediate(r));
    }
  }

  private async writeSentinel(c: Redis, n: number): Promise<void> {
    const key = `${this.prefix}:${n}`;
    const before = this.closes.get(c) ?? 0;
    const res = await c.pipeline().set(key, String(n)).wait(1, this.waitTimeoutMs).exec();
    const node = `${c.stream?.remoteAddress ?? '?'}:${c.stream?.remotePort ?? '?'}`;
    this.settle(key, n, res, before !== (this.closes.get(c) ?? 0), node);
  }

  private async writeCluster(cluster: Cluster, n: number): Promise<void> {
    const key = `${this.prefix}:${n}`;
    const slot = calculateSlot(key);
    let node = cluster.slots[slot]?.[0];
    let asking = false;
    for (let hop = 0; hop <= MAX_REDIRECTIONS; hop++) {
      if (!node) {
        cluster.refreshSlotsCache();
        throw new Error(`CLUSTERDOWN no node known for slot ${slot}`);
      }
      const c = this.nodeConn(node);
      const before = this.closes.get(c) ?? 0;
      const p = c.pipeline();
      if (asking) p.asking();
      const res = await p.set(key, String(n)).wait(1, this.waitTimeoutMs).exec();
      const setErr: Error | null | undefined = res?.[asking ? 1 : 0]?.[0];
      const redirect: RegExpExecArray | null = setErr ? /^(MOVED|ASK) \d+ (\S+)$/.exec(setErr.message) : null;
      if (redirect) {
        this.counts.redirections++;
        asking = redirect[1] === 'ASK';
        if (!asking) cluster.refreshSlotsCache();
        node = redirect[2]!;
        continue;
      }
      if (setErr && /^(CLUSTERDOWN|TRYAGAIN)|connection|closed/i.test(setErr.message)) cluster.refreshSlotsCache();
      this.settle(key, n, asking ? res!.slice(1) : res, before !== (this.closes.get(c) ?? 0), node);
      return;
    }
    throw new Error(`MOVED more than ${MAX_REDIRECTIONS} redirections for ${key}`);
  }

  /** Records the outcome of one SET + WAIT pair. */
  private settle(key: string, n: number, res: [Error | null, unknown][] | null, dropped: boolean, node: string): void {
    const [setRes, waitRes] = res ?? [];
    const err = setRes?.[0] ?? waitRes?.[0] ?? (res ? null : new Error('connection: pipeline aborted'));
    if (err) return this.error(err);
    if (dropped) {
      this.counts.unconfirmed++;
      return;
    }
    if (Number(waitRes?.[1]) >= 1) this.ackList.push({ key, value: String(n), at: Date.now(), node });
    else {
      this.counts.unacked++;
      if (this.unackedLog.length < 20) this.unackedLog.push({ at: Date.now(), node });
    }
  }

  private error(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    const kind = errorKind(message);
    const g = (this.errorGroups[kind] ??= { count: 0, first: [] });
    g.count++;
    this.counts.errors++;
    if (g.first.length < KEEP_MESSAGES) g.first.push({ at: Date.now(), message });
  }

  private watch(c: Redis): void {
    c.on('close', () => this.closes.set(c, (this.closes.get(c) ?? 0) + 1));
  }

  private nodeConn(addr: string): Redis {
    let c = this.nodeConns.get(addr);
    if (!c) {
      const i = addr.lastIndexOf(':');
      c = new Redis({
        host: addr.slice(0, i),
        port: Number(addr.slice(i + 1)),
        connectTimeout: 2000,
        commandTimeout: this.waitTimeoutMs + 4000,
        retryStrategy: (times) => Math.min(20 * times, 500),
        maxRetriesPerRequest: 2,
        maintNotifications: 'disabled',
      });
      c.on('error', () => undefined);
      this.watch(c);
      this.nodeConns.set(addr, c);
    }
    return c;
  }
}

function plainConnection(n: Addr): Redis {
  const c = new Redis({
    host: n.host,
    port: n.port,
    lazyConnect: true,
    connectTimeout: 5000,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    maintNotifications: 'disabled',
  });
  c.on('error', () => undefined);
  return c;
}

/** The slots of this node's shard, from its own CLUSTER NODES (a replica serves its primary's). */
export function servedSlots(clusterNodes: string): Set<number> {
  const lines = clusterNodes
    .trim()
    .split('\n')
    .map((l) => l.trim().split(' '));
  const me = lines.find((f) => f[2]?.split(',').includes('myself'));
  if (!me) throw new Error('CLUSTER NODES has no line for the node itself');
  const owner = me[2]!.split(',').includes('master') ? me : lines.find((f) => f[0] === me[3]);
  const slots = new Set<number>();
  for (const r of owner?.slice(8) ?? []) {
    if (r.startsWith('[')) continue; // a slot being migrated or imported
    const [a, b] = r.split('-').map(Number);
    for (let s = a!; s <= (b ?? a!); s++) slots.add(s);
  }
  return slots;
}

/** A replica: waits until it has replayed its primary's current offset. A primary: true at once. */
async function caughtUp(c: Redis, ms: number): Promise<boolean> {
  const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const info = await c.info('replication');
  if (field(info, 'role') !== 'slave') return true;
  const primary = plainConnection({ host: field(info, 'master_host')!, port: Number(field(info, 'master_port')) });
  try {
    await primary.connect();
    const goal = Number(field(await primary.info('replication'), 'master_repl_offset'));
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (Number(field(await c.info('replication'), 'slave_repl_offset')) >= goal) return true;
      await sleep(20);
    }
    return false;
  } catch {
    return false; // the primary cannot be asked: read as is
  } finally {
    primary.disconnect();
  }
}
