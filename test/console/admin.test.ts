// The console's admin page and a target's maintenance window, in real Chromium against a real
// server: API tokens created (the secret shown once), listed and revoked; a webhook pointed at a
// small HTTP receiver of this test, its last delivery shown as the receiver answered it, deleted;
// the API's validation message shown in the form; a viewer token sees neither the admin page nor
// any edit control; a window edited on the target page is what the API then answers. Screenshots
// of the admin page, the window editor and the events page, as console.test.ts takes them.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openRig, signIn, type Browsing, type ConsoleRig, type Server } from './harness.ts';

const shots = path.resolve(process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : `.tmp/screenshots-admin-${process.pid}`);
let server: Server;
let b: Browsing;
let rig: ConsoleRig | undefined;
let receiver: http.Server;
/** what the receiver got: one entry per POST, with the event type */
const received: string[] = [];
let viewerToken = '';
/** a time as every view shows it: 24-hour, with the browser's zone ("14:03:12 UTC", "15:03:12 GMT+1") */
const ZONED = /\d{2}:\d{2}:\d{2} (UTC|GMT[+-][\d:]+|[A-Z]{2,5})/;

async function until<T>(fn: () => Promise<T | false | null | undefined>, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function seed(s: Server) {
  const ok = async (method: string, p: string, body?: unknown) => {
    const r = await s.api(method, p, body);
    assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  await ok('POST', '/v1/catalog/elasticsearch/versions', { version: '7.10.2' });
  await ok('POST', '/v1/catalog/elasticsearch/versions', { version: '7.10.3' });
  await ok('POST', '/v1/projects', { id: 'shop', name: 'Shop' });
  await ok('POST', '/v1/projects/shop/targets', {
    id: 'search-1',
    name: 'Search 1',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.10.2',
    maintenanceWindow: { start: '18:00', end: '22:00' },
    nodes: [1, 2, 3].map((i) => ({ name: `es-${i}`, role: 'data', zone: `zone-${i}` })),
  });
  // an upgrade, so the events page has step events to fold
  const u = await ok('POST', '/v1/projects/shop/upgrades', { targetId: 'search-1', toVersion: '7.10.3' });
  await until(async () => (await s.api('GET', `/v1/projects/shop/upgrades/${u.id}`)).json.state === 'succeeded', 'the upgrade');
  viewerToken = (await ok('POST', '/v1/projects/shop/tokens', { name: 'dashboards', role: 'viewer' })).token;
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(String((JSON.parse(body) as { type?: string }).type));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  rig = await openRig(shots, 0, seed);
  ({ server, b } = rig);
});

after(async () => {
  await rig?.close();
  await new Promise((r) => receiver.close(r));
});

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), animations: 'disabled', fullPage: true });
}

/** the HTTP errors the browser logged since `seen` (the API's expected refusals), taken off the list */
function expectedErrors(seen: number, status: RegExp): void {
  const extra = b.errors.splice(seen);
  assert.ok(extra.length > 0 && extra.every((e) => status.test(e)), extra.join('\n'));
}

