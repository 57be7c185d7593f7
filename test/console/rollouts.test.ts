// Rollouts in the console, in real headless Chromium against a real server: a rollout started
// from the form (targets by engine and label, the waves edited, the server's refusal shown at the
// wave it names, the preview's waves and targets checked against the API's preview), then watched
// live on its page without a reload: the canary fails on an armed sim fault and the batch halts
// with its reason, a retry runs it again, the bake counts down, the gated wave waits; pause and
// resume there, approve, and the rollout ends. A viewer token sees the same pages with no action.
// Screenshots go to .tmp/screenshots-rollouts, or to docs/screenshots with UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, openRig, signIn, type Browsing, type ConsoleRig, type Server } from './harness.ts';

const shots = path.resolve(
  process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : `.tmp/screenshots-rollouts-${process.pid}`,
);
let server: Server;
let b: Browsing;
let rig: ConsoleRig | undefined;
let viewer = '';

async function until<T>(fn: () => Promise<T | false | null | undefined>, what: string, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const P = '/v1/projects/shop';

async function seed(s: Server) {
  const ok = async (method: string, p: string, body?: unknown) => {
    const r = await s.api(method, p, body);
    assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  for (const version of ['7.10.2', '7.10.3']) await ok('POST', '/v1/catalog/elasticsearch/versions', { version });
  await ok('POST', '/v1/catalog/oceanbase/versions', { version: '4.2.1.0' });
  await ok('POST', '/v1/projects', { id: 'shop', name: 'Shop' });
  const nodes = (id: string) => [
    { name: `${id}-a`, role: 'data', zone: 'zone-a' },
    { name: `${id}-b`, role: 'data', zone: 'zone-b' },
  ];
  for (let i = 1; i <= 6; i++) {
    await ok('POST', `${P}/targets`, {
      id: `search-${i}`,
      name: `Search ${i}`,
      kind: 'cluster',
      engine: 'elasticsearch',
      version: '7.10.2',
      labels: { env: i === 6 ? 'staging' : 'prod' },
      nodes: nodes(`es${i}`),
    });
  }
  await ok('POST', `${P}/targets`, {
    id: 'orders-ob',
    name: 'Orders OceanBase',
    kind: 'cluster',
    engine: 'oceanbase',
    version: '4.2.1.0',
    nodes: nodes('ob'),
  });
  viewer = (await ok('POST', `${P}/tokens`, { name: 'watcher', role: 'viewer' })).token;
}

before(async () => {
  // fast: an upgrade of two sim nodes takes about a second, yet each wave is seen running
  rig = await openRig(shots, 0.01, seed);
  ({ server, b } = rig);
});

after(() => rig?.close());

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), animations: 'disabled', fullPage: true });
}

const batchOf = async (id: string) => (await server.api('GET', `${P}/batches/${id}`)).json;

/** Waits until the page shows the batch in `state` and the API agrees, wave by wave. */
async function agree(page: Page, id: string, state: string) {
  return until(async () => {
    const api = await batchOf(id);
    if (api.state !== state) return false;
    if ((await page.locator('.page[data-batch]').getAttribute('data-state')) !== state) return false;
    const shown = await page.$$eval('li.wt-item:not(.wt-gate)[data-wave]', (lis) =>
      lis.map((li) => [li.getAttribute('data-wave'), li.getAttribute('data-state')]),
    );
    const want = api.waves.map((w: any) => [w.name, w.state]);
    if (JSON.stringify(shown) !== JSON.stringify(want)) return false;
    const buttons = await page.$$eval('[data-action]', (bs) => bs.map((x) => x.getAttribute('data-action')).sort());
    return JSON.stringify(buttons) === JSON.stringify([...api.allowedActions].sort()) ? api : false;
  }, `page and API to agree on ${state}`);
}

async function act(page: Page, action: string): Promise<string> {
  await page.locator(`[data-action="${action}"]`).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const text = await dialog.innerText();
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'hidden' });
  return text;
}

