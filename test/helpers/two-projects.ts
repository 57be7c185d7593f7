// Two projects, each with every family's credential and one resource of every kind a family names
// (a CSS/ACK-style cluster, a Hologres/GaussDB-style instance, an OceanBase cluster with an OBShell
// password, an upgrade, a precheck report). Used by the fuzz, tenancy, refusal and rate-limit tests.
import { randomBytes } from 'node:crypto';
import { until, type TestApp } from './harness.ts';
import type { AccessKey, FamilyRequester, ProjectCredentials } from './family-requests.ts';

export interface SeededProject extends ProjectCredentials {
  cluster: string;
  instance: string;
  ob: string;
  upgradeId: string;
  reportId: string;
}

async function ok(t: TestApp, method: string, url: string, body?: unknown): Promise<any> {
  const res = await t.call(method, url, body);
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
  return res.json;
}

const CATALOG: Record<string, string[]> = {
  elasticsearch: ['7.9.3', '7.10.2', '7.10.3'],
  gaussdb: ['2.0.48.231200', '2.0.58.250100'],
  oceanbase: ['4.2.1.0', '4.2.1.1'],
};

export async function seedCatalog(t: TestApp): Promise<void> {
  for (const [engine, versions] of Object.entries(CATALOG))
    for (const v of versions)
      await ok(t, 'POST', `/v1/catalog/${engine}/versions`, { version: v, release: `r${v}`, imageId: `img-${engine}-${v}` });
}

/** A project with credentials and resources; ids carry the project's name so leaks are visible. */
export async function seedProject(t: TestApp, projectId: string): Promise<SeededProject> {
  await ok(t, 'POST', '/v1/projects', { id: projectId, name: projectId });
  const token = (await ok(t, 'POST', `/v1/projects/${projectId}/tokens`, { name: 'test' })).token as string;
  const accessKey = (await ok(t, 'POST', `/v1/projects/${projectId}/access-keys`)) as AccessKey;
  const target = (id: string, engine: string, kind: string, roles: string[]) =>
    ok(t, 'POST', `/v1/projects/${projectId}/targets`, {
      id,
      kind,
      engine,
      version: CATALOG[engine]![0],
      release: `r${CATALOG[engine]![0]}`,
      region: 'cn-hangzhou',
      driver: 'sim',
      nodes: roles.map((role, i) => ({ name: `${id}-n${i + 1}`, role, zone: `zone${i + 1}` })),
    });
  const cluster = `${projectId}-es`;
  const instance = `${projectId}-gs`;
  const ob = `${projectId}-ob`;
  await target(cluster, 'elasticsearch', 'cluster', ['master', 'data', 'data']);
  await target(instance, 'gaussdb', 'instance', ['primary', 'replica']);
  await target(ob, 'oceanbase', 'cluster', ['leader', 'follower', 'follower']);
  const obshellPassword = `Ob-${randomBytes(12).toString('hex')}`;
  const set = await ok(t, 'PUT', `/v1/projects/${projectId}/targets/${ob}/obshell-password`, { password: obshellPassword });
  const obshellPort = set.obshellAgent.port as number;
  const report = await ok(t, 'POST', `/v1/projects/${projectId}/targets/${cluster}/prechecks`, {
    toVersion: CATALOG.elasticsearch![1],
    wait: true,
  });
  // A finished upgrade: it names the cluster but leaves it free for further upgrades.
  const upgrade = await ok(t, 'POST', `/v1/projects/${projectId}/upgrades`, {
    targetId: instance,
    toVersion: CATALOG.gaussdb![1],
  });
  for (let i = 0; i < 500; i++) {
    const u = await ok(t, 'GET', `/v1/projects/${projectId}/upgrades/${upgrade.id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(u.state)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    projectId,
    token,
    accessKey,
    obshellPassword,
    obshellPort,
    cluster,
    instance,
    ob,
    upgradeId: upgrade.id,
    reportId: report.id,
  };
}

export interface SeededFleet {
  /** a cluster only the batch names, so the project's other targets stay free */
  batchTarget: string;
  batchId: string;
  webhookId: string;
  /** a token and an access key besides the ones the project's requests use (safe to revoke) */
  spareTokenId: string;
  spareKeyId: string;
}

/** A batch (held for approval, far in the future), a webhook and spare credentials for the project. */
export async function seedFleet(t: TestApp, p: SeededProject): Promise<SeededFleet> {
  const base = `/v1/projects/${p.projectId}`;
  const batchTarget = `${p.projectId}-bt`;
  await ok(t, 'POST', `${base}/targets`, {
    id: batchTarget,
    kind: 'cluster',
    engine: 'elasticsearch',
    version: CATALOG.elasticsearch![0],
    region: 'cn-hangzhou',
    driver: 'sim',
    nodes: [{ name: `${batchTarget}-n1`, role: 'master', zone: 'zone1' }],
  });
  const batch = await ok(t, 'POST', `${base}/batches`, {
    name: `${p.projectId}-batch`,
    targetIds: [batchTarget],
    toVersion: CATALOG.elasticsearch![1],
    schedule: { kind: 'at', at: '2099-01-01T00:00:00Z' },
    waves: [{ name: 'all', targets: '100%', approval: true }],
  });
  const webhook = await ok(t, 'POST', `${base}/webhooks`, {
    url: `http://127.0.0.1:9/${p.projectId}-hook`,
    events: ['batch.*'],
  });
  const spareToken = await ok(t, 'POST', `${base}/tokens`, { name: `${p.projectId}-spare` });
  const spareKey = await ok(t, 'POST', `${base}/access-keys`, { name: `${p.projectId}-spare` });
  return { batchTarget, batchId: batch.id, webhookId: webhook.id, spareTokenId: spareToken.id, spareKeyId: spareKey.id };
}

/** An OceanBase upgrade through OBShell, run to its end; its DAG, a node and a sub task id. */
export async function obshellUpgrade(
  q: FamilyRequester,
  p: SeededProject,
): Promise<{ dag: string; node: string; subTask: string }> {
  const started = await q.obshellRequest(
    { method: 'POST', url: '/api/v1/ob/upgrade', body: { version: '4.2.1.1', release: 'r4.2.1.1', mode: 'ROLLING' } },
    p.obshellPassword,
    p.obshellPort,
  );
  if (started.status !== 200) throw new Error(`the OBShell upgrade of ${p.ob}: ${started.status} ${started.body}`);
  const id = String(started.json.data.id);
  const done = await until(
    async () => {
      const d = await q.obshellRequest({ method: 'GET', url: `/api/v1/task/dag/${id}` }, p.obshellPassword, p.obshellPort);
      return ['SUCCEED', 'FAILED'].includes(d.json?.data?.state) ? d.json.data : null;
    },
    `the OBShell upgrade of ${p.ob}`,
    3000,
  );
  const node = done.nodes[0];
  return { dag: id, node: String(node.id), subTask: String(node.sub_tasks[0].id) };
}
