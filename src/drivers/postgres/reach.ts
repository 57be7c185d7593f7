// Can the PostgreSQL service user reach a path? Servers run as that user (PostgreSQL refuses
// root), so the data folder and the binaries must be reachable by it: every directory above them
// must let it pass (x). A clone in /root (mode 0700) does not, and initdb would fail with a bare
// `spawn ... EACCES`: the driver then moves what it can out of the way (placement.ts), and what it
// cannot (a folder an operator chose, clusters made before) is explained here. We ask the kernel,
// by running `test` as that user, so ACLs count too.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { serviceUser } from './os-user.ts';

function reachable(p: string, uid: number, gid: number): boolean {
  const r = spawnSync('test', ['-x', p], { uid, gid, cwd: '/', stdio: 'ignore' });
  return r.status === 0;
}

const asRoot = (): boolean => (process.getuid?.() ?? 1) === 0;

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
 * Whether the service user can reach p (or, when p does not exist yet, the nearest folder above
 * it, where root will create it): one process, whatever the depth. Always true when not root.
 */
export function serviceUserCanReach(p: string): boolean {
  if (!asRoot()) return true;
  const u = serviceUser();
  return reachable(existing(p), u.uid, u.gid);
}

/** the directories that stop the service user on the way to each path, each with its mode ("/root (mode 0700)") */
export function blockersOf(paths: string[]): string[] {
  if (!asRoot()) return [];
  const u = serviceUser();
  const dirs = new Set<string>();
  for (const p of paths) {
    const b = firstBlocker(existing(p), u.uid, u.gid);
    if (b) dirs.add(b);
  }
  return [...dirs].map((d) => `${d} (mode ${modeOf(d)})`);
}

export interface ReachPath {
  /** what the path is, as the message names it ("data folder", "PostgreSQL 16.13 binaries", "cluster demo/pg-demo") */
  what: string;
  path: string;
  /** what else would fix it: a data folder can be chosen, binaries move with the clone, a cluster stays where it is */
  kind: 'data' | 'binaries' | 'cluster';
}

/**
 * When running as root: null if the service user can reach every path, else a message that
 * says which directory stops it and exactly what to change.
 */
export function serviceUserReach(paths: ReachPath[]): string | null {
  if (!asRoot()) return null;
  const u = serviceUser();
  const blocked = paths
    // one process per path that is fine, one per folder on the way for one that is not
    .map((p) => ({ ...p, blocker: serviceUserCanReach(p.path) ? null : firstBlocker(existing(p.path), u.uid, u.gid) }))
    .filter((p): p is typeof p & { blocker: string } => p.blocker !== null);
  if (blocked.length === 0) return null;
  const dirs = [...new Set(blocked.map((b) => b.blocker))];
  const kinds = new Set(blocked.map((b) => b.kind));
  return [
    `the PostgreSQL clusters of the postgres driver run as the system user ${u.name}, which cannot reach`,
    ...blocked.map((b) => `  ${b.what} ${b.path}: ${b.blocker} is mode ${modeOf(b.blocker)}`),
    'Change one of:',
    `  - let it pass through (not list): chmod o+x ${dirs.join(' ')}`,
    ...(kinds.has('data')
      ? ['  - or set LIFTGATE_PG_DATA_DIR to a folder it can reach (unset, the driver keeps its clusters in a folder of its own)']
      : []),
    ...(kinds.has('binaries')
      ? ['  - or put Liftgate (its clone, with node_modules) where it can reach it, e.g. /opt/liftgate']
      : []),
    '  - run without the postgres driver: LIFTGATE_POSTGRES=0',
  ].join('\n');
}
