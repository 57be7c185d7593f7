// The postgres benchmarks' step runner: the driver's steps of a rolling minor upgrade, or of a
// blue/green major upgrade, run one after another without the engine, so the benchmarks time the
// driver's own work (restarts, switchover, copy, cutover) apart from the executor's. Upgrades
// through the real planner and executor are tested in test/postgres/engine*.test.ts and
// test/postgres/blue-green.test.ts.
import type { Hop, Step, StepAction, Target, TargetNode, Upgrade } from '../src/domain/types.ts';
import { DriverError, type Driver, type StepContext, type StepResult } from '../src/drivers/driver.ts';
import { timeoutOf } from '../src/engine/core/timeouts.ts';

export function makeUpgrade(target: Target, toVersion: string, options: Record<string, unknown> = {}): Upgrade {
  const now = new Date().toISOString();
  return {
    id: `up-${target.id}-${Date.now()}`,
    projectId: target.projectId,
    targetId: target.id,
    fromEngine: null,
    toEngine: null,
    fromVersion: target.version,
    toVersion,
    release: toVersion,
    mode: 'rolling',
    state: 'running',
    currentStage: 0,
    stageCount: 0,
    hops: [{ fromVersion: target.version, toVersion, release: toVersion }],
    force: false,
    options,
    schedule: { kind: 'now' },
    notBefore: null,
    batchId: null,
    precheckReportId: null,
    error: null,
    errorCode: null,
    createdBy: 'test',
    createdAt: now,
    updatedAt: now,
    startedAt: now,
    endedAt: null,
    retries: 0,
    pendingReason: null,
    hold: null,
    runUntil: null,
    waveIndex: null,
  };
}

function makeStep(
  upgrade: Upgrade,
  seq: number,
  stage: number,
  action: StepAction,
  node: string | null,
  params: Record<string, unknown> = {},
): Step {
  return {
    id: `${upgrade.id}-s${seq}`,
    upgradeId: upgrade.id,
    stageIndex: stage,
    lane: node ?? 'target',
    ord: seq,
    seq,
    action,
    name: `${action}${node ? ` ${node}` : ''}`,
    description: '',
    node,
    hop: 0,
    params,
    state: 'pending',
    attempts: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    startedAt: null,
    endedAt: null,
    error: null,
    log: [],
    result: null,
    progress: null,
    fence: 1,
    recoveries: 0,
    notBefore: null,
    autoRetries: 0,
  };
}

/** the planner's order for a rolling minor upgrade of one primary + replicas */
export function planRolling(upgrade: Upgrade, nodes: TargetNode[]): Step[] {
  const primary = nodes.find((n) => n.role === 'primary')!;
  const replicas = nodes.filter((n) => n !== primary);
  const steps: Step[] = [];
  let stage = 0;
  const add = (action: StepAction, node: string | null, params: Record<string, unknown> = {}): void => {
    steps.push(makeStep(upgrade, steps.length, stage, action, node, params));
  };
  add('precheck', null);
  add('backup', null);
  for (const r of replicas) {
    stage++;
    for (const a of ['drain', 'stop', 'install', 'start', 'verify', 'rejoin'] as const) add(a, r.name);
  }
  stage++;
  add('switchover', null, { to: replicas[0]!.name });
  stage++;
  for (const a of ['stop', 'install', 'start', 'verify', 'rejoin'] as const) add(a, primary.name);
  stage++;
  add('finalize', null);
  return steps;
}

/** the planner's order for a blue/green upgrade (src/engine/planner.ts blueGreen): one step per stage */
export function planBlueGreen(upgrade: Upgrade, nodeCount: number, retentionSeconds: number): Step[] {
  const stages: [StepAction, Record<string, unknown>][] = [
    ['precheck', {}],
    ['logical_decoding', {}],
    ['provision_green', { version: upgrade.toVersion, nodes: nodeCount }],
    ['copy_schema', {}],
    ['initial_copy', { timeoutSeconds: 86400 }],
    ['catch_up', {}],
    ['cutover', {}],
    ['rollback_window', { retentionSeconds, timeoutSeconds: retentionSeconds + 3600 }],
    ['decommission', {}],
  ];
  return stages.map(([action, params], i) => makeStep(upgrade, i, i, action, null, params));
}

export function applyResult(target: Target, r: StepResult): void {
  // a blue/green cutover moves the target onto the other side's nodes, as the executor records it
  if (r.replaceNodes) target.nodes = r.replaceNodes.map((n) => ({ ...n }));
  if (r.driverConfig) target.driverConfig = { ...target.driverConfig, ...r.driverConfig };
  for (const change of [...(r.node ? [r.node] : []), ...(r.nodes ?? [])]) {
    const n = target.nodes.find((x) => x.name === change.name);
    if (n) Object.assign(n, change);
  }
}

