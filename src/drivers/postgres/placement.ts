// Where the postgres driver keeps its clusters, and which copy of the binaries their servers run.
// Servers run as the service user (os-user.ts), which must pass through every folder above their
// data and their binaries. A clone in /root (mode 0700) keeps both out of its reach: there, as
// root, the driver uses a location of its own (default /var/lib/liftgate), every folder in it
// root-owned and 0755 so the service user passes:
//   <home>/<data folder>-<hash>/pg              new clusters of one configured folder (the hash of
//                                               its path: two clones never share one)
//   <home>/<data folder>-<hash>/source          that configured folder's path, for whoever looks
//   <home>/binaries/<package version>/          bin/, lib/ and share/ of one installed build,
//                                               hard-linked (copied where a link cannot be made
//                                               or would not be readable), once
// What exists stays where it is when this choice changes: a cluster's folder is recorded with its
// target (driverConfig.root) and each node's binaries in its pgbin link, and every build in
// <home>/binaries is known to the catalog, so such a link still tells its version after a restart
// or a package update. Not root (a normal user, a clone in /tmp): servers run as that user and
// nothing moves.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { pgVersionFromPackage, type InstalledVersion, type KnownBuild } from './binaries.ts';
import { serviceUser } from './os-user.ts';
import { blockersOf, serviceUserCanReach } from './reach.ts';

export const DEFAULT_HOME = '/var/lib/liftgate';
const BINARIES = 'binaries';
/** what a server needs of a build; the packages' other files stay behind */
const PARTS = ['bin', 'lib', 'share'];

export interface PlacementInput {
  /** the configured folder for clusters ($LIFTGATE_DATA_DIR/pg, or LIFTGATE_PG_DATA_DIR) */
  dataDir: string;
  /** an operator's explicit choice: used even out of reach (provisioning then says what to change) */
  pinned: boolean;
  /** the driver's own location */
  home: string;
  installed: InstalledVersion[];
}

export interface Placement {
  /** where new clusters go */
  dataDir: string;
  /** dataDir is the driver's own folder, made (with `source`) before the first cluster in it */
  own: boolean;
  /** the installed builds, each at a folder the service user can reach when one could be made */
  installed: InstalledVersion[];
  /** other folders holding builds (originals of copies, copies made before), for reverse lookups */
  known: KnownBuild[];
  /** one line for the start log when something was moved: where and why */
  note: string | null;
}

/** the driver's own folder for the clusters of one configured folder */
export function ownDataDir(home: string, configured: string): string {
  const abs = path.resolve(configured);
  const name =
    path
      .dirname(abs)
      .split(path.sep)
      .filter(Boolean)
      .join('-')
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(-40)
      .replace(/^[.-]+/, '') || 'root';
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 10);
  return path.join(home, `${name}-${hash}`, path.basename(abs) || 'pg');
}

export function placePostgres(input: PlacementInput): Placement {
  const configured = path.resolve(input.dataDir);
  const moved: string[] = [];
  const outOfReach: string[] = [];
  const failures: string[] = [];
  let dataDir = configured;
  let own = false;
  if (!input.pinned && !serviceUserCanReach(configured)) {
    dataDir = ownDataDir(input.home, configured);
    own = true;
    moved.push(`keeps its clusters in ${dataDir}`);
    outOfReach.push(configured);
  }
  const known = buildsIn(input.home);
  const copied: string[] = [];
  const installed = input.installed.map((v) => {
    if (serviceUserCanReach(path.join(v.nativeDir, 'bin', 'postgres'))) return v;
    outOfReach.push(v.nativeDir);
    try {
      const dir = reachableBuild(input.home, v);
      known.push({ version: v.version, nativeDir: v.nativeDir });
      copied.push(v.version);
      return { ...v, nativeDir: dir };
    } catch (e) {
      failures.push(`could not link PostgreSQL ${v.version} into ${path.join(input.home, BINARIES)} (${(e as Error).message})`);
      return v;
    }
  });
  if (copied.length > 0) moved.push(`runs PostgreSQL ${copied.join(', ')} from ${path.join(input.home, BINARIES)}`);
  if (outOfReach.length === 0) return { dataDir, own, installed, known, note: null };
  const reached = [own ? configured : null, copied.length + failures.length > 0 ? 'the installed binaries' : null];
  const why = `the system user ${serviceUser().name} that runs the servers cannot pass ${blockersOf(outOfReach).join(', ')} to reach ${reached.filter(Boolean).join(' nor ')}`;
  const note = [
    moved.length > 0 ? `the postgres driver ${moved.join(' and ')}, because ${why}` : why,
    ...(own ? ['LIFTGATE_PG_DATA_DIR sets another folder'] : []),
    ...failures,
  ].join('; ');
  return { dataDir, own, installed, known, note };
}

