// The console as a user meets it: the console built from source (into .tmp, so a test never runs a
// stale build), a real `liftgate serve` child process on a free port with its own data folder, and
// Debian's Chromium driven by playwright-core. Every browser console error and uncaught page error
// is collected so the test can fail on any.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '../..');
export const ADMIN = 'console-test-admin-token';

export async function buildConsole(): Promise<{ dir: string; cleanup(): void }> {
  const dir = path.join(root, '.tmp', `console-build-${process.pid}`);
  const { build } = await import('vite');
  await build({
    configFile: path.join(root, 'console/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: dir, emptyOutDir: true },
  });
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Server {
  url: string;
  api<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }>;
  stop(): Promise<void>;
}

export async function startServer(consoleDir: string, simTimeScale: number): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-console-'));
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LIFTGATE_DATA_DIR: dataDir,
      LIFTGATE_DEMO: '0',
      LIFTGATE_ADMIN_TOKEN: ADMIN,
      LIFTGATE_SIM_TIME_SCALE: String(simTimeScale),
      LIFTGATE_CONSOLE_DIR: consoleDir,
      LIFTGATE_OBSHELL_PORTS: 'auto',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`liftgate serve exited: ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    // two minutes, as the other server harnesses allow: a loaded machine starts tsx slowly
    if (i > 1200) throw new Error(`liftgate serve did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    api,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Browsing {
  browser: Browser;
  /** every console error and page error seen so far, with the page's URL */
  errors: string[];
  newPage(opts?: { width?: number; height?: number; dark?: boolean }): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browsing> {
  // launch() starts Chromium headless (--headless) on a new empty profile of its own (a fresh
  // user data dir, removed on close); the flags keep it off the network this machine does not have.
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const errors: string[] = [];
  return {
    browser,
    errors,
    async newPage(opts = {}) {
      const context = await browser.newContext({
        viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
        colorScheme: opts.dark ? 'dark' : 'light',
        deviceScaleFactor: 1,
      });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()} at ${page.url()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`uncaught at ${page.url()}: ${e.message}`));
      page.on('response', (r) => {
        if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
      });
      page.on('requestfailed', (r) => {
        // A stream the page itself closed (leaving a view) is not a failure.
        if (r.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
      });
      return { context, page };
    },
    async close() {
      await browser.close();
    },
  };
}

/** Signs in on the login page with `token` (the admin token by default) and waits for a project page. */
export async function signIn(page: Page, url: string, token = ADMIN, to = '/'): Promise<void> {
  await page.goto(url + to);
  await page.waitForURL('**/login');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/projects/'));
}

/** A built console, a real `liftgate serve` serving it, and a browser: what each console test file starts from. */
export interface ConsoleRig {
  server: Server;
  b: Browsing;
  close(): Promise<void>;
}

/**
 * Builds the console, starts the server (`seed` fills it before the browser opens) and the browser;
 * `close` undoes all of it, and removes the screenshots folder unless they are kept (UPDATE_SCREENSHOTS
 * writes them to docs/screenshots, KEEP_SCREENSHOTS keeps the temporary ones).
 */
export async function openRig(shots: string, simTimeScale: number, seed: (server: Server) => Promise<void>): Promise<ConsoleRig> {
  fs.mkdirSync(shots, { recursive: true });
  const built = await buildConsole();
  let server: Server | undefined;
  let b: Browsing | undefined;
  const close = async () => {
    await b?.close();
    await server?.stop();
    built.cleanup();
    if (process.env.UPDATE_SCREENSHOTS !== '1' && !process.env.KEEP_SCREENSHOTS)
      fs.rmSync(shots, { recursive: true, force: true });
  };
  try {
    server = await startServer(built.dir, simTimeScale);
    await seed(server);
    b = await launchBrowser();
  } catch (e) {
    await close();
    throw e;
  }
  return { server, b, close };
}
