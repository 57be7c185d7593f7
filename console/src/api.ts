// The native /v1 API as the console sees it: one fetch wrapper that adds the session's token and
// turns the API's error envelope into an ApiError, plus the response shapes the views read. Fields
// that newer servers add (labels, pendingReason, estimate, batches) are optional: a view shows
// them when present.

export interface Project {
  id: string;
  name: string;
}

export interface Node {
  name: string;
  role: string;
  zone: string;
  version: string;
  health: string;
  /** the engine the node runs, where the driver says (a group mid-way from redis to valkey has both) */
  engine?: string;
  /** the shard the node belongs to (a Redis Cluster) */
  shard?: string;
}

/** the daily UTC form ({start, end}) or the weekly form in a time zone ({days, start, durationMinutes, timeZone}) */
export interface MaintenanceWindow {
  start: string;
  end?: string;
  days?: string[];
  durationMinutes?: number;
  timeZone?: string;
}

export interface Target {
  id: string;
  name: string;
  kind: string;
  engine: string;
  version: string;
  release: string;
  region: string;
  driver: string;
  nodes: Node[];
  maintenanceWindow?: MaintenanceWindow | null;
  maintenanceExclusions?: { from: string; to: string; reason?: string }[];
  labels?: Record<string, string>;
  /** an OceanBase cluster's own OBShell agent address, once it has an OBShell password */
  obshellAgent?: { host: string; port: number } | null;
  createdAt: string;
}

export interface Estimate {
  completesAt: string;
  remainingSeconds: number;
  basis: string;
}

export interface Step {
  id: string;
  name: string;
  action: string;
  description: string;
  node: string | null;
  lane: string;
  order: number;
  state: string;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  result?: Record<string, unknown> | null;
  /** what the driver reports while the step runs (a blue/green copy's bytes, a catch-up's lag) */
  progress?: Record<string, unknown> | null;
  log?: string[];
}

/** blue_green: how long the old cluster is kept in step after the switch */
export interface RollbackWindow {
  state: string;
  retentionSeconds: number | null;
  until: string | null;
  secondsLeft: number | null;
  rollbackPossible: boolean;
  message: string;
}

export interface Stage {
  index: number;
  name: string;
  description: string;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  steps: Step[];
}

export interface Upgrade {
  id: string;
  number?: number;
  targetId: string;
  /** a route may change the engine (redis -> valkey); null on upgrades stored before engines were recorded */
  fromEngine?: string | null;
  toEngine?: string | null;
  fromVersion: string;
  toVersion: string;
  mode: string;
  state: string;
  allowedActions?: string[];
  currentStage: number;
  stageCount: number;
  hops?: { fromVersion: string; toVersion: string }[];
  schedule?: { kind: string; at?: string };
  notBefore?: string | null;
  batchId?: string | null;
  precheckReportId?: string | null;
  error: string | null;
  errorCode: string | null;
  retries?: number;
  createdBy?: string;
  createdAt: string;
  updatedAt?: string;
  startedAt: string | null;
  endedAt: string | null;
  pendingReason?: string | null;
  estimate?: Estimate | null;
}

/** the first step the driver cannot reverse; once it has started, rollback is no longer offered */
export interface PointOfNoReturn {
  stepId: string;
  name: string;
  node: string | null;
  action: string;
  reason: string | null;
  passed: boolean;
}

export interface UpgradeDetail extends Upgrade {
  stages: Stage[];
  pointOfNoReturn?: PointOfNoReturn | null;
  rollbackWindow?: RollbackWindow | null;
  /** what a cancel did (or does) on each node it found out of service */
  restores?: Restore[];
}

export interface Restore {
  node: string;
  state: string;
  reason: string | null;
  summary: string | null;
  error: string | null;
}

export interface PrecheckItem {
  name: string;
  status: 'pass' | 'warn' | 'fail';
  message: string;
  node?: string;
  /** zone -> node names before and after an AZ migration (the zone_layout item) */
  zones?: ZoneLayout;
}

export interface ZoneLayout {
  before: Record<string, string[]>;
  after: Record<string, string[]>;
}

export interface Report {
  id: string;
  targetId: string;
  upgradeId: string | null;
  toVersion: string;
  state: string;
  items: PrecheckItem[];
  flighting: { totalExecuted: number; exceptions: number; incorrect: number; slow: number; dqlSpeedup: number } | null;
  estimate: { stopInstanceSeconds: number; backupDataSeconds: number; upgradeInstanceSeconds: number } | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface CatalogVersion {
  engine: string;
  version: string;
  release: string;
  displayName: string;
  description: string;
  priority: number;
  upgradableFrom: string[];
  barrier: boolean;
  deprecated: boolean;
  imageId: string;
  createdAt: string;
}

export interface LiftgateEvent {
  id: number;
  targetId: string | null;
  upgradeId: string | null;
  stepId: string | null;
  actor: string;
  type: string;
  fromState: string | null;
  toState: string | null;
  message: string;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface Wave {
  index: number;
  name: string;
  state: string;
  targets: number;
  /** upgrades of the wave per upgrade state */
  counts?: Record<string, number>;
  bakeUntil?: string | null;
}

export interface Batch {
  id: string;
  name: string;
  state: string;
  pendingReason?: string | null;
  toVersions?: string[];
  targets?: number;
  failures?: number;
  failureLimit?: number;
  currentWave?: number | null;
  waves?: Wave[];
  estimate?: Estimate | null;
  createdAt?: string;
}

export interface Whoami {
  role: string;
  /** null for the admin token, which reaches every project */
  projectId: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'liftgate.token';

/** The token lives in sessionStorage only: gone when the tab closes, never in a URL or localStorage. */
export const session = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

type Listener = () => void;
const unauthorized = new Set<Listener>();
/** Called when the server rejects the token (revoked, expired): the app returns to the login page. */
export function onUnauthorized(l: Listener): () => void {
  unauthorized.add(l);
  return () => unauthorized.delete(l);
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const token = init.token ?? session.get();
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the Liftgate server cannot be reached; check that it is running');
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    if (res.status === 401 && init.token === undefined) unauthorized.forEach((l) => l());
    throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? (res.statusText || `HTTP ${res.status}`));
  }
  return json as T;
}

let paths: Promise<Set<string>> | null = null;

/**
 * Whether this server has an endpoint (its OpenAPI document lists it), so the console shows newer
 * features (batches, whoami) only where they exist, without probing requests that answer 404.
 */
export async function hasEndpoint(path: string): Promise<boolean> {
  paths ??= fetch('/openapi.json', { headers: { accept: 'application/json' } })
    .then((r) => (r.ok ? (r.json() as Promise<{ paths?: Record<string, unknown> }>) : { paths: {} }))
    .then((d) => new Set(Object.keys(d.paths ?? {})))
    .catch(() => {
      paths = null;
      return new Set<string>();
    });
  return (await paths).has(path);
}

/** GET of an endpoint newer servers have; null when this one does not. */
export async function optional<T>(path: string, template: string): Promise<T | null> {
  return (await hasEndpoint(template)) ? api<T>(path) : null;
}

export const enc = encodeURIComponent;
export const projectPath = (p: string) => `/v1/projects/${enc(p)}`;
