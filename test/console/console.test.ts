// The web console end to end, in real headless Chromium against a real server: log in, the fleet,
// a target, an upgrade started from the page and watched live (no reload), paused and resumed, an
// injected failure retried, a second failure rolled back, the audit trail live; what the page
// shows is checked against the API at each quiet point, and any browser console error fails.
// Screenshots of every view (light, dark, phone width) go to .tmp/screenshots, or to
// docs/screenshots with UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, openRig, signIn, type Browsing, type ConsoleRig, type Server } from './harness.ts';

const shots = path.resolve(process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : `.tmp/screenshots-${process.pid}`);
let server: Server;
let b: Browsing;
let rig: ConsoleRig | undefined;

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
  const catalog: Record<string, { version: string; barrier?: boolean }[]> = {
    oceanbase: [{ version: '4.2.1.0' }, { version: '4.2.2.0', barrier: true }, { version: '4.2.5.1' }],
    elasticsearch: [{ version: '7.10.2' }, { version: '7.10.3' }],
    hologres: [{ version: '1.3.23' }, { version: '1.3.37' }],
  };
  for (const [engine, versions] of Object.entries(catalog)) {
    for (const v of versions) await ok('POST', `/v1/catalog/${engine}/versions`, v);
  }
  await ok('POST', '/v1/projects', { id: 'shop', name: 'Shop' });
  await ok('POST', '/v1/projects', { id: 'staging', name: 'Staging' });
  const nodes = (prefix: string, roles: string[]) =>
    roles.map((role, i) => ({ name: `${prefix}-${i + 1}`, role, zone: `zone-${String.fromCharCode(97 + i)}` }));
  await ok('POST', '/v1/projects/shop/targets', {
    id: 'orders-ob',
    name: 'Orders OceanBase',
    kind: 'cluster',
    engine: 'oceanbase',
    version: '4.2.1.0',
    nodes: nodes('ob', ['leader', 'follower', 'follower']),
  });
  await ok('PUT', '/v1/projects/shop/targets/orders-ob/obshell-password', { password: 'Orchid-Basalt-Meridian-64' });
  for (const [i, version] of ['7.10.2', '7.10.2', '7.10.3'].entries()) {
    await ok('POST', '/v1/projects/shop/targets', {
      id: `search-${i + 1}`,
      name: `Search ${i + 1}`,
      kind: 'cluster',
      engine: 'elasticsearch',
      version,
      nodes: nodes(`es${i + 1}`, ['data', 'data', 'data']),
    });
  }
  await ok('POST', '/v1/projects/shop/targets', {
    id: 'erp-hg',
    name: 'ERP Hologres',
    kind: 'instance',
    engine: 'hologres',
    version: '1.3.23',
    maintenanceWindow: { start: '18:00', end: '22:00' },
    nodes: nodes('hg', ['leader', 'follower']),
  });
  await ok('POST', '/v1/projects/staging/targets', {
    id: 'stage-ob',
    kind: 'cluster',
    engine: 'oceanbase',
    version: '4.2.2.0',
    nodes: nodes('sob', ['leader', 'follower', 'follower']),
  });
  await ok('POST', '/v1/projects/shop/targets/erp-hg/prechecks', { toVersion: '1.3.37', wait: true });
}

before(async () => {
  // Slow enough that a step is seen running, fast enough that an upgrade takes seconds.
  rig = await openRig(shots, 0.02, seed);
  ({ server, b } = rig);
});

after(() => rig?.close());

const login = (page: Page, to = '/') => signIn(page, server.url, ADMIN, to);

/**
 * A wrong token: the page says so plainly. Its own page, because the browser logs the server's 401
 * to the console by itself; that one line (and nothing else) is expected here.
 */
