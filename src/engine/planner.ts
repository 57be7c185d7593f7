// The planner: a pure function from (target, hops, mode, driver capabilities, options) to the
// DAG of an upgrade. Stages run in order; inside a stage, lanes run in parallel and the steps
// of one lane run in order. Nothing here touches the store or a driver.
import { AppError } from '../domain/errors.ts';
import type { Hop, StepAction, Target, TargetNode, UpgradeMode } from '../domain/types.ts';
import type { DriverCapabilities } from '../drivers/driver.ts';
import { resolveAzMove } from '../domain/zones.ts';
import type { AnalysisCheck } from '../domain/analysis.ts';

export interface PlannedStep {
  lane: string;
  action: StepAction;
  name: string;
  description: string;
  node: string | null;
  hop: number;
  params: Record<string, unknown>;
}

export interface PlannedStage {
  name: string;
  description: string;
  steps: PlannedStep[];
}

export interface PlanOptions {
  /** nodes upgraded at once in rolling mode (ACK max_parallelism, CSS batch_size); default 1 */
  parallelism?: number;
  /** ACK master_only: upgrade only the control-plane nodes */
  masterOnly?: boolean;
  /**
   * az_migration: move the nodes of sourceAz to targetAz; sourceAz may be left out only when the
   * target lies in one zone (src/domain/zones.ts has the rules)
   */
  sourceAz?: string;
  targetAz?: string;
  /** az_migration: accept a move that leaves the target in fewer zones */
  allowZoneReduction?: boolean;
  /** blue_green: seconds blue is kept in step after the switch (the rollback window) */
  retentionSeconds?: number;
  /** a workload to replay (a file or SQL text); blue_green plans a flighting stage on green for it */
  flightingSql?: string;
}

/** blue_green: the rollback window when the upgrade does not set one */
export const DEFAULT_RETENTION_SECONDS = 3600;

export interface PlanInput {
  target: Pick<Target, 'engine' | 'nodes' | 'kind'>;
  hops: Hop[];
  mode: UpgradeMode;
  capabilities: DriverCapabilities;
  options?: PlanOptions;
  /**
   * a lone upgrade's analysis (options.analysis with options.bakeMinutes): a last stage bakes the
   * upgraded target while its checks are sampled. An upgrade of a batch has none: its wave bakes.
   */
  bake?: { minutes: number; checks: AnalysisCheck[] };
}

const LEADER_ROLES = new Set(['primary', 'leader']);
const CONTROL_PLANE_ROLES = new Set(['master', 'control-plane']);

export const STEP_TEXT: Record<StepAction, { name: string; description: string }> = {
  precheck: {
    name: 'Pre-upgrade check',
    description: 'Checks node health, the version route, replication lag and free disk space before anything changes.',
  },
  backup: { name: 'Data backup', description: 'Takes a backup of the data so the upgrade can be undone.' },
  drain: {
    name: 'Data migration',
    description: 'Moves data and traffic off the node to the other nodes so it can be stopped without loss.',
  },
  stop: { name: 'Stop node', description: 'Stops the service on the node.' },
  install: { name: 'Install version', description: 'Installs the image and binaries of the target version on the node.' },
  start: { name: 'Start node', description: 'Starts the service on the node with the new version.' },
  verify: {
    name: 'Health check',
    description: 'Waits until the node is healthy and caught up with the cluster before the next node starts.',
  },
  rejoin: {
    name: 'Rejoin cluster',
    description: 'Returns the node to service: data and traffic are routed to it again.',
  },
  switchover: {
    name: 'Leader switchover',
    description: 'Hands the leader role to an already-upgraded node so the old leader can be upgraded without an outage.',
  },
  relocate: { name: 'Move node', description: 'Recreates the node in the target availability zone.' },
  finalize: {
    name: 'Task status update',
    description: 'Records the new version and runs the post-upgrade checks; the task is marked as completed.',
  },
  logical_decoding: {
    name: 'Enable logical decoding',
    description:
      'Sets wal_level = logical where it is not yet: each node restarts once, replicas first, then a switchover, so clients see no error.',
  },
  provision_green: {
    name: 'Provision green',
    description: 'Creates the new cluster (green) on the new version with as many replicas as the current one (blue).',
  },
  copy_schema: {
    name: 'Copy roles and schema',
    description:
      'Copies the roles and the schema of every database from blue to green, read from the catalog, and compares both catalogs before any data moves.',
  },
  initial_copy: {
    name: 'Initial data copy',
    description:
      'Logical replication copies every table from blue to green; its progress shows bytes done of total, rate and estimate.',
  },
  catch_up: {
    name: 'Catch-up',
    description:
      'Waits until green has applied blue\u2019s changes to within the lag bound, and refreshes materialized views on green.',
  },
  flight_green: {
    name: 'Flighting on green',
    description:
      'Replays the read statements of the workload (options.flightingSql) on blue and on green and compares answers and timings; a statement that fails only on green stops the upgrade before the cutover. Writes are never replayed on live clusters.',
  },
  cutover: {
    name: 'Cutover',
    description:
      'Holds clients at the pooler, lets green apply the last changes, copies sequence values, reverses replication (green to blue) and points the pooler at green.',
  },
  rollback_window: {
    name: 'Rollback window',
    description:
      'Blue stays in step with green (reverse replication) until the window ends or an operator finalizes; a rollback switches back to blue with every write made on green.',
  },
  decommission: {
    name: 'Decommission blue',
    description: 'Stops replication to blue and removes the old cluster; past this step the upgrade cannot be rolled back.',
  },
  bake: {
    name: 'Bake',
    description:
      'Waits for the bake (options.bakeMinutes) while the upgrade\u2019s analysis checks are sampled; a check out of bounds fails the upgrade.',
  },
  // never planned: a cancel adds one per node it finds out of service (src/engine/core/cancel.ts)
  restore: {
    name: 'Restore service',
    description:
      'The upgrade was cancelled while this node was out of service: it is started again on the version it has and returns to the cluster.',
  },
};

