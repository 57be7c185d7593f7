// The checks OBShell runs before it creates an upgrade DAG (ob/agent/executor/ob/upgrade_ob.go
// preCheckForObUpgrade and checkForAllRequiredPkgs). OBShell finds an unfinished maintenance
// DAG last, when it creates the new one; we look first, because a cluster in the middle of
// an upgrade has stopped nodes, and "under maintenance by DAG x" is the answer that helps.
//   0. the cluster is not under maintenance         OB.Cluster.UnderMaintenanceWithDag
//   1. every observer is available                 OB.Server.Unavailable
//   2. mode is ROLLING or STOPSERVICE               OB.Upgrade.Mode.NotSupported
//      rolling needs at least 3 zones               OB.Upgrade.UnableToRollingUpgrade
//   3. upgradeDir is absolute, safe, no traversal   Common.InvalidPath
//   4. release is <build>.<dist>                    Package.ReleaseFormat.Invalid
//   5. target newer than the current version        OB.Upgrade.ToLowerVersion
//   6. the target's package is present              OB.Package.NotExist
//   7. a route through barrier versions exists      OB.Upgrade.Path.NotExist
//   8. a package for every hop of the route         OB.Package.NotExist
// OBShell's package store is the catalog here: a version's package is present when its
// catalog entry has a release of the requested distribution.
import path from 'node:path';
import { isAppError } from '../../../domain/errors.ts';
import { ACTIVE_UPGRADE_STATES, type Hop, type Target, type UpgradeMode } from '../../../domain/types.ts';
import { compareVersions, planRoute } from '../../../domain/versions.ts';
import { listCatalog } from '../../../service/catalog.ts';
import { observeNodes } from '../../../service/obshell-checks.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { listUpgrades } from '../../../service/upgrades.ts';
import { ObshellError } from './i18n.ts';
import { genericId } from './present.ts';

export interface UpgradeRequest {
  version: string;
  release: string;
  /** absent in a check request, which has no mode */
  mode: UpgradeMode | null;
  upgradeDir: string;
  freezeServer: boolean;
}

const MODES: Record<string, UpgradeMode> = { ROLLING: 'rolling', STOPSERVICE: 'stop_service' };
const ARCH = 'x86_64';
/** OBShell's utils.CheckPathValid pattern: letters, digits, CJK, - _ : @ / . */
const SAFE_PATH = /^[a-zA-Z0-9\u4e00-\u9fa5\-_:@/.]*$/;

function str(body: Record<string, unknown>, name: string, required: boolean): string {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw new ObshellError('illegalArgument', [name, 'is required']);
    return '';
  }
  if (typeof v !== 'string') throw new ObshellError('illegalArgument', [name, 'must be a string']);
  if (required && v.trim() === '') throw new ObshellError('illegalArgument', [name, 'is required']);
  return v.trim();
}

/** Reads the body of POST /api/v1/ob/upgrade (withMode) or /api/v1/ob/upgrade/check. */
export function parseUpgradeBody(body: unknown, withMode: boolean): UpgradeRequest & { rawMode: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ObshellError('bindJsonFailed', ['the request body must be a JSON object']);
  }
  const b = body as Record<string, unknown>;
  const rawMode = str(b, 'mode', withMode);
  const freeze = b.freeze_server;
  if (freeze !== undefined && freeze !== null && typeof freeze !== 'boolean') {
    throw new ObshellError('illegalArgument', ['freeze_server', 'must be a boolean']);
  }
  return {
    version: str(b, 'version', true),
    release: str(b, 'release', true),
    rawMode,
    mode: null,
    upgradeDir: str(b, 'upgradeDir', false),
    freezeServer: freeze === true,
  };
}

export function checkUpgradeDir(dir: string): void {
  if (dir === '') return;
  if (!dir.startsWith('/')) throw new ObshellError('invalidPath', [dir, "should start with '/'"]);
  if (!SAFE_PATH.test(dir)) throw new ObshellError('invalidPath', [dir, `should match pattern ${SAFE_PATH.source}`]);
  // Stricter than OBShell, which only refuses paths that climb out of their parent: any
  // '..' segment is refused, since a directory for the upgrade never needs one.
  if (dir.split('/').includes('..') || !path.posix.normalize(dir).startsWith('/')) {
    throw new ObshellError('invalidPath', [dir, 'should not lead to directory traversal issues']);
  }
}