async function wrongToken() {
  const seen = b.errors.length;
  const { context, page } = await b.newPage();
  await page.goto(server.url + '/login');
  await page.getByLabel('API token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /did not accept this token/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('liftgate.token')), null);
  await context.close();
  const extra = b.errors.splice(seen);
  assert.ok(extra.length > 0 && extra.every((e) => /401/.test(e)), extra.join('\n'));
}

async function shot(page: Page, name: string) {
  // Let bars and fonts settle: animations are paused for a stable picture.
  await page.screenshot({ path: path.join(shots, `${name}.png`), animations: 'disabled' });
}

/** The step states the page shows, by step id. */
async function pageSteps(page: Page): Promise<Record<string, string>> {
  return page.$$eval('[data-step][data-state]', (rows) =>
    Object.fromEntries(rows.map((r) => [r.getAttribute('data-step'), r.getAttribute('data-state')])),
  );
}

async function apiSteps(id: string): Promise<{ u: any; steps: Record<string, string> }> {
  const u = (await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json;
  const steps: Record<string, string> = {};
  for (const s of u.stages) for (const st of s.steps) steps[st.id] = st.state;
  return { u, steps };
}

const pageState = (page: Page) => page.locator('.page-title [data-state]').first().getAttribute('data-state');

/** Waits until the page and the API agree on the upgrade's state and on every step's state. */
async function agree(page: Page, id: string, state: string) {
  return until(async () => {
    const { u, steps } = await apiSteps(id);
    if (u.state !== state || (await pageState(page)) !== state) return false;
    const shown = await pageSteps(page);
    // The estimate is shown exactly when the API has one.
    const estimate = /left/.test(await page.getByTestId('estimate').innerText());
    return JSON.stringify(shown) === JSON.stringify(steps) && estimate === !!u.estimate ? u : false;
  }, `page and API to agree on ${state}`);
}

async function confirm(page: Page, action: string): Promise<string> {
  await page.locator(`[data-action="${action}"]`).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const text = await dialog.innerText();
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'hidden' });
  return text;
}

