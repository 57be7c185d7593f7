// A blue/green upgrade in the console, in real headless Chromium against a real `liftgate serve`
// with the simulated driver: the initial copy's progress moves on the page without a reload, the
// rollback window opens with a countdown and exactly the Roll back and Finalize actions, a viewer
// sees the window but no action, and Finalize (confirmed) ends the upgrade with the window closed.
// Screenshots of the copy and of the open window go to .tmp/screenshots, or to docs/screenshots
// with UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, openRig, signIn, type Browsing, type ConsoleRig, type Server } from './harness.ts';

const shots = path.resolve(process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : `.tmp/screenshots-bg-${process.pid}`);
let server: Server;
let b: Browsing;
let rig: ConsoleRig | undefined;
let viewerToken: string;

// The sim scales every step alike. At 0.012 the initial copy (600 s nominal, +-25 % per run) takes
// 5-9 s, long enough to read its percentage several times a second apart, while the stages before
// it (220 s nominal) take about 3 s and the catch-up and cutover after it well under a second: the
// whole upgrade reaches its window in about 12 s. The upgrade is paused before the copy while the
// page opens, so a slow start of the page cannot miss it. The rollback window itself is not scaled:
// it lasts the upgrade's retentionSeconds (an hour here), which the Finalize ends.
const SCALE = 0.012;

async function until<T>(fn: () => Promise<T | false | null | undefined>, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  rig = await openRig(shots, SCALE, async (srv) => {
    const ok = async (method: string, p: string, body?: unknown) => {
      const r = await srv.api(method, p, body);
      assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    };
    for (const version of ['16.4', '17.2']) await ok('POST', '/v1/catalog/postgresql/versions', { version });
    await ok('POST', '/v1/projects', { id: 'shop', name: 'Shop' });
    await ok('POST', '/v1/projects/shop/targets', {
      id: 'orders-pg',
      name: 'Orders PostgreSQL',
      kind: 'cluster',
      engine: 'postgresql',
      version: '16.4',
      nodes: [
        { name: 'pg-1', role: 'primary', zone: 'zone-a' },
        { name: 'pg-2', role: 'replica', zone: 'zone-b' },
      ],
    });
    viewerToken = (await ok('POST', '/v1/projects/shop/tokens', { role: 'viewer', name: 'watch' })).token;
  });
  ({ server, b } = rig);
});

after(() => rig?.close());

const login = (page: Page, token: string, to = '/') => signIn(page, server.url, token, to);

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), animations: 'disabled' });
}

const pageState = (page: Page) => page.locator('.page-title [data-state]').first().getAttribute('data-state');
const actions = (page: Page) =>
  page.$$eval('[data-action]', (bs) => bs.map((x) => [x.getAttribute('data-action'), x.textContent]));

/**
 * What the copy-progress line says (MiB done, MiB total, the percentage) and where its bar stands,
 * read in one go so both come from one render; null while it is not shown.
 */
async function copyShown(page: Page) {
  const seen = await page.evaluate(() => {
    const el = document.querySelector('[data-testid="copy-progress"]') as HTMLElement | null;
    const bar = el?.querySelector('progress');
    return el ? { text: el.innerText, value: bar ? bar.value : null, max: bar ? bar.max : null } : null;
  });
  if (!seen) return null;
  const m = /([\d.]+) MiB of ([\d.]+ MiB) \((\d+)%\)/.exec(seen.text);
  assert.ok(m, `the copy progress reads "x MiB of y MiB (z%)": ${seen.text}`);
  return { ...seen, done: Number(m[1]), total: m[2], pct: Number(m[3]) };
}

