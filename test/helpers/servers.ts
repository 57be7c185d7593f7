// Real `liftgate serve` processes for tests: started with a store's settings on a free port,
// their output kept for failure messages, killed (SIGKILL) or frozen (SIGSTOP) by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { until, within, type StoreConfig } from './harness.ts';

export const SERVER_TOKEN = 'server-test-token';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Server {
  port: number;
  child: ChildProcess;
  pid: number;
  /** resolves with the signal or exit code */
  exited: Promise<NodeJS.Signals | number | null>;
  /** `exited`, failing with the server's output if it has not exited within ms (default 5 min) */
  ended(ms?: number): Promise<NodeJS.Signals | number | null>;
  output(): string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  waitUp(): Promise<void>;
  alive(): boolean;
}

/** `nodeArgs`: more options for node itself (a benchmark's `--cpu-prof`) */
export async function startServer(
  store: StoreConfig,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<Server> {
  const port = await freePort();
  let out = '';
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(port)], {
    env: {
      ...process.env,
      LIFTGATE_DATA_DIR: store.dataDir,
      LIFTGATE_DATABASE_URL: store.config.databaseUrl ?? '',
      LIFTGATE_DATABASE_SCHEMA: store.config.pgSchema ?? '',
      LIFTGATE_DEMO: '0',
      LIFTGATE_ADMIN_TOKEN: SERVER_TOKEN,
      LIFTGATE_SIM_TIME_SCALE: '0',
      // OBShell agents on ports the system picks: test files run side by side on one machine
      LIFTGATE_OBSHELL_PORTS: 'auto',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${SERVER_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
  };
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    port,
    child,
    pid: child.pid as number,
    exited,
    ended: (ms = 300_000) => within(exited, ms, () => `server ${child.pid} has not exited; output:\n${out.slice(-4000)}`),
    output: () => out,
    api,
    alive,
    async waitUp() {
      await until(
        async () => {
          if (!alive()) throw new Error(`server exited before it was up:\n${out}`);
          return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok;
        },
        // generous: on a loaded machine a server can take many seconds to start (not a timing assertion)
        'server up',
        2400,
        50,
      );
    },
  };
}

/** Kills every server still running (after hooks). */
export function killAll(servers: Server[]): void {
  for (const s of servers) {
    if (!s.alive()) continue;
    s.child.kill('SIGCONT');
    s.child.kill('SIGKILL');
  }
}

/** The body of a simulated 3-node cluster on sim 1.0.0 (nodes `<id>1` leader, `<id>2`, `<id>3`). */
export function simCluster(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    kind: 'cluster',
    engine: 'sim',
    version: '1.0.0',
    ...extra,
    nodes: [
      { name: `${id}1`, role: 'leader', zone: 'z1' },
      { name: `${id}2`, role: 'follower', zone: 'z2' },
      { name: `${id}3`, role: 'follower', zone: 'z3' },
    ],
  };
}
