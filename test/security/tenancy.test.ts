// The tenancy matrix: two projects, alpha and bravo, each with targets, an upgrade, an OBShell
// upgrade, a precheck report, a batch, a webhook and credentials of every family. Every route
// that names a resource (test/helpers/routes.ts lists them from the router), in every family, is
// called with alpha's credential for bravo's resource: the answer is a not-found or forbidden in
// the family's envelope, nothing in it names any of bravo's resources, and nothing in the store
// changed. The same read with alpha's own resources succeeds, so each refusal is the tenancy
// check and not a malformed request. Reads that name no resource (lists) show nothing of bravo.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FamilyName } from '../../src/http/error-envelopes.ts';
import {
  errorCodeOf,
  FamilyRequester,
  isFamilyErrorEnvelope,
  type Answer,
  type FamilyRequest,
} from '../helpers/family-requests.ts';
import { forEachDialect, startApp, stopBackground, type TestApp } from '../helpers/harness.ts';
import {
  apiRoutes,
  fillPath,
  FAMILIES,
  FIXED_PARAMS,
  TENANT_PARAMS,
  type ApiRoute,
  type TenantResource,
} from '../helpers/routes.ts';
import { changedTables, storeDigest } from '../helpers/store-digest.ts';
import {
  obshellUpgrade,
  seedCatalog,
  seedFleet,
  seedProject,
  type SeededFleet,
  type SeededProject,
} from '../helpers/two-projects.ts';

/** One project's resources, by the role a path parameter plays. */
interface World {
  p: SeededProject;
  f: SeededFleet;
  /** OBShell ids of the project's OceanBase upgrade: its DAG, a node (stage) and a sub task (step) */
  dag: string;
  node: string;
  subTask: string;
}

type Role = TenantResource;

const ROLES: Record<string, Role> = TENANT_PARAMS;
const FIXED = FIXED_PARAMS;

/** Routes with a resource parameter that the matrix leaves out, each with its reason. */
const EXEMPT: Record<string, string> = {
  'GET /v1/catalog/:engine/versions': 'the catalog is shared by every project; an engine is no project resource',
  'POST /v1/catalog/:engine/versions': 'the catalog is shared by every project, and only the admin token may add to it',
  'POST /v1/admin-tokens/:adminToken/rotate':
    'admin tokens belong to no project; a project token of any role is refused with 403 (test/api/admin-tokens.test.ts)',
  'DELETE /v1/admin-tokens/:adminToken':
    'admin tokens belong to no project; a project token of any role is refused with 403 (test/api/admin-tokens.test.ts)',
};

function valueOf(route: ApiRoute, name: string, w: World): string {
  if (name in FIXED) return FIXED[name]!(route);
  if (name === 'id') {
    // OBShell: the path says which kind of id
    if (route.path.includes('/dag/')) return w.dag;
    if (route.path.includes('/node/')) return w.node;
    if (route.path.includes('/sub_task/')) return w.subTask;
  }
  const role = ROLES[name];
  if (!role) throw new Error(`${route.method} ${route.path}: the matrix does not know what :${name} names; add it to ROLES`);
  const { p, f } = w;
  const values: Record<Role, string> = {
    project: p.projectId,
    target: p.cluster,
    cluster: p.cluster,
    instance: p.instance,
    upgrade: p.upgradeId,
    report: p.reportId,
    batch: f.batchId,
    webhook: f.webhookId,
    token: f.spareTokenId,
    accessKey: f.spareKeyId,
  };
  return values[role];
}

