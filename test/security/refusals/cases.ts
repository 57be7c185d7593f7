// The refusals sent to each route, by kind. Most are derived from the route itself (its family,
// method, path parameters, query and body schema from the OpenAPI document), so a new route gets
// them without being named here: no credential, a forged one, a role too low, another tenant's
// resource, an id that exists nowhere, malformed path parameters and query values, invalid
// bodies. STATE adds what only a route's own rules refuse (a state precondition, a family's own
// body checks). A route needs a valid request to start from: parameters by their name (ROLES),
// a body for the routes that require one (BODIES).
import { randomBytes } from 'node:crypto';
import type { FamilyName } from '../../../src/http/error-envelopes.ts';
import { sendTo, type Answer, type FamilyRequest, type FamilyRequester } from '../../helpers/family-requests.ts';
import { ADMIN_TOKEN } from '../../helpers/harness.ts';
import { fillPath, FIXED_PARAMS, TENANT_PARAMS, type ApiRoute, type JsonSchema } from '../../helpers/routes.ts';
import { strongPassword, type Ghost, type Tenant } from './world.ts';

export type Kind =
  | 'no credential'
  | 'forged credential'
  | 'role too low'
  | 'other tenant'
  | 'unknown id'
  | 'malformed path'
  | 'malformed query'
  | 'invalid body'
  | 'state';

export interface Refusal {
  kind: Kind;
  what: string;
  /** the statuses a refusal of this kind may answer (each within 400-499) */
  status: readonly number[];
  request: FamilyRequest;
  /** sent over the socket, the path as given (else through app.inject, which resolves dot segments) */
  raw: boolean;
  send(): Promise<Answer>;
}

export interface Env {
  /** requests through app.inject */
  q: FamilyRequester;
  /** the same requests over a real socket, the path as given */
  socket: FamilyRequester;
  alpha: Tenant;
  bravo: Tenant;
  ghost: Ghost;
}

export const keyOf = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

/** Routes that answer without a credential, each with the reason. */
export const PUBLIC: Record<string, string> = {
  'GET /healthz': 'the load balancer probe',
  'GET /metrics': 'Prometheus scrapes it; LIFTGATE_METRICS_TOKEN puts it behind a bearer token',
  'GET /api/v1/secret': "OBShell's public key, which a client needs before it can authenticate",
  'GET /api/v1/info': "the OBShell agent's version, from which its SDKs choose how to authenticate",
};

/** Routes that need the admin role where the one rule says operator (src/service/roles.ts). */
export const ADMIN_ROUTES = new Set([
  'POST /v1/projects',
  'POST /v1/catalog/:engine/versions',
  'POST /v1/projects/:project/targets',
  'PATCH /v1/projects/:project/targets/:target',
  'DELETE /v1/projects/:project/targets/:target',
  'PUT /v1/projects/:project/targets/:target/obshell-password',
  'POST /v1/projects/:project/tokens',
  'DELETE /v1/projects/:project/tokens/:token',
  'POST /v1/projects/:project/access-keys',
  'DELETE /v1/projects/:project/access-keys/:accessKey',
  'PUT /v3/:project_id/instances/:instance_id/ops-window',
  'GET /v1/admin-tokens',
  'POST /v1/admin-tokens',
  'POST /v1/admin-tokens/:adminToken/rotate',
  'DELETE /v1/admin-tokens/:adminToken',
  'GET /v1/system/events',
]);

/** The resources one source (a tenant, or ids that exist nowhere) names. */
interface Names {
  project: string;
  target: string;
  cluster: string;
  instance: string;
  upgrade: string;
  report: string;
  batch: string;
  webhook: string;
  token: string;
  accessKey: string;
  dag: string;
  node: string;
  subTask: string;
  /** an admin token's id (no project's: admin tokens are the server's) */
  adminToken: string;
}

const namesOf = (w: Tenant): Names => ({
  project: w.projectId,
  target: w.cluster,
  cluster: w.cluster,
  instance: w.instance,
  upgrade: w.upgradeId,
  report: w.reportId,
  batch: w.fleet.batchId,
  webhook: w.fleet.webhookId,
  token: w.fleet.spareTokenId,
  accessKey: w.fleet.spareKeyId,
  dag: w.dag,
  node: w.node,
  subTask: w.subTask,
  adminToken: w.spareAdminTokenId,
});

const ghostNames = (g: Ghost): Names => ({ ...g, cluster: g.target });

type Resource = Exclude<keyof Names, 'dag' | 'node' | 'subTask'> | 'obshell';

