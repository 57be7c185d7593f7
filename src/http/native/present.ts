// Native API response shapes. Fixed names (id, targetId, fromVersion, toVersion, mode, state,
// stages[].name/state/steps[].name/node/state/attempts/startedAt/endedAt) never change; fields
// may be added.
import { upgradeRef, type Step, type Upgrade } from '../../domain/types.ts';
import { azMoveOptionsOf } from '../../domain/zones.ts';
import { allowedActions } from '../../engine/operations.ts';
import { upgradeRestores } from '../../service/restores.ts';
import type { UpgradeDetail } from '../../service/upgrades.ts';

export function presentStep(s: Step, withLog: boolean) {
  return {
    id: s.id,
    name: s.name,
    action: s.action,
    description: s.description,
    node: s.node,
    lane: s.lane,
    order: s.seq,
    state: s.state,
    attempts: s.attempts,
    // pending after a transient failure: not run again before this time (null otherwise)
    notBefore: s.notBefore,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    error: s.error,
    params: s.params,
    result: s.result,
    // what the driver reports while the step runs (a data copy's bytes done of total, rate, estimate)
    progress: s.progress,
    ...(withLog ? { log: s.log } : {}),
  };
}

/** the zone move of an az_migration: which zone's nodes go where (sourceAz as resolved at creation) */
function azMigrationOf(o: Record<string, unknown>) {
  const az = azMoveOptionsOf(o);
  return { sourceAz: az.sourceAz ?? null, targetAz: az.targetAz ?? null, allowZoneReduction: az.allowZoneReduction === true };
}

export function presentUpgrade(u: Upgrade & { num?: number }) {
  return {
    id: u.id,
    number: u.num,
    ...(u.num !== undefined ? { ref: upgradeRef(u.num) } : {}),
    targetId: u.targetId,
    // a route may change the engine (redis -> valkey); null on upgrades stored before engines were recorded
    fromEngine: u.fromEngine,
    toEngine: u.toEngine,
    fromVersion: u.fromVersion,
    toVersion: u.toVersion,
    release: u.release,
    mode: u.mode,
    ...(u.mode === 'az_migration' ? { azMigration: azMigrationOf(u.options) } : {}),
    state: u.state,
    allowedActions: allowedActions(u.state, inRollbackWindow(u)),
    currentStage: u.currentStage,
    stageCount: u.stageCount,
    hops: u.hops,
    force: u.force,
    schedule: u.schedule,
    notBefore: u.notBefore,
    batchId: u.batchId,
    waveIndex: u.waveIndex,
    pendingReason: u.pendingReason,
    hold: u.hold,
    runUntil: u.runUntil,
    precheckReportId: u.precheckReportId,
    error: u.error,
    errorCode: u.errorCode,
    retries: u.retries,
    createdBy: u.createdBy,
    ...(u.createdByName !== undefined ? { createdByName: u.createdByName } : {}),
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    startedAt: u.startedAt,
    endedAt: u.endedAt,
  };
}

/**
 * A blue/green upgrade's rollback window: its stage runs while the old cluster is kept in step
 * (its plan puts it second to last, before the decommission).
 */
function inRollbackWindow(u: Upgrade): boolean {
  return u.mode === 'blue_green' && u.state === 'running' && u.currentStage === u.stageCount - 2;
}

/** the rollback window of a blue/green upgrade: when it ends, and whether a rollback is still possible */
export function rollbackWindowOf(u: UpgradeDetail, now = Date.now()) {
  if (u.mode !== 'blue_green') return null;
  const steps = u.stages.flatMap((s) => s.steps);
  const win = steps.find((s) => s.action === 'rollback_window');
  const decommission = steps.find((s) => s.action === 'decommission');
  if (!win) return null;
  const retention = typeof win.params.retentionSeconds === 'number' ? win.params.retentionSeconds : null;
  const until =
    typeof win.progress?.until === 'string'
      ? win.progress.until
      : win.startedAt && retention !== null
        ? new Date(Date.parse(win.startedAt) + retention * 1000).toISOString()
        : null;
  const state =
    decommission?.state === 'succeeded'
      ? 'closed'
      : win.state === 'running'
        ? 'open'
        : win.state === 'succeeded'
          ? 'ended'
          : win.state === 'pending'
            ? 'not_started'
            : win.state;
  return {
    state,
    retentionSeconds: retention,
    until,
    secondsLeft: state === 'open' && until ? Math.max(0, Math.round((Date.parse(until) - now) / 1000)) : null,
    rollbackPossible: state !== 'closed' && decommission?.state !== 'running',
    message:
      state === 'open'
        ? `the old cluster keeps every write made on ${u.toVersion}; rollback returns to ${u.fromVersion}, finalize ends the window now`
        : state === 'closed'
          ? `the old cluster (${u.fromVersion}) is decommissioned: the upgrade can no longer be rolled back`
          : state === 'not_started'
            ? 'opens at the cutover'
            : `the window is ${state}`,
  };
}

export function presentUpgradeDetail(u: UpgradeDetail, withLog = true) {
  const base = presentUpgrade(u);
  return {
    ...base,
    // past the point of no return a rollback is refused, so it is not offered
    allowedActions: u.pointOfNoReturn?.passed ? base.allowedActions.filter((a) => a !== 'rollback') : base.allowedActions,
    pointOfNoReturn: u.pointOfNoReturn,
    ...(u.mode === 'blue_green' ? { rollbackWindow: rollbackWindowOf(u) } : {}),
    stages: u.stages.map((s) => ({
      index: s.index,
      name: s.name,
      description: s.description,
      state: s.state,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      steps: s.steps.map((st) => presentStep(st, withLog)),
    })),
    // what a cancel did (or does) on each node it found out of service; empty when none
    restores: upgradeRestores(
      u,
      u.stages.flatMap((s) => s.steps),
    ),
  };
}

/**
 * Where OBShell clients reach a cluster: its agent port on the host name the caller reached this
 * API by (the agents listen on the same interfaces as the API), as an SDK is pointed at it.
 */
export function agentAddress(req: { hostname: string }, port: number): { host: string; port: number } {
  return { host: req.hostname || 'localhost', port };
}
