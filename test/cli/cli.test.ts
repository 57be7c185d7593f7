// The liftgate CLI as a user runs it: the compiled CLI in child processes against a real server
// (real store, real executor, simulated fleet). Every command, names for ids, each --output
// format, a closed pipe, an unreachable server and the documented exit codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { ObshellClient } from '../../src/clients/obshell-client.ts';
import { buildCli, runCli } from '../helpers/cli.ts';
import { ADMIN_TOKEN, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

let t: TestApp;
let url: string;
let build: Awaited<ReturnType<typeof buildCli>>;

before(async () => {
  build = await buildCli();
  t = await startApp('sqlite');
  await seedSim(t, { target: 'cli-1' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await t.close();
  build.cleanup();
});

const cliAs = (token: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}) =>
  runCli(build.main, ['--url', url, '--token', token, '--project', 'acme', ...args], opts);
const cli = (...args: string[]) => cliAs(ADMIN_TOKEN, args);
const json = async (...args: string[]) => {
  const r = await cli(...args, '--output', 'json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const upgradeState = async (id: string) => (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json.state as string;
const settle = (id: string, state: string) => until(async () => (await upgradeState(id)) === state, `upgrade ${state}`);

test('targets add (flags, a YAML list, JSON on stdin), list, show, update and delete, by id or by name', async () => {
  const add = await cli(
    'targets',
    'add',
    'web-db',
    '--name',
    'Web database',
    '--engine',
    'elasticsearch',
    '--version',
    '7.10.2',
    '--node',
    'w-1:leader:az1',
    '--node',
    'w-2:follower:az2',
    '--window',
    '02:00-04:00',
  );
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /^target web-db added \(elasticsearch 7\.10\.2, 2 nodes\)$/m);

  const dir = fs.mkdtempSync(path.join(t.dataDir, 'files-'));
  const file = path.join(dir, 'targets.yaml');
  fs.writeFileSync(
    file,
    YAML.stringify([
      { id: 'y-1', name: 'twin', engine: 'elasticsearch', version: '7.10.2', nodes: [{ name: 'y-1-1', role: 'leader' }] },
      { id: 'y-2', name: 'twin', engine: 'elasticsearch', version: '7.10.2', nodes: [{ name: 'y-2-1', role: 'leader' }] },
    ]),
  );
  const fromYaml = await cli('targets', 'add', '-f', file, '-o', 'json');
  assert.equal(fromYaml.code, 0, fromYaml.stderr);
  assert.deepEqual(
    JSON.parse(fromYaml.stdout).items.map((x: { id: string }) => x.id),
    ['y-1', 'y-2'],
  );
  const fromStdin = await cliAs(ADMIN_TOKEN, ['targets', 'add', '-f', '-'], {
    input: JSON.stringify({ id: 'j-1', engine: 'elasticsearch', version: '7.10.2', nodes: [{ name: 'j-1-1' }] }),
  });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);

  const table = await cli('targets', 'list');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TARGET\s+NAME\s+KIND\s+ENGINE\s+VERSION\s+DRIVER\s+NODES\s+WINDOW$/m);
  assert.match(table.stdout, /^web-db\s+Web database\s+cluster\s+elasticsearch\s+7\.10\.2\s+sim\s+2\s+02:00-04:00 UTC daily$/m);
  // `targets` alone lists, as before
  assert.equal((await cli('targets')).stdout, table.stdout);

  // a name stands in for the id
  const shown = await json('targets', 'show', 'Web database');
  assert.equal(shown.id, 'web-db');
  assert.deepEqual(
    shown.nodes.map((n: { name: string }) => n.name),
    ['w-1', 'w-2'],
  );
  const human = await cli('targets', 'show', 'Web database');
  assert.match(human.stdout, /^target:\s+web-db$/m);
  assert.match(human.stdout, /^w-2\s+follower\s+az2\s+7\.10\.2\s+healthy$/m);

  // an ambiguous name is refused, naming the candidates
  const twin = await cli('targets', 'show', 'twin');
  assert.equal(twin.code, 2);
  assert.match(twin.stderr, /target name "twin" is ambiguous: it matches 2:\n\s+y-1\n\s+y-2/);
  assert.equal(twin.stdout, '');

  const upd = await cli('targets', 'update', 'Web database', '--name', 'Web DB', '--window', 'none', '-o', 'yaml');
  assert.equal(upd.code, 0, upd.stderr);
  const updated = YAML.parse(upd.stdout);
  assert.equal(updated.name, 'Web DB');
  assert.equal(updated.maintenanceWindow, null);
  assert.equal((await t.call('GET', '/v1/projects/acme/targets/web-db')).json.name, 'Web DB');

  // deleting is never silent off a terminal: it needs --yes
  const refused = await cli('targets', 'delete', 'Web DB');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /refusing to delete target web-db without confirmation\nhint: add --yes/);
  assert.equal((await t.call('GET', '/v1/projects/acme/targets/web-db')).status, 200);
  for (const ref of ['Web DB', 'y-1', 'y-2', 'j-1']) {
    const del = await cli('targets', 'delete', ref, '--yes');
    assert.equal(del.code, 0, del.stderr);
  }
  assert.equal((await t.call('GET', '/v1/projects/acme/targets/web-db')).status, 404);
  const gone = await cli('targets', 'show', 'web-db');
  assert.equal(gone.code, 5);
  assert.match(
    gone.stderr,
    /no target with id or name "web-db" in project acme\nhint: list targets with `liftgate targets list`/,
  );
});