const verbose = process.env.LIFTGATE_TEST_VERBOSE === '1';

/** when each log line of a step was written (ms since epoch), in step.log's order */
const logTimes = new WeakMap<Step, number[]>();

/** a step's log lines written at or after `since`, with their times */
export function timedLog(step: Step, since = 0): { at: number; line: string }[] {
  const times = logTimes.get(step) ?? [];
  return step.log.map((line, i) => ({ at: times[i] ?? 0, line })).filter((l) => l.at >= since);
}

function context(target: Target, upgrade: Upgrade, step: Step, hop: Hop, signal = new AbortController().signal): StepContext {
  const t0 = Date.now();
  return {
    upgrade,
    target,
    step,
    hop,
    fence: step.fence,
    owner: 'test',
    log: (line) => {
      step.log.push(line);
      const times = logTimes.get(step) ?? [];
      times.push(Date.now());
      logTimes.set(step, times);
      if (verbose) console.error(`[${step.name} +${Date.now() - t0} ms] ${line}`);
    },
    signal,
  };
}

/**
 * One driver call, bounded as the executor bounds a step (its timeout: src/engine/core/timeouts.ts):
 * at the bound the call's signal is aborted and the call fails with STEP_TIMEOUT, whether or not
 * the driver has stopped.
 */
async function bounded<T>(
  target: Target,
  upgrade: Upgrade,
  step: Step,
  hop: Hop,
  call: (ctx: StepContext) => Promise<T>,
): Promise<T> {
  const seconds = timeoutOf(upgrade.options, step.action, step.params);
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new DriverError('STEP_TIMEOUT', `${step.name} did not finish within ${seconds} s`));
    }, seconds * 1000);
  });
  try {
    return await Promise.race([call(context(target, upgrade, step, hop, abort.signal)), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunOutcome {
  done: Step[];
  failed: { step: Step; error: Error } | null;
  timings: { name: string; ms: number; data?: Record<string, unknown> }[];
}

/** run steps in order, stopping at the first failure, like the executor does for one lane */
export async function runSteps(
  driver: Driver,
  target: Target,
  upgrade: Upgrade,
  steps: Step[],
  onStep?: (step: Step, ms: number, r: StepResult | null) => void,
): Promise<RunOutcome> {
  const out: RunOutcome = { done: [], failed: null, timings: [] };
  for (const step of steps) {
    const t0 = Date.now();
    step.state = 'running';
    step.attempts++;
    try {
      const r = await bounded(target, upgrade, step, upgrade.hops[step.hop]!, (ctx) => driver.execute(ctx));
      applyResult(target, r);
      step.state = 'succeeded';
      out.done.push(step);
      out.timings.push({ name: step.name, ms: Date.now() - t0, ...(r.data ? { data: r.data } : {}) });
      onStep?.(step, Date.now() - t0, r);
    } catch (e) {
      step.state = 'failed';
      step.error = (e as Error).message;
      out.failed = { step, error: e as Error };
      onStep?.(step, Date.now() - t0, null);
      if (verbose) console.error(`[${step.name}] failed after ${Date.now() - t0} ms: ${step.error}`);
      break;
    }
  }
  return out;
}

/** roll back the given steps newest first, as the engine does after a failure on one node */
export async function rollbackSteps(
  driver: Driver,
  target: Target,
  upgrade: Upgrade,
  steps: Step[],
  onStep?: (step: Step, ms: number, r: StepResult) => void,
): Promise<void> {
  for (const step of [...steps].sort((a, b) => b.seq - a.seq)) {
    const t0 = Date.now();
    step.state = 'rolling_back';
    const r = await bounded(target, upgrade, step, upgrade.hops[step.hop]!, (ctx) => driver.rollback(ctx));
    applyResult(target, r);
    step.state = 'rolled_back';
    onStep?.(step, Date.now() - t0, r);
  }
}

/** wait until every replica has replayed the primary's current LSN (a verify step on each replica) */
export async function settleReplicas(driver: Driver, target: Target, upgrade: Upgrade): Promise<void> {
  const topo = await driver.inspect(target);
  const hop = upgrade.hops[upgrade.hops.length - 1]!;
  for (const n of topo.nodes) {
    if (n.role !== 'replica') continue;
    const step = planRolling(upgrade, topo.nodes).find((s) => s.action === 'verify')!;
    step.node = n.name;
    await bounded(target, upgrade, step, { ...hop, toVersion: n.version }, (ctx) => driver.execute(ctx));
  }
}