function step(action: StepAction, node: string | null, hop: number, extra: Partial<PlannedStep> = {}): PlannedStep {
  const text = STEP_TEXT[action];
  return {
    lane: node ?? '*',
    action,
    name: text.name,
    description: text.description,
    node,
    hop,
    params: {},
    ...extra,
  };
}

/**
 * Order in which a rolling upgrade visits nodes: control-plane nodes of a Kubernetes cluster
 * first (the API server must be newer than the kubelets), then followers/replicas/data nodes,
 * and the leader/primary last.
 */
export function rollingOrder(engine: string, nodes: TargetNode[]): TargetNode[] {
  const rank = (n: TargetNode): number => {
    if (engine === 'kubernetes' && CONTROL_PLANE_ROLES.has(n.role)) return 0;
    if (LEADER_ROLES.has(n.role)) return 2;
    return 1;
  };
  return nodes
    .map((n, i) => ({ n, i }))
    .sort((a, b) => rank(a.n) - rank(b.n) || a.i - b.i)
    .map((x) => x.n);
}

/** what a hop lands on, as stage and step names say it: the version, with the engine when the hop changes it */
const landsOn = (hop: Hop): string =>
  hop.toEngine && hop.toEngine !== hop.fromEngine ? `${hop.toEngine} ${hop.toVersion}` : hop.toVersion;

function nodeSteps(node: string, hop: Hop, hopIndex: number, drain: boolean): PlannedStep[] {
  const steps: PlannedStep[] = [];
  if (drain) steps.push(step('drain', node, hopIndex));
  steps.push(step('stop', node, hopIndex));
  steps.push(
    step('install', node, hopIndex, {
      name: `Install ${landsOn(hop)}`,
      description: `Installs the image and binaries of version ${landsOn(hop)} on the node.`,
      params: { version: hop.toVersion, release: hop.release },
    }),
  );
  steps.push(step('start', node, hopIndex));
  steps.push(step('verify', node, hopIndex));
  steps.push(step('rejoin', node, hopIndex));
  return steps;
}

/**
 * The roles a target will have once a switchover of `from` to `to` has run: the two nodes trade
 * roles, as every driver that can switch over does. Later hops and later stages are planned
 * against these roles, so a node that became leader in hop 1 is switched away from in hop 2
 * instead of being drained and stopped while it leads.
 */
function afterSwitchover(nodes: readonly TargetNode[], from: string, to: string): TargetNode[] {
  const a = nodes.find((n) => n.name === from);
  const b = nodes.find((n) => n.name === to);
  if (!a || !b) return [...nodes];
  return nodes.map((n) => (n === a ? { ...n, role: b.role } : n === b ? { ...n, role: a.role } : n));
}

interface HopPlan {
  stages: PlannedStage[];
  /** the target's nodes as they will be when the hop has run (roles after its switchovers) */
  nodesAfter: TargetNode[];
}

function switchoverStage(leader: TargetNode, successor: TargetNode, hopIndex: number): PlannedStage {
  return {
    name: `Switch over ${leader.name} to ${successor.name}`,
    description: `Hands the ${leader.role} role from ${leader.name} to the upgraded node ${successor.name}.`,
    steps: [
      step('switchover', null, hopIndex, {
        description: `Hands the ${leader.role} role from ${leader.name} to the already-upgraded node ${successor.name}, so ${leader.name} can be upgraded without an outage.`,
        params: { from: leader.name, to: successor.name },
      }),
    ],
  };
}