test('catalog list and add, projects list and create', async () => {
  const add = await cli('catalog', 'add', 'elasticsearch', '7.12.0', '--release', 'r7.12', '--barrier', '--priority', '3');
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /catalog: elasticsearch 7\.12\.0 added/);
  const list = await cli('catalog', 'list', 'elasticsearch');
  assert.match(list.stdout, /^7\.12\.0\s+r7\.12\s+elasticsearch-7\.12\.0\s+3\s+any older\s+barrier$/m);
  const versions = (await json('catalog', 'list', 'elasticsearch')).items.map((v: { version: string }) => v.version);
  assert.deepEqual(versions, ['7.9.3', '7.10.2', '7.10.3', '7.11.0', '7.12.0']);

  const created = await cli('projects', 'create', 'team-b', '--name', 'Team B');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /project team-b created; use it with --project team-b/);
  const projects = await cli('projects');
  assert.match(projects.stdout, /^acme\s+acme\s+\*$/m);
  assert.match(projects.stdout, /^team-b\s+Team B$/m);
});

test("an OceanBase cluster's OBShell password from stdin, and its own agent address in targets show", async () => {
  const add = await cli(
    'targets',
    'add',
    'ob-cli',
    '--engine',
    'oceanbase',
    '--version',
    '4.2.1.0',
    '--node',
    'ob-cli-1:leader:zone1',
  );
  assert.equal(add.code, 0, add.stderr);
  assert.doesNotMatch((await cli('targets', 'show', 'ob-cli')).stdout, /obshell agent/);
  const noFlag = await cli('targets', 'obshell-password', 'ob-cli');
  assert.equal(noFlag.code, 2, noFlag.stderr);
  const empty = await cliAs(ADMIN_TOKEN, ['targets', 'obshell-password', 'ob-cli', '--password-stdin'], { input: '' });
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /stdin held no password/);

  const password = 'Copper-Meadow-Lantern-88';
  const set = await cliAs(ADMIN_TOKEN, ['targets', 'obshell-password', 'ob-cli', '--password-stdin'], { input: `${password}\n` });
  assert.equal(set.code, 0, set.stderr);
  const m = /point OBShell clients at 127\.0\.0\.1:(\d+) \(this cluster's own agent address\)/.exec(set.stdout);
  assert.ok(m, set.stdout);
  assert.ok(!set.stdout.includes(password) && !set.stderr.includes(password), 'the password is never printed');
  const show = await cli('targets', 'show', 'ob-cli');
  assert.match(show.stdout, new RegExp(`^obshell agent:\\s+127\\.0\\.0\\.1:${m[1]}$`, 'm'));
  // the address the CLI printed is where an OBShell client reaches this cluster
  const ob = new ObshellClient({ baseUrl: `http://127.0.0.1:${m[1]}`, password });
  const unfinished = await ob.request('GET', '/api/v1/task/dag/ob/unfinish');
  assert.equal(unfinished.status, 200, JSON.stringify(unfinished.json));
  assert.equal((await cli('targets', 'delete', 'ob-cli', '--yes')).code, 0);
});

