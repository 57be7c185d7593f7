// The liftgate CLI as a user runs it: a real child process against a real server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ADMIN_TOKEN, seedSim, startApp, type TestApp } from '../helpers/harness.ts';

const run = promisify(execFile);
let t: TestApp;
let url: string;

before(async () => {
  t = await startApp('sqlite');
  await seedSim(t, { target: 'cli-1' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
after(async () => t.close());

const cli = async (...args: string[]) => {
  try {
    const r = await run(process.execPath, [
      'bin/liftgate.mjs',
      '--url',
      url,
      '--token',
      ADMIN_TOKEN,
      '--project',
      'acme',
      ...args,
    ]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
};

test('targets, precheck and an upgrade watched to the end, as tables and as JSON', async () => {
  const table = await cli('targets');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TARGET\s+KIND\s+ENGINE\s+VERSION\s+NODES$/m);
  assert.match(table.stdout, /^cli-1\s+cluster\s+elasticsearch\s+7\.10\.2\s+3$/m);
  const json = JSON.parse((await cli('--json', 'targets')).stdout);
  assert.equal(json.items[0].id, 'cli-1');

  const pre = await cli('precheck', 'cli-1', '7.10.3');
  assert.equal(pre.code, 0, pre.stderr);
  assert.match(pre.stdout, /precheck [0-9a-f]{32}: passed/);
  assert.match(pre.stdout, /^PASS\s+node_health\s+cli-1-1 is healthy$/m);

  const started = await cli('upgrade', 'start', 'cli-1', '7.10.3', '--watch');
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /cli-1-2: Data migration succeeded/);
  assert.match(started.stdout, /: succeeded$/m);
  const list = JSON.parse((await cli('--json', 'upgrade', 'status')).stdout);
  assert.equal(list.items[0].state, 'succeeded');
  const detail = await cli('upgrade', 'status', list.items[0].id);
  assert.match(detail.stdout, /^Switch over cli-1-1 to cli-1-2\s+Leader switchover\s+-\s+succeeded\s+1$/m);
});

test('operator commands and errors: a clear message and a non-zero exit', async () => {
  await t.call('POST', '/v1/projects/acme/targets/cli-1/faults', { step: 'drain', kind: 'fail' });
  const started = JSON.parse((await cli('--json', 'upgrade', 'start', 'cli-1', '7.11.0')).stdout);
  const { until } = await import('../helpers/harness.ts');
  await until(async () => (await t.call('GET', `/v1/projects/acme/upgrades/${started.id}`)).json.state === 'failed', 'failure');
  const skip = await cli('upgrade', 'skip', started.id);
  assert.equal(skip.code, 0, skip.stderr);
  assert.match(skip.stdout, new RegExp(`upgrade ${started.id} (running|succeeded)`));
  const bad = await cli('upgrade', 'resume', started.id);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /error: INVALID_STATE: cannot resume/);
  const none = await cli('upgrade', 'start', 'nope', '1.0');
  assert.match(none.stderr, /TARGET_NOT_FOUND/);
  const badToken = await run(process.execPath, ['bin/liftgate.mjs', '--url', url, '--token', 'wrong', 'targets']).catch(
    (e: { stderr: string }) => e,
  );
  assert.match((badToken as { stderr: string }).stderr, /UNAUTHORIZED/);
});
