// Contract of the OBShell-style family: the seed example of POST /api/v1/ob/upgrade (keys,
// types, enums, envelope) and the shapes of the task endpoints, through our OBShell client
// against the app on a real port.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { DAG_OPERATORS, DAG_STATES } from '../../../src/http/families/obshell/dag-map.ts';
import { forEachDialect } from '../../helpers/harness.ts';
import { NEXT, startObshell, startUpgrade, waitDag, type Json, type ObshellEnv } from './helpers.ts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const SEED_DAG_KEYS = [
  'id',
  'dag_id',
  'name',
  'stage',
  'max_stage',
  'state',
  'operator',
  'start_time',
  'end_time',
  'additional_data',
  'nodes',
];
const NODE_KEYS = ['id', 'node_id', 'name', 'state', 'operator', 'start_time', 'end_time', 'additional_data', 'sub_tasks'];
const TASK_KEYS = [
  'id',
  'task_id',
  'name',
  'state',
  'operator',
  'start_time',
  'end_time',
  'additional_data',
  'execute_times',
  'execute_agent',
  'task_logs',
];

function assertEnvelope(body: Json, status: number): void {
  assert.deepEqual(Object.keys(body).sort(), ['data', 'duration', 'status', 'successful', 'timestamp', 'traceId'].sort());
  assert.equal(body.successful, true);
  assert.equal(body.status, status);
  assert.equal(typeof body.duration, 'number');
  assert.ok(Number.isInteger(body.duration) && body.duration >= 0);
  assert.match(body.timestamp, ISO);
  assert.match(body.traceId, /^[0-9a-f]{16}$/);
}

function assertDag(d: Json): void {
  assert.deepEqual(Object.keys(d).sort(), [...SEED_DAG_KEYS].sort());
  assert.equal(typeof d.id, 'string');
  assert.equal(d.id, `1${d.dag_id}`, 'generic id of a cluster DAG is "1" + dag_id, as in the seed ("12" for 2)');
  assert.ok(Number.isInteger(d.dag_id));
  assert.ok(Number.isInteger(d.stage) && Number.isInteger(d.max_stage) && d.stage >= 1 && d.stage <= d.max_stage);
  assert.ok(DAG_STATES.includes(d.state), d.state);
  assert.ok(DAG_OPERATORS.includes(d.operator), d.operator);
  assert.match(d.start_time, ISO);
  assert.match(d.end_time, ISO);
}