test('tokens and access keys: created once with their secret, and the new token works', async () => {
  const tok = await json('tokens', 'create', '--name', 'ci');
  assert.match(tok.token, /\S{20,}/);
  const human = await cli('tokens', 'create', '--name', 'ops');
  assert.match(human.stdout, /^token \S+ created; keep the secret now, it is not shown again:\n {2}\S+$/m);
  // a project token sees its project only
  const mine = await cliAs(tok.token, ['projects', '-o', 'json']);
  assert.equal(mine.code, 0, mine.stderr);
  assert.deepEqual(
    JSON.parse(mine.stdout).items.map((p: { id: string }) => p.id),
    ['acme'],
  );
  const key = await cli('access-keys', 'create', '--name', 'obs');
  assert.equal(key.code, 0, key.stderr);
  assert.match(key.stdout, /AccessKey ID: +\S+\n {2}AccessKey secret: +\S+/);

  const who = await cliAs(tok.token, ['whoami', '-o', 'json']);
  assert.equal(who.code, 0, who.stderr);
  assert.equal(JSON.parse(who.stdout).projectId, 'acme');
  const listed = await cli('tokens', 'list');
  assert.match(listed.stdout, /^ID\s+NAME\s+ROLE\s+CREATED\s+BY\s+EXPIRES\s+STATE$/m);
  assert.match(listed.stdout, new RegExp(`^${tok.id}\\s+ci\\s+\\S+`, 'm'));
  assert.ok(!listed.stdout.includes(tok.token), 'a list never shows a secret');
  const keys = await json('access-keys', 'list');
  assert.ok(keys.items.some((k: { name: string }) => k.name === 'obs'));
  // revoked by name; the token stops working at once
  const revoked = await cli('tokens', 'revoke', 'ci', '--yes');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`^token ${tok.id} revoked$`, 'm'));
  const after = await cliAs(tok.token, ['projects']);
  assert.equal(after.code, 4);
  const keyRevoked = await cli('access-keys', 'revoke', 'obs', '--yes');
  assert.equal(keyRevoked.code, 0, keyRevoked.stderr);
  assert.equal((await cli('access-keys', 'revoke', 'obs', '--yes')).code, 5);
});

test('an upgrade started by target name and watched in a pipe, status by id prefix, every --output of it', async () => {
  const started = await cli('upgrade', 'start', 'cli-1', '7.10.3', '--watch');
  assert.equal(started.code, 0, started.stderr);
  // not a terminal: one line per change, no redrawing, no colour
  assert.match(started.stdout, /^\d\d:\d\d:\d\d UTC cli-1-2: Data migration succeeded$/m);
  assert.match(started.stdout, /^upgrade up-\d+ \([0-9a-f-]{36}\): succeeded$/m);
  assert.doesNotMatch(started.stdout, /\x1b\[/);
  const [, ref, id] = /^upgrade (up-\d+) \(([0-9a-f-]{36})\): succeeded$/m.exec(started.stdout) as string[];

  const list = await cli('upgrade', 'list');
  assert.match(
    list.stdout,
    new RegExp(`^${ref}\\s+${id.slice(0, 8)}\\s+cli-1\\s+7\\.10\\.2\\s+7\\.10\\.3\\s+rolling\\s+succeeded`, 'm'),
  );
  const byPrefix = await cli('upgrade', 'status', id.slice(0, 6));
  assert.equal(byPrefix.code, 0, byPrefix.stderr);
  assert.match(byPrefix.stdout, new RegExp(`^upgrade:\\s+${ref}\\s+${id}$`, 'm'));
  assert.match(byPrefix.stdout, /^Switch over cli-1-1 to cli-1-2\s+Leader switchover\s+-\s+succeeded\s+1\s/m);
  // a target stands for its newest upgrade
  assert.equal((await json('upgrade', 'status', 'cli-1')).id, id);

  // JSON and YAML say the same thing, for a single resource and for a list
  for (const args of [
    ['upgrade', 'status', id.slice(0, 8)],
    ['upgrade', 'list'],
    ['targets', 'show', 'cli-1'],
    ['events', '--limit', '5'],
  ]) {
    const asJson = await cli(...args, '--output', 'json');
    const asYaml = await cli(...args, '--output', 'yaml');
    const legacy = await cli('--json', ...args);
    assert.equal(asJson.code + asYaml.code + legacy.code, 0, args.join(' '));
    assert.deepEqual(YAML.parse(asYaml.stdout), JSON.parse(asJson.stdout), args.join(' '));
    assert.deepEqual(JSON.parse(legacy.stdout), JSON.parse(asJson.stdout), args.join(' '));
  }
  // watching a finished upgrade prints where it ended; as JSON, one record per line
  const watched = await cli('upgrade', 'watch', id.slice(0, 8), '-o', 'json');
  assert.equal(watched.code, 0, watched.stderr);
  const records = watched.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(records.at(-1).state, 'succeeded');
  assert.equal(records.at(-1).done, records.at(-1).total);
});

test('ambiguous upgrade id prefixes are refused with the candidates', async () => {
  // upgrades until two ids share a first character (16 possible: 17 upgrades always do)
  const ids: string[] = [];
  let shared: string | undefined;
  for (let i = 0; !shared; i++) {
    await seedSim(t, { target: `amb-${i}` });
    const u = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: `amb-${i}`, toVersion: '7.10.3' });
    ids.push(u.json.id);
    shared = ids.find((a, j) => ids.some((b, k) => k !== j && a[0] === b[0]))?.[0];
  }
  const r = await cli('upgrade', 'status', shared);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`upgrade id prefix "${shared}" is ambiguous: it matches \\d+:`));
  for (const id of ids.filter((x) => x[0] === shared)) assert.ok(r.stderr.includes(id), `${id} listed`);
  for (const id of ids) await settle(id, 'succeeded');
});