/** Bodies for the routes that need one, naming the resource owner's targets where a body can. */
const BODIES: Record<string, (w: World) => unknown> = {
  'POST /v1/projects/:project/webhooks': () => ({ url: 'http://127.0.0.1:9/probe', events: ['*'] }),
  'POST /v1/projects/:project/tokens': () => ({ name: 'probe' }),
  'POST /v1/projects/:project/access-keys': () => ({ name: 'probe' }),
  'POST /v1/projects/:project/targets': () => ({
    id: 'probe-target',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.9.3',
    driver: 'sim',
    nodes: [{ name: 'probe-n1', role: 'master', zone: 'z1' }],
  }),
  'PATCH /v1/projects/:project/targets/:target': () => ({ name: 'renamed' }),
  'PUT /v1/projects/:project/targets/:target/obshell-password': () => ({ password: `Probe-${randomBytes(12).toString('hex')}` }),
  'POST /v1/projects/:project/targets/:target/faults': (w) => ({ node: `${w.p.cluster}-n1`, step: 'start', kind: 'fail' }),
  'POST /v1/projects/:project/targets/:target/prechecks': () => ({ toVersion: '7.10.2' }),
  'POST /v1/projects/:project/upgrades': (w) => ({ targetId: w.p.cluster, toVersion: '7.10.2' }),
  'POST /v1/projects/:project/upgrades/:upgrade/actions': () => ({ action: 'pause' }),
  'POST /v1/projects/:project/batches': (w) => ({
    name: 'probe',
    targetIds: [w.p.cluster],
    toVersion: '7.10.2',
    waves: [{ name: 'all', targets: '100%' }],
  }),
  'POST /v1/projects/:project/batches/preview': (w) => ({
    name: 'probe',
    targetIds: [w.p.cluster],
    toVersion: '7.10.2',
    waves: [{ name: 'all', targets: '100%' }],
  }),
  'POST /v1/projects/:project/batches/:batch/actions': () => ({ action: 'cancel' }),
  'POST /api/v2/clusters/:ClusterId/upgrade': () => ({ next_version: '7.10.2' }),
  'POST /clusters/:cluster_id/checks': () => ({ type: 'ClusterUpgrade', options: { next_version: '7.10.2' } }),
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/image/upgrade': () => ({
    target_image_id: 'img-elasticsearch-7.10.2',
    upgrade_type: 'same',
    indices_backup_check: false,
    agency: 'probe',
  }),
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/azmigrate': () => ({
    source_az: 'zone1',
    // a zone the cluster does not use: moving into zone2 would collapse two zones into one (refused)
    target_az: 'zone9',
    migrate_type: 'az_migrate',
    agency: 'probe',
  }),
  'POST /v3/:project_id/instances/database-version/upgrade': (w) => ({
    databases_instance_infos: [{ instance_id: w.p.instance, current_version: '2.0.58.250100' }],
    delay: 'false',
  }),
  'POST /v3/:project_id/instances/:instance_id/db-upgrade': () => ({ delay: 'false' }),
  'PUT /v3/:project_id/instances/:instance_id/ops-window': () => ({ start_time: '18:00', end_time: '22:00' }),
  'DELETE /v3/:project_id/scheduled-jobs': (w) => ({ job_ids: [w.p.upgradeId] }),
  'POST /api/v1/task/dag/:id': () => ({ operator: 'cancel' }),
};

/** Routes whose body names the owner's resources (targets, instances, jobs). */
const BODY_NAMES = new Set([
  'POST /v1/projects/:project/upgrades',
  'POST /v1/projects/:project/batches',
  'POST /v1/projects/:project/batches/preview',
  'POST /v3/:project_id/instances/database-version/upgrade',
  'DELETE /v3/:project_id/scheduled-jobs',
]);

/** Routes that name a resource in their query string. */
const QUERIES: Record<string, (w: World) => string> = {
  'GET /v3/:project_id/jobs': (w) => `id=${w.p.upgradeId}`,
};

const keyOf = (r: ApiRoute) => `${r.method} ${r.path}`;
const namesResource = (r: ApiRoute) => r.params.length > 0 || keyOf(r) in QUERIES;

/** Every string that names one of the project's resources (long enough to search for). */
function namesOf(w: World, extra: string[]): string[] {
  const { p, f } = w;
  const targets = [p.cluster, p.instance, p.ob, f.batchTarget];
  return [
    ...targets,
    ...targets.flatMap((t) => [1, 2, 3].map((i) => `${t}-n${i}`)),
    p.upgradeId,
    p.reportId,
    f.batchId,
    f.webhookId,
    f.spareTokenId,
    f.spareKeyId,
    p.accessKey.accessKeyId,
    `${p.projectId}-batch`,
    `${p.projectId}-hook`,
    `${p.projectId}-spare`,
    ...extra,
  ];
}

