// ACK-style response bodies (snake_case, as the cs 2015-12-15 API has them). Field sources are
// listed in docs/api-compat/ack.md; enum tables live in state-maps.ts.
import type { PrecheckReport, Target, UpgradeEvent } from '../../../domain/types.ts';
import type { UpgradeDetail } from '../../../service/upgrades.ts';
import {
  ACK_CHECK_LEVEL,
  ACK_CHECK_STATUS,
  ACK_STAGE_STATE,
  ackEventLevel,
  ackEventReason,
  ackTaskResult,
  ackUpgradeStep,
  UPGRADE_STATE_MAP,
} from './state-maps.ts';

/** ACK prints times as ISO 8601 to the second. */
const isoSeconds = (t: string | null): string => (t ? t.replace(/\.\d{3}Z$/, 'Z') : '');

function stageLabel(u: UpgradeDetail): string {
  const stage = u.stages.find((s) => s.index === u.currentStage);
  return `stage ${u.currentStage + 1}/${u.stageCount}${stage ? `: ${stage.name}` : ''}`;
}

function taskMessage(u: UpgradeDetail): string {
  switch (u.state) {
    case 'scheduled':
      return `scheduled to start at ${u.notBefore ?? 'the next maintenance window'}`;
    case 'ready':
      return 'waiting to start';
    case 'prechecking':
    case 'running':
      return stageLabel(u);
    case 'paused':
      return `paused at ${stageLabel(u)}`;
    case 'succeeded':
      return `upgraded from ${u.fromVersion} to ${u.toVersion}`;
    case 'failed':
      return u.error ?? `failed at ${stageLabel(u)}`;
    case 'cancelling':
      return 'cancelling: bringing the nodes it took out of service back';
    case 'cancelled':
      return 'the upgrade was cancelled';
    case 'rolling_back':
      return `rolling back to ${u.fromVersion}`;
    case 'rolled_back':
      return `rolled back to ${u.fromVersion}`;
  }
}

function errorMessage(u: UpgradeDetail): string {
  // A cancelled or rolled-back upgrade keeps the error it failed with, if any, as the reason.
  if (u.state === 'cancelled' || u.state === 'rolled_back') return `${taskMessage(u)}${u.error ? ` after: ${u.error}` : ''}`;
  return u.error ?? '';
}

export interface AckUpgradeStatus {
  error_message: string;
  precheck_report_id: string;
  status: string;
  upgrade_step: string;
  upgrade_task: { status: string; message: string };
}

/** GetUpgradeStatus of the cluster's newest upgrade; a cluster never upgraded is not_start. */
export function presentUpgradeStatus(u: UpgradeDetail | null): AckUpgradeStatus {
  if (!u) {
    return {
      error_message: '',
      precheck_report_id: '',
      status: 'success',
      upgrade_step: 'not_start',
      upgrade_task: { status: 'Success', message: 'no upgrade has been requested for this cluster' },
    };
  }
  const row = UPGRADE_STATE_MAP[u.state];
  return {
    error_message: errorMessage(u),
    precheck_report_id: u.precheckReportId ?? '',
    status: row.ack,
    upgrade_step: ackUpgradeStep(u.state, u.currentStage),
    upgrade_task: { status: row.ackTask, message: taskMessage(u) },
  };
}

export function presentTaskInfo(u: UpgradeDetail, target: Target, events: UpgradeEvent[]) {
  const steps = u.stages.flatMap((s) => s.steps);
  const nodes = [...new Set(steps.map((s) => s.node).filter((n): n is string => n !== null))];
  const error =
    u.state === 'cancelled' || u.state === 'rolled_back'
      ? { code: u.state === 'cancelled' ? 'Cancelled' : 'RolledBack', message: errorMessage(u) }
      : u.error
        ? { code: u.errorCode ?? 'Failed', message: u.error }
        : undefined;
  return {
    task_id: u.id,
    cluster_id: u.targetId,
    task_type: 'cluster_upgrade',
    state: UPGRADE_STATE_MAP[u.state].ackTaskState,
    created: isoSeconds(u.createdAt),
    updated: isoSeconds(u.updatedAt),
    current_stage: u.stages.find((s) => s.index === u.currentStage)?.name ?? '',
    target: { id: target.id, type: 'cluster' },
    parameters: {
      current_version: u.fromVersion,
      next_version: u.toVersion,
      mode: u.mode,
      master_only: Boolean(u.options.masterOnly),
      max_parallelism: Number(u.options.parallelism ?? 1),
    },
    stages: u.stages.map((s) => ({
      state: ACK_STAGE_STATE[s.state],
      start_time: isoSeconds(s.startedAt),
      end_time: isoSeconds(s.endedAt),
      message: s.name,
      outputs: { index: s.index, description: s.description },
    })),
    events: events.map((e) => ({
      action: e.type.split('.').slice(1).join('.') || e.type,
      level: ackEventLevel(e.type),
      message: e.message,
      reason: ackEventReason(e.type),
      source: e.actor,
      timestamp: String(Date.parse(e.createdAt)),
    })),
    task_result: nodes.map((n) => ({ data: n, status: ackTaskResult(steps.filter((s) => s.node === n).map((s) => s.state)) })),
    ...(error ? { error } : {}),
  };
}

function checkMessage(r: PrecheckReport): string {
  const count = (s: 'warn' | 'fail') => r.items.filter((i) => i.status === s).length;
  switch (r.state) {
    case 'running':
      return 'task running';
    case 'passed':
      return 'task succeed';
    case 'warned':
      return `task succeed with ${count('warn')} warnings`;
    case 'failed':
      return `${count('fail')} check items failed`;
    case 'error':
      return r.items[0]?.message ?? 'the check could not run';
  }
}

/** ListClusterChecks entry; GetClusterCheck adds check_items. */
export function presentCheck(r: PrecheckReport, withItems: boolean) {
  const base = {
    check_id: r.id,
    type: 'ClusterUpgrade',
    status: ACK_CHECK_STATUS[r.state],
    message: checkMessage(r),
    created_at: r.createdAt,
    finished_at: r.finishedAt ?? '',
  };
  if (!withItems) return base;
  // check_items: check name -> one entry per finding, as ACK groups them.
  const items: Record<string, { Name: string; Level: string; Message: string; Targets: string[] }[]> = {};
  for (const i of r.items) {
    (items[i.name] ??= []).push({
      Name: i.name,
      Level: ACK_CHECK_LEVEL[i.status],
      Message: i.message,
      Targets: i.node ? [i.node] : [],
    });
  }
  return { ...base, check_items: items };
}