forEachDialect('OBShell contract', (dialect) => {
  let env: ObshellEnv;
  before(async () => {
    env = await startObshell(dialect);
  });
  after(() => env.close());

  it('GET /api/v1/info answers, without auth, what the official SDKs read to choose their auth', async () => {
    const res = await fetch(`${env.baseUrl}/api/v1/info`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assertEnvelope(body, 200);
    // obshell-sdk-python's get_info: an Agentidentity value, a version >= 4.2.3.0 (auth v2), the auths
    assert.equal(body.data.identity, 'CLUSTER AGENT');
    assert.match(body.data.version, /^4\.2\.([3-9]|\d{2,})\.\d+$/);
    assert.deepEqual(body.data.supportedAuth, ['v2']);
    assert.equal(body.data.security, false);
    assert.equal(body.data.isObproxyAgent, false);
    assert.equal(body.data.port, Number(new URL(env.baseUrl).port));
    assert.doesNotMatch(JSON.stringify(body), /acme|ob-1/, 'it names no project or cluster');
  });

  it('GET /api/v1/secret answers a 1024-bit PKCS#1 public key without auth', async () => {
    const res = await fetch(`${env.baseUrl}/api/v1/secret`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assertEnvelope(body, 200);
    const key = (await import('node:crypto')).createPublicKey({
      key: Buffer.from(body.data.public_key, 'base64'),
      format: 'der',
      type: 'pkcs1',
    });
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 1024);
  });

  // One upgrade, started once and shared by the tests below as a fixture: each test awaits what it
  // needs, so any one of them also runs alone.
  let started: Promise<{ status: number; json: unknown }> | undefined;
  const startDag = () =>
    (started ??= env.client.request('POST', '/api/v1/ob/upgrade', {
      version: '4.2.1.1',
      release: '101000062023110109.el7',
      mode: 'rolling',
      upgradeDir: '',
    }));
  let finished: Promise<Json> | undefined;
  const finishedDag = () =>
    (finished ??= startDag().then((res) => waitDag(env.client, (res.json as Json).data.id, ['SUCCEED', 'FAILED'])));

  it('POST /api/v1/ob/upgrade reproduces the seed example', async () => {
    const res = await startDag();
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const body = res.json as Json;
    assertEnvelope(body, 200);
    const dag = body.data;
    assertDag(dag);
    assert.equal(dag.name, 'OB rolling upgrade 4.2.1.1-101000062023110109.el7');
    assert.equal(dag.stage, 1);
    assert.ok(dag.max_stage > 3);
    assert.equal(dag.state, 'READY');
    assert.equal(dag.operator, 'RUN');
    assert.equal(dag.start_time, '0001-01-01T00:00:00Z');
    assert.equal(dag.end_time, '0001-01-01T00:00:00Z');
    assert.equal(dag.additional_data, null);
    assert.equal(dag.nodes, null);
  });

  it('GET /api/v1/task/dag/{id} shows nodes (stages) and sub_tasks (steps), and ends SUCCEED', async () => {
    const dag = ((await startDag()).json as Json).data;
    const done = await finishedDag();
    assert.equal(done.state, 'SUCCEED');
    assertDag(done);
    assert.equal(done.dag_id, dag.dag_id);
    assert.equal(done.stage, done.max_stage);
    assert.notEqual(done.end_time, '0001-01-01T00:00:00Z');
    assert.equal(done.additional_data.to_version, NEXT.version);
    assert.equal(done.nodes.length, done.max_stage);
    for (const n of done.nodes) {
      assert.deepEqual(Object.keys(n).sort(), [...NODE_KEYS].sort());
      assert.equal(n.state, 'SUCCEED');
      assert.equal(n.id, `1${n.node_id}`);
      assert.ok(n.sub_tasks.length > 0);
      for (const s of n.sub_tasks) {
        assert.deepEqual(Object.keys(s).sort(), [...TASK_KEYS].sort());
        assert.equal(s.state, 'SUCCEED');
        assert.equal(s.operator, 'RUN');
        assert.equal(s.execute_times, 1);
        assert.deepEqual(Object.keys(s.execute_agent).sort(), ['ip', 'port']);
        assert.ok(Array.isArray(s.task_logs) && s.task_logs.length > 0);
      }
    }
    const names = done.nodes.map((n: Json) => n.name);
    assert.ok(names.includes('Precheck') && names.includes('Finalize'), names.join(','));
    const brief = await env.client.request('GET', `/api/v1/task/dag/${dag.id}?show_details=false`);
    assert.equal((brief.json as Json).data.nodes, null);
    assert.equal((brief.json as Json).data.additional_data, null);
    // The cluster now runs the new version (native API).
    const target = await env.t.call('GET', '/v1/projects/acme/targets/ob-1');
    assert.equal(target.json.version, NEXT.version);
  });

  it('GET /api/v1/task/node/{id}, /sub_task/{id} and /sub_task/{id}/logs', async () => {
    const done = await finishedDag();
    const node = done.nodes[2];
    const res = await env.client.request('GET', `/api/v1/task/node/${node.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual((res.json as Json).data, node);
    const task = node.sub_tasks[0];
    const t = await env.client.request('GET', `/api/v1/task/sub_task/${task.id}`);
    assert.equal(t.status, 200);
    assert.deepEqual((t.json as Json).data, task);
    const logs = await env.client.request('GET', `/api/v1/task/sub_task/${task.id}/logs`);
    assert.equal(logs.status, 200);
    const lines = (logs.json as Json).data.contents as Json[];
    assert.equal(lines.length, task.task_logs.length);
    for (const [i, l] of lines.entries()) {
      assert.deepEqual(Object.keys(l).sort(), [
        'create_time',
        'execute_times',
        'id',
        'is_sync',
        'log_content',
        'sub_task_id',
        'update_time',
      ]);
      assert.equal(l.sub_task_id, task.task_id);
      assert.equal(l.log_content, task.task_logs[i]);
      assert.equal(l.execute_times, 1);
      assert.match(l.create_time, ISO);
    }
  });

  it('GET /api/v1/task/dag/ob/unfinish lists only unfinished DAGs of this cluster', async () => {
    const empty = await env.client.request('GET', '/api/v1/task/dag/ob/unfinish');
    assert.equal(empty.status, 200);
    assert.deepEqual((empty.json as Json).data, { contents: [] });
    const running = await startUpgrade(env.client, { version: '4.2.5.1', release: '101000112024121917.el7' }, 'stopservice');
    assert.equal(running.name, 'OB stop service upgrade 4.2.5.1-101000112024121917.el7');
    const list = await env.client.request('GET', '/api/v1/task/dag/ob/unfinish?show_details=false');
    const ids = ((list.json as Json).data.contents as Json[]).map((d) => d.id);
    // It may already have finished (the sim is instant); if listed, it is the one we started.
    for (const id of ids) assert.equal(id, running.id);
    const other = await env.other.request('GET', '/api/v1/task/dag/ob/unfinish');
    assert.deepEqual((other.json as Json).data, { contents: [] }, 'another cluster does not see it');
    const end = await waitDag(env.client, running.id, ['SUCCEED', 'FAILED']);
    assert.equal(end.state, 'SUCCEED');
    assert.deepEqual(
      end.additional_data.route,
      ['4.2.2.0-100000222023121918.el7', '4.2.5.1-101000112024121917.el7'],
      'the route stops on the barrier',
    );
  });

  it('POST /api/v1/ob/upgrade/check answers a pollable check DAG', async () => {
    const other = env.other;
    const res = await other.request('POST', '/api/v1/ob/upgrade/check', {
      version: NEXT.version,
      release: NEXT.release,
      upgradeDir: '/tmp/check',
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const d = (res.json as Json).data;
    assert.equal(d.name, `Upgrade check OB ${NEXT.version}-${NEXT.release}`);
    assert.match(d.id, /^2\d+$/);
    assert.ok(['READY', 'RUNNING', 'SUCCEED'].includes(d.state));
    const end = await waitDag(other, d.id, ['SUCCEED', 'FAILED']);
    assert.equal(end.state, 'SUCCEED');
    assert.equal(end.nodes.length, 1);
    assert.ok(end.nodes[0].sub_tasks.some((s: Json) => s.name.startsWith('node_health')));
    const sub = end.nodes[0].sub_tasks[0];
    const one = await other.request('GET', `/api/v1/task/sub_task/${sub.id}`);
    assert.deepEqual((one.json as Json).data, sub);
    // The check does not put the cluster under maintenance, and the other cluster cannot see it.
    assert.deepEqual(((await other.request('GET', '/api/v1/task/dag/ob/unfinish')).json as Json).data, { contents: [] });
    assert.equal((await env.client.request('GET', `/api/v1/task/dag/${d.id}`)).status, 404);
  });
});
