// OBShell agent addresses: every OBShell cluster is served on a port of its own, as a real OBShell
// agent is (one agent per cluster, chosen by its address). A request reaches one cluster by the
// port it arrives on, and its password is checked against that cluster alone: the password never
// selects a cluster, so two clusters (of one tenant or of two) may share one without effect on each
// other (docs/SECURITY.md).
//
// The store records which port serves which cluster (`obshell_agents`, one unique port each).
// Every Liftgate process listens on every recorded port (through the listeners the HTTP layer
// attaches) and re-reads the table every few seconds, so a replica learns of a new cluster, and
// stops serving a deleted one, without a restart. A port is taken on this host before it is
// recorded, so two processes (or two stores) on one machine never record the same free port; a
// recorded port that another process holds is retried on each pass and logged once.
import { AppError } from '../domain/errors.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { isUniqueViolation } from './db-errors.ts';

/** Where OBShell agents listen (LIFTGATE_OBSHELL_PORTS, HOST). */
export interface ObshellAgentSettings {
  /** a range of ports to give out, or `auto`: a free port the system picks (kept across restarts) */
  ports: { from: number; to: number } | 'auto';
  /** the interface the agents listen on (default: the server's own HOST) */
  host: string;
}

export const DEFAULT_OBSHELL_PORTS = { from: 2886, to: 2985 };

/** What the HTTP layer lends the agents: listeners on this host. */
export interface AgentListeners {
  /** listens on `port` (0: any free port); the port bound, or null when this host has it in use */
  bind(port: number): Promise<number | null>;
  release(port: number): Promise<void>;
  /** the ports this process listens on */
  bound(): number[];
}

export interface AgentAddress {
  projectId: string;
  targetId: string;
  port: number;
}

/** How often a process re-reads the agents table (new clusters, deleted ones, ports freed). */
export const AGENT_SYNC_MS = 2000;

export class ObshellAgents {
  private listeners: AgentListeners | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** one pass at a time: allocations and syncs of this process never interleave */
  private queue: Promise<unknown> = Promise.resolve();
  /** recorded ports this host could not take, logged once each until they are taken */
  private readonly busy = new Set<number>();