/** What each path parameter names. */
const ROLES: Record<string, Resource> = { ...TENANT_PARAMS, adminToken: 'adminToken', id: 'obshell' };
const FIXED = FIXED_PARAMS;

function paramValue(route: ApiRoute, name: string, n: Names): string {
  if (name in FIXED) return FIXED[name](route);
  const role = ROLES[name];
  if (!role) throw new Error(`${keyOf(route)}: the refusal test does not know what :${name} names; add it to ROLES or FIXED`);
  if (role !== 'obshell') return n[role];
  if (route.path.includes('/dag/')) return n.dag;
  if (route.path.includes('/node/')) return n.node;
  if (route.path.includes('/sub_task/')) return n.subTask;
  throw new Error(`${keyOf(route)}: which OBShell id is :${name}?`);
}

/** Valid bodies (by the route's schema) of the routes that take one; `n` names the resources. */
export const BODIES: Record<string, (n: Names) => unknown> = {
  'POST /v1/projects': () => ({ id: 'refused-project' }),
  'POST /v1/catalog/:engine/versions': () => ({ version: '7.10.9', release: 'r7.10.9' }),
  'POST /v1/projects/:project/webhooks': () => ({ url: 'http://127.0.0.1:9/refused', events: ['*'] }),
  'POST /v1/projects/:project/tokens': () => ({ name: 'refused' }),
  'POST /v1/projects/:project/access-keys': () => ({ name: 'refused' }),
  'POST /v1/projects/:project/targets': () => ({
    id: 'refused-target',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.9.3',
    driver: 'sim',
    nodes: [{ name: 'refused-n1', role: 'master', zone: 'zone1' }],
  }),
  'PATCH /v1/projects/:project/targets/:target': () => ({ name: 'renamed' }),
  'PUT /v1/projects/:project/targets/:target/obshell-password': () => ({ password: strongPassword() }),
  'POST /v1/projects/:project/targets/:target/faults': (n) => ({ node: `${n.cluster}-n1`, step: 'start', kind: 'fail' }),
  'POST /v1/projects/:project/targets/:target/prechecks': () => ({ toVersion: '7.10.2' }),
  'POST /v1/projects/:project/upgrades': (n) => ({ targetId: n.target, toVersion: '7.10.2' }),
  'POST /v1/projects/:project/upgrades/:upgrade/actions': () => ({ action: 'pause' }),
  'POST /v1/projects/:project/batches': (n) => ({
    name: 'refused',
    targetIds: [n.target],
    toVersion: '7.10.2',
    waves: [{ name: 'all', targets: '100%' }],
  }),
  'POST /v1/projects/:project/batches/preview': (n) => ({
    name: 'refused',
    targetIds: [n.target],
    toVersion: '7.10.2',
    waves: [{ name: 'all', targets: '100%' }],
  }),
  'POST /v1/projects/:project/batches/:batch/actions': () => ({ action: 'approve' }),
  'POST /api/v2/clusters/:ClusterId/upgrade': () => ({ next_version: '7.10.2' }),
  'POST /clusters/:cluster_id/checks': () => ({ type: 'ClusterUpgrade', options: { next_version: '7.10.2' } }),
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/image/upgrade': () => ({
    target_image_id: 'img-elasticsearch-7.10.2',
    upgrade_type: 'same',
    indices_backup_check: false,
    agency: 'refused',
  }),
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/azmigrate': () => ({
    source_az: 'zone1',
    target_az: 'zone9',
    migrate_type: 'az_migrate',
    agency: 'refused',
  }),
  'POST /v3/:project_id/instances/database-version/upgrade': (n) => ({
    databases_instance_infos: [{ instance_id: n.instance, current_version: '2.0.48.231200' }],
    delay: 'false',
  }),
  'POST /v3/:project_id/instances/:instance_id/db-upgrade': () => ({ delay: 'false' }),
  'PUT /v3/:project_id/instances/:instance_id/ops-window': () => ({ start_time: '18:00', end_time: '22:00' }),
  'DELETE /v3/:project_id/scheduled-jobs': (n) => ({ job_ids: [n.upgrade] }),
  'POST /api/v1/ob/upgrade': () => ({ version: '4.2.1.1', release: 'r4.2.1.1', mode: 'ROLLING' }),
  'POST /api/v1/ob/upgrade/check': () => ({ version: '4.2.1.1', release: 'r4.2.1.1' }),
  'POST /api/v1/task/dag/:id': () => ({ operator: 'retry' }),
};