function splitRelease(release: string): { build: string; dist: string } {
  const parts = release.split('.');
  if (parts.length < 2 || parts[0] === '' || parts[parts.length - 1] === '')
    throw new ObshellError('releaseFormatInvalid', [release]);
  return { build: parts[0] as string, dist: parts[parts.length - 1] as string };
}

const pkgName = (engine: string, version: string, release: string): string => `${engine}-${version}-${release}.${ARCH}.rpm`;

/** Runs checks 0-8 and answers the mode and route. */
export async function precheckUpgrade(
  ctx: AppContext,
  target: Target,
  req: UpgradeRequest & { rawMode: string },
  /** false for a check, which OBShell runs outside maintenance */
  maintenance: boolean,
): Promise<{ mode: UpgradeMode | null; hops: Hop[] }> {
  if (maintenance) await assertNotUnderMaintenance(ctx, target);
  const nodes = await observeNodes(ctx, target);
  const down = nodes.filter((n) => n.health !== 'healthy' && n.health !== 'unknown');
  if (down.length > 0) throw new ObshellError('serverUnavailable', [down.map((n) => n.name).join(',')]);

  let mode: UpgradeMode | null = null;
  if (req.rawMode !== '') {
    mode = MODES[req.rawMode.toUpperCase()] ?? null;
    if (!mode) throw new ObshellError('modeNotSupported', [req.rawMode.toUpperCase()]);
    if (mode === 'rolling' && new Set(target.nodes.map((n) => n.zone)).size < 3) throw new ObshellError('unableToRolling');
  }
  checkUpgradeDir(req.upgradeDir);

  const { build, dist } = splitRelease(req.release);
  const currentBuild = target.release.split('.')[0] ?? '';
  const cmp = compareVersions(req.version, target.version);
  if (cmp <= 0) {
    // Same version with a newer build is an OBShell hot fix; the catalog keys on version, so
    // Liftgate has no package to move to and refuses it like a same-version request.
    throw new ObshellError('toLowerVersion', [`${req.version}-${build}`, `${target.version}-${currentBuild}`]);
  }

  const catalog = await listCatalog(ctx, target.engine);
  const dest = catalog.find((v) => v.version === req.version);
  if (!dest || dest.release !== req.release) {
    throw new ObshellError('packageNotExist', [pkgName(target.engine, req.version, req.release)]);
  }
  if (dest.deprecated) throw new ObshellError('toDeprecatedVersion', [req.version]);

  let hops: Hop[];
  try {
    hops = planRoute({ engine: target.engine, from: target.version, to: req.version, catalog });
  } catch (err) {
    if (isAppError(err) && err.code === 'UPGRADE_NO_ROUTE') throw new ObshellError('pathNotExist', [target.version, req.version]);
    throw err;
  }
  const missing = hops
    .filter((h) => h.release === '' || splitReleaseSafe(h.release)?.dist !== dist)
    .map((h) => pkgName(target.engine, h.toVersion, h.release === '' ? `*.${dist}` : h.release));
  if (missing.length > 0) throw new ObshellError('packageNotExist', [missing.join(',')]);
  return { mode, hops };
}

function splitReleaseSafe(release: string): { build: string; dist: string } | null {
  try {
    return splitRelease(release);
  } catch {
    return null;
  }
}

/** OBShell refuses a second maintenance DAG while one is unfinished. */
export async function assertNotUnderMaintenance(ctx: AppContext, target: Target): Promise<void> {
  const active = await listUpgrades(ctx, target.projectId, { targetId: target.id, state: [...ACTIVE_UPGRADE_STATES], limit: 1 });
  const u = active.items[0] as ({ num: number } & (typeof active.items)[number]) | undefined;
  if (u) throw new ObshellError('underMaintenanceWithDag', [genericId('upgrade', u.num)]);
}
