// Can the PostgreSQL service user reach a path? Servers run as that user (PostgreSQL refuses
// root), so the data folder and the binaries must be reachable by it: every directory above them
// must let it pass (x). A clone in /root (mode 0700) does not, and initdb then fails with a bare
// `spawn ... EACCES`. We ask the kernel, by running `test` as that user, so ACLs count too.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { serviceUser } from './os-user.ts';

function reachable(p: string, uid: number, gid: number): boolean {
  const r = spawnSync('test', ['-x', p], { uid, gid, cwd: '/', stdio: 'ignore' });
  return r.status === 0;
}

/** the nearest path that exists at or above p */
function existing(p: string): string {
  let cur = path.resolve(p);
  while (!existsSync(cur) && path.dirname(cur) !== cur) cur = path.dirname(cur);
  return cur;
}

/** the first directory from / down to p that the user cannot pass */
function firstBlocker(p: string, uid: number, gid: number): string | null {
  const parts = path.resolve(p).split(path.sep).filter(Boolean);
  let cur: string = path.sep;
  for (const part of parts) {
    cur = path.join(cur, part);
    if (!existsSync(cur)) return null;
    if (!reachable(cur, uid, gid)) return cur;
  }
  return null;
}

const modeOf = (dir: string): string => (statSync(dir).mode & 0o777).toString(8).padStart(4, '0');

/**
 * When running as root: null if the service user can reach every path, else a message that
 * says which directory stops it and exactly what to change.
 */
export function serviceUserReach(paths: { what: string; path: string }[]): string | null {
  if ((process.getuid?.() ?? 1) !== 0) return null;
  const u = serviceUser();
  const blocked = paths
    .map((p) => ({ ...p, blocker: firstBlocker(existing(p.path), u.uid, u.gid) }))
    .filter((p): p is typeof p & { blocker: string } => p.blocker !== null);
  if (blocked.length === 0) return null;
  const dirs = [...new Set(blocked.map((b) => b.blocker))];
  return [
    `the PostgreSQL clusters of the postgres driver run as the system user ${u.name}, which cannot reach`,
    ...blocked.map((b) => `  ${b.what} ${b.path}: ${b.blocker} is mode ${modeOf(b.blocker)}`),
    'Change one of:',
    `  - let it pass through (not list): chmod o+x ${dirs.join(' ')}`,
    blocked.every((b) => b.what === 'data folder')
      ? '  - or set LIFTGATE_DATA_DIR to a folder it can reach, e.g. /var/lib/liftgate'
      : '  - or put Liftgate (its clone, with node_modules, and its data folder) where it can reach them, e.g. /opt/liftgate',
    '  - run without the postgres driver: LIFTGATE_POSTGRES=0',
  ].join('\n');
}