test('faults, then retry, skip, pause, resume, cancel and rollback, each by id prefix', async () => {
  await seedSim(t, { target: 'ops-1' });
  const fault = await cli('faults', 'add', 'ops-1', '--step', 'drain', '--times', '2');
  assert.equal(fault.code, 0, fault.stderr);
  assert.equal(fault.code, 0, fault.stderr);
  assert.match(fault.stdout, /fault added to ops-1: fail at drain \(2x\)/);
  const started = await json('upgrade', 'start', 'ops-1', '7.11.0');
  const ref = started.id.slice(0, 8);
  await settle(started.id, 'failed');
  // a watched failure exits 6
  const watched = await cli('upgrade', 'watch', ref);
  assert.equal(watched.code, 6);
  assert.match(watched.stdout, /injected failure of drain/);

  const retry = await cli('upgrade', 'retry', ref);
  assert.equal(retry.code, 0, retry.stderr);
  await settle(started.id, 'failed'); // the second injected failure
  const skip = await cli('upgrade', 'skip', ref);
  assert.equal(skip.code, 0, skip.stderr);
  assert.match(skip.stdout, new RegExp(`^upgrade up-\\d+ \\(${started.id}\\) (running|succeeded)$`, 'm'));
  await settle(started.id, 'succeeded');

  // a wrong state is refused by the server: exit 1 and what to do next
  const bad = await cli('upgrade', 'resume', ref);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: INVALID_STATE: cannot resume/m);
  assert.match(bad.stderr, /^hint: see its state with `liftgate upgrade status <upgrade>`/m);

  // pause, resume and cancel an upgrade that hangs on a step; then roll back a failed one
  await seedSim(t, { target: 'ops-2' });
  await cli('faults', 'add', 'ops-2', '--step', 'stop', '--kind', 'hang');
  const second = await json('upgrade', 'start', 'ops-2', '7.10.3', '--step-timeout', '20');
  await until(async () => (await upgradeState(second.id)) === 'running', 'running');
  const pause = await cli('upgrade', 'pause', second.id.slice(0, 8));
  assert.equal(pause.code, 0, pause.stderr);
  assert.equal(await upgradeState(second.id), 'paused');
  const resume = await cli('upgrade', 'resume', second.id.slice(0, 8));
  assert.equal(resume.code, 0, resume.stderr);
  // cancel and rollback ask first; off a terminal they need --yes
  const refused = await cli('upgrade', 'cancel', second.id.slice(0, 8));
  assert.equal(refused.code, 2);
  assert.match(
    refused.stderr,
    new RegExp(`refusing to cancel upgrade ${second.id} of target ops-2 \\(running\\) without confirmation\nhint: add --yes`),
  );
  assert.equal(await upgradeState(second.id), 'running');
  // the hung stop is stopped; the cancel waits until its node is back and says what it did
  const cancel = await cli('upgrade', 'cancel', second.id.slice(0, 8), '--yes');
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.equal(cancel.stdout, `upgrade ${second.id} cancelled\n  ops-2-2: in service on 7.10.2; nothing to do\n`);
  assert.equal(await upgradeState(second.id), 'cancelled');

  await seedSim(t, { target: 'ops-3' });
  await cli('faults', 'add', 'ops-3', '--step', 'start', '--node', 'ops-3-2');
  const third = await json('upgrade', 'start', 'ops-3', '7.10.3');
  await settle(third.id, 'failed');
  const rbRefused = await cli('upgrade', 'rollback', 'ops-3');
  assert.equal(rbRefused.code, 2);
  assert.match(rbRefused.stderr, /refusing to roll back upgrade \S+ of target ops-3 to 7\.10\.2 without confirmation/);
  assert.equal(await upgradeState(third.id), 'failed');
  const rb = await cli('upgrade', 'rollback', 'ops-3', '--yes');
  assert.equal(rb.code, 0, rb.stderr);
  await settle(third.id, 'rolled_back');
});

