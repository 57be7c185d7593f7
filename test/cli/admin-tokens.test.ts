// `liftgate admin-tokens` as a user runs it: the compiled CLI in child processes against a real
// server. Create shows the secret once; list shows none and marks the token in use; rotate and
// revoke ask for confirmation (and need --yes off a terminal); after rotating the token the CLI
// calls with, or the one the server registered from LIFTGATE_ADMIN_TOKEN, it says what to change;
// the last admin token is kept with a hint; a project token is refused with exit 4.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { buildCli, runCli } from '../helpers/cli.ts';
import { ADMIN_TOKEN, seedSim, startApp, type TestApp } from '../helpers/harness.ts';

let t: TestApp;
let url: string;
let build: Awaited<ReturnType<typeof buildCli>>;

before(async () => {
  build = await buildCli();
  t = await startApp('sqlite');
  await seedSim(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await t.close();
  build.cleanup();
});

const cliAs = (token: string, ...args: string[]) => runCli(build.main, ['--url', url, '--token', token, ...args]);
const cli = (...args: string[]) => cliAs(ADMIN_TOKEN, ...args);
const works = async (token: string) =>
  (await t.call('GET', '/v1/whoami', undefined, { authorization: `Bearer ${token}` })).status === 200;

test('admin tokens: created with the secret once, listed without it, rotated and revoked only when confirmed', async () => {
  const made = await cli('admin-tokens', 'create', '--name', 'ci', '-o', 'json');
  assert.equal(made.code, 0, made.stderr);
  const ci = JSON.parse(made.stdout) as { id: string; token: string; name: string };
  assert.match(ci.token, /^lg_admin_/);
  const human = await cli('admin-tokens', 'create', '--name', 'ops');
  assert.equal(human.code, 0, human.stderr);
  assert.match(
    human.stdout,
    /^admin token [0-9a-f-]{36} created; keep the secret now, it is not shown again:\n {2}lg_admin_\S+$/m,
  );

  const listed = await cli('admin-tokens', 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /ID\s+NAME\s+CREATED\s+BY\s+EXPIRES\s+ROTATED\s+LAST USED\s+STATE/);
  assert.match(listed.stdout, new RegExp(`\\* +LIFTGATE_ADMIN_TOKEN `), 'the token in use is marked');
  assert.match(listed.stdout, new RegExp(`${ci.id} +ci `));
  assert.ok(!listed.stdout.includes(ci.token) && !listed.stdout.includes(ADMIN_TOKEN), 'no secret is listed');

  // off a terminal, rotate and revoke need --yes; without it nothing changes
  const unconfirmed = await cli('admin-tokens', 'rotate', 'ci');
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /refusing to rotate admin token .* without confirmation\nhint: add --yes/);
  assert.ok(await works(ci.token));
  const unrevoked = await cli('admin-tokens', 'revoke', 'ops');
  assert.equal(unrevoked.code, 2);
  assert.match(unrevoked.stderr, /refusing to revoke admin token/);

  // rotating another token: the new secret once, the old one refused at once
  const rotated = await cli('admin-tokens', 'rotate', 'ci', '--yes');
  assert.equal(rotated.code, 0, rotated.stderr);
  const secret = /^ {2}(lg_admin_\S+)$/m.exec(rotated.stdout)?.[1];
  assert.ok(secret, rotated.stdout);
  assert.match(rotated.stdout, new RegExp(`^admin token ${ci.id} rotated; its old secret no longer works`, 'm'));
  assert.doesNotMatch(rotated.stdout, /this CLI was calling/);
  assert.equal(await works(ci.token), false);
  assert.ok(await works(secret));

  // rotating the token the CLI itself calls with: it says to update LIFTGATE_TOKEN
  const own = await cliAs(secret, 'admin-tokens', 'rotate', ci.id.slice(0, 8), '--yes');
  assert.equal(own.code, 0, own.stderr);
  const ownSecret = /^ {2}(lg_admin_\S+)$/m.exec(own.stdout)?.[1] as string;
  assert.match(
    own.stdout,
    new RegExp(`this CLI was calling with that token: update LIFTGATE_TOKEN .*\\n {2}export LIFTGATE_TOKEN=${ownSecret}`),
  );
  assert.equal(await works(secret), false);

  // revoking by name; the token stops working at once
  const opsId = /admin token (\S+) created/.exec(human.stdout)?.[1] as string;
  const revoked = await cli('admin-tokens', 'revoke', 'ops', '--yes');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`^admin token ${opsId} revoked$`, 'm'));
  assert.equal((await cli('admin-tokens', 'revoke', opsId, '--yes')).code, 5);

  const events = await cli('admin-tokens', 'events');
  assert.equal(events.code, 0, events.stderr);
  // who acted, by the admin token's name: ci rotated its own secret, the start's token the other changes
  assert.match(events.stdout, new RegExp(`credential\\.rotated +ci +admin token ${ci.id} rotated`));
  assert.match(events.stdout, new RegExp(`credential\\.revoked +LIFTGATE_ADMIN_TOKEN +admin token ${opsId} revoked`));
  assert.match(events.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +credential\.created +system +/m);
  assert.ok(!events.stdout.includes(ownSecret));

  // a project token, even an admin of its project, is refused
  const p = (await t.call('POST', '/v1/projects/acme/tokens', { role: 'admin' })).json;
  const refused = await cliAs(p.token, 'admin-tokens', 'list');
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /FORBIDDEN/);

  // the last one is kept: revoke ci (as itself), then the harness's token is the last
  assert.equal((await cliAs(ownSecret, 'admin-tokens', 'revoke', 'ci', '--yes')).code, 0);
  const last = await cli('admin-tokens', 'revoke', 'LIFTGATE_ADMIN_TOKEN', '--yes');
  assert.equal(last.code, 1);
  assert.match(last.stderr, /error: LAST_ADMIN_TOKEN: admin token \S+ is the last admin token that works/);
  assert.match(last.stderr, /hint: mint another first \(`liftgate admin-tokens create`\)/);
  assert.ok(await works(ADMIN_TOKEN));
});

test('rotating the token the server registered from LIFTGATE_ADMIN_TOKEN says to change the variable', async () => {
  const spare = JSON.parse((await cli('admin-tokens', 'create', '--name', 'spare', '--json')).stdout) as { token: string };
  const res = await cliAs(spare.token, 'admin-tokens', 'rotate', 'LIFTGATE_ADMIN_TOKEN', '--yes', '--json');
  assert.equal(res.code, 0, res.stderr);
  const body = JSON.parse(res.stdout) as { token: string; name: string };
  assert.equal(body.name, 'LIFTGATE_ADMIN_TOKEN');
  // the JSON on stdout is the API's answer; the note goes to stderr
  assert.match(
    res.stderr,
    /note: the server registered this token from LIFTGATE_ADMIN_TOKEN: set that variable to the new secret/,
  );
  assert.equal(await works(ADMIN_TOKEN), false);
  assert.ok(await works(body.token));
});
