// Every route the running app serves, read from Fastify's own router (printRoutes), with the
// family whose envelope answers it and the operation the OpenAPI document gives it (parameters and
// body schema). The fuzz and tenancy tests walk this list, so a new route is covered without
// anyone adding it to a list; only the routes in EXEMPT and the web console's are left out.
import type { FastifyInstance } from 'fastify';
import { familyOf, type FamilyName } from '../../src/http/error-envelopes.ts';

export const FAMILIES: FamilyName[] = ['native', 'ack', 'hologres', 'css', 'gaussdb', 'obshell'];

export interface ApiParameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema?: JsonSchema;
}

export type JsonSchema = Record<string, any>;

export interface ApiRoute {
  method: string;
  /** Fastify's form: /v1/projects/:project */
  path: string;
  family: FamilyName;
  /** the path parameters, in order */
  params: string[];
  query: ApiParameter[];
  /** the JSON body's schema, when the route declares one (OBShell's bodies are encrypted, so none) */
  body?: JsonSchema;
}

/** Routes that are not part of any API, each with the reason it is left out. */
export const EXEMPT: { pattern: RegExp; reason: string }[] = [
  { pattern: /^\/docs(\/|$)/, reason: 'the Swagger UI: static files of @fastify/swagger-ui' },
  { pattern: /^\/openapi\.json$/, reason: 'the OpenAPI document: static, no input' },
];

/**
 * The web console: its static files (whatever the build names them) and client-side routes, served
 * by @fastify/static and kept out of the OpenAPI document. A hidden route under a prefix of the
 * native API or of a vendor family is no console route, and fails the enumeration.
 */
const isConsole = (method: string, path: string, documented: boolean) =>
  method === 'GET' && !documented && familyOf(path) === 'native' && !path.startsWith('/v1/');

/** [method, path] of every route in Fastify's router, HEAD left out (it runs the GET handler). */
export function routerRoutes(app: FastifyInstance): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^(.*?)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = Math.round([...m[1]!].length / 4);
    stack.length = depth;
    stack[depth] = m[2]!;
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()))
      if (method && method !== 'HEAD') out.push({ method, path });
  }
  return out;
}

const toOpenApi = (path: string) => path.replace(/:([A-Za-z_]\w*)/g, '{$1}');

/** Every API route: the router's routes minus EXEMPT, each with its OpenAPI operation. */
export function apiRoutes(app: FastifyInstance): ApiRoute[] {
  const doc = app.swagger() as { paths: Record<string, Record<string, any>> };
  const routes: ApiRoute[] = [];
  const undocumented: string[] = [];
  for (const { method, path } of routerRoutes(app)) {
    if (EXEMPT.some((e) => e.pattern.test(path))) continue;
    const op = doc.paths[toOpenApi(path)]?.[method.toLowerCase()];
    if (isConsole(method, path, op !== undefined)) continue;
    if (!op) {
      undocumented.push(`${method} ${path}`);
      continue;
    }
    const parameters = (op.parameters ?? []) as ApiParameter[];
    routes.push({
      method,
      path,
      family: familyOf(path),
      params: [...path.matchAll(/:([A-Za-z_]\w*)/g)].map((x) => x[1]!),
      query: parameters.filter((p) => p.in === 'query'),
      body: op.requestBody?.content?.['application/json']?.schema,
    });
  }
  // A route that is neither exempt nor in the OpenAPI document would be fuzzed blind: say so.
  if (undocumented.length > 0) throw new Error(`routes neither in the OpenAPI document nor exempt: ${undocumented.join(', ')}`);
  return routes;
}

/** The URL of a route with its path parameters filled in (already encoded). */
export function fillPath(route: ApiRoute, values: Record<string, string>): string {
  return route.path.replace(/:([A-Za-z_]\w*)/g, (_, name: string) => values[name] ?? 'x');
}

/** What each path parameter of the API names: a project, or one of a project's resources. */
export const TENANT_PARAMS = {
  project: 'project',
  project_id: 'project',
  target: 'target',
  ClusterId: 'cluster',
  cluster_id: 'cluster',
  instanceId: 'instance',
  instance_id: 'instance',
  upgrade: 'upgrade',
  task_id: 'upgrade',
  action_id: 'upgrade',
  report: 'report',
  check_id: 'report',
  batch: 'batch',
  webhook: 'webhook',
  token: 'token',
  accessKey: 'accessKey',
} as const;

export type TenantResource = (typeof TENANT_PARAMS)[keyof typeof TENANT_PARAMS];

/** Path parameters that name no project's resource: a fixed value the route accepts. */
export const FIXED_PARAMS: Record<string, (route: ApiRoute) => string> = {
  engine: () => 'elasticsearch',
  upgrade_type: () => 'same',
  // CSS upgrades whole clusters (`all`); an AZ migration moves one instance type
  inst_type: (route) => (route.path.endsWith('/azmigrate') ? 'ess' : 'all'),
};