test('the point of no return: status says until which step a rollback is possible, then that it has passed; --to-engine', async () => {
  // a simulated target whose switchover stands for a step no driver can undo
  await seedSim(t, { target: 'pnr-1' });
  await t.ctx.store.db
    .updateTable('targets')
    .set({ driver_config: JSON.stringify({ irreversibleSteps: ['switchover'] }) })
    .where('id', '=', 'pnr-1')
    .execute();
  const reason = 'the simulated target marks switchover irreversible \\(driverConfig\\.irreversibleSteps\\)';
  // the first drain fails (before the switchover); the leader's start fails after it
  await cli('faults', 'add', 'pnr-1', '--step', 'drain');
  await cli('faults', 'add', 'pnr-1', '--step', 'start', '--node', 'pnr-1-1');
  const started = await json('upgrade', 'start', 'pnr-1', '7.10.3');
  await settle(started.id, 'failed');
  const before = await cli('upgrade', 'status', started.id.slice(0, 8));
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, new RegExp(`^Rollback possible until Leader switchover: ${reason}$`, 'm'));
  assert.ok((await json('upgrade', 'status', started.id)).allowedActions.includes('rollback'));

  await cli('upgrade', 'retry', started.id.slice(0, 8));
  await until(async () => {
    const u = (await t.call('GET', `/v1/projects/acme/upgrades/${started.id}`)).json;
    return u.state === 'failed' && u.pointOfNoReturn?.passed;
  }, 'the second failure, past the switchover');
  const after = await json('upgrade', 'status', started.id);
  assert.equal(after.pointOfNoReturn.passed, true);
  assert.ok(!after.allowedActions.includes('rollback'), after.allowedActions.join());
  const past = await cli('upgrade', 'status', started.id.slice(0, 8));
  assert.match(past.stdout, new RegExp(`^Past the point of no return: ${reason}$`, 'm'));
  assert.doesNotMatch(past.stdout, /Rollback possible/);
  // a watch in a pipe says it once
  const watched = await cli('upgrade', 'watch', started.id.slice(0, 8));
  assert.equal(watched.code, 6);
  assert.equal(watched.stdout.match(/Past the point of no return/g)?.length, 1, watched.stdout);
  // the server refuses the rollback with the driver's reason
  const rb = await cli('upgrade', 'rollback', started.id.slice(0, 8), '--yes');
  assert.notEqual(rb.code, 0);
  assert.match(rb.stderr, new RegExp(`ROLLBACK_BLOCKED: .*Leader switchover.*: ${reason}`));
  assert.equal(await upgradeState(started.id), 'failed');
  await cli('upgrade', 'cancel', started.id.slice(0, 8), '--yes');

  // --to-engine reaches the server: the sim driver runs no other engine, and says so
  await seedSim(t, { target: 'pnr-2' });
  const other = await cli('upgrade', 'start', 'pnr-2', '8.0.1', '--to-engine', 'valkey');
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, /UPGRADE_NO_ROUTE: the sim driver cannot change a target's engine from elasticsearch to valkey/);
});