function rollingHop(input: PlanInput, current: TargetNode[], hop: Hop, hopIndex: number): HopPlan {
  const { target, capabilities, options = {} } = input;
  const parallelism = Math.max(1, Math.floor(options.parallelism ?? 1));
  let nodesAfter = current;
  let nodes = rollingOrder(target.engine, current);
  if (options.masterOnly) nodes = nodes.filter((n) => CONTROL_PLANE_ROLES.has(n.role));
  const leaders = nodes.filter((n) => LEADER_ROLES.has(n.role));
  const others = nodes.filter((n) => !LEADER_ROLES.has(n.role));
  const stages: PlannedStage[] = [];
  for (let i = 0; i < others.length; i += parallelism) {
    const group = others.slice(i, i + parallelism);
    stages.push({
      name: `Upgrade ${group.map((n) => n.name).join(', ')} to ${landsOn(hop)}`,
      description: `Rolling upgrade of ${group.length === 1 ? 'node' : 'nodes'} ${group.map((n) => n.name).join(', ')}.`,
      steps: group.flatMap((n) => nodeSteps(n.name, hop, hopIndex, true)),
    });
  }
  for (const leader of leaders) {
    // a leader of a shard (a Redis Cluster) hands over inside its shard
    const successor = leader.shard === undefined ? others[0] : others.find((o) => o.shard === leader.shard);
    const canSwitch = capabilities.switchover && successor !== undefined;
    if (canSwitch) {
      stages.push(switchoverStage(leader, successor, hopIndex));
      nodesAfter = afterSwitchover(nodesAfter, leader.name, successor.name);
    }
    stages.push({
      name: `Upgrade ${leader.name} to ${landsOn(hop)}`,
      description: `Upgrade of the former ${leader.role} ${leader.name}${canSwitch ? ', which rejoins as a follower' : ''}.`,
      // After a switchover the old leader holds no leader traffic, so there is nothing to drain.
      steps: nodeSteps(leader.name, hop, hopIndex, !canSwitch),
    });
  }
  return { stages, nodesAfter };
}

function stopServiceHop(input: PlanInput, hop: Hop, hopIndex: number): PlannedStage[] {
  const nodes = input.target.nodes;
  const all = (action: StepAction, extra: Partial<PlannedStep> = {}): PlannedStep[] =>
    nodes.map((n) => step(action, n.name, hopIndex, extra));
  return [
    {
      name: `Stop service (${landsOn(hop)})`,
      description: 'Stops every node; the service is down until the start stage.',
      steps: all('stop'),
    },
    {
      name: `Install ${landsOn(hop)}`,
      description: `Installs version ${landsOn(hop)} on every node.`,
      steps: all('install', {
        name: `Install ${landsOn(hop)}`,
        description: `Installs the image and binaries of version ${landsOn(hop)} on the node.`,
        params: { version: hop.toVersion, release: hop.release },
      }),
    },
    { name: `Start service (${landsOn(hop)})`, description: 'Starts every node on the new version.', steps: all('start') },
    { name: 'Health check', description: 'Waits until every node is healthy.', steps: all('verify') },
  ];
}

function azMigration(input: PlanInput): PlannedStage[] {
  const { target, capabilities, options = {} } = input;
  if (!capabilities.azMigration) {
    throw new AppError('UPGRADE_MODE_NOT_SUPPORTED', 'the target\u2019s driver cannot move nodes between zones');
  }
  // Only the nodes of the source zone get steps: the other zones are not touched.
  const { moving: movable, targetAz } = resolveAzMove(target, options);
  const stages: PlannedStage[] = [];
  const moved = new Set<string>();
  for (const n of rollingOrder(target.engine, movable)) {
    if (LEADER_ROLES.has(n.role) && capabilities.switchover) {
      // The leader is switched away first, to a node already in (or moved to) the target zone
      // when there is one, so moving the leader's zone never drains or stops the leader.
      const successor =
        target.nodes.find((o) => moved.has(o.name)) ??
        target.nodes.find((o) => o !== n && !movable.includes(o)) ??
        target.nodes.find((o) => o !== n);
      if (successor) stages.push(switchoverStage(n, successor, 0));
    }
    moved.add(n.name);
    stages.push(moveStage(n, targetAz));
  }
  return stages;
}

function moveStage(n: TargetNode, targetAz: string): PlannedStage {
  return {
    name: `Move ${n.name} to ${targetAz}`,
    description: `Moves node ${n.name} from ${n.zone} to ${targetAz}.`,
    steps: [
      step('drain', n.name, 0),
      step('stop', n.name, 0),
      step('relocate', n.name, 0, {
        name: `Move to ${targetAz}`,
        description: `Recreates the node in availability zone ${targetAz}.`,
        params: { fromZone: n.zone, toZone: targetAz },
      }),
      step('start', n.name, 0),
      step('verify', n.name, 0),
      step('rejoin', n.name, 0),
    ],
  };
}

