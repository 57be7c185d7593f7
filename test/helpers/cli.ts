// Runs the liftgate CLI as a user does: compiled JavaScript in a child process. Each test file
// compiles the CLI once into its own folder (emit only; `npm run typecheck` checks the types),
// so the tests never run a stale build and two test files never write the same files.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Compiles src/cli into .tmp (inside the repository, so node_modules resolve) and returns main.js. */
export async function buildCli(): Promise<{ main: string; cleanup(): void }> {
  const outDir = path.join(root, '.tmp', `cli-build-${process.pid}`);
  await run(
    process.execPath,
    [
      path.join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(root, 'tsconfig.build.json'),
      '--noCheck',
      '--outDir',
      outDir,
      '--tsBuildInfoFile',
      path.join(outDir, '.tsbuildinfo'),
    ],
    { cwd: root },
  );
  return { main: path.join(outDir, 'cli/main.js'), cleanup: () => fs.rmSync(outDir, { recursive: true, force: true }) };
}

/** Runs the CLI to its end; never throws on a non-zero exit. */
export async function runCli(
  main: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      cwd: root,
      // times print in UTC unless a test sets TZ
      env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', TZ: '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}
