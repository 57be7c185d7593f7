// The native /v1 API as the console sees it: one fetch wrapper that adds the session's token and
// turns the API's error envelope into an ApiError, plus the response shapes the views read. The
// shapes are the server's own (src/api/, the routes' response schemas), imported as types only:
// nothing of the server, nor TypeBox, is bundled into the console.
import type { BatchPreviewT, BatchT, WaveT } from '../../src/api/batch-shapes.ts';
import type {
  CatalogVersionT,
  EventT,
  NodeT,
  PrecheckItemT,
  ProjectT,
  ReportT,
  TargetDetailT,
  WindowT,
  ZoneLayoutT,
} from '../../src/api/target-shapes.ts';
import type {
  EstimateT,
  PointOfNoReturnT,
  RestoreT,
  RollbackWindowT,
  StageT,
  StepT,
  UpgradeDetailT,
  UpgradeT,
} from '../../src/api/upgrade-shapes.ts';
import type { WhoamiT } from '../../src/api/credential-shapes.ts';

export type Project = ProjectT;
export type Node = NodeT;
/** the daily UTC form ({start, end}) or the weekly form in a time zone ({days, start, durationMinutes, timeZone}) */
export type MaintenanceWindow = WindowT;
/** a target as GET .../targets/{t} answers it; a list's items have no endpoint nor obshellAgent */
export type Target = Omit<TargetDetailT, 'endpoint' | 'obshellAgent'> & Partial<Pick<TargetDetailT, 'endpoint' | 'obshellAgent'>>;
export type Estimate = EstimateT;
export type Step = StepT;
export type RollbackWindow = RollbackWindowT;
export type Stage = StageT;
export type Upgrade = UpgradeT & { estimate?: EstimateT | null };
export type PointOfNoReturn = PointOfNoReturnT;
export type UpgradeDetail = UpgradeDetailT;
export type Restore = RestoreT;
export type PrecheckItem = PrecheckItemT;
export type ZoneLayout = ZoneLayoutT;
export type Report = ReportT;
export type CatalogVersion = CatalogVersionT;
export type LiftgateEvent = EventT;
export type Wave = WaveT;
export type Batch = BatchT;
export type BatchPreview = BatchPreviewT;
export type Whoami = WhoamiT;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** the envelope's details: for a refused body, `errors` names each field ({path, message}) */
    readonly details: Record<string, unknown> = {},
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
    const e = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)?.error;
    if (res.status === 401 && init.token === undefined) unauthorized.forEach((l) => l());
    throw new ApiError(
      res.status,
      e?.code ?? String(res.status),
      e?.message ?? (res.statusText || `HTTP ${res.status}`),
      e?.details ?? {},
    );
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