forEachDialect('tenancy matrix', (dialect) => {
  let t: TestApp;
  let q: FamilyRequester;
  let alpha: World;
  let bravo: World;
  /** bravo's resources renamed to ids no project has */
  let ghost: World;
  let routes: ApiRoute[];
  before(async () => {
    t = await startApp(dialect);
    q = new FamilyRequester(t.app);
    await seedCatalog(t);
    const world = async (name: string): Promise<World> => {
      const p = await seedProject(t, name);
      const f = await seedFleet(t, p);
      return { p, f, ...(await obshellUpgrade(q, p)) };
    };
    alpha = await world('alpha');
    bravo = await world('bravo');
    ghost = {
      p: {
        ...bravo.p,
        projectId: 'ghost',
        cluster: 'ghost-es',
        instance: 'ghost-gs',
        ob: 'ghost-ob',
        upgradeId: randomUUID(),
        reportId: randomBytes(16).toString('hex'),
      },
      f: {
        batchTarget: 'ghost-bt',
        batchId: randomUUID(),
        webhookId: `wh-${randomUUID()}`,
        spareTokenId: randomUUID(),
        spareKeyId: `LTAI${randomBytes(10).toString('hex').toUpperCase()}`,
      },
      dag: '1999',
      node: '1999001',
      subTask: '1999000001',
    };
    routes = apiRoutes(t.app);
    // From here on the requests are the store's only writers.
    await stopBackground(t);
  });
  after(() => t.close());

  /** The request for a route with every parameter taken from `owner`, the project from `project`. */
  function requestFor(route: ApiRoute, owner: World, project: World): FamilyRequest {
    const values = Object.fromEntries(
      route.params.map((n) => [n, encodeURIComponent(ROLES[n] === 'project' ? project.p.projectId : valueOf(route, n, owner))]),
    );
    const query = QUERIES[keyOf(route)]?.(owner);
    const body = BODIES[keyOf(route)]?.(owner);
    return {
      method: route.method,
      url: fillPath(route, values) + (query ? `?${query}` : ''),
      ...(body !== undefined ? { body } : {}),
    };
  }

  const send = (family: FamilyName, r: FamilyRequest, as: World): Promise<Answer> => q.as(family, r, as.p);

  it('every route that names a resource is in the matrix, or exempt with a reason', () => {
    const matrix = routes.filter(namesResource).filter((r) => !(keyOf(r) in EXEMPT));
    for (const family of FAMILIES) {
      assert.ok(
        matrix.some((r) => r.family === family),
        `the matrix has no route of the ${family} family`,
      );
    }
    for (const r of matrix) {
      for (const n of r.params) valueOf(r, n, bravo); // throws for a parameter the matrix cannot fill
      const needsBody = Array.isArray(r.body?.required) && r.body.required.length > 0;
      assert.ok(!needsBody || keyOf(r) in BODIES, `${keyOf(r)} needs a body in BODIES`);
    }
    for (const key of [...Object.keys(BODIES), ...BODY_NAMES, ...Object.keys(QUERIES), ...Object.keys(EXEMPT)]) {
      assert.ok(
        routes.some((r) => keyOf(r) === key),
        `${key} is in the matrix but the app has no such route`,
      );
    }
    assert.ok(matrix.length > 40, `${matrix.length} routes in the matrix`);
  });

  it("alpha's credential reaches none of bravo's resources, in any family, and changes nothing", async () => {
    const bravoNames = namesOf(bravo, []);
    const before = await storeDigest(t.ctx);
    let checked = 0;
    for (const route of routes.filter(namesResource).filter((r) => !(keyOf(r) in EXEMPT))) {
      const hasProject = route.params.some((n) => ROLES[n] === 'project');
      const hasOther =
        route.params.some((n) => ROLES[n] !== 'project') || keyOf(route) in QUERIES || BODY_NAMES.has(keyOf(route));
      // bravo's project in the path; and alpha's own project with bravo's resource in it
      const cases: ['bravo' | 'own', FamilyRequest][] = [
        ['bravo', requestFor(route, bravo, bravo)],
        ...(hasProject && hasOther ? [['own', requestFor(route, bravo, alpha)] as ['own', FamilyRequest]] : []),
      ];
      for (const [project, r] of cases) {
        const res = await send(route.family, r, alpha);
        const what = `${r.method} ${r.url} ${JSON.stringify(r.body) ?? ''} -> ${res.status} ${res.body.slice(0, 400)}`;
        assert.ok(isFamilyErrorEnvelope(route.family, res), `not the ${route.family} envelope: ${what}`);
        // A batch of GaussDB instances answers 400 listing the instances it cannot upgrade; any
        // other refusal is a not-found or forbidden.
        assert.ok(res.status === 403 || res.status === 404 || (res.status === 400 && BODY_NAMES.has(keyOf(route))), what);
        // Indistinguishable from a resource that exists nowhere: the same status and code.
        const ghostly = await send(route.family, requestFor(route, ghost, project === 'own' ? alpha : ghost), alpha);
        assert.deepEqual(
          [res.status, errorCodeOf(route.family, res)],
          [ghostly.status, errorCodeOf(route.family, ghostly)],
          `${what}\nbut a resource that exists nowhere: ${ghostly.status} ${ghostly.body.slice(0, 300)}`,
        );
        const asked = r.url + (JSON.stringify(r.body) ?? '');
        const leaked = bravoNames.filter((s) => res.body.includes(s) && !asked.includes(s));
        assert.deepEqual(leaked, [], `bravo's names in the answer: ${what}`);
        assert.deepEqual(changedTables(before, await storeDigest(t.ctx)), [], `the store changed: ${what}`);
        checked++;
      }
      // The control: the same read of alpha's own resource succeeds.
      if (route.method === 'GET') {
        const own = await send(route.family, requestFor(route, alpha, alpha), alpha);
        assert.ok(own.status >= 200 && own.status < 300, `${keyOf(route)} with alpha's own resource: ${own.status} ${own.body}`);
        assert.deepEqual(
          bravoNames.filter((s) => own.body.includes(s)),
          [],
          `bravo's names in alpha's own ${keyOf(route)}`,
        );
      }
    }
    assert.ok(checked > 50, `${checked} requests`);
  });

  it("reads that name no resource (lists, whoami, unfinished DAGs) show nothing of bravo's", async () => {
    const bravoNames = namesOf(bravo, [bravo.p.projectId]);
    let checked = 0;
    for (const route of routes.filter((r) => r.method === 'GET' && !namesResource(r))) {
      const res = await send(route.family, { method: 'GET', url: route.path }, alpha);
      // a project token is refused the server-wide reads (executors) outright, which shows nothing either
      const shown = (res.status >= 200 && res.status < 300) || res.status === 403;
      assert.ok(shown, `${keyOf(route)}: ${res.status} ${res.body.slice(0, 300)}`);
      assert.deepEqual(
        bravoNames.filter((s) => res.body.includes(s)),
        [],
        `bravo's names in ${keyOf(route)} for alpha`,
      );
      checked++;
    }
    // Lists inside alpha's own project.
    for (const route of routes.filter((r) => r.method === 'GET' && r.params.length > 0)) {
      if (!route.params.every((n) => ROLES[n] === 'project') || keyOf(route) in QUERIES) continue;
      const res = await send(route.family, requestFor(route, alpha, alpha), alpha);
      assert.ok(res.status >= 200 && res.status < 300, `${keyOf(route)}: ${res.status} ${res.body.slice(0, 300)}`);
      assert.deepEqual(
        bravoNames.filter((s) => res.body.includes(s)),
        [],
        `bravo's names in alpha's ${keyOf(route)}`,
      );
      checked++;
    }
    assert.ok(checked > 10, `${checked} lists`);
  });
});