test('the console: log in, fleet, start an upgrade, watch it live, pause, resume, retry, roll back, events', async (t) => {
  const t0 = Date.now();
  const phase = (name: string) => t.diagnostic(`${name} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { page } = await b.newPage();

  // ---- login: the token goes to sessionStorage only ----
  await page.goto(server.url + '/');
  await page.waitForURL('**/login');
  await shot(page, 'login');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /Paste a Liftgate API token/);
  await wrongToken();
  await login(page);
  // Runs meanwhile, to be seen finished in the dark theme at the end.
  const background = await server.api('POST', '/v1/projects/shop/upgrades', { targetId: 'search-1', toVersion: '7.10.3' });
  assert.equal(background.status, 202, JSON.stringify(background.json));
  // The fleet page picks it up live (the stream may have connected after the page loaded its data).
  await page.locator('tr[data-target="search-1"] td [data-state]').waitFor();
  assert.equal(new URL(page.url()).pathname, '/projects/shop');
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem('liftgate.token'),
    local: JSON.stringify(localStorage),
  }));
  assert.equal(stored.session, ADMIN);
  assert.ok(!stored.local.includes(ADMIN), 'the token is not in localStorage');
  assert.ok(!page.url().includes(ADMIN), 'the token is not in the URL');

  phase('logged in');
  // ---- fleet: what the page lists is what the API has ----
  const targets = (await server.api('GET', '/v1/projects/shop/targets')).json.items;
  await page.locator('tr[data-target]').first().waitFor();
  // the engine and the version together ("elasticsearch 7.10.2")
  const rows = await page.$$eval('tr[data-target]', (trs) =>
    trs.map((tr) => [tr.getAttribute('data-target'), tr.querySelectorAll('td')[1].textContent]),
  );
  assert.deepEqual(
    rows,
    targets.map((t: any) => [t.id, `${t.engine} ${t.version}`]),
  );
  assert.equal(await page.locator('.chart').count(), 3, 'one version chart per engine');
  assert.match(
    String(await page.locator('.chart', { hasText: 'elasticsearch' }).locator('svg').getAttribute('aria-label')),
    /1 on 7\.10\.3, 2 on 7\.10\.2/,
  );
  await page.getByLabel('Search targets by id or name').fill('search');
  assert.equal(await page.locator('tr[data-target]').count(), 3);
  await page.getByLabel('State').selectOption('available');
  assert.equal(await page.locator('tr[data-target]').count(), 2, 'search-3 is up to date');
  await page.getByLabel('Search targets by id or name').fill('');
  await page.getByLabel('State').selectOption('');
  await shot(page, 'fleet');

  // ---- project switcher (admin token) ----
  await page.getByLabel('Project').selectOption('staging');
  await page.waitForURL('**/projects/staging');
  await page.locator('tr[data-target="stage-ob"]').waitFor();
  assert.equal(await page.locator('tr[data-target]').count(), 1);
  await page.getByLabel('Project').selectOption('shop');
  await page.locator('tr[data-target="orders-ob"]').waitFor();

  phase('fleet checked');
  // ---- target view, and an upgrade started from it ----
  await page.locator('tr[data-target="orders-ob"] a').first().click();
  await page.waitForURL('**/targets/orders-ob');
  const target = (await server.api('GET', '/v1/projects/shop/targets/orders-ob')).json;
  await page.locator('tr[data-node]').first().waitFor();
  // the cluster's own OBShell agent address, as the API gives it
  assert.ok(target.obshellAgent?.port > 0, JSON.stringify(target.obshellAgent));
  assert.equal(
    await page.locator('dl.facts div', { hasText: 'OBShell agent' }).locator('dd').innerText(),
    `${target.obshellAgent.host}:${target.obshellAgent.port}`,
  );
  assert.deepEqual(
    await page.$$eval('tr[data-node]', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))),
    target.nodes.map((n: any) => [n.name, n.role, n.zone, n.version, n.health]),
  );
  await shot(page, 'target');
  // The first verify (the first upgraded node's health gate) will fail once.
  assert.equal(
    (await server.api('POST', '/v1/projects/shop/targets/orders-ob/faults', { step: 'verify', kind: 'fail' })).status,
    201,
  );
  await page.locator('select[name="version"]').selectOption('4.2.2.0');
  await page.getByRole('button', { name: 'Start upgrade…' }).click();
  const startDialog = page.getByRole('dialog');
  assert.match(await startDialog.innerText(), /Route: 4\.2\.1\.0 → 4\.2\.2\.0/);
  await startDialog.getByRole('button', { name: 'Start upgrade' }).click();
  await page.waitForURL('**/upgrades/*');
  const id = page.url().split('/').pop() as string;
  await page.evaluate(() => ((window as any).__sameDocument = true));

  phase('upgrade started');
  // ---- pause as soon as it runs: the running step finishes, nothing new starts ----
  await until(async () => ['prechecking', 'running'].includes(String(await pageState(page))), 'the upgrade to run');
  // Keyboard: Escape leaves the confirmation without acting.
  await page.locator('[data-action="pause"]').focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  assert.notEqual((await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json.state, 'paused');
  await confirm(page, 'pause');
  const paused = await agree(page, id, 'paused');
  await until(
    async () => !(await apiSteps(id)).u.stages.some((s: any) => s.steps.some((st: any) => st.state === 'running')),
    'the running step to finish',
  );
  const frozen = await agree(page, id, 'paused');
  assert.equal(frozen.state, 'paused');
  assert.deepEqual(paused.allowedActions, ['resume', 'cancel', 'rollback']);
  assert.deepEqual(
    await page.$$eval('[data-action]', (bs) => bs.map((x) => x.getAttribute('data-action'))),
    paused.allowedActions,
    'the page offers exactly the actions the API allows',
  );
  // named by its short reference with its target, started by the admin token's name, times 24-hour with their zone
  assert.equal(await page.getByTestId('upgrade-ref').innerText(), `${frozen.ref} · Orders OceanBase`);
  assert.equal(await page.getByTestId('started-by').innerText(), 'LIFTGATE_ADMIN_TOKEN');
  assert.match(await page.locator('time').first().innerText(), /^\d{2}:\d{2}:\d{2} (UTC|GMT[+-][\d:]+|[A-Z]{2,5})$/);
  await confirm(page, 'resume');

  // ---- live: steps change on the page without a reload ----
  const before = await pageSteps(page);
  await page.locator('.tl-running').first().waitFor({ timeout: 60_000 });
  await until(async () => {
    const now = await pageSteps(page);
    return (
      Object.values(now).filter((s) => s === 'succeeded').length > Object.values(before).filter((s) => s === 'succeeded').length
    );
  }, 'more steps to succeed on the page');
  await shot(page, 'upgrade');

  phase('paused, resumed, seen live');
  // ---- the injected failure, then retry ----
  const failed = await agree(page, id, 'failed');
  const failedStep = failed.stages.flatMap((s: any) => s.steps).find((s: any) => s.state === 'failed');
  assert.equal(failedStep.action, 'verify');
  assert.match(await page.getByRole('alert').first().innerText(), new RegExp(failed.errorCode));
  assert.equal(await page.locator(`[data-step-detail="${failedStep.id}"]`).count(), 1, 'the failed step is shown in detail');
  // The next install (the second node's) fails once too.
  await server.api('POST', '/v1/projects/shop/targets/orders-ob/faults', { step: 'install', kind: 'fail' });
  const retryText = await confirm(page, 'retry');
  assert.match(retryText, new RegExp(`Retry runs ${failedStep.name}.* again`));
  await until(async () => (await apiSteps(id)).steps[failedStep.id] === 'succeeded', 'the retried step to succeed');

  phase('failed once');
  // ---- the second failure, rolled back ----
  const failedAgain = await agree(page, id, 'failed');
  const done = failedAgain.stages.flatMap((s: any) => s.steps).filter((s: any) => s.state === 'succeeded').length;
  assert.ok(done > 5);
  await shot(page, 'upgrade-failed');
  const rollbackText = await confirm(page, 'rollback');
  assert.match(rollbackText, new RegExp(`Rollback reverses ${done} completed steps, newest first`));
  const rolledBack = await agree(page, id, 'rolled_back');
  assert.equal(rolledBack.state, 'rolled_back');
  assert.ok(Object.values(await pageSteps(page)).includes('rolled_back'));
  assert.equal(await page.evaluate(() => (window as any).__sameDocument), true, 'no reload happened');

  // Keyboard: the timeline's rows are reached with the arrow keys and show their step.
  const order = Object.keys(await pageSteps(page));
  await page.locator(`#step-${order[0]}`).click();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-step')), order[2]);
  assert.equal(await page.locator(`[data-step-detail="${order[2]}"]`).count(), 1);

  phase('rolled back');
  // ---- events: the audit trail, filtered, and live ----
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Events' }).click();
  await page.waitForURL('**/events');
  await page.locator('tr[data-event]').first().waitFor();
  // The page lists what the API lists (compared again until both are quiet: other upgrades may still add events).
  const sameAsApi = async (query: string) =>
    until(async () => {
      const api = (await server.api('GET', `/v1/projects/shop/events?order=desc&limit=100${query}`)).json.items;
      const shown = await page.$$eval('tr[data-event]', (trs) => trs.map((tr) => Number(tr.getAttribute('data-event'))));
      // Live rows come on top of the first page, so the page may hold more than one page.
      return JSON.stringify(shown.slice(0, api.length)) === JSON.stringify(api.map((e: any) => e.id)) ? api : false;
    }, `the events page to show the API's events${query}`);
  // Step events are folded under their upgrade: one row per upgrade, opened on demand.
  await page.locator('tr[data-group]').first().waitFor();
  assert.equal(await page.locator('tr[data-event][data-type^="step."]').count(), 0, 'step events folded');
  const group = page.locator('tr[data-group]').first();
  await group.getByRole('button').click();
  await page.locator('tr[data-event][data-type^="step."]').first().waitFor();
  await group.getByRole('button').click();
  // Unfolded, the page lists what the API lists.
  await page.getByLabel('Fold step events').uncheck();
  const events = await sameAsApi('');
  await page.getByLabel('Event kind').selectOption('upgrade');
  // Filtered on the server: older upgrade events beyond the first page of all events come too.
  await sameAsApi('&type=upgrade.*');
  const types = await page.$$eval('tr[data-event]', (trs) => trs.map((tr) => tr.getAttribute('data-type') as string));
  assert.ok(types.length > 0 && types.every((t) => t.startsWith('upgrade.')), types.join());
  assert.ok(types.includes('upgrade.rollback') && types.includes('upgrade.pause') && types.includes('upgrade.retry'));
  await page.getByLabel('Event kind').selectOption('');
  const newest = events[0].id;
  const live = await server.api('POST', '/v1/projects/shop/upgrades', { targetId: 'search-2', toVersion: '7.10.3' });
  assert.equal(live.status, 202, JSON.stringify(live.json));
  await server.api('POST', `/v1/projects/shop/upgrades/${live.json.id}/actions`, { action: 'cancel' });
  await page.locator('tr[data-event][data-type="upgrade.cancel"]').first().waitFor();
  assert.ok(Number(await page.locator('tr[data-event]').first().getAttribute('data-event')) > newest, 'live rows come first');
  // the upgrade started after the page loaded is named by its reference too
  await until(
    async () => (await page.locator('tr[data-event][data-type="upgrade.cancel"]').first().innerText()).includes(live.json.ref),
    'the live upgrade named by its reference',
  );
  await page.getByLabel('Fold step events').check();
  await shot(page, 'events');
  const started = background;
  await until(
    async () => (await server.api('GET', `/v1/projects/shop/upgrades/${started.json.id}`)).json.state === 'succeeded',
    'search-1 upgraded',
    60_000,
  );

  phase('events checked');
  // ---- dark theme and phone width ----
  const dark = await b.newPage({ dark: true });
  await login(dark.page, `/projects/shop/upgrades/${started.json.id}`);
  await agree(dark.page, started.json.id, 'succeeded');
  await shot(dark.page, 'upgrade-dark');
  await dark.page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Fleet' }).click();
  await dark.page.locator('tr[data-target]').first().waitFor();
  await shot(dark.page, 'fleet-dark');
  await dark.context.close();

  const phone = await b.newPage({ width: 390, height: 844 });
  await login(phone.page);
  await phone.page.locator('tr[data-target]').first().waitFor();
  await shot(phone.page, 'fleet-phone');
  await phone.page.goto(`${server.url}/projects/shop/upgrades/${id}`);
  await agree(phone.page, id, 'rolled_back');
  await shot(phone.page, 'upgrade-phone');
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling at phone width (page is ${width}px wide)`);
  await phone.context.close();

  phase('dark and phone views');
  assert.deepEqual(b.errors, [], 'no errors in the browser console');
});

test('a zone migration from the target page: a collapse refused with the server\u2019s reason; the precheck shows the zones before and after', async () => {
  const { context, page } = await b.newPage();
  await login(page, '/projects/shop/targets/search-3');
  await page.locator('tr[data-node]').first().waitFor();
  // search-3 runs the newest version: a zone migration is what is left to offer
  assert.deepEqual(await page.$$eval('select[name="mode"] option', (os) => os.map((o) => (o as HTMLOptionElement).value)), [
    'az_migration',
  ]);
  assert.equal(await page.locator('select[name="version"]').count(), 0, 'a zone migration keeps the version');
  const precheck = async (targetAz: string) => {
    await page.locator('input[name="targetAz"]').fill(targetAz);
    await page.getByRole('button', { name: 'Run precheck' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.innerText(), new RegExp(`Run a precheck for moving zone-a to ${targetAz}\\?`));
    await dialog.getByRole('button', { name: 'Run precheck' }).click();
    return dialog;
  };
  await page.locator('select[name="sourceAz"]').selectOption('zone-a');

  // zone-b already holds es3-2: three zones would become two
  const seen = b.errors.length;
  const refused = await precheck('zone-b');
  assert.match(
    await refused.getByRole('alert').innerText(),
    /^moving zone-a to zone-b would leave this cluster in 2 zones \(zone-b, zone-c\) instead of 3/,
  );
  await refused.getByRole('button', { name: 'Cancel' }).click();
  await refused.waitFor({ state: 'hidden' });
  const expected = b.errors.splice(seen);
  assert.ok(expected.length > 0 && expected.every((e) => /400/.test(e)), expected.join('\n'));
  assert.deepEqual((await server.api('GET', '/v1/projects/shop/targets/search-3/prechecks')).json.items, [], 'nothing written');

  const ok = await precheck('zone-d');
  await ok.waitFor({ state: 'hidden' });
  const layout = page.locator('[data-zone-layout]');
  await layout.waitFor();
  const report = await until(async () => {
    const r = (await server.api('GET', '/v1/projects/shop/targets/search-3/prechecks')).json.items[0];
    return r && r.state !== 'running' ? r : null;
  }, 'the precheck report');
  const item = report.items.find((i: any) => i.name === 'zone_layout');
  assert.equal(item.status, 'pass');
  await until(async () => (await layout.getAttribute('data-zone-layout')) === 'pass', 'the page to show the finished report');
  const shown = await layout
    .locator('tr[data-zone]')
    .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  const cell = (m: Record<string, string[]>, z: string) => (m[z]?.length ? m[z].join(', ') : '–');
  const zones = [...new Set([...Object.keys(item.zones.before), ...Object.keys(item.zones.after)])].sort();
  assert.deepEqual(
    shown,
    zones.map((z) => [z, cell(item.zones.before, z), cell(item.zones.after, z)]),
  );
  assert.deepEqual(shown[0], ['zone-a', 'es3-1', '–']);
  assert.deepEqual(shown.at(-1), ['zone-d', '–', 'es3-1']);
  assert.match(await layout.locator('caption').innerText(), /Zones: 3 before, 3 after/);
  assert.match(await page.locator('table[aria-label="Precheck items"]').innerText(), /zone_layout[\s\S]*keeps 3 zones/);
  await context.close();
  assert.deepEqual(b.errors, [], 'no other errors in the browser console');
});

test('the point of no return on the upgrade page, and a route to another engine offered on the target page', async () => {
  const ok = async (method: string, p: string, body?: unknown) => {
    const r = await server.api(method, p, body);
    assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  // a catalog entry of another engine that takes elasticsearch 7.10 (a route across engines)
  await ok('POST', '/v1/catalog/opensearch/versions', { version: '2.11.0', upgradableFrom: ['elasticsearch:7.10.*'] });
  const across = await ok('GET', '/v1/catalog/versions?fromEngine=elasticsearch');
  assert.deepEqual(
    across.items.map((v: any) => `${v.engine} ${v.version}`),
    ['opensearch 2.11.0'],
  );
  assert.deepEqual((await ok('GET', '/v1/catalog/versions?fromEngine=oceanbase')).items, []);
  // a simulated target whose switchover stands for a step that cannot be undone
  await ok('POST', '/v1/projects/shop/targets', {
    id: 'pnr-es',
    name: 'Point of no return',
    kind: 'cluster',
    engine: 'elasticsearch',
    version: '7.10.2',
    driver: 'sim',
    driverConfig: { irreversibleSteps: ['switchover'] },
    nodes: ['leader', 'follower', 'follower'].map((role, i) => ({ name: `pn-${i + 1}`, role, zone: `zone-${i + 1}` })),
  });
  const reason = 'the simulated target marks switchover irreversible (driverConfig.irreversibleSteps)';
  const { context, page } = await b.newPage();
  await login(page, '/projects/shop/targets/pnr-es');
  await page.locator('tr[data-node]').first().waitFor();
  assert.equal(await page.getByTestId('target-version').innerText(), 'elasticsearch 7.10.2');

  // the form offers the versions of its engine and the other engine's entry
  assert.deepEqual(
    await page.$$eval('select[name="version"] option', (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent])),
    [
      ['7.10.3', '7.10.3'],
      ['opensearch:2.11.0', 'opensearch 2.11.0'],
    ],
  );
  await page.locator('select[name="version"]').selectOption('opensearch:2.11.0');
  await page.getByRole('button', { name: 'Start upgrade…' }).click();
  const crossing = page.getByRole('dialog');
  const said = await crossing.innerText();
  assert.match(said, /Upgrade Point of no return to opensearch 2\.11\.0\?/);
  assert.match(said, /Route: elasticsearch 7\.10\.2 → opensearch 2\.11\.0/);
  assert.match(said, /The engine changes from elasticsearch to opensearch/);
  // the request names the engine: the sim driver runs one engine only, and the server says so
  const seen = b.errors.length;
  await crossing.getByRole('button', { name: 'Start upgrade' }).click();
  assert.match(
    await crossing.getByRole('alert').innerText(),
    /the sim driver cannot change a target's engine from elasticsearch to opensearch/,
  );
  await crossing.getByRole('button', { name: 'Cancel' }).click();
  await crossing.waitFor({ state: 'hidden' });
  const refused = b.errors.splice(seen);
  assert.ok(refused.length > 0 && refused.every((e) => /HTTP 4\d\d|status of 4\d\d/.test(e)), refused.join('\n'));

  // the first drain fails (before the switchover); the leader's start fails after it
  await ok('POST', '/v1/projects/shop/targets/pnr-es/faults', { step: 'drain', kind: 'fail' });
  await ok('POST', '/v1/projects/shop/targets/pnr-es/faults', { step: 'start', kind: 'fail', node: 'pn-1' });
  await page.locator('select[name="version"]').selectOption('7.10.3');
  await page.getByRole('button', { name: 'Start upgrade…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Start upgrade' }).click();
  await page.waitForURL('**/upgrades/*');
  const id = page.url().split('/').pop() as string;
  const notice = page.getByTestId('point-of-no-return');
  const failedAt = (passed: boolean) =>
    until(
      async () => {
        const u = (await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json;
        if (u.state !== 'failed' || u.pointOfNoReturn?.passed !== passed) return false;
        if ((await pageState(page)) !== 'failed' || (await notice.getAttribute('data-passed')) !== String(passed)) return false;
        return u;
      },
      `the page and the API to agree: failed, point of no return ${passed ? 'passed' : 'ahead'}`,
    );

  const before = await failedAt(false);
  assert.equal(before.pointOfNoReturn.name, 'Leader switchover');
  assert.equal(await notice.innerText(), `Rollback possible until Leader switchover: ${reason}`);
  assert.ok(before.allowedActions.includes('rollback'));
  assert.deepEqual(
    await page.$$eval('[data-action]', (bs) => bs.map((x) => x.getAttribute('data-action'))),
    before.allowedActions,
  );

  await confirm(page, 'retry');
  const past = await failedAt(true);
  assert.equal(await notice.innerText(), `Past the point of no return: ${reason}`);
  assert.ok(!past.allowedActions.includes('rollback'), past.allowedActions.join());
  const offered = await page.$$eval('[data-action]', (bs) => bs.map((x) => x.getAttribute('data-action')));
  assert.deepEqual(offered, past.allowedActions, 'the page offers exactly the actions the API allows');
  assert.equal(await page.locator('[data-action="rollback"]').count(), 0, 'no Roll back button');
  await shot(page, 'point-of-no-return');
  // the server refuses a rollback anyway, with the driver's reason
  const rb = await server.api('POST', `/v1/projects/shop/upgrades/${id}/actions`, { action: 'rollback' });
  assert.equal(rb.json.error.code, 'ROLLBACK_BLOCKED');
  assert.ok(rb.json.error.message.endsWith(reason), rb.json.error.message);
  await context.close();
  assert.deepEqual(b.errors, [], 'no other errors in the browser console');
});

test('a Redis group (the redis driver): engine and version together, Valkey offered and taken from the page, redis 7.0.15 → valkey 8.0.1', async () => {
  const created = await server.api('POST', '/v1/projects/shop/targets', {
    id: 'cache',
    name: 'Cache',
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'redis',
    driverConfig: { provision: true, topology: 'sentinel', replicas: 1 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const { context, page } = await b.newPage();
  try {
    await login(page);
    assert.equal(await page.locator('tr[data-target="cache"] td').nth(1).innerText(), 'redis 7.0.15');
    await page.locator('tr[data-target="cache"] a').first().click();
    await page.waitForURL('**/targets/cache');
    await page.locator('tr[data-node]').first().waitFor();
    assert.equal(await page.getByTestId('target-version').innerText(), 'redis 7.0.15');
    const nodesShown = () =>
      page.$$eval('tr[data-node]', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-engine'), tr.querySelectorAll('td')[3].textContent]),
      );
    const target = (await server.api('GET', '/v1/projects/shop/targets/cache')).json;
    assert.deepEqual(
      await nodesShown(),
      target.nodes.map((n: any) => [n.engine, `${n.engine} ${n.version}`]),
    );
    assert.ok(target.nodes.every((n: any) => n.engine === 'redis'));
    // the driver's catalog entry of Valkey names redis: the form offers it after redis's own versions
    const options = await page.$$eval('select[name="version"] option', (os) =>
      os.map((o) => [(o as HTMLOptionElement).value, o.textContent]),
    );
    assert.deepEqual(options.at(-1), ['valkey:8.0.1', 'valkey 8.0.1']);
    await page.locator('select[name="version"]').selectOption('valkey:8.0.1');
    await page.getByRole('button', { name: 'Start upgrade…' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.innerText(), /Route: redis 7\.0\.15 → valkey 8\.0\.1/);
    await dialog.getByRole('button', { name: 'Start upgrade' }).click();
    await page.waitForURL('**/upgrades/*');
    const id = page.url().split('/').pop() as string;
    const u = (await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json;
    assert.deepEqual([u.fromEngine, u.toEngine, u.toVersion], ['redis', 'valkey', '8.0.1']);
    assert.equal(await page.locator('.page-title h1').innerText(), 'redis 7.0.15 → valkey 8.0.1');
    await until(
      async () => (await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json.state === 'succeeded',
      'the upgrade to Valkey',
      240_000,
    );
    await page.locator('.page-title [data-state="succeeded"]').waitFor();
    // after it the target runs valkey, every node too
    await page.locator('.crumbs a', { hasText: 'Cache' }).click();
    await page.waitForURL('**/targets/cache');
    await until(async () => (await page.getByTestId('target-version').innerText()) === 'valkey 8.0.1', 'the page to show valkey');
    const after = (await server.api('GET', '/v1/projects/shop/targets/cache')).json;
    assert.deepEqual([after.engine, after.version], ['valkey', '8.0.1']);
    await until(
      async () =>
        JSON.stringify(await nodesShown()) ===
        JSON.stringify(after.nodes.map((n: any) => [n.engine, `${n.engine} ${n.version}`])),
      'the nodes to show valkey',
    );
    assert.ok(
      after.nodes.every((n: any) => n.engine === 'valkey'),
      JSON.stringify(after.nodes),
    );
    assert.equal(await page.locator(`tr[data-upgrade="${id}"] td.mono`).innerText(), 'redis 7.0.15 → valkey 8.0.1');
    await shot(page, 'target-valkey');
  } finally {
    await context.close();
    await server.api('DELETE', '/v1/projects/shop/targets/cache');
  }
  assert.deepEqual(b.errors, [], 'no errors in the browser console');
});
