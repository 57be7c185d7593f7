// The world the refusal test runs in: two projects (alpha sends every request, bravo is the other
// tenant) with credentials of each role in every family, resources of every kind, a finished
// upgrade and OBShell DAG, and targets made busy by an upgrade scheduled far in the future (an
// active upgrade that leaves Liftgate idle). Ids carry the project's name.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AccessKey, FamilyRequester } from '../../helpers/family-requests.ts';
import { until, type TestApp } from '../../helpers/harness.ts';
import { obshellUpgrade, seedFleet, seedProject, type SeededFleet, type SeededProject } from '../../helpers/two-projects.ts';

export const FAR_FUTURE = '2099-01-01T00:00:00Z';

export interface Tenant extends SeededProject {
  fleet: SeededFleet;
  /** credentials of the lower roles (the seeded token and access key are the project's admin) */
  viewer: { token: string; accessKey: AccessKey };
  operator: { token: string; accessKey: AccessKey };
  /** targets with an upgrade scheduled for FAR_FUTURE: active, so a second upgrade is refused */
  busy: {
    cluster: string;
    clusterUpgrade: string;
    instance: string;
    instanceUpgrade: string;
    ob: string;
    obPassword: string;
    /** its own OBShell agent port */
    obPort: number;
  };
  /** OBShell ids of the finished upgrade of `ob` (its DAG, a node, a sub task) and of an upgrade check */
  dag: string;
  node: string;
  subTask: string;
  checkDag: string;
  /** a failed batch of two targets: one failed upgrade a retry would run again, one whose rollback failed */
  failedBatch: string;
  /** an admin token minted beside the test's own (admin tokens are the server's, not the tenant's) */
  spareAdminTokenId: string;
}

async function ok(t: TestApp, method: string, url: string, body?: unknown): Promise<any> {
  const res = await t.call(method, url, body);
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
  return res.json;
}

export const strongPassword = () => `Ob-${randomBytes(12).toString('hex')}`;

export async function seedTenant(t: TestApp, q: FamilyRequester, name: string): Promise<Tenant> {
  const p = await seedProject(t, name);
  const fleet = await seedFleet(t, p);
  const base = `/v1/projects/${name}`;
  const credentials = async (role: string) => ({
    token: (await ok(t, 'POST', `${base}/tokens`, { name: role, role })).token as string,
    accessKey: (await ok(t, 'POST', `${base}/access-keys`, { name: role, role })) as AccessKey,
  });
  const target = (id: string, engine: string, version: string, roles: string[]) =>
    ok(t, 'POST', `${base}/targets`, {
      id,
      kind: engine === 'gaussdb' ? 'instance' : 'cluster',
      engine,
      version,
      release: `r${version}`,
      region: 'cn-hangzhou',
      driver: 'sim',
      nodes: roles.map((role, i) => ({ name: `${id}-n${i + 1}`, role, zone: `zone${i + 1}` })),
    });
  const later = (targetId: string, toVersion: string) =>
    ok(t, 'POST', `${base}/upgrades`, { targetId, toVersion, schedule: { kind: 'at', at: FAR_FUTURE } });
  const busy = { cluster: `${name}-es-busy`, instance: `${name}-gs-busy`, ob: `${name}-ob-busy`, obPassword: strongPassword() };
  await target(busy.cluster, 'elasticsearch', '7.9.3', ['master', 'data']);
  await target(busy.instance, 'gaussdb', '2.0.48.231200', ['primary', 'replica']);
  await target(busy.ob, 'oceanbase', '4.2.1.0', ['leader', 'follower', 'follower']);
  const obPort = (await ok(t, 'PUT', `${base}/targets/${busy.ob}/obshell-password`, { password: busy.obPassword })).obshellAgent
    .port as number;
  const clusterUpgrade = (await later(busy.cluster, '7.10.2')).id as string;
  const instanceUpgrade = (await later(busy.instance, '2.0.58.250100')).id as string;
  await later(busy.ob, '4.2.1.1');
  const check = await q.obshellRequest(
    { method: 'POST', url: '/api/v1/ob/upgrade/check', body: { version: '4.2.1.1', release: 'r4.2.1.1' } },
    p.obshellPassword,
    p.obshellPort,
  );
  if (check.status !== 200) throw new Error(`the OBShell upgrade check of ${p.ob}: ${check.status} ${check.body}`);
  const dag = await obshellUpgrade(q, p);
  const failedBatch = await seedFailedBatch(t, name);
  return {
    ...p,
    fleet,
    viewer: await credentials('viewer'),
    operator: await credentials('operator'),
    busy: { ...busy, obPort, clusterUpgrade, instanceUpgrade },
    ...dag,
    checkDag: String(check.json.data.id),
    failedBatch,
    spareAdminTokenId: (await ok(t, 'POST', '/v1/admin-tokens', { name: `${name}-spare` })).id as string,
  };
}

/**
 * A batch whose two upgrades failed (a sim fault in verify), the second then rolled back with a
 * fault in the reversal: it cannot be retried, the first can. A retry of the batch is refused.
 */
async function seedFailedBatch(t: TestApp, project: string): Promise<string> {
  const base = `/v1/projects/${project}`;
  const ids = [`${project}-rf-1`, `${project}-rf-2`];
  for (const id of ids) {
    await ok(t, 'POST', `${base}/targets`, {
      id,
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.9.3',
      driver: 'sim',
      nodes: [
        { name: `${id}-n1`, role: 'master', zone: 'zone1' },
        { name: `${id}-n2`, role: 'data', zone: 'zone2' },
      ],
    });
    await ok(t, 'POST', `${base}/targets/${id}/faults`, { step: 'verify', kind: 'fail' });
  }
  const batch = await ok(t, 'POST', `${base}/batches`, {
    name: `${project}-failing`,
    targetIds: ids,
    toVersion: '7.10.2',
    waves: [{ name: 'all', targets: '100%', maxConcurrency: 2 }],
    failureThreshold: { targets: 3 },
  });
  const upgradeOf = async (target: string) =>
    (await ok(t, 'GET', `${base}/upgrades?target=${target}`)).items[0] as { id: string; state: string; errorCode: string | null };
  await until(
    async () => (await Promise.all(ids.map(upgradeOf))).every((u) => u.state === 'failed'),
    `the upgrades of ${batch.id} to fail`,
  );
  await ok(t, 'POST', `${base}/targets/${ids[1]}/faults`, { step: 'start', kind: 'rollback_fail' });
  await ok(t, 'POST', `${base}/upgrades/${(await upgradeOf(ids[1]!)).id}/actions`, { action: 'rollback' });
  await until(async () => (await upgradeOf(ids[1]!)).errorCode === 'ROLLBACK_FAILED', `the rollback of ${ids[1]} to fail`);
  return batch.id as string;
}

/** Ids of every kind that no project has (the "unknown id" refusals). */
export type Ghost = ReturnType<typeof ghostIds>;

export function ghostIds() {
  return {
    project: 'ghost',
    target: 'ghost-es',
    instance: 'ghost-gs',
    upgrade: randomUUID(),
    report: randomBytes(16).toString('hex'),
    batch: randomUUID(),
    webhook: `wh-${randomUUID()}`,
    token: randomUUID(),
    accessKey: `LTAI${randomBytes(10).toString('hex').toUpperCase()}`,
    engine: 'ghostdb',
    dag: '1999',
    node: '1999001',
    subTask: '1999000001',
    adminToken: randomUUID(),
  };
}