/** Makes the driver's own folder for clusters ready: every folder down to `dir` 0755, and `source`. */
export function prepareOwnDataDir(dataDir: string, dir: string, configured: string): void {
  makeReachable(dir);
  const source = path.join(path.dirname(dataDir), 'source');
  if (!existsSync(source)) writeFileSync(source, `${path.resolve(configured)}\n`, { mode: 0o644 });
}

/** every build in <home>/binaries, named by its package version */
function buildsIn(home: string): KnownBuild[] {
  const dir = path.join(home, BINARIES);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && existsSync(path.join(dir, n, 'bin', 'postgres')))
    .flatMap((n) => {
      try {
        return [{ version: pgVersionFromPackage(n), nativeDir: path.join(dir, n) }];
      } catch {
        return [];
      }
    });
}

/** <home>/binaries/<package version>, made once: built aside, then renamed into place */
function reachableBuild(home: string, v: InstalledVersion): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(v.packageVersion)) throw new Error(`unexpected package version ${v.packageVersion}`);
  const root = path.join(home, BINARIES);
  const dst = path.join(root, v.packageVersion);
  if (existsSync(path.join(dst, 'bin', 'postgres'))) return dst;
  makeReachable(root);
  const tmp = path.join(root, `.partial-${v.packageVersion}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { mode: 0o755 });
    chmodSync(tmp, 0o755);
    for (const part of PARTS)
      if (existsSync(path.join(v.nativeDir, part))) linkTree(path.join(v.nativeDir, part), path.join(tmp, part));
    renameSync(tmp, dst);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // another process made it at the same moment: theirs is as good
    if (!existsSync(path.join(dst, 'bin', 'postgres'))) throw e;
  }
  return dst;
}

/**
 * A reachable twin of a tree: folders 0755; a file the service user may read (and run, when it is
 * a program) is hard-linked, anything else copied with those modes; relative symlinks kept.
 */
function linkTree(src: string, dst: string): void {
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    const to = readlinkSync(src);
    // an absolute link points back into the unreachable folder: take what it points at
    if (path.isAbsolute(to)) linkTree(to, dst);
    else symlinkSync(to, dst);
    return;
  }
  if (st.isDirectory()) {
    mkdirSync(dst, { mode: 0o755 });
    chmodSync(dst, 0o755);
    for (const e of readdirSync(src)) linkTree(path.join(src, e), path.join(dst, e));
    return;
  }
  const program = (st.mode & 0o100) !== 0;
  const readable = (st.mode & 0o004) !== 0 && (!program || (st.mode & 0o001) !== 0);
  if (readable) {
    try {
      linkSync(src, dst);
      return;
    } catch {
      // another file system, or links refused: copy
    }
  }
  copyFileSync(src, dst);
  chmodSync(dst, program ? 0o755 : 0o644);
}

/** mkdir every missing folder down to `dir`, each 0755 whatever the umask; existing ones are left as they are */
function makeReachable(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    chmodSync(d, 0o755);
  }
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
}
