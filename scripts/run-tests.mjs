// Runs every test file with node's test runner (through tsx, no build step). Node 20 has no
// glob support in --test, so the files are listed here.
//
// Two bounds keep a hung test from holding CI until its own limit: a file that runs longer than
// LIFTGATE_TEST_FILE_TIMEOUT_MS (default 15 min; the slowest file takes about 2 min here) fails
// as timed out (the report names it) and its process is ended; the whole run is ended after
// LIFTGATE_TEST_TIMEOUT_MS (default 70 min; it takes 5-10 min on a quiet machine, 45 on a
// heavily loaded one). Either way the run fails and says why.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const minutes = (name, fallback) => {
  const v = Number(process.env[name] ?? fallback * 60_000);
  return Number.isFinite(v) && v > 0 ? v : fallback * 60_000;
};
const fileTimeoutMs = minutes('LIFTGATE_TEST_FILE_TIMEOUT_MS', 15);
const totalTimeoutMs = minutes('LIFTGATE_TEST_TIMEOUT_MS', 70);

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];
const files = [];
const walk = (p) => {
  const st = fs.statSync(p);
  if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
  else if (p.endsWith('.test.ts')) files.push(p);
};
roots.forEach(walk);

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  `--test-timeout=${fileTimeoutMs}`,
  '--test-reporter=spec',
  ...files,
];
// its own process group, so the watchdog ends the runner and every test file it started
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  detached: true,
  env: { ...process.env, LIFTGATE_LOG: process.env.LIFTGATE_LOG ?? '0' },
});
const killGroup = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
const watchdog = setTimeout(() => {
  console.error(`run-tests: the run is still going after ${totalTimeoutMs / 60_000} min (LIFTGATE_TEST_TIMEOUT_MS): ending it`);
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), 5_000).unref();
}, totalTimeoutMs);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  killGroup('SIGKILL'); // whatever a file left behind (servers it spawned) ends with the run
  process.exit(code ?? (signal ? 1 : 0));
});