/** Routes whose body names resources (a target, an instance, a job). */
const BODY_NAMES = new Set([
  'POST /v1/projects/:project/upgrades',
  'POST /v1/projects/:project/batches',
  'POST /v1/projects/:project/batches/preview',
  'POST /v3/:project_id/instances/database-version/upgrade',
  'DELETE /v3/:project_id/scheduled-jobs',
]);

/** Routes with a required query value, or one that names a resource. */
const QUERIES: Record<string, (n: Names) => string> = {
  'GET /v3/:project_id/jobs': (n) => `id=${n.upgrade}`,
};

type Who = 'admin' | 'operator' | 'viewer' | 'none' | 'forged';

interface Draft {
  what: string;
  status: readonly number[];
  request: FamilyRequest;
  who?: Who;
  /** the OBShell cluster to send to, its password and its own agent port (default: alpha's cluster `ob`) */
  cluster?: { password: string; port: number };
  /** send it over the socket, the path as given */
  raw?: boolean;
}

const STATUS = {
  /** Alibaba answers a missing or mismatched signature 400, OBShell a missing header 400, as the vendors do */
  unauthenticated: [400, 401],
  forbidden: [403],
  notFound: [404],
  /** a body that names a resource: GaussDB answers a batch naming one that does not exist 400, a job 403 */
  notFoundOrBad: [400, 403, 404],
  path: [400, 404, 414],
  bad: [400],
  /** GaussDB answers a conflict 403 DBS.200011, as its API does */
  state: [400, 403, 404, 409],
} as const;

let sent = 0;

function send(env: Env, family: FamilyName, route: ApiRoute, d: Draft): Promise<Answer> {
  const q = d.raw ? env.socket : env.q;
  const w = env.alpha;
  const r = d.request;
  const who = d.who ?? 'admin';
  if (family === 'obshell') {
    // to the cluster's own agent port, over a socket; a client resolves dot segments before it
    // sends (and encrypts) the path, a raw one does not
    const cluster = d.cluster ?? { password: w.obshellPassword, port: w.obshellPort };
    const url = d.raw ? r.url : resolved(r.url);
    if (who === 'none') return sendTo(cluster.port, { ...r, url });
    return env.q.obshellRequest({ ...r, url }, who === 'forged' ? strongPassword() : cluster.password, cluster.port);
  }
  if (who === 'none') return q.raw(r);
  // The native routes outside a project take the server's admin token; the project's own, its token.
  const serverWide = family === 'native' && !route.params.includes('project');
  switch (family) {
    case 'native': {
      const token =
        who === 'forged'
          ? `lg_${randomBytes(24).toString('base64url')}`
          : who === 'admin'
            ? serverWide
              ? ADMIN_TOKEN
              : w.token
            : w[who].token;
      return q.native(r, token);
    }
    case 'ack':
    case 'hologres':
    case 'css':
    case 'gaussdb': {
      const key =
        who === 'forged'
          ? { accessKeyId: w.accessKey.accessKeyId, accessKeySecret: randomBytes(16).toString('hex') }
          : who === 'admin'
            ? w.accessKey
            : w[who].accessKey;
      if (family === 'ack' || family === 'hologres') return q.acs(r, key);
      // SDK-HMAC has no nonce: two refusals that canonicalise alike (`..` and `%2e%2e`) within a
      // second would be one signature, the second refused as a replay. A signed header tells them apart.
      return q.huawei({ ...r, headers: { 'x-refusal-case': String(++sent), ...r.headers } }, key, w.projectId);
    }
  }
}

/** The path and query as an HTTP client sends them: dot segments resolved. */
function resolved(url: string): string {
  const u = new URL(url, 'http://x');
  return u.pathname + u.search;
}

/** The route's request with every parameter from `n` and the project from `project`. */
function requestFor(route: ApiRoute, n: Names, project: Names = n, override: Record<string, string> = {}): FamilyRequest {
  const values = Object.fromEntries(
    route.params.map((p) => [
      p,
      override[p] ?? encodeURIComponent(ROLES[p] === 'project' ? project.project : paramValue(route, p, n)),
    ]),
  );
  const query = QUERIES[keyOf(route)]?.(n);
  const body = BODIES[keyOf(route)]?.(n);
  return {
    method: route.method,
    url: fillPath(route, values) + (query ? `?${query}` : ''),
    ...(body !== undefined ? { body } : {}),
  };
}

const withQuery = (r: FamilyRequest, pair: string): FamilyRequest => ({
  ...r,
  url: `${r.url}${r.url.includes('?') ? '&' : '?'}${pair}`,
});