/** the countdown the rollback-window line shows, in seconds (null unless it says open) */
async function windowLeft(page: Page): Promise<number | null> {
  const text = await page.getByTestId('rollback-window').innerText();
  const m = /^Rollback window: open, (?:(\d+)h )?(?:(\d+)m )?(\d+)[ms] left \(until /.exec(text);
  if (!m) return null;
  // "59m 58s" or "1h 00m": the last figure is seconds unless hours were given
  return m[1] !== undefined ? Number(m[1]) * 3600 + Number(m[3]) * 60 : Number(m[2] ?? 0) * 60 + Number(m[3]);
}

test('a blue/green upgrade: the copy moves live, the rollback window opens, a viewer cannot act, Finalize closes it', async (t) => {
  const t0 = Date.now();
  const phase = (name: string) => t.diagnostic(`${name} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { page } = await b.newPage();
  await login(page, ADMIN, '/projects/shop/targets/orders-pg');
  await page.locator('tr[data-node]').first().waitFor();

  const started = await server.api('POST', '/v1/projects/shop/upgrades', {
    targetId: 'orders-pg',
    toVersion: '17.2',
    mode: 'blue_green',
    options: { retentionSeconds: 3600 },
  });
  assert.equal(started.status, 202, JSON.stringify(started.json));
  const id = started.json.id as string;
  const get = async () => (await server.api('GET', `/v1/projects/shop/upgrades/${id}`)).json;
  const act = async (action: string) => {
    const r = await server.api('POST', `/v1/projects/shop/upgrades/${id}/actions`, { action });
    assert.ok(r.status < 300, `${action}: ${r.status} ${JSON.stringify(r.json)}`);
  };
  // Held before the copy while the page opens, so a slow machine cannot miss the copy.
  await until(async () => ['prechecking', 'running'].includes((await get()).state), 'the upgrade to run');
  await act('pause');
  await until(async () => {
    const u = await get();
    return u.state === 'paused' && !u.stages.some((s: any) => s.steps.some((st: any) => st.state === 'running'));
  }, 'the upgrade to stop before the copy');
  assert.equal((await get()).stages[4].steps[0].state, 'pending', 'the copy has not started');
  await page.goto(`${server.url}/projects/shop/upgrades/${id}`);
  await page.getByTestId('rollback-window').waitFor();
  await page.evaluate(() => ((window as any).__sameDocument = true));
  assert.match(await page.getByTestId('rollback-window').innerText(), /^Rollback window: not started\. Opens at the cutover\.$/);
  await act('resume');

  // ---- the initial copy: figures from the driver, moving on without a reload ----
  const first = await until(() => copyShown(page), 'the copy progress to show');
  phase(`copy seen at ${first.pct}%`);
  assert.equal(first.total, '256.0 MiB');
  // the percentage is of the exact bytes, the MiB rounded to a tenth
  assert.ok(Math.abs(first.pct - (first.done / 256) * 100) < 1, first.text);
  assert.match(first.text, /^Initial data copy: .* · \d+\/12 tables · [\d.]+ MiB\/s · about \d+s left/);
  const api = (await get()).stages.flatMap((s: any) => s.steps).find((s: any) => s.action === 'initial_copy');
  assert.equal(api.state, 'running');
  assert.equal(api.progress.bytesTotal, 256 * 1048576);
  assert.equal(first.max, 256 * 1048576);
  const second = await until(async () => {
    const now = await copyShown(page);
    return now && now.pct > first.pct && now.pct < 100 ? now : null;
  }, 'the copy percentage to move on');
  phase(`copy moved to ${second.pct}%`);
  // the bar stands where the words say
  assert.ok(
    Math.abs(((second.value ?? -1) / (second.max ?? 1)) * 100 - second.pct) < 1,
    `${second.value} of ${second.max}: ${second.text}`,
  );
  await shot(page, 'blue-green-copy');

  // ---- the rollback window: open, counting down, exactly Roll back and Finalize ----
  const left = await until(() => windowLeft(page), 'the rollback window to open on the page');
  phase('window open');
  assert.ok(left > 3500 && left <= 3600, `${left} s left of an hour`);
  assert.match(
    await page.getByTestId('rollback-window').innerText(),
    /\. The old cluster keeps every write made on 17\.2; rollback returns to 16\.4, finalize ends the window now\.$/,
  );
  const open = await get();
  assert.equal(open.rollbackWindow.state, 'open');
  assert.deepEqual(open.allowedActions, ['rollback', 'finalize']);
  assert.deepEqual(await actions(page), [
    ['rollback', 'Roll back'],
    ['finalize', 'Finalize'],
  ]);
  assert.equal(await page.getByTestId('copy-progress').count(), 0, 'the copy is over');
  await until(async () => {
    const now = await windowLeft(page);
    return now !== null && now < left;
  }, 'the countdown to move on');
  assert.match(await page.getByTestId('stage').innerText(), /^8 of 9 · Rollback window$/);
  await shot(page, 'blue-green-window');

  // ---- a viewer sees the open window and no action ----
  const viewer = await b.newPage();
  await login(viewer.page, viewerToken, `/projects/shop/upgrades/${id}`);
  await until(async () => (await windowLeft(viewer.page)) !== null, 'the viewer to see the window open');
  assert.deepEqual(await actions(viewer.page), []);
  assert.equal(await viewer.page.locator('[data-action="finalize"]').count(), 0);
  assert.match(await viewer.page.getByRole('toolbar', { name: 'Upgrade actions' }).innerText(), /viewer role/);
  await viewer.context.close();

  // ---- Finalize, confirmed: the upgrade succeeds and the window is closed, without a reload ----
  await page.locator('[data-action="finalize"]').click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Finalize this upgrade\?[\s\S]*After this the upgrade cannot be rolled back\./);
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'hidden' });
  await until(async () => (await pageState(page)) === 'succeeded', 'the page to show the upgrade succeeded');
  await until(
    async () => /^Rollback window: closed\./.test(await page.getByTestId('rollback-window').innerText()),
    'the page to show the window closed',
  );
  phase('finalized');
  const done = await get();
  assert.equal(done.state, 'succeeded');
  assert.equal(done.rollbackWindow.state, 'closed');
  assert.equal(done.rollbackWindow.rollbackPossible, false);
  assert.match(
    await page.getByTestId('rollback-window').innerText(),
    /^Rollback window: closed\. The old cluster \(16\.4\) is decommissioned: the upgrade can no longer be rolled back\.$/,
  );
  assert.deepEqual(await actions(page), []);
  assert.equal(await page.evaluate(() => (window as any).__sameDocument), true, 'no reload happened');
  const target = (await server.api('GET', '/v1/projects/shop/targets/orders-pg')).json;
  assert.equal(target.version, '17.2');

  assert.deepEqual(b.errors, [], 'no errors in the browser console');
});
