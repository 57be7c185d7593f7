// A cutover holds clients at the pooler; if Liftgate dies while it does, nothing would let them go
// until it restarts. So each cutover starts a small detached process (cutover-watchdog.ts) that
// wakes at the cutover's deadline (plus a short grace) and, unless the cutover is done, undoes it
// and resumes the pooler, exactly as the driver would. The driver stops it once the cutover ends.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** the watchdog gives the cutover this long past its deadline before it acts */
export const WATCHDOG_GRACE_MS = 2_000;

/** the flags that load TypeScript in this process (--import tsx), so the child runs the same code */
function loaderArgs(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x === '--import' || x === '--loader' || x === '--require' || x === '-r') {
      if (a[i + 1] !== undefined) out.push(x, a[i + 1]!);
      i++;
    } else if (/^--(import|loader|require)=/.test(x)) out.push(x);
  }
  return out;
}

export function startCutoverWatchdog(root: string, token: string, deadline: number): number | null {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const script = fileURLToPath(new URL(`./cutover-watchdog.${ext}`, import.meta.url));
  try {
    const child = spawn(process.execPath, [...loaderArgs(), script, root, token, String(deadline + WATCHDOG_GRACE_MS)], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, LIFTGATE_FAULT_POINT: '' },
    });
    child.on('error', () => undefined);
    child.unref();
    return child.pid ?? null;
  } catch {
    return null;
  }
}

export function stopCutoverWatchdog(pid: number | null): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
