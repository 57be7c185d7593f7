// Version ordering and upgrade routes through the catalog.
import { AppError } from './errors.ts';
import type { CatalogVersion, Hop } from './types.ts';

const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

export function isValidVersion(v: string): boolean {
  return VERSION_RE.test(v) && /\d/.test(v);
}

/** Compares versions segment by segment, numbers numerically ("7.10.2" > "7.9.3"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-_+]/);
  const pb = b.split(/[.\-_+]/);
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

const matches = (p: string, v: string): boolean => (p.endsWith('*') ? v.startsWith(p.slice(0, -1)) : p === v);

/**
 * true when `from` matches one of the patterns ("7.9.3", or "7.9.*" for any 7.9 version); a
 * pattern naming another engine ("redis:7.0.*") only opens a route across engines (crossEngineFrom)
 */
function allowedFrom(patterns: string[], from: string): boolean {
  const own = patterns.filter((p) => !p.includes(':'));
  if (own.length === 0) return true;
  return own.some((p) => matches(p, from));
}

/** the patterns of a catalog entry that let another engine upgrade to it ("redis:7.0.*" -> 7.0.* of redis) */
export function crossEngineFrom(v: Pick<CatalogVersion, 'upgradableFrom'>, engine: string): string[] {
  return v.upgradableFrom.filter((p) => p.startsWith(`${engine}:`)).map((p) => p.slice(engine.length + 1));
}

export interface CrossEngineRouteRequest {
  fromEngine: string;
  from: string;
  toEngine: string;
  to: string;
  /** the catalog of the engine the route ends on */
  catalog: CatalogVersion[];
}

/**
 * A route that changes the engine (Redis 7.0.15 -> Valkey 8.0.1) is one hop, allowed when the
 * destination's catalog entry names the source engine and version ("redis:7.0.*").
 */
export function planCrossEngineRoute({ fromEngine, from, toEngine, to, catalog }: CrossEngineRouteRequest): Hop[] {
  const dest = catalog.find((v) => v.version === to);
  if (!dest) {
    const have = catalog.filter((v) => crossEngineFrom(v, fromEngine).length > 0).map((v) => v.version);
    throw new AppError(
      'VERSION_NOT_FOUND',
      `version ${to} of ${toEngine} is not in the catalog${have.length ? ` (${fromEngine} can move to ${toEngine} ${have.join(', ')})` : ''}`,
      { version: to, engine: toEngine },
    );
  }
  if (dest.deprecated) {
    throw new AppError('UPGRADE_VERSION_DEPRECATED', `${toEngine} ${to} is deprecated; choose a newer version`, { version: to });
  }
  const patterns = crossEngineFrom(dest, fromEngine);
  if (!patterns.some((p) => matches(p, from))) {
    throw new AppError(
      'UPGRADE_NO_ROUTE',
      patterns.length === 0
        ? `no route from ${fromEngine} to ${toEngine}: the catalog entry of ${toEngine} ${to} takes no ${fromEngine} version (its upgradableFrom would name one, e.g. "${fromEngine}:${from}")`
        : `no route from ${fromEngine} ${from} to ${toEngine} ${to}: it takes ${fromEngine} ${patterns.join(', ')}; upgrade within ${fromEngine} first`,
      { from, to, fromEngine, toEngine, allowed: patterns },
    );
  }
  return [{ fromVersion: from, toVersion: to, release: dest.release, fromEngine, toEngine }];
}

/**
 * The catalog entries of other engines a target of `fromEngine` on `from` can move to in one hop
 * (their upgradableFrom names it, "redis:7.0.*"), deprecated ones left out; newest first per engine.
 */
export function crossEngineCandidates(fromEngine: string, from: string, entries: CatalogVersion[]): CatalogVersion[] {
  return entries
    .filter((v) => v.engine !== fromEngine && !v.deprecated && crossEngineFrom(v, fromEngine).some((p) => matches(p, from)))
    .sort((a, b) => a.engine.localeCompare(b.engine) || compareVersions(b.version, a.version));
}

export interface RouteRequest {
  engine: string;
  from: string;
  to: string;
  catalog: CatalogVersion[];
}

/**
 * The shortest chain of hops from `from` to `to`. Each hop must be allowed by the destination's
 * `upgradableFrom`, may not jump over a barrier version, and may not land on a deprecated version.
 * Refusals carry stable codes so every API family can explain them.
 */
export function planRoute({ engine, from, to, catalog }: RouteRequest): Hop[] {
  const byVersion = new Map(catalog.map((v) => [v.version, v]));
  const dest = byVersion.get(to);
  if (!dest) {
    throw new AppError('VERSION_NOT_FOUND', `version ${to} of ${engine} is not in the catalog`, { version: to });
  }
  const cmp = compareVersions(to, from);
  if (cmp === 0) throw new AppError('UPGRADE_SAME_VERSION', `the target already runs ${engine} ${to}`);
  if (cmp < 0) {
    throw new AppError('UPGRADE_DOWNGRADE', `${to} is older than the current version ${from}; downgrades are not supported`, {
      from,
      to,
    });
  }
  if (dest.deprecated) {
    throw new AppError('UPGRADE_VERSION_DEPRECATED', `${engine} ${to} is deprecated; choose a newer version`, { version: to });
  }
  const between = catalog
    .filter((v) => compareVersions(v.version, from) > 0 && compareVersions(v.version, to) <= 0)
    .sort((a, b) => compareVersions(a.version, b.version));
  const barriers = between.filter((v) => v.barrier && v.version !== to);

  const edgeOk = (x: string, y: CatalogVersion): boolean => {
    if (compareVersions(y.version, x) <= 0 || y.deprecated) return false;
    if (!allowedFrom(y.upgradableFrom, x)) return false;
    return !barriers.some((b) => compareVersions(b.version, x) > 0 && compareVersions(b.version, y.version) < 0);
  };

  // Breadth-first over versions between from and to; the newest candidates are tried first so
  // equal-length routes prefer the biggest steps.
  const prev = new Map<string, string>();
  const queue: string[] = [from];
  const seen = new Set([from]);
  while (queue.length > 0) {
    const x = queue.shift() as string;
    if (x === to) break;
    for (const y of [...between].reverse()) {
      if (seen.has(y.version) || !edgeOk(x, y)) continue;
      seen.add(y.version);
      prev.set(y.version, x);
      queue.push(y.version);
    }
  }
  if (!prev.has(to)) {
    const blocking = barriers.map((b) => b.version);
    throw new AppError(
      'UPGRADE_NO_ROUTE',
      `no allowed route from ${engine} ${from} to ${to}` +
        (blocking.length ? ` (barrier versions that must be passed: ${blocking.join(', ')})` : ''),
      { from, to, barriers: blocking },
    );
  }
  const chain: string[] = [to];
  while (chain[0] !== from) chain.unshift(prev.get(chain[0]) as string);
  const hops: Hop[] = [];
  for (let i = 1; i < chain.length; i++) {
    const v = byVersion.get(chain[i]) as CatalogVersion;
    hops.push({ fromVersion: chain[i - 1], toVersion: v.version, release: v.release });
  }
  return hops;
}

/** Newer, non-deprecated catalog versions reachable from `from`, newest first. */
export function upgradeCandidates(engine: string, from: string, catalog: CatalogVersion[]): CatalogVersion[] {
  return catalog
    .filter((v) => compareVersions(v.version, from) > 0 && !v.deprecated)
    .filter((v) => {
      try {
        planRoute({ engine, from, to: v.version, catalog });
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => compareVersions(b.version, a.version));
}
