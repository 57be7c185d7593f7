// Refusals only a route's own rules make: state preconditions (an action on a finished upgrade, a
// second upgrade on a busy target, a batch action its state does not allow), conflicts (an id or a
// password in use), and each family's own body checks (CSS images and instance types, GaussDB's
// batch items, OBShell's encrypted bodies and DAG operators). Keyed by route; alpha sends them all.
import type { FamilyRequest } from '../../helpers/family-requests.ts';
import { STATUS, type Draft, type Env } from './cases.ts';

const draft = (what: string, request: FamilyRequest, extra: Partial<Draft> = {}): Draft => ({
  what,
  status: STATUS.state,
  request,
  ...extra,
});

const post = (url: string, body: unknown): FamilyRequest => ({ method: 'POST', url, body });
const PAST = '2001-01-01T00:00:00Z';

export const STATE: Record<string, (env: Env) => Draft[]> = {
  'POST /v1/projects': ({ alpha }) => [draft('a project id in use', post('/v1/projects', { id: alpha.projectId }))],
  'POST /v1/catalog/:engine/versions': () => [
    draft('a version the catalog has', post('/v1/catalog/elasticsearch/versions', { version: '7.9.3', release: 'r7.9.3' })),
    draft('not a version', post('/v1/catalog/elasticsearch/versions', { version: 'seven' })),
  ],
  'POST /v1/projects/:project/targets': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/targets`;
    const t = { id: 'refused-target', kind: 'cluster', engine: 'elasticsearch', version: '7.9.3', driver: 'sim' };
    return [
      draft('a target id in use', post(url, { ...t, id: alpha.cluster })),
      draft('a node named twice', post(url, { ...t, nodes: [{ name: 'n1' }, { name: 'n1' }] })),
      draft('a driver that is not installed', post(url, { ...t, driver: 'nosuchdriver' })),
      draft('not a version', post(url, { ...t, version: 'seven' })),
      draft('a window in a time zone that does not exist', post(url, { ...t, maintenanceWindow: weekly('Mars/Olympus_Mons') })),
    ];
  },
  'PATCH /v1/projects/:project/targets/:target': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/targets/${alpha.cluster}`;
    return [
      draft('an empty patch', { method: 'PATCH', url, body: {} }),
      draft('a window in a time zone that does not exist', {
        method: 'PATCH',
        url,
        body: { maintenanceWindow: weekly('Mars/Olympus_Mons') },
      }),
      draft('an exclusion that ends before it starts', {
        method: 'PATCH',
        url,
        body: { maintenanceExclusions: [{ from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' }] },
      }),
    ];
  },
  'DELETE /v1/projects/:project/targets/:target': ({ alpha }) => [
    draft('a target with an active upgrade', {
      method: 'DELETE',
      url: `/v1/projects/${alpha.projectId}/targets/${alpha.busy.cluster}`,
    }),
  ],
  // another cluster's password is no refusal: a cluster is chosen by its address (docs/SECURITY.md)
  'PUT /v1/projects/:project/targets/:target/obshell-password': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/targets/${alpha.ob}/obshell-password`;
    return [draft('a weak password', { method: 'PUT', url, body: { password: 'password1234' } })];
  },
  'POST /v1/projects/:project/targets/:target/faults': ({ alpha }) => [
    draft(
      'a node the target does not have',
      post(`/v1/projects/${alpha.projectId}/targets/${alpha.cluster}/faults`, {
        node: 'nosuchnode',
        step: 'start',
        kind: 'fail',
      }),
    ),
  ],
  'POST /v1/projects/:project/targets/:target/prechecks': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/targets/${alpha.cluster}/prechecks`;
    return [
      draft('a version the catalog does not have', post(url, { toVersion: '9.9.9' })),
      draft('the version it runs', post(url, { toVersion: '7.9.3' })),
    ];
  },
  'POST /v1/projects/:project/upgrades': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/upgrades`;
    return [
      draft('a second upgrade of a busy target', post(url, { targetId: alpha.busy.cluster, toVersion: '7.10.2' })),
      draft('a version the catalog does not have', post(url, { targetId: alpha.cluster, toVersion: '9.9.9' })),
      draft('a downgrade', post(url, { targetId: alpha.cluster, toVersion: '7.9.2' })),
      draft(
        'a time in the past',
        post(url, { targetId: alpha.cluster, toVersion: '7.10.2', schedule: { kind: 'at', at: PAST } }),
      ),
      draft(
        'its window, on a target without one',
        post(url, { targetId: alpha.cluster, toVersion: '7.10.2', schedule: { kind: 'window' } }),
      ),
      draft('a release the version does not have', post(url, { targetId: alpha.cluster, toVersion: '7.10.2', release: 'r0' })),
      draft(
        'an AZ migration that changes the version',
        post(url, { targetId: alpha.cluster, toVersion: '7.10.2', mode: 'az_migration' }),
      ),
    ];
  },
  'POST /v1/projects/:project/upgrades/:upgrade/actions': ({ alpha }) => {
    const done = `/v1/projects/${alpha.projectId}/upgrades/${alpha.upgradeId}/actions`;
    const waiting = `/v1/projects/${alpha.projectId}/upgrades/${alpha.busy.clusterUpgrade}/actions`;
    return [
      ...['pause', 'resume', 'cancel', 'retry', 'skip', 'rollback'].map((action) =>
        draft(`${action} of a finished upgrade`, post(done, { action })),
      ),
      draft('reschedule of a finished upgrade', post(done, { action: 'reschedule', schedule: { kind: 'now' } })),
      ...['pause', 'resume', 'retry', 'skip', 'rollback'].map((action) =>
        draft(`${action} of a scheduled upgrade`, post(waiting, { action })),
      ),
      draft('reschedule without a schedule', post(waiting, { action: 'reschedule' })),
      draft('reschedule into the past', post(waiting, { action: 'reschedule', schedule: { kind: 'at', at: PAST } })),
      draft(
        'reschedule into the window of a target without one',
        post(waiting, { action: 'reschedule', schedule: { kind: 'window' } }),
      ),
    ];
  },
  'POST /v1/projects/:project/batches': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/batches`;
    const b = { name: 'refused', toVersion: '7.10.2', waves: [{ name: 'all', targets: '100%' }] };
    return [
      draft('a busy target', post(url, { ...b, targetIds: [alpha.cluster, alpha.busy.cluster] })),
      draft('a target named twice', post(url, { ...b, targetIds: [alpha.cluster, alpha.cluster] })),
      draft('a selector and target ids', post(url, { ...b, targetIds: [alpha.cluster], selector: { engine: 'elasticsearch' } })),
      draft('a selector that matches nothing', post(url, { ...b, selector: { engine: 'nosuchengine' } })),
      draft('a time in the past', post(url, { ...b, targetIds: [alpha.cluster], schedule: { kind: 'at', at: PAST } })),
      draft(
        'waves that leave targets out',
        post(url, { ...b, targetIds: [alpha.cluster], waves: [{ name: 'none', targets: 0 }] }),
      ),
      draft('a version the catalog does not have', post(url, { ...b, targetIds: [alpha.cluster], toVersion: '9.9.9' })),
      draft('the version its targets run', post(url, { ...b, targetIds: [alpha.cluster], toVersion: '7.9.3' })),
      draft('a downgrade', post(url, { ...b, targetIds: [alpha.cluster], toVersion: '7.9.2' })),
      draft('a selector that matches busy targets', post(url, { ...b, selector: { engine: 'elasticsearch' } })),
    ];
  },
  'POST /v1/projects/:project/batches/:batch/actions': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/batches/${alpha.fleet.batchId}/actions`;
    const failed = `/v1/projects/${alpha.projectId}/batches/${alpha.failedBatch}/actions`;
    return [
      ...['approve', 'resume', 'retry'].map((action) => draft(`${action} of a scheduled batch`, post(url, { action }))),
      ...['approve', 'resume', 'pause'].map((action) => draft(`${action} of a failed batch`, post(failed, { action }))),
      // its other failed upgrade could be retried: the refusal must not retry it alone
      draft('retry of a batch with an upgrade whose rollback failed', post(failed, { action: 'retry' })),
    ];
  },
  'POST /v1/projects/:project/webhooks': ({ alpha }) => {
    const url = `/v1/projects/${alpha.projectId}/webhooks`;
    return [
      draft('a URL that is not http(s)', post(url, { url: 'ftp://127.0.0.1/x', events: ['*'] })),
      draft('not a URL', post(url, { url: 'not a url', events: ['*'] })),
      draft('credentials in the URL', post(url, { url: 'http://u:p@127.0.0.1:9/x', events: ['*'] })),
    ];
  },
  'POST /v1/projects/:project/tokens': ({ alpha }) => credentialGrants(alpha, 'tokens'),
  'POST /v1/projects/:project/access-keys': ({ alpha }) => credentialGrants(alpha, 'access-keys'),

  // ACK
  'POST /api/v2/clusters/:ClusterId/upgrade': ({ alpha }) => [
    draft(
      'a second upgrade of a busy cluster',
      post(`/api/v2/clusters/${alpha.busy.cluster}/upgrade`, { next_version: '7.10.2' }),
    ),
    draft('a version the catalog does not have', post(`/api/v2/clusters/${alpha.cluster}/upgrade`, { next_version: '9.9.9' })),
    draft(
      'a current version it does not run',
      post(`/api/v2/clusters/${alpha.cluster}/upgrade`, { next_version: '7.10.2', version: '1.0.0' }),
    ),
  ],
  'POST /api/v2/clusters/:ClusterId/upgrade/pause': ({ alpha }) => [
    draft('pause of a cluster with no upgrade', post(`/api/v2/clusters/${alpha.cluster}/upgrade/pause`, undefined)),
    draft('pause of a scheduled upgrade', post(`/api/v2/clusters/${alpha.busy.cluster}/upgrade/pause`, undefined)),
  ],
  'POST /api/v2/clusters/:ClusterId/upgrade/resume': ({ alpha }) => [
    draft('resume of a cluster with no upgrade', post(`/api/v2/clusters/${alpha.cluster}/upgrade/resume`, undefined)),
    draft('resume of an upgrade that is not paused', post(`/api/v2/clusters/${alpha.busy.cluster}/upgrade/resume`, undefined)),
  ],
  'POST /api/v2/clusters/:ClusterId/upgrade/cancel': ({ alpha }) => [
    draft('cancel of a cluster with no upgrade', post(`/api/v2/clusters/${alpha.cluster}/upgrade/cancel`, undefined)),
  ],
  'POST /clusters/:cluster_id/checks': ({ alpha }) => {
    const url = `/clusters/${alpha.cluster}/checks`;
    return [
      draft('a check type it does not serve', post(url, { type: 'ClusterMigrate', options: { next_version: '7.10.2' } })),
      draft('no next_version', post(url, { type: 'ClusterUpgrade' })),
      draft('a version the catalog does not have', post(url, { type: 'ClusterUpgrade', options: { next_version: '9.9.9' } })),
    ];
  },

  // CSS
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/image/upgrade': ({ alpha }) => {
    const url = (cluster: string, inst = 'all') => `/v1.0/${alpha.projectId}/clusters/${cluster}/inst-type/${inst}/image/upgrade`;
    const b = {
      target_image_id: 'img-elasticsearch-7.10.2',
      upgrade_type: 'same',
      indices_backup_check: false,
      agency: 'refused',
    };
    return [
      draft('a second upgrade of a busy cluster', post(url(alpha.busy.cluster), b)),
      draft('an instance type, not the whole cluster', post(url(alpha.cluster, 'ess'), b)),
      draft('a cross-engine upgrade', post(url(alpha.cluster), { ...b, upgrade_type: 'cross-engine' })),
      draft('an image the catalog does not have', post(url(alpha.cluster), { ...b, target_image_id: 'img-nosuch' })),
      draft('an image of another engine version called same', post(url(alpha.cluster), { ...b, upgrade_type: 'same' })),
    ];
  },
  'PUT /v1.0/:project_id/clusters/:cluster_id/upgrade/:action_id/retry': ({ alpha }) => [
    draft('retry of a scheduled task', {
      method: 'PUT',
      url: `/v1.0/${alpha.projectId}/clusters/${alpha.busy.cluster}/upgrade/${alpha.busy.clusterUpgrade}/retry`,
    }),
    draft("another cluster's task", {
      method: 'PUT',
      url: `/v1.0/${alpha.projectId}/clusters/${alpha.cluster}/upgrade/${alpha.busy.clusterUpgrade}/retry`,
    }),
  ],
  'POST /v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/azmigrate': ({ alpha }) => {
    const url = (cluster: string, inst = 'ess') => `/v1.0/${alpha.projectId}/clusters/${cluster}/inst-type/${inst}/azmigrate`;
    const b = { source_az: 'zone1', target_az: 'zone9', migrate_type: 'az_migrate', agency: 'refused' };
    return [
      draft('a move of a busy cluster', post(url(alpha.busy.cluster), b)),
      draft('several target zones', post(url(alpha.cluster), { ...b, target_az: 'zone8,zone9' })),
      draft('an instance type CSS does not have', post(url(alpha.cluster, 'nosuch'), b)),
    ];
  },
  'GET /v1.0/:project_id/clusters/:cluster_id/target/:upgrade_type/images': ({ alpha }) => [
    draft('an upgrade type CSS does not have', {
      method: 'GET',
      url: `/v1.0/${alpha.projectId}/clusters/${alpha.cluster}/target/sideways/images`,
    }),
  ],

  // GaussDB
  'POST /v3/:project_id/instances/database-version/upgrade': ({ alpha }) => {
    const url = `/v3/${alpha.projectId}/instances/database-version/upgrade`;
    const item = (instance_id: unknown, current_version: unknown = '2.0.48.231200') => ({ instance_id, current_version });
    const batch = (...items: unknown[]) => post(url, { databases_instance_infos: items, delay: 'false' });
    return [
      draft('instance_id: [1]', batch(item([1])), { status: STATUS.bad }),
      draft('instance_id: 1', batch(item(1)), { status: STATUS.bad }),
      draft('current_version: 2', batch(item(alpha.busy.instance, 2)), { status: STATUS.bad }),
      draft('no instance', batch(), { status: STATUS.bad }),
      draft('databases_instance_infos not a list', post(url, { databases_instance_infos: { instance_id: alpha.instance } })),
      draft('an instance named twice', batch(item(alpha.busy.instance), item(alpha.busy.instance))),
      draft('a current version it does not run', batch(item(alpha.instance))),
      draft('an instance with no newer minor version', batch(item(alpha.instance, '2.0.58.250100'))),
      draft('a busy instance', batch(item(alpha.busy.instance))),
      draft(
        'delay into a window the instance does not have',
        post(url, { databases_instance_infos: [item(alpha.busy.instance)], delay: 'true' }),
      ),
      draft('delay: "yes"', post(url, { databases_instance_infos: [item(alpha.busy.instance)], delay: 'yes' }), {
        status: STATUS.bad,
      }),
    ];
  },
  'POST /v3/:project_id/instances/:instance_id/db-upgrade': ({ alpha }) => [
    draft('a busy instance', post(`/v3/${alpha.projectId}/instances/${alpha.busy.instance}/db-upgrade`, { delay: 'false' })),
    draft(
      'an instance with no newer minor version',
      post(`/v3/${alpha.projectId}/instances/${alpha.instance}/db-upgrade`, { delay: 'false' }),
    ),
  ],
  'PUT /v3/:project_id/instances/:instance_id/ops-window': ({ alpha }) => {
    const url = `/v3/${alpha.projectId}/instances/${alpha.instance}/ops-window`;
    return [
      draft('25:00', { method: 'PUT', url, body: { start_time: '25:00', end_time: '02:00' } }),
      draft('a time zone that does not exist', {
        method: 'PUT',
        url,
        body: { start_time: '18:00', end_time: '22:00', time_zone: 'Mars/Olympus_Mons' },
      }),
      draft('an exclusion that ends before it starts', {
        method: 'PUT',
        url,
        body: {
          start_time: '18:00',
          end_time: '22:00',
          exclusions: [{ from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' }],
        },
      }),
    ];
  },
  'DELETE /v3/:project_id/scheduled-jobs': ({ alpha, bravo }) => {
    const url = `/v3/${alpha.projectId}/scheduled-jobs`;
    return [
      draft('a scheduled job and a finished one', {
        method: 'DELETE',
        url,
        body: { job_ids: [alpha.busy.instanceUpgrade, alpha.upgradeId] },
      }),
      draft("a scheduled job and the other tenant's", {
        method: 'DELETE',
        url,
        body: { job_ids: [alpha.busy.instanceUpgrade, bravo.busy.instanceUpgrade] },
      }),
    ];
  },

  // OBShell: alpha's cluster `ob` has a finished DAG; its busy cluster a scheduled upgrade
  'POST /api/v1/ob/upgrade': ({ alpha }) => {
    const url = '/api/v1/ob/upgrade';
    const b = { version: '4.2.1.1', release: 'r4.2.1.1', mode: 'ROLLING' };
    const busy = { cluster: { password: alpha.busy.obPassword, port: alpha.busy.obPort } };
    return [
      draft('an upgrade of a cluster under maintenance', post(url, { ...b, version: '4.2.1.1' }), busy),
      draft('the version it runs', post(url, b)),
      draft('a mode OBShell does not have', post(url, { ...b, mode: 'SIDEWAYS' }), busy),
      draft('a version without a package', post(url, { ...b, version: '9.9.9', release: 'r9.9.9' })),
      draft('a release that is not <build>.<dist>', post(url, { ...b, release: 'r' })),
      draft('an upgradeDir that climbs out', post(url, { ...b, upgradeDir: '/tmp/../etc' })),
      draft('a relative upgradeDir', post(url, { ...b, upgradeDir: 'tmp' })),
      draft('no version', post(url, { release: b.release, mode: b.mode })),
      draft('version: 4', post(url, { ...b, version: 4 })),
      draft('freeze_server: "yes"', post(url, { ...b, freeze_server: 'yes' })),
      draft('a body that is not JSON', post(url, 'version=4.2.1.1')),
      draft('a JSON array for the body', post(url, [b])),
    ];
  },
  'POST /api/v1/ob/upgrade/check': ({ alpha }) => {
    const url = '/api/v1/ob/upgrade/check';
    return [
      draft('the version it runs', post(url, { version: '4.2.1.1', release: 'r4.2.1.1' })),
      draft('no release', post(url, { version: '4.2.1.1' })),
      draft('a body that is not JSON', post(url, 'version=4.2.1.1'), {
        cluster: { password: alpha.busy.obPassword, port: alpha.busy.obPort },
      }),
    ];
  },
  'POST /api/v1/task/dag/:id': ({ alpha }) => {
    const url = `/api/v1/task/dag/${alpha.dag}`;
    return [
      ...['retry', 'pass', 'rollback', 'cancel'].map((operator) =>
        draft(`${operator} of a finished DAG`, post(url, { operator })),
      ),
      draft('an operator OBShell does not have', post(url, { operator: 'explode' })),
      draft('no operator', post(url, {})),
      draft('operator: 1', post(url, { operator: 1 })),
      draft('an operator on an upgrade check', post(`/api/v1/task/dag/${alpha.checkDag}`, { operator: 'cancel' })),
    ];
  },
};

function weekly(timeZone: string) {
  return { days: ['sat'], start: '02:00', durationMinutes: 120, timeZone };
}

function credentialGrants(alpha: Env['alpha'], kind: 'tokens' | 'access-keys'): Draft[] {
  const url = `/v1/projects/${alpha.projectId}/${kind}`;
  return [
    draft('an expiry in the past', post(url, { expiresAt: PAST })),
    draft('an expiry that is not a time', post(url, { expiresAt: 'tomorrow' })),
  ];
}