/** A value of the wrong JSON type for a schema, or undefined when any value fits it. */
function wrongType(s: JsonSchema): unknown {
  const branches = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  const types = new Set<string>();
  for (const b of branches ?? [s]) {
    if (typeof b.type === 'string') types.add(b.type);
    else if ('const' in b || Array.isArray(b.enum)) types.add(typeof (b.const ?? b.enum[0]));
    else return undefined;
  }
  if (!types.has('string')) return 'not-of-this-type';
  if (!types.has('number') && !types.has('integer')) return 12345;
  if (!types.has('boolean')) return true;
  if (!types.has('array')) return ['not-of-this-type'];
  return undefined;
}

/** The choices of an enumerated schema, or null. */
function choicesOf(s: JsonSchema): unknown[] | null {
  if (Array.isArray(s.enum)) return s.enum as unknown[];
  const branches = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (branches?.every((b) => 'const' in b)) return branches.map((b) => b.const);
  return null;
}

/** Invalid bodies derived from the route's body schema and its valid body. */
function bodyDrafts(route: ApiRoute, valid: FamilyRequest): Draft[] {
  const drafts: Draft[] = [
    { what: 'a body that is not JSON', status: STATUS.bad, request: { ...valid, body: '{"a":' } },
    { what: 'a JSON array for the body', status: STATUS.bad, request: { ...valid, body: '[1]' } },
  ];
  const schema = route.body;
  const base = valid.body;
  if (!schema || typeof base !== 'object' || base === null || Array.isArray(base)) return drafts;
  const obj = base as Record<string, unknown>;
  for (const field of (schema.required ?? []) as string[]) {
    const { [field]: _, ...rest } = obj;
    drafts.push({ what: `no ${field}`, status: STATUS.bad, request: { ...valid, body: rest } });
  }
  for (const [field, prop] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
    const wrong = wrongType(prop);
    if (wrong !== undefined)
      drafts.push({
        what: `${field} of the wrong type`,
        status: STATUS.bad,
        request: { ...valid, body: { ...obj, [field]: wrong } },
      });
    const choices = choicesOf(prop);
    if (choices && choices.every((c) => typeof c === 'string'))
      drafts.push({
        what: `${field} not one of ${choices.join(', ')}`,
        status: STATUS.bad,
        request: { ...valid, body: { ...obj, [field]: 'not-a-choice' } },
      });
  }
  if (schema.additionalProperties === false)
    drafts.push({ what: 'an unknown field', status: STATUS.bad, request: { ...valid, body: { ...obj, unexpected: true } } });
  return drafts;
}

/**
 * Path parameter values that are not ids, as they go on the wire: a dot-dot segment in every
 * parameter, and each of the others in one parameter (taking turns).
 */
const DOT_DOT: [string, string] = ['..', 'a dot-dot segment'];
const MALFORMED: [string, string][] = [
  ['%2e%2e', 'an encoded dot-dot segment'],
  ['.', 'a dot segment'],
  ['x'.repeat(300), 'a 300-character value'],
  ['%00', 'a NUL'],
  ['a%2Fb', 'an encoded slash'],
];

