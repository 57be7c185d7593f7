// What an AZ migration does to a target's zones, decided once for every API that can ask for one
// (the native API, the CLI, CSS's azmigrate) and for the precheck that shows it. An AZ migration
// moves the nodes of ONE named zone (sourceAz) to another (targetAz); the other zones are not
// touched. It never leaves the target in fewer zones than it had unless the caller says so
// (allowZoneReduction): moving az1 to az2 on az1/az2/az3 leaves two zones, and a cluster spread
// over zones for redundancy must not lose that by a request that forgot a field. Pure: no store.
import { AppError } from './errors.ts';
import type { PrecheckItem, TargetNode } from './types.ts';

/** zone -> the names of its nodes (in the target's order); zones in name order */
export type ZoneMap = Record<string, string[]>;

export interface AzMoveOptions {
  sourceAz?: string;
  targetAz?: string;
  allowZoneReduction?: boolean;
}

/** The AZ options of an upgrade's stored options (values of another type are left out). */
export function azMoveOptionsOf(o: Record<string, unknown>): AzMoveOptions {
  return {
    ...(typeof o.sourceAz === 'string' ? { sourceAz: o.sourceAz } : {}),
    ...(typeof o.targetAz === 'string' ? { targetAz: o.targetAz } : {}),
    ...(typeof o.allowZoneReduction === 'boolean' ? { allowZoneReduction: o.allowZoneReduction } : {}),
  };
}

/** How the caller's API spells the three parameters, so a refusal names what to fix there. */
export interface AzParamNames {
  sourceAz: string;
  targetAz: string;
  /** null: the API has no way to accept fewer zones (CSS) */
  allowZoneReduction: string | null;
}

export const NATIVE_AZ_PARAMS: AzParamNames = {
  sourceAz: 'options.sourceAz',
  targetAz: 'options.targetAz',
  allowZoneReduction: 'options.allowZoneReduction',
};

export interface AzMove {
  /** the zone whose nodes move (given, or the only zone of a single-zone target) */
  sourceAz: string;
  targetAz: string;
  /** the nodes that move, in the target's order */
  moving: TargetNode[];
  before: ZoneMap;
  after: ZoneMap;
  /** the move leaves fewer zones than there were (only with allowZoneReduction) */
  reduces: boolean;
}

/** The name of the precheck item that shows the zone layout before and after an AZ migration. */
export const ZONE_LAYOUT_CHECK = 'zone_layout';

export function zonesOf(nodes: readonly Pick<TargetNode, 'name' | 'zone'>[]): ZoneMap {
  const map: ZoneMap = {};
  for (const n of nodes) (map[n.zone] ??= []).push(n.name);
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
}

/** "az1 [es-1], az2 [es-2, es-3]" */
export function layoutText(map: ZoneMap): string {
  return Object.entries(map)
    .map(([zone, names]) => `${zone} [${names.join(', ')}]`)
    .join(', ');
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * Resolves and checks an AZ migration of a target: which zone moves, which nodes move, and the
 * layout before and after. Throws a 400 AppError with a stable code and a message naming the
 * parameter to fix (in the caller's spelling) when the request is incomplete, names a zone the
 * target does not use, goes nowhere, or would reduce the zones without allowZoneReduction.
 */
export function resolveAzMove(
  target: { kind: string; nodes: readonly TargetNode[] },
  options: AzMoveOptions,
  names: AzParamNames = NATIVE_AZ_PARAMS,
): AzMove {
  const before = zonesOf(target.nodes);
  const zones = Object.keys(before);
  const spans = `this ${target.kind} spans ${zones.join(', ')}`;
  const details = { zones: before };
  if (!options.targetAz) {
    throw new AppError('INVALID_MODE', `an az_migration needs ${names.targetAz}: the zone to move the nodes to`, details);
  }
  const targetAz = options.targetAz;
  let sourceAz = options.sourceAz;
  if (sourceAz === undefined) {
    if (zones.length !== 1) {
      throw new AppError('AZ_SOURCE_REQUIRED', `${spans}: name the zone to move with ${names.sourceAz}`, details);
    }
    sourceAz = zones[0] as string;
  }
  const moving = target.nodes.filter((n) => n.zone === sourceAz);
  if (moving.length === 0) {
    throw new AppError(
      'AZ_SOURCE_EMPTY',
      `no node of this ${target.kind} is in ${sourceAz} (${names.sourceAz}); it spans ${zones.join(', ')}: name one of them`,
      details,
    );
  }
  if (targetAz === sourceAz) {
    throw new AppError(
      'AZ_SAME_ZONE',
      `${names.sourceAz} and ${names.targetAz} are both ${sourceAz}: name the zone to move the nodes to in ${names.targetAz}`,
      details,
    );
  }
  const after = zonesOf(target.nodes.map((n) => (n.zone === sourceAz ? { name: n.name, zone: targetAz } : n)));
  const reduces = Object.keys(after).length < zones.length;
  if (reduces && !(names.allowZoneReduction && options.allowZoneReduction === true)) {
    const accept = names.allowZoneReduction
      ? `, or set ${names.allowZoneReduction}: true to accept fewer zones`
      : ' (this API cannot accept fewer zones; the native API can, with options.allowZoneReduction)';
    throw new AppError(
      'AZ_ZONE_REDUCTION',
      `moving ${sourceAz} to ${targetAz} would leave this ${target.kind} in ${plural(Object.keys(after).length, 'zone')} ` +
        `(${Object.keys(after).join(', ')}) instead of ${zones.length} (${zones.join(', ')}), because ${targetAz} already ` +
        `holds ${before[targetAz]?.join(', ')}: name a ${names.targetAz} this ${target.kind} does not use${accept}`,
      { ...details, after },
    );
  }
  return { sourceAz, targetAz, moving, before, after, reduces };
}

/**
 * The precheck item of an AZ migration: the layout before and after. pass: the target keeps its
 * number of zones; warn: it loses one, as the operator allowed; fail: the migration would be
 * refused now (the target changed since it was requested), with the reason.
 */
export function zoneLayoutItem(target: { kind: string; nodes: readonly TargetNode[] }, options: AzMoveOptions): PrecheckItem {
  const before = zonesOf(target.nodes);
  let move: AzMove;
  try {
    move = resolveAzMove(target, options);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      name: ZONE_LAYOUT_CHECK,
      status: 'fail',
      message: `${message}; zones now: ${layoutText(before)}`,
      zones: { before, after: before },
      // only allowZoneReduction accepts fewer zones, never force
      forceable: false,
    };
  }
  const n = Object.keys(move.before).length;
  const m = Object.keys(move.after).length;
  const what = `moving ${move.sourceAz} to ${move.targetAz} (${move.moving.map((x) => x.name).join(', ')})`;
  const layout = `before ${layoutText(move.before)}; after ${layoutText(move.after)}`;
  const zones = { before: move.before, after: move.after };
  if (move.reduces) {
    return {
      name: ZONE_LAYOUT_CHECK,
      status: 'warn',
      message: `${what} leaves ${plural(m, 'zone')} instead of ${n}, as allowZoneReduction accepts: ${layout}`,
      zones,
    };
  }
  return {
    name: ZONE_LAYOUT_CHECK,
    status: 'pass',
    message: `${what} keeps ${plural(n, 'zone')}: ${layout}`,
    zones,
  };
}
