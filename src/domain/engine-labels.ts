// How versions read once a route may change the engine (Redis 7.0.15 -> Valkey 8.0.1), and how the
// point of no return of an upgrade is told: the console and the CLI say both the same way.

/** "redis 7.0.15"; the version alone when the engine is not known */
export function engineVersion(engine: string | null | undefined, version: string): string {
  return engine ? `${engine} ${version}` : version;
}

export interface EngineRoute {
  fromEngine?: string | null;
  toEngine?: string | null;
  fromVersion: string;
  toVersion: string;
}

/** true when the upgrade changes the engine (both engines known and different) */
export const changesEngine = (u: EngineRoute): boolean => !!u.fromEngine && !!u.toEngine && u.fromEngine !== u.toEngine;

/**
 * "redis 7.0.15 -> valkey 8.0.1" for an upgrade that changes the engine; "7.0.15 -> 7.2.4" when
 * it keeps it, or on an upgrade stored before engines were recorded (null engines).
 */
export function upgradeVersions(u: EngineRoute, arrow = '->'): string {
  return changesEngine(u)
    ? `${engineVersion(u.fromEngine, u.fromVersion)} ${arrow} ${engineVersion(u.toEngine, u.toVersion)}`
    : `${u.fromVersion} ${arrow} ${u.toVersion}`;
}

/** the side an upgrade starts from ("redis 7.0.15", or "7.0.15" when it keeps the engine) */
export const upgradeFrom = (u: EngineRoute): string =>
  changesEngine(u) ? engineVersion(u.fromEngine, u.fromVersion) : u.fromVersion;
/** the side an upgrade ends on */
export const upgradeTo = (u: EngineRoute): string => (changesEngine(u) ? engineVersion(u.toEngine, u.toVersion) : u.toVersion);

/** the point of no return of an upgrade detail (GET .../upgrades/{id}) */
export interface PointOfNoReturnView {
  name: string;
  node: string | null;
  reason: string | null;
  passed: boolean;
}

/**
 * "Rollback possible until Switch over n-1 to n-2 (n-1): <reason>" before the step runs;
 * "Past the point of no return: <reason>" once it has started (the step instead when no reason).
 */
export function pointOfNoReturnText(p: PointOfNoReturnView): string {
  const step = `${p.name}${p.node ? ` (${p.node})` : ''}`;
  if (p.passed) return `Past the point of no return: ${p.reason ?? `${step} cannot be reversed`}`;
  return `Rollback possible until ${step}${p.reason ? `: ${p.reason}` : ''}`;
}

/** an upgrade that ended or is being reversed has no rollback left to warn about */
const NO_ROLLBACK_AHEAD = new Set(['succeeded', 'rolling_back', 'rolled_back']);

/** the point-of-no-return line of an upgrade detail, or null when it has none or it no longer matters */
export function pointOfNoReturnLine(u: { state: string; pointOfNoReturn?: PointOfNoReturnView | null }): string | null {
  return u.pointOfNoReturn && !NO_ROLLBACK_AHEAD.has(u.state) ? pointOfNoReturnText(u.pointOfNoReturn) : null;
}