/** Every refusal of a route; `state` adds the route's own (STATE in state-cases.ts). */
export function refusalsFor(route: ApiRoute, env: Env, state: (env: Env) => Draft[]): Refusal[] {
  const key = keyOf(route);
  const own = namesOf(env.alpha);
  const other = namesOf(env.bravo);
  const ghost = ghostNames(env.ghost);
  const valid = requestFor(route, own);
  const write = route.method !== 'GET';
  const drafts: { kind: Kind; d: Draft }[] = [];
  const add = (kind: Kind, d: Draft) => drafts.push({ kind, d });

  // authentication
  if (!(key in PUBLIC)) {
    add('no credential', { what: 'no credential', status: STATUS.unauthenticated, request: valid, who: 'none' });
    add('forged credential', { what: 'a forged credential', status: STATUS.unauthenticated, request: valid, who: 'forged' });
    if (route.family === 'css' || route.family === 'gaussdb') {
      const forged = { ...valid, headers: { 'x-auth-token': `lg_${randomBytes(24).toString('base64url')}` } };
      add('forged credential', { what: 'a forged X-Auth-Token', status: STATUS.unauthenticated, request: forged, who: 'none' });
      const viewer = { ...valid, headers: { 'x-auth-token': env.alpha.viewer.token } };
      if (write) add('role too low', { what: 'a viewer X-Auth-Token', status: STATUS.forbidden, request: viewer, who: 'none' });
    }
  }
  // roles (OBShell has none: the cluster's password is its operator)
  if (write && route.family !== 'obshell') {
    add('role too low', { what: 'a viewer credential', status: STATUS.forbidden, request: valid, who: 'viewer' });
    if (ADMIN_ROUTES.has(key))
      add('role too low', { what: 'an operator credential', status: STATUS.forbidden, request: valid, who: 'operator' });
  }
  // tenancy and unknown ids
  const resources = route.params.filter((p) => ROLES[p] !== undefined);
  const others = resources.filter((p) => ROLES[p] !== 'project');
  const namesMore = others.length > 0 || key in QUERIES || BODY_NAMES.has(key);
  const missing = BODY_NAMES.has(key) ? STATUS.notFoundOrBad : STATUS.notFound;
  if (route.params.some((p) => ROLES[p] === 'project')) {
    add('other tenant', { what: "the other tenant's project", status: missing, request: requestFor(route, other) });
    add('unknown id', { what: 'a project that exists nowhere', status: missing, request: requestFor(route, ghost) });
    if (namesMore) {
      add('other tenant', { what: "the other tenant's resource", status: missing, request: requestFor(route, other, own) });
      add('unknown id', { what: 'a resource that exists nowhere', status: missing, request: requestFor(route, ghost, own) });
    }
  } else if (others.length > 0 || key in QUERIES) {
    // no project in the path: the credential selects it (ACK, Hologres, OBShell); an admin token
    // belongs to no tenant, so it has only unknown ids
    if (!others.every((p) => ROLES[p] === 'adminToken'))
      add('other tenant', { what: "the other tenant's resource", status: missing, request: requestFor(route, other) });
    add('unknown id', { what: 'a resource that exists nowhere', status: missing, request: requestFor(route, ghost) });
  }
  // malformed path parameters: over a socket, where no client resolves dot segments; and, for the
  // writes, as an HTTP client sends them (the dot-dot resolved: another path)
  const malformed = (p: string, [value, what]: [string, string], raw: boolean) =>
    add('malformed path', {
      what: `:${p} ${what} (${raw ? 'raw' : 'resolved by the client'})`,
      status: STATUS.path,
      request: requestFor(route, own, own, { [p]: value }),
      raw,
    });
  route.params.forEach((p) => {
    malformed(p, DOT_DOT, true);
    if (write) malformed(p, DOT_DOT, false);
  });
  if (route.params.length > 0) MALFORMED.forEach((m, i) => malformed(route.params[i % route.params.length], m, true));
  // dot segments in the route's own path, which only a raw client sends
  const [, first, rest] = /^(\/[^/]+)(.*)$/.exec(valid.url) ?? [];
  if (first !== undefined && rest !== undefined) {
    for (const [insert, what] of [
      ['/.', 'a ./ segment'],
      ['/x/..', 'a x/../ segment'],
    ])
      add('malformed path', {
        what: `${what} in the path (raw)`,
        status: STATUS.path,
        request: { ...valid, url: `${first}${insert}${rest}` },
        raw: true,
      });
  }
  // queries
  add('malformed query', { what: 'a NUL in the query', status: STATUS.bad, request: withQuery(valid, 'x=%00') });
  for (const q of route.query) {
    if (q.name === 'stream') continue;
    const s = q.schema ?? {};
    if (s.type === 'integer' || s.type === 'number')
      add('malformed query', { what: `?${q.name} not a number`, status: STATUS.bad, request: withQuery(valid, `${q.name}=abc`) });
    const choices = choicesOf(s);
    if (choices)
      add('malformed query', {
        what: `?${q.name} not one of its values`,
        status: STATUS.bad,
        request: withQuery(valid, `${q.name}=not-a-choice`),
      });
    if (q.required)
      add('malformed query', {
        what: `no ?${q.name}`,
        status: STATUS.bad,
        request: { ...valid, url: valid.url.replace(/\?.*$/, '') },
      });
  }
  // bodies
  if (write && (route.body || key in BODIES)) for (const d of bodyDrafts(route, valid)) add('invalid body', d);
  for (const d of state(env)) add('state', d);

  return drafts.map(({ kind, d }) => ({
    kind,
    what: d.what,
    status: d.status,
    request: d.request,
    raw: d.raw === true,
    send: () => send(env, route.family, route, d),
  }));
}

export { STATUS, namesOf, requestFor, type Draft, type Names };