  constructor(
    private readonly db: Kysely<Database>,
    readonly settings: ObshellAgentSettings,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * The HTTP layer's listeners; from now on this process serves every recorded agent through them.
   * A second app on the same context (tests do this) takes the ports over from the first.
   */
  async attach(listeners: AgentListeners): Promise<void> {
    await this.serial(async () => {
      const previous = this.listeners;
      this.listeners = listeners;
      for (const port of previous?.bound() ?? []) await previous?.release(port);
    });
    await this.sync();
    if (!this.timer) {
      this.timer = setInterval(
        () => void this.sync().catch((err: unknown) => this.log(`obshell agents: ${String(err)}`)),
        AGENT_SYNC_MS,
      );
      this.timer.unref();
    }
  }

  /** Stops serving through these listeners (all of them, when none are named: the context closes). */
  async detach(listeners?: AgentListeners): Promise<void> {
    await this.serial(async () => {
      const l = listeners ?? this.listeners;
      if (l === this.listeners) {
        this.listeners = null;
        if (this.timer) clearInterval(this.timer);
        this.timer = null;
      }
      for (const port of l?.bound() ?? []) await l?.release(port);
    });
  }

  /** The agent ports this process listens on. */
  listening(): number[] {
    return [...(this.listeners?.bound() ?? [])].sort((a, b) => a - b);
  }

  /** The cluster a port serves, read from the store on every request (a deleted cluster has none). */
  async clusterAt(port: number): Promise<AgentAddress | null> {
    const row = await this.db
      .selectFrom('obshell_agents')
      .select(['project_id', 'target_id', 'port'])
      .where('port', '=', port)
      .executeTakeFirst();
    return row ? { projectId: row.project_id, targetId: row.target_id, port: row.port } : null;
  }

  /** The ports of a project's clusters, by target id. */
  async portsOf(projectId: string, targetIds?: string[]): Promise<Map<string, number>> {
    if (targetIds && targetIds.length === 0) return new Map();
    let q = this.db.selectFrom('obshell_agents').select(['target_id', 'port']).where('project_id', '=', projectId);
    if (targetIds) q = q.where('target_id', 'in', targetIds);
    return new Map((await q.execute()).map((r) => [r.target_id, r.port]));
  }

  /**
   * Gives a cluster its agent port, unless it has one: taken on this host first, then recorded.
   * Without listeners (no HTTP server in this process) a `auto` port cannot be chosen: the cluster
   * gets its address when a server starts (null until then).
   */
  ensure(projectId: string, targetId: string): Promise<number | null> {
    return this.serial(() => this.allocate(projectId, targetId));
  }

  /** Re-reads the table now: listens on new ports, stops listening on ports no cluster has. */
  sync(): Promise<void> {
    return this.serial(() => this.pass());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async allocate(projectId: string, targetId: string): Promise<number | null> {
    const tried = new Set<number>();
    const range = this.settings.ports;
    const size = range === 'auto' ? 20 : range.to - range.from + 1;
    for (let attempt = 0; attempt <= size + 5; attempt++) {
      const existing = await this.db
        .selectFrom('obshell_agents')
        .select('port')
        .where('project_id', '=', projectId)
        .where('target_id', '=', targetId)
        .executeTakeFirst();
      if (existing) {
        await this.listen(existing.port);
        return existing.port;
      }
      let candidate = 0;
      if (range !== 'auto') {
        const used = new Set((await this.db.selectFrom('obshell_agents').select('port').execute()).map((r) => r.port));
        const free: number[] = [];
        for (let p = range.from; p <= range.to; p++) if (!used.has(p) && !tried.has(p)) free.push(p);
        if (free.length === 0) {
          throw new AppError(
            'OBSHELL_PORTS_EXHAUSTED',
            `every OBShell agent port of ${range.from}-${range.to} is taken (by other clusters or by other programs on this host); widen LIFTGATE_OBSHELL_PORTS`,
          );
        }
        // a random free port: two stores on one host asking at once rarely try the same one
        candidate = free[Math.floor(Math.random() * free.length)]!;
      }
      const l = this.listeners;
      const port = l ? await l.bind(candidate) : candidate === 0 ? null : candidate;
      if (port === null) {
        if (!l) return null;
        tried.add(candidate);
        continue;
      }
      try {
        await this.db
          .insertInto('obshell_agents')
          .values({ project_id: projectId, target_id: targetId, port, created_at: new Date().toISOString() })
          .execute();
        return port;
      } catch (err) {
        if (!isUniqueViolation(err)) {
          await l?.release(port);
          throw err;
        }
        // another process recorded this port, or this cluster's, first: look again
        const ours = l?.bound().includes(port) && !(await this.clusterAt(port));
        if (ours) await l?.release(port);
        tried.add(port);
      }
    }
    throw new AppError(
      'OBSHELL_PORTS_EXHAUSTED',
      'no OBShell agent port could be taken on this host; widen LIFTGATE_OBSHELL_PORTS',
    );
  }

  private async listen(port: number): Promise<void> {
    const l = this.listeners;
    if (!l || l.bound().includes(port)) return;
    if ((await l.bind(port)) === port) {
      if (this.busy.delete(port)) this.log(`liftgate: OBShell agent port ${port} is free again; serving it`);
      return;
    }
    if (!this.busy.has(port)) {
      this.busy.add(port);
      this.log(
        `liftgate: OBShell agent port ${port} is in use on this host (another replica, or another program); trying again every ${AGENT_SYNC_MS / 1000} s`,
      );
    }
  }

  private async pass(): Promise<void> {
    const l = this.listeners;
    if (!l) return;
    // clusters with an OBShell password and no address yet (set before migration 012, or on a
    // process without a server) get one now
    const missing = await this.db
      .selectFrom('target_credentials as c')
      .leftJoin('obshell_agents as a', (j) =>
        j.onRef('a.project_id', '=', 'c.project_id').onRef('a.target_id', '=', 'c.target_id'),
      )
      .select(['c.project_id', 'c.target_id'])
      .where('c.kind', '=', 'obshell')
      .where('a.port', 'is', null)
      .execute();
    for (const m of missing) {
      try {
        await this.allocate(m.project_id, m.target_id);
      } catch (err) {
        this.log(`liftgate: OBShell cluster ${m.project_id}/${m.target_id} has no agent address: ${(err as Error).message}`);
      }
    }
    const rows = await this.db.selectFrom('obshell_agents').select('port').execute();
    const recorded = new Set(rows.map((r) => r.port));
    for (const port of l.bound()) if (!recorded.has(port)) await l.release(port);
    for (const port of recorded) await this.listen(port);
    for (const port of this.busy) if (!recorded.has(port)) this.busy.delete(port);
  }
}