/**
 * Blue/green: a second cluster (green) on the new version beside the current one (blue), kept in
 * step by replication, then traffic switched to it. Every stage is one target-level step: the
 * driver acts on whole clusters. Many hops make one: green is built on the last version directly.
 */
function blueGreen(input: PlanInput): PlannedStage[] {
  const { hops, capabilities, target, options = {} } = input;
  if (!capabilities.blueGreen) {
    throw new AppError(
      'UPGRADE_MODE_NOT_SUPPORTED',
      'the target\u2019s driver cannot build a second cluster beside it (blue_green)',
    );
  }
  const to = hops[hops.length - 1]?.toVersion ?? '';
  const retention = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  const one = (action: StepAction, name: string, extra: Partial<PlannedStep> = {}): PlannedStage => ({
    name,
    description: STEP_TEXT[action].description,
    steps: [step(action, null, 0, extra)],
  });
  return [
    one('logical_decoding', 'Enable logical decoding'),
    one('provision_green', `Provision green (${to}, ${target.nodes.length} node${target.nodes.length === 1 ? '' : 's'})`, {
      params: { version: to, nodes: target.nodes.length },
    }),
    one('copy_schema', 'Copy roles and schema'),
    one('initial_copy', 'Initial data copy', { params: { timeoutSeconds: 86400 } }),
    one('catch_up', 'Catch-up'),
    ...(options.flightingSql ? [one('flight_green', 'Flighting on green')] : []),
    one('cutover', 'Cutover'),
    one('rollback_window', 'Rollback window', {
      params: { retentionSeconds: retention, timeoutSeconds: retention + 3600 },
      // the step lasts the window: its own timeout is the window and an hour more
      description: `${STEP_TEXT.rollback_window.description} Window: ${retention} s.`,
    }),
    one('decommission', 'Decommission blue'),
  ];
}

/** The bake's stage: one target-level step the executor runs itself (src/engine/bake.ts). */
function bakeStage(bake: NonNullable<PlanInput['bake']>, hop: number): PlannedStage {
  const seconds = Math.round(bake.minutes * 60);
  return {
    name: `Bake (${bake.minutes} min)`,
    description: STEP_TEXT.bake.description,
    steps: [
      step('bake', null, hop, {
        description: `${STEP_TEXT.bake.description} Checks: ${bake.checks.map((c) => c.name).join(', ')}.`,
        // the step lasts the bake: its own timeout is the bake and an hour more
        params: { bakeMinutes: bake.minutes, checks: bake.checks, timeoutSeconds: seconds + 3600 },
      }),
    ],
  };
}

export function plan(input: PlanInput): PlannedStage[] {
  const stages = planSteps(input);
  if (!input.bake) return stages;
  // The bake judges the upgraded target while the way back is still open: before the last stage
  // when that stage commits the upgrade (finalize drops the postgres driver's backup; decommission
  // removes blue/green's old cluster), so a failed check can still be rolled back.
  const bake = bakeStage(input.bake, Math.max(0, input.hops.length - 1));
  const last = stages[stages.length - 1];
  const commits = last?.steps.every((s) => s.action === 'finalize' || s.action === 'decommission') ?? false;
  return commits ? [...stages.slice(0, -1), bake, last] : [...stages, bake];
}

function planSteps(input: PlanInput): PlannedStage[] {
  const { mode, hops, target } = input;
  if (target.nodes.length === 0) throw new AppError('INVALID_MODE', 'the target has no nodes to upgrade');
  const stages: PlannedStage[] = [
    { name: 'Precheck', description: STEP_TEXT.precheck.description, steps: [step('precheck', null, 0)] },
  ];
  if (mode === 'blue_green') {
    if (hops.length === 0) throw new AppError('UPGRADE_SAME_VERSION', 'nothing to upgrade');
    return [...stages, ...blueGreen(input)];
  }
  if (mode === 'az_migration') {
    stages.push(...azMigration(input));
  } else {
    if (hops.length === 0) throw new AppError('UPGRADE_SAME_VERSION', 'nothing to upgrade');
    stages.push({ name: 'Backup', description: STEP_TEXT.backup.description, steps: [step('backup', null, 0)] });
    // Each hop is planned against the roles the target will have when the hop starts.
    let nodes = target.nodes;
    hops.forEach((hop, i) => {
      if (mode === 'rolling') {
        const hopPlan = rollingHop(input, nodes, hop, i);
        stages.push(...hopPlan.stages);
        nodes = hopPlan.nodesAfter;
      } else {
        stages.push(...stopServiceHop(input, hop, i));
      }
    });
  }
  stages.push({
    name: 'Finalize',
    description: STEP_TEXT.finalize.description,
    steps: [step('finalize', null, Math.max(0, hops.length - 1))],
  });
  return stages;
}