test('events: filtered by type and time, as tables, JSON and YAML, and followed live', async () => {
  const all = await json('events', '--since', '1h', '--type', 'upgrade.*');
  assert.ok(all.items.length > 3);
  assert.ok(all.items.every((e: { type: string }) => e.type.startsWith('upgrade.')));
  const exact = await json('events', '--type', 'upgrade.succeeded,step.failed', '--since', '1h');
  assert.deepEqual([...new Set(exact.items.map((e: { type: string }) => e.type))].sort(), ['step.failed', 'upgrade.succeeded']);
  const future = await json('events', '--since', new Date(Date.now() + 3_600_000).toISOString());
  assert.deepEqual(future.items, []);
  const byTarget = await cli('events', '--target', 'cli-1', '--type', 'upgrade.succeeded');
  assert.match(byTarget.stdout, /^TIME\s+TYPE\s+TARGET\s+UPGRADE\s+ACTOR\s+MESSAGE$/m);
  assert.match(byTarget.stdout, /upgrade\.succeeded\s+cli-1\s+[0-9a-f]{8}\s+executor\s+upgraded to 7\.10\.3/);
  const badSince = await cli('events', '--since', 'yesterday-ish');
  assert.equal(badSince.code, 2);
  assert.match(badSince.stderr, /--since "yesterday-ish" is neither a duration nor a time\nhint: e\.g\. --since 10m/);

  // --follow prints events as they happen (as JSON lines here), and nothing of other types
  await seedSim(t, { target: 'live-1' });
  const child = spawn(
    process.execPath,
    [
      build.main,
      '--url',
      url,
      '--token',
      ADMIN_TOKEN,
      '--project',
      'acme',
      'events',
      '--follow',
      '--type',
      'upgrade.*',
      '-o',
      'json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    await until(async () => sseClients((await t.app.inject({ url: '/metrics' })).body) > 0, 'the stream to open');
    const u = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'live-1', toVersion: '7.10.3' });
    await until(async () => out.includes('"upgrade.succeeded"'), 'the followed upgrade to succeed');
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(events.every((e) => e.type.startsWith('upgrade.')));
    assert.ok(events.some((e) => e.type === 'upgrade.created' && e.upgradeId === u.json.id));
  } finally {
    child.kill();
  }
});

function sseClients(body: string): number {
  return Number(/^liftgate_sse_clients (\d+)$/m.exec(body)?.[1] ?? 0);
}

test('a closed pipe ends the CLI quietly', async () => {
  // the reader takes the first chunk and leaves, like `| head -1`; the CLI writes on as events
  // arrive, so its next write meets a closed pipe
  const child = spawn(
    process.execPath,
    [build.main, '--url', url, '--token', ADMIN_TOKEN, '--project', 'acme', 'events', '--follow', '--since', '1h'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  let closed = false;
  child.stdout.once('data', () => {
    child.stdout.destroy();
    closed = true;
  });
  try {
    await until(async () => closed, 'the first chunk');
    // new events for the CLI to write
    for (let i = 0; i < 3; i++) {
      await seedSim(t, { target: `pipe-${i}` });
      const u = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: `pipe-${i}`, toVersion: '7.10.3' });
      await settle(u.json.id, 'succeeded');
    }
    const code = await exited;
    assert.equal(stderr, '', 'nothing on stderr (no EPIPE stack trace)');
    assert.equal(code, 0);
  } finally {
    child.kill();
  }
});