test('the admin page: tokens created, listed and revoked; a webhook with its last delivery; the API\u2019s validation message in the form', async () => {
  const { context, page } = await b.newPage({ height: 1000 });
  await signIn(page, server.url);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL('**/projects/shop/admin');

  // ---- an API token: created with a role and a name, its secret shown once, listed ----
  const tokens = page.locator('section[aria-labelledby="tokens"]');
  await tokens.getByLabel('Name').fill('ci-pipeline');
  await tokens.getByLabel('Role').selectOption('operator');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const secret = await tokens.getByTestId('secret-once').getByLabel('Token').inputValue();
  assert.ok(secret.length > 20, secret);
  const row = tokens.locator('tr[data-name="ci-pipeline"]');
  await row.waitFor();
  assert.match(await row.innerText(), /operator/);
  // the secret works, with the role asked for
  const who = await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(((await who.json()) as { role: string }).role, 'operator');
  const listed = (await server.api('GET', '/v1/projects/shop/tokens')).json.items as { id: string; name: string; role: string }[];
  const made = listed.find((t) => t.name === 'ci-pipeline');
  assert.equal(made?.role, 'operator');
  // shown once: gone when dismissed, and never in the list
  await tokens.getByTestId('secret-once').getByRole('button', { name: 'Done' }).click();
  assert.equal(await tokens.getByTestId('secret-once').count(), 0);
  assert.ok(!(await tokens.innerText()).includes(secret));

  // ---- the API's validation message in the form ----
  let seen = b.errors.length;
  await tokens.getByLabel('Name').fill('x'.repeat(65));
  await tokens.getByRole('button', { name: 'Create token' }).click();
  assert.match(await tokens.getByRole('alert').innerText(), /body\/name must NOT have more than 64 characters/);
  expectedErrors(seen, /HTTP 400|status of 400/);
  await tokens.getByLabel('Name').fill('');
  assert.equal(await tokens.getByRole('alert').count(), 0, 'the refusal goes once the field is edited');
  // who created a credential reads as its token's name, not admin:<uuid>
  assert.match(await tokens.locator('tr[data-name="dashboards"]').innerText(), /LIFTGATE_ADMIN_TOKEN/);

  // ---- revoked from the page: gone from the list and refused by the API ----
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await row.waitFor({ state: 'detached' });
  const after = (await server.api('GET', '/v1/projects/shop/tokens')).json.items as { id: string }[];
  assert.ok(!after.some((t) => t.id === made?.id), 'revoked in the API');
  assert.equal((await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);

  // ---- a webhook: its bad URL refused in the form, then one to the receiver ----
  const hooks = page.locator('section[aria-labelledby="webhooks"]');
  seen = b.errors.length;
  await hooks.getByLabel('URL').fill('ftp://127.0.0.1/hook');
  await hooks.getByRole('button', { name: 'Create webhook' }).click();
  assert.match(await hooks.getByRole('alert').innerText(), /must use http or https, not ftp/);
  expectedErrors(seen, /HTTP 400|status of 400/);
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  await hooks.getByLabel('URL').fill(url);
  await hooks.getByLabel('Events').fill('target.*');
  await hooks.getByRole('button', { name: 'Create webhook' }).click();
  const signing = await hooks.getByTestId('secret-once').getByLabel('Signing secret').inputValue();
  assert.ok(signing.length >= 16, signing);
  const hookRow = hooks.locator('tr[data-webhook]');
  await hookRow.waitFor();
  assert.match(await hookRow.innerText(), /target\.\*/);
  assert.equal(await hookRow.getByTestId('last-delivery').getAttribute('data-state'), 'none');
  // an event it subscribes to: the receiver gets it, and the page shows the delivery as answered
  const patched = await server.api('PATCH', '/v1/projects/shop/targets/search-1', { labels: { team: 'search' } });
  assert.equal(patched.status, 200);
  await until(async () => received.includes('target.updated'), 'the receiver to get target.updated');
  await until(async () => {
    await hooks.getByRole('button', { name: 'Refresh' }).click();
    return (await hookRow.getByTestId('last-delivery').getAttribute('data-state')) === 'delivered';
  }, 'the delivery shown');
  assert.match(await hookRow.getByTestId('last-delivery').innerText(), /HTTP 204[\s\S]*target\.updated/);
  await hooks.getByTestId('secret-once').getByRole('button', { name: 'Done' }).click();
  await shot(page, 'admin');

  // ---- deleted from the page ----
  await hookRow.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await hookRow.waitFor({ state: 'detached' });
  assert.deepEqual((await server.api('GET', '/v1/projects/shop/webhooks')).json.items, []);
  await context.close();
  assert.deepEqual(b.errors, []);
});

test('a maintenance window edited on the target page is what the API answers; the events page folds step events', async () => {
  const { context, page } = await b.newPage({ height: 1000 });
  await signIn(page, server.url, undefined, '/projects/shop/targets/search-1');
  await page.waitForURL('**/targets/search-1');
  const section = page.locator('section[aria-labelledby="window"]');
  assert.match(await section.getByTestId('window-text').innerText(), /daily 18:00–22:00 UTC/);
  await section.getByRole('button', { name: 'Edit window' }).click();
  const form = section.getByRole('form', { name: 'Edit maintenance window' });
  await form.getByLabel('Window').selectOption('weekly');
  for (const d of ['sat', 'sun'])
    if (!(await form.getByLabel(d, { exact: true }).isChecked())) await form.getByLabel(d, { exact: true }).check();
  await form.getByLabel('wed', { exact: true }).check();
  await form.getByLabel('Opens at').fill('02:30');
  await form.getByLabel('For (minutes)').fill('90');
  // a zone the server does not know: its message, in the form
  const seen = b.errors.length;
  await form.getByLabel('Time zone', { exact: true }).fill('Mars/Olympus');
  await form.getByRole('button', { name: 'Save window' }).click();
  assert.match(await form.getByRole('alert').innerText(), /"Mars\/Olympus" is not an IANA time zone/);
  expectedErrors(seen, /HTTP 400|status of 400/);
  await form.getByLabel('Time zone', { exact: true }).fill('Europe/Berlin');
  await form.getByRole('button', { name: 'Add exclusion' }).click();
  await form.getByLabel('Reason').fill('year-end freeze');
  await shot(page, 'target-window');
  await form.getByRole('button', { name: 'Save window' }).click();
  await form.waitFor({ state: 'detached' });
  const t = (await server.api('GET', '/v1/projects/shop/targets/search-1')).json;
  assert.deepEqual(t.maintenanceWindow, {
    days: ['wed', 'sat', 'sun'],
    start: '02:30',
    durationMinutes: 90,
    timeZone: 'Europe/Berlin',
  });
  assert.equal(t.maintenanceExclusions.length, 1);
  assert.equal(t.maintenanceExclusions[0].reason, 'year-end freeze');
  await until(
    async () => /Wed, Sat, Sun 02:30 for 1h 30m \(Europe\/Berlin\)/.test(await section.getByTestId('window-text').innerText()),
    'the new window shown',
  );
  assert.match(await section.getByRole('list', { name: 'Exclusions' }).innerText(), /year-end freeze/);
  // times read 24-hour with their zone
  assert.match(await section.getByRole('list', { name: 'Exclusions' }).innerText(), ZONED);

  // the events page: step events folded under their upgrade, named by its reference
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Events' }).click();
  const group = page.locator('tr[data-group]').first();
  await group.waitFor();
  assert.match(await group.innerText(), /step events of up-1 on search-1/);
  assert.equal(await page.locator('tr[data-event][data-type^="step."]').count(), 0);
  await page.locator('tr[data-event][data-type="target.updated"]').first().waitFor();
  assert.match(await page.locator('tr[data-event]').first().locator('td').first().innerText(), new RegExp(`^${ZONED.source}$`));
  await shot(page, 'events-grouped');
  await context.close();
  assert.deepEqual(b.errors, []);
});

test('a viewer token sees no admin page and no edit control', async () => {
  const { context, page } = await b.newPage();
  await signIn(page, server.url, viewerToken, '/projects/shop/targets/search-1');
  await page.waitForURL('**/targets/search-1');
  await page.locator('section[aria-labelledby="window"]').getByTestId('window-text').waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Admin' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Edit window' }).count(), 0);
  await page.goto(`${server.url}/projects/shop/admin`);
  await page.getByText('Admins only').waitFor();
  assert.equal(await page.getByRole('button', { name: /Create/ }).count(), 0);
  await context.close();
  assert.deepEqual(b.errors, []);
});
