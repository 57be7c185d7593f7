// Native API response shapes. Fixed names (id, targetId, fromVersion, toVersion, mode, state,
// stages[].name/state/steps[].name/node/state/attempts/startedAt/endedAt) never change; fields
// may be added.
import type { Step, Upgrade } from '../../domain/types.ts';
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
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    error: s.error,
    params: s.params,
    result: s.result,
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
    targetId: u.targetId,
    fromVersion: u.fromVersion,
    toVersion: u.toVersion,
    release: u.release,
    mode: u.mode,
    ...(u.mode === 'az_migration' ? { azMigration: azMigrationOf(u.options) } : {}),
    state: u.state,
    allowedActions: allowedActions(u.state),
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
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    startedAt: u.startedAt,
    endedAt: u.endedAt,
  };
}

export function presentUpgradeDetail(u: UpgradeDetail, withLog = true) {
  return {
    ...presentUpgrade(u),
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