test('colours only on a terminal or when forced, never with NO_COLOR', async () => {
  const plainOut = await cli('upgrade', 'list');
  assert.doesNotMatch(plainOut.stdout, /\x1b\[/);
  const forced = await cliAs(ADMIN_TOKEN, ['upgrade', 'list'], { env: { FORCE_COLOR: '1' } });
  assert.match(forced.stdout, /\x1b\[32msucceeded\x1b\[0m/);
  const noColor = await cliAs(ADMIN_TOKEN, ['upgrade', 'list'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
  assert.doesNotMatch(noColor.stdout, /\x1b\[/);
  assert.doesNotMatch(
    (await cliAs(ADMIN_TOKEN, ['--no-color', 'upgrade', 'list'], { env: { FORCE_COLOR: '1' } })).stdout,
    /\x1b\[/,
  );
});

test('errors say what to do next, with the documented exit codes', async () => {
  // a port nothing listens on
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const down = await runCli(build.main, ['--url', `http://127.0.0.1:${port}`, '--token', ADMIN_TOKEN, 'targets']);
  assert.equal(down.code, 3);
  assert.equal(down.stdout, '');
  assert.match(down.stderr, new RegExp(`^error: cannot reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)$`, 'm'));
  assert.match(down.stderr, /^hint: is the server running\? Start it with `liftgate serve`/m);
  assert.doesNotMatch(down.stderr, /\n\s+at /); // no stack trace
  const downJson = await runCli(build.main, ['--url', `http://127.0.0.1:${port}`, '-o', 'json', 'targets']);
  assert.equal(downJson.code, 3);
  assert.equal(JSON.parse(downJson.stderr).error.code, 'UNREACHABLE');

  const badToken = await cliAs('wrong', ['targets']);
  assert.equal(badToken.code, 4);
  assert.match(badToken.stderr, /UNAUTHORIZED: the bearer token is not valid\nhint: set LIFTGATE_TOKEN/);
  const noProject = await runCli(build.main, ['--url', url, '--token', ADMIN_TOKEN, '--project', 'nope', 'targets']);
  assert.equal(noProject.code, 5);
  assert.match(noProject.stderr, /PROJECT_NOT_FOUND.*\nhint: list projects with `liftgate projects`/);
  const noVersion = await cli('upgrade', 'start', 'cli-1', '99.0');
  assert.equal(noVersion.code, 5);
  assert.match(noVersion.stderr, /VERSION_NOT_FOUND.*\nhint: see the known versions with `liftgate catalog list <engine>`/);
  const busy = await cli('targets', 'add', 'cli-1', '--engine', 'elasticsearch', '--version', '7.10.2');
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /^error: TARGET_EXISTS: /m);
  const usage = await cli('upgrade', 'start');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing required argument 'target'/);
  const badFormat = await cli('targets', '-o', 'xml');
  assert.equal(badFormat.code, 2);
  const badFile = await cli('targets', 'add', '-f', '/nonexistent/t.yaml');
  assert.equal(badFile.code, 2);
  assert.match(badFile.stderr, /cannot read \/nonexistent\/t\.yaml/);
});

test('zone moves: --source-az and --target-az; a missing source zone or a collapse is refused with what to type; the precheck shows the zones', async () => {
  await seedSim(t, { target: 'cli-az' }); // cli-az-1 in az1 (leader), cli-az-2 in az2, cli-az-3 in az3
  const noSource = await cli('upgrade', 'start', 'cli-az', '--mode', 'az_migration', '--target-az', 'az4');
  assert.equal(noSource.code, 1, noSource.stderr);
  assert.equal(
    noSource.stderr,
    'error: AZ_SOURCE_REQUIRED: this cluster spans az1, az2, az3: name the zone to move with options.sourceAz\n' +
      'hint: name the zone to move with --source-az (`liftgate targets show <target>` lists the zones)\n',
  );
  const collapse = await cli('precheck', 'cli-az', '--mode', 'az_migration', '--source-az', 'az1', '--target-az', 'az2');
  assert.equal(collapse.code, 1, collapse.stderr);
  assert.match(collapse.stderr, /^error: AZ_ZONE_REDUCTION: moving az1 to az2 would leave this cluster in 2 zones/);
  assert.match(collapse.stderr, /\nhint: name a --target-az the target does not use, or add --allow-zone-reduction/);
  // zone flags without the mode, and the mode without a target zone, are usage errors
  const noMode = await cli('upgrade', 'start', 'cli-az', '--source-az', 'az1', '--target-az', 'az4');
  assert.equal(noMode.code, 2);
  assert.match(noMode.stderr, /--source-az, --target-az and --allow-zone-reduction go with --mode az_migration/);
  const noTarget = await cli('upgrade', 'start', 'cli-az', '--mode', 'az_migration', '--source-az', 'az1');
  assert.equal(noTarget.code, 2);
  assert.match(noTarget.stderr, /--mode az_migration needs --target-az <zone>/);
  const noVersion = await cli('precheck', 'cli-az');
  assert.equal(noVersion.code, 2);
  assert.match(noVersion.stderr, /a precheck needs the version to upgrade to/);
  // none of them created anything
  assert.equal((await t.call('GET', '/v1/projects/acme/upgrades?target=cli-az')).json.total, 0);
  assert.deepEqual((await t.call('GET', '/v1/projects/acme/targets/cli-az/prechecks')).json.items, []);

  const pre = await cli('precheck', 'cli-az', '--mode', 'az_migration', '--source-az', 'az1', '--target-az', 'az4');
  assert.equal(pre.code, 0, pre.stderr);
  assert.match(pre.stdout, /^PASS\s+zone_layout\s+moving az1 to az4 \(cli-az-1\) keeps 3 zones: before az1 \[cli-az-1\]/m);
  assert.match(
    pre.stdout,
    /^ZONE\s+BEFORE\s+AFTER\naz1\s+cli-az-1\s+-\naz2\s+cli-az-2\s+cli-az-2\naz3\s+cli-az-3\s+cli-az-3\naz4\s+-\s+cli-az-1$/m,
  );
  const asJson = await json('precheck', 'cli-az', '--mode', 'az_migration', '--source-az', 'az1', '--target-az', 'az4');
  assert.deepEqual(asJson.items.find((i: { name: string }) => i.name === 'zone_layout').zones.after, {
    az2: ['cli-az-2'],
    az3: ['cli-az-3'],
    az4: ['cli-az-1'],
  });

  const started = await cli('upgrade', 'start', 'cli-az', '--mode', 'az_migration', '--source-az', 'az1', '--target-az', 'az4');
  assert.equal(started.code, 0, started.stderr);
  const id = /^upgrade up-\d+ \(([0-9a-f-]{36})\) \S+: cli-az moves the nodes of az1 to az4$/m.exec(started.stdout)?.[1];
  assert.ok(id, started.stdout);
  await settle(id, 'succeeded');
  const nodes = (await t.call('GET', '/v1/projects/acme/targets/cli-az')).json.nodes;
  assert.deepEqual(
    nodes.map((n: { name: string; zone: string }) => `${n.name}:${n.zone}`),
    ['cli-az-1:az4', 'cli-az-2:az2', 'cli-az-3:az3'],
  );
});

test('a blue/green upgrade watched in a pipe: the copy progress, the rollback window, and the summary naming rollback and finalize', async () => {
  // The sim scales every step alike; this file's server runs at 0, where the copy is over before
  // the watch (every 500 ms) can see it. A server of its own at 0.01 copies for 4.5-7.5 s (600 s
  // nominal), with the steps around it taking about 3 s; the rollback window (unscaled) lasts the
  // upgrade's retention, an hour here, and the watch ends when it opens.
  const slow = await startApp('sqlite', { simTimeScale: 0.01 });
  try {
    await seedSim(slow, { target: 'bg-1' });
    await slow.app.listen({ port: 0, host: '127.0.0.1' });
    const slowUrl = `http://127.0.0.1:${(slow.app.server.address() as AddressInfo).port}`;
    const run = (...args: string[]) =>
      runCli(build.main, ['--url', slowUrl, '--token', ADMIN_TOKEN, '--project', 'acme', ...args]);
    const started = await run('upgrade', 'start', 'bg-1', '7.10.3', '--mode', 'blue_green', '--retention', '3600', '--watch');
    assert.equal(started.code, 0, started.stderr);
    const out = started.stdout;
    assert.doesNotMatch(out, /\x1b\[/);
    assert.match(out, /^\d\d:\d\d:\d\d UTC \(target\): Provision green running$/m);
    const copied = [
      ...out.matchAll(/^\d\d:\d\d:\d\d UTC Initial data copy: copied ([\d.]+) MiB of 256\.0 MiB \((\d+)%\), \d+\/12 tables/gm),
    ];
    assert.ok(copied.length >= 1, out);
    // the percentage is of the exact bytes, the MiB rounded to a tenth
    for (const [, mib, pct] of copied) assert.ok(Math.abs(Number(pct) - (Number(mib) / 256) * 100) < 1, out);
    const id =
      /^upgrade (up-\d+) \(([0-9a-f-]{36})\): switched to 7\.10\.3; rollback window open until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC) \(liftgate upgrade rollback \1 \| liftgate upgrade finalize \1\)$/m.exec(
        out,
      );
    assert.ok(id, out);
    // the last line is the summary; the window's line comes once, before it
    assert.equal(out.trimEnd().split('\n').at(-1), id[0]);
    const windowLines = out.match(
      /^\d\d:\d\d:\d\d UTC rollback window open until \d{4}-\S+ \S+ UTC: rollback returns to 7\.10\.2, finalize keeps 7\.10\.3$/gm,
    );
    assert.equal(windowLines?.length, 1, out);
    assert.doesNotMatch(out, /rollback window: rollback window/i);
    const u = (await slow.call('GET', `/v1/projects/acme/upgrades/${id[2]}`)).json;
    assert.equal(u.rollbackWindow.state, 'open');
    // the time shown is the API's, to the second, in UTC (TZ is unset)
    assert.equal(id[3], `${new Date(u.rollbackWindow.until).toISOString().slice(0, 19).replace('T', ' ')} UTC`);

    const finalized = await run('upgrade', 'finalize', id[1]);
    assert.equal(finalized.code, 0, finalized.stderr);
    await until(
      async () => (await slow.call('GET', `/v1/projects/acme/upgrades/${id[2]}`)).json.state === 'succeeded',
      'the finalized upgrade to succeed',
    );
    assert.equal((await slow.call('GET', `/v1/projects/acme/upgrades/${id[2]}`)).json.rollbackWindow.state, 'closed');
  } finally {
    await slow.close();
  }
});