test('a rollout from the console: preview, start, halt and retry, bake, approval gate, pause, resume; a viewer only watches', async (t) => {
  const t0 = Date.now();
  const phase = (name: string) => t.diagnostic(`${name} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { page } = await b.newPage({ height: 900 });
  await signIn(page, server.url, ADMIN);

  // ---- Rollouts: empty at first, with the way to start one ----
  await page.getByRole('link', { name: 'Rollouts' }).click();
  await page.waitForURL('**/rollouts');
  await page.getByText('No rollouts yet').waitFor();
  await page.getByRole('link', { name: 'Start a rollout' }).click();
  await page.waitForURL('**/rollouts/new');

  // ---- the form: elasticsearch targets labelled env=prod ----
  assert.equal(await page.getByLabel('Engine').inputValue(), 'elasticsearch');
  await page.getByLabel('env=prod').check();
  assert.match(await page.getByTestId('matching').innerText(), /^5 targets match/);
  assert.equal(await page.getByLabel('To version').inputValue(), '7.10.3');
  await page.getByLabel('Rollout name').fill('search 7.10.3');
  // canary: one target, a short bake; rest: the others, two at once, behind an approval
  await page.getByLabel('Wave 1 bake minutes').fill('0.1');
  await page.getByLabel('Wave 2 at once').fill('2');
  assert.equal(await page.getByLabel('Wave 2 needs approval').isChecked(), true);

  // a plan that leaves targets out: the server's refusal, at the last wave (the browser logs the
  // preview's 400 by itself: those lines, and nothing else, are expected here)
  const seen = b.errors.length;
  await page.getByLabel('Wave 2 targets').fill('2');
  const refusal = await page.locator('.wave-editor .form-error').innerText({ timeout: 30_000 });
  assert.match(refusal, /the waves cover 3 of the 5 targets/);
  assert.equal(await page.getByLabel('Wave 2 targets').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByRole('button', { name: 'Start rollout' }).isDisabled(), true);
  await page.getByLabel('Wave 2 targets').fill('100%');
  const extra = b.errors.splice(seen);
  assert.ok(extra.length > 0 && extra.every((e) => /400/.test(e)), extra.join('\n'));

  // ---- the preview: the waves and their targets, as the API's preview answers them ----
  const body = {
    name: 'search 7.10.3',
    selector: { engine: 'elasticsearch', labels: { env: 'prod' } },
    toVersion: '7.10.3',
    mode: 'rolling',
    schedule: { kind: 'now' },
    waves: [
      { name: 'canary', targets: 1, maxConcurrency: 1, bakeMinutes: 0.1, approval: false },
      { name: 'rest', targets: '100%', maxConcurrency: 2, bakeMinutes: 0, approval: true },
    ],
    failureThreshold: { targets: 1 },
  };
  const expected = (await server.api('POST', `${P}/batches/preview`, body)).json;
  assert.equal(expected.targets, 5);
  await until(
    async () =>
      /5 targets in 2 waves/.test(
        await page
          .getByTestId('preview-summary')
          .innerText()
          .catch(() => ''),
      ),
    'the preview',
  );
  const shown = await page.$$eval('.preview-wave', (ws) =>
    ws.map((w) => [
      w.getAttribute('data-wave'),
      [...w.querySelectorAll('[data-target]')].map((c) => c.getAttribute('data-target')),
    ]),
  );
  assert.deepEqual(
    shown,
    expected.waves.map((w: any) => [w.name, w.targets.map((x: any) => x.id)]),
  );
  assert.equal((await server.api('GET', `${P}/batches`)).json.total, 0, 'the preview wrote nothing');
  await shot(page, 'rollout-start');

  // ---- start it, the canary's install armed to fail ----
  const canary = expected.waves[0].targets[0].id;
  assert.equal((await server.api('POST', `${P}/targets/${canary}/faults`, { step: 'install', kind: 'fail' })).status, 201);
  await page.getByRole('button', { name: 'Start rollout' }).click();
  await page.waitForURL((u) => /\/rollouts\/[0-9a-f-]{36}$/.test(u.pathname));
  const id = page.url().split('/').pop() as string;
  await page.evaluate(() => ((window as any).__sameDocument = true));
  phase('started');

  // ---- the canary fails: halted, with its reason and the failed target ----
  const halted = await agree(page, id, 'halted');
  assert.deepEqual([...halted.allowedActions].sort(), ['cancel', 'retry']);
  const reason = await page.getByTestId('halt-reason').innerText();
  assert.ok(reason.toLowerCase().includes(halted.pendingReason.toLowerCase()), `${reason} names ${halted.pendingReason}`);
  assert.match(reason, /Search 1/);
  assert.match(await page.getByTestId('failures').innerText(), /1 of 1 allowed/);
  const failedRow = page.locator(`tr[data-target="${canary}"]`);
  assert.equal(await failedRow.getAttribute('data-state'), 'failed');
  // the upgrade linked by its short reference
  const up = (await server.api('GET', `${P}/batches/${id}/upgrades`)).json.items.find((u: any) => u.targetId === canary);
  assert.equal(await failedRow.locator('a.ref').innerText(), up.ref);
  assert.equal(await failedRow.locator('a.ref').getAttribute('href'), `/projects/shop/upgrades/${up.id}`);
  await shot(page, 'rollout-halted');
  phase('halted');

  // ---- retry: the canary runs again, bakes (the timer counts down), then the gate ----
  assert.match(await act(page, 'retry'), /1 failed upgrade is retried/);
  const countdown = page.getByTestId('bake-countdown');
  await countdown.waitFor({ timeout: 60_000 });
  const first = await countdown.innerText();
  await until(async () => (await countdown.innerText().catch(() => first)) !== first, 'the bake timer to count down');
  const gated = await agree(page, id, 'awaiting_approval');
  assert.deepEqual([...gated.allowedActions].sort(), ['approve', 'cancel', 'pause']);
  assert.match(await page.getByTestId('pending-reason').innerText(), /Awaiting approval of wave rest/);
  assert.match(await page.locator('[data-gate="approval"][data-wave="rest"]').innerText(), /waits for an operator to approve/);
  assert.match(await page.locator('[data-gate="bake"][data-wave="canary"]').innerText(), /every target healthy/);
  assert.equal(await page.getByTestId('upgraded').innerText(), '1 of 5');
  phase('gated');

  // the Rollouts list, live too, with the batch waiting at its gate (and another one to start tomorrow)
  const later = await server.api('POST', `${P}/batches`, {
    name: 'staging 7.10.3',
    targetIds: ['search-6'],
    toVersion: '7.10.3',
    schedule: { kind: 'at', at: new Date(Date.now() + 20 * 3600_000).toISOString() },
    waves: [{ name: 'all', targets: '100%' }],
  });
  assert.equal(later.status, 201, JSON.stringify(later.json));
  const list = await b.newPage({ height: 700 });
  await signIn(list.page, server.url, ADMIN, '/projects/shop/rollouts');
  const row = list.page.locator(`tr[data-batch="${id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-state'), 'awaiting_approval');
  assert.match(await row.innerText(), /1 of 5 upgraded/);
  assert.match(await row.innerText(), /0 of 1 allowed/);
  await shot(list.page, 'rollouts');

  // ---- pause at the gate, resume, approve ----
  await act(page, 'pause');
  const paused = await agree(page, id, 'paused');
  assert.deepEqual([...paused.allowedActions].sort(), ['cancel', 'resume']);
  await act(page, 'resume');
  await agree(page, id, 'awaiting_approval');
  assert.match(await act(page, 'approve'), /Wave rest starts now: 4 targets, up to 2 at once/);
  await page.locator('li.wt-item[data-wave="rest"][data-state="running"]').waitFor({ timeout: 30_000 });
  // seen moving without a reload: upgrades of the wave running, then more of them upgraded
  await until(
    async () => /[1-9] running/.test(await page.locator('li[data-wave="rest"] [data-testid="wave-counts"]').innerText()),
    'the wave to run',
  );
  await shot(page, 'rollout');
  const done = await agree(page, id, 'succeeded');
  assert.equal(await page.getByTestId('upgraded').innerText(), '5 of 5');
  assert.equal(done.waves[1].approvedBy !== null, true);
  assert.match(await page.locator('[data-gate="approval"][data-wave="rest"]').innerText(), /approved by/);
  assert.equal(await page.evaluate(() => (window as any).__sameDocument), true, 'no reload');
  await until(async () => (await row.getAttribute('data-state')) === 'succeeded', 'the list to follow live');
  phase('succeeded');

  // ---- a viewer: the pages, no action ----
  const watcher = await b.newPage({ dark: true });
  await signIn(watcher.page, server.url, viewer, `/projects/shop/rollouts/${id}`);
  await watcher.page.getByTestId('read-only').waitFor();
  assert.equal(await watcher.page.locator('[data-action]').count(), 0);
  await shot(watcher.page, 'rollout-viewer-dark');
  // the other batch, waiting for its time: the viewer sees why, and no action either
  await watcher.page.goto(`${server.url}/projects/shop/rollouts/${later.json.id}`);
  assert.match(await watcher.page.getByTestId('pending-reason').innerText(), /^Starts at .*\(in /);
  assert.equal(await watcher.page.locator('[data-action]').count(), 0);
  await watcher.page.getByRole('link', { name: 'Rollouts' }).first().click();
  await watcher.page.locator(`tr[data-batch="${id}"]`).waitFor();
  assert.equal(await watcher.page.getByRole('link', { name: 'Start a rollout' }).count(), 0);

  // ---- phone width: the three pages without sideways scrolling ----
  const phone = await b.newPage({ width: 390, height: 844 });
  await signIn(phone.page, server.url, ADMIN, `/projects/shop/rollouts/${id}`);
  const held = b.errors.length;
  for (const [to, ready] of [
    [`/projects/shop/rollouts/${id}`, 'li.wt-item[data-wave="rest"]'],
    ['/projects/shop/rollouts', `tr[data-batch="${id}"]`],
    ['/projects/shop/rollouts/new', '.wave-editor'],
  ]) {
    await phone.page.goto(server.url + to);
    await phone.page.locator(ready).first().waitFor();
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling at phone width on ${to} (page is ${width}px wide)`);
  }
  // the form's default (every elasticsearch target) takes search-6, which the scheduled rollout
  // holds: the server's refusal shows at the targets (the browser logs its 400: expected here)
  const busy = await phone.page.locator('section[aria-labelledby="start-targets"] .form-error').innerText();
  assert.match(busy, /search-6 has upgrade .* in progress/);
  const logged = b.errors.splice(held);
  assert.ok(
    logged.every((e) => /400/.test(e)),
    logged.join('\n'),
  );

  // ---- the scheduled one, cancelled from its page: nothing ran, nothing is left to act on ----
  await page.goto(`${server.url}/projects/shop/rollouts/${later.json.id}`);
  await agree(page, later.json.id, 'scheduled');
  assert.match(await act(page, 'cancel'), /every unfinished upgrade is cancelled/);
  const cancelled = await agree(page, later.json.id, 'cancelled');
  assert.deepEqual(cancelled.allowedActions, []);
  assert.equal(await page.locator('tr[data-target="search-6"]').getAttribute('data-state'), 'cancelled');

  assert.deepEqual(b.errors, []);
});
