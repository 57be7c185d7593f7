// OBShell DTOs (ob/agent/engine/task/task_dto.go) built from Liftgate upgrades, stages and
// steps, and the id scheme that makes DAGs, nodes and sub tasks addressable.
//
// Ids. OBShell's generic id of a cluster task is "1" followed by its integer id; the seed
// example shows id "12" for dag_id 2. Stages and steps have no integer id of their own here,
// so theirs are derived from the upgrade's `num` and are stable for the upgrade's life:
//   DAG       dag_id  = num                               id = "1" + dag_id
//   node      node_id = num * 1000 + stage index + 1      id = "1" + node_id
//   sub task  task_id = num * 1000000 + step seq + 1      id = "1" + task_id
// Upgrade checks (POST /api/v1/ob/upgrade/check) use prefix "2" (OBShell's prefix for tasks
// local to one agent) with the check's event id in place of num, so the two never collide.
import type { PrecheckItem, Stage, Step, Target } from '../../../domain/types.ts';
import type { UpgradeCheck } from '../../../service/obshell-checks.ts';
import type { UpgradeDetail } from '../../../service/upgrades.ts';
import { DAG_MAP, type DagOperator, type DagState } from './dag-map.ts';
import { ObshellError } from './i18n.ts';

export const NODES_PER_DAG = 1000;
export const TASKS_PER_DAG = 1_000_000;
/** Go's zero time.Time, which OBShell prints for a start or end that has not happened */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export type IdKind = 'upgrade' | 'check';
const PREFIX: Record<IdKind, string> = { upgrade: '1', check: '2' };

export interface AgentInfo {
  ip: string;
  port: number;
}

export interface TaskDetailDTO {
  id: string;
  task_id: number;
  name: string;
  state: DagState;
  operator: DagOperator;
  start_time: string;
  end_time: string;
  additional_data: Record<string, unknown> | null;
  execute_times: number;
  execute_agent: AgentInfo;
  task_logs: string[] | null;
}

export interface NodeDetailDTO {
  id: string;
  node_id: number;
  name: string;
  state: DagState;
  operator: DagOperator;
  start_time: string;
  end_time: string;
  additional_data: Record<string, unknown> | null;
  sub_tasks: TaskDetailDTO[] | null;
}

export interface DagDetailDTO {
  id: string;
  dag_id: number;
  name: string;
  stage: number;
  max_stage: number;
  state: DagState;
  operator: DagOperator;
  start_time: string;
  end_time: string;
  additional_data: Record<string, unknown> | null;
  nodes: NodeDetailDTO[] | null;
}

export interface SubTaskLogDTO {
  id: number;
  sub_task_id: number;
  execute_times: number;
  log_content: string;
  is_sync: boolean;
  create_time: string;
  update_time: string;
}

export const genericId = (kind: IdKind, n: number): string => `${PREFIX[kind]}${n}`;

/** Splits a generic id; a malformed one is OBShell's Task.GenericID.Invalid. */
export function parseGenericId(id: string): { kind: IdKind; n: number } {
  const m = /^([12])([1-9]\d{0,14})$/.exec(id);
  if (!m) throw new ObshellError('genericIdInvalid', [id]);
  return { kind: m[1] === '1' ? 'upgrade' : 'check', n: Number(m[2]) };
}

const time = (t: string | null | undefined): string => t ?? ZERO_TIME;

const DAG_NAMES: Record<string, string> = {
  rolling: 'OB rolling upgrade',
  stop_service: 'OB stop service upgrade',
  az_migration: 'OB zone migration',
};

export function dagName(mode: string, version: string, release: string): string {
  return `${DAG_NAMES[mode] ?? `OB ${mode} upgrade`} ${version}-${release}`;
}

function agentOf(target: Target | null, node: string | null): AgentInfo {
  const n = node ? target?.nodes.find((x) => x.name === node) : undefined;
  // Sim nodes have no address; their name is the most useful thing to show instead.
  return { ip: n?.host ?? node ?? '', port: n?.port ?? 0 };
}

function stepOperator(s: Step): DagOperator {
  return DAG_MAP.step[s.state].operator ?? (s.attempts > 1 ? 'RETRY' : 'RUN');
}

export function taskDetail(u: UpgradeDetail, s: Step, target: Target | null): TaskDetailDTO {
  const taskId = u.num * TASKS_PER_DAG + s.seq + 1;
  return {
    id: genericId('upgrade', taskId),
    task_id: taskId,
    name: s.name,
    state: DAG_MAP.step[s.state].state,
    operator: stepOperator(s),
    start_time: time(s.startedAt),
    end_time: time(s.endedAt),
    additional_data: { node: s.node, action: s.action, description: s.description, stage: s.stageIndex + 1, error: s.error },
    execute_times: s.attempts,
    execute_agent: agentOf(target, s.node),
    // OBShell reads logs only once a task has run.
    task_logs: s.state === 'pending' ? null : s.log,
  };
}

export function nodeDetail(
  u: UpgradeDetail,
  stage: Stage & { steps: Step[] },
  target: Target | null,
  withTasks: boolean,
): NodeDetailDTO {
  const nodeId = u.num * NODES_PER_DAG + stage.index + 1;
  const mapped = DAG_MAP.stage[stage.state];
  const operator =
    mapped.operator ??
    (stage.steps.some((s) => s.state === 'skipped') ? 'PASS' : stage.steps.some((s) => s.attempts > 1) ? 'RETRY' : 'RUN');
  return {
    id: genericId('upgrade', nodeId),
    node_id: nodeId,
    name: stage.name,
    state: mapped.state,
    operator,
    start_time: time(stage.startedAt),
    end_time: time(stage.endedAt),
    additional_data: withTasks ? { description: stage.description } : null,
    sub_tasks: withTasks ? stage.steps.map((s) => taskDetail(u, s, target)) : null,
  };
}

/** `lastOperator`: the last operator action recorded for the upgrade (RUN when none). */
export function dagDetail(
  u: UpgradeDetail,
  lastOperator: DagOperator,
  target: Target | null,
  showDetails: boolean,
): DagDetailDTO {
  const mapped = DAG_MAP.upgrade[u.state];
  const maxStage = Math.max(1, u.stageCount);
  return {
    id: genericId('upgrade', u.num),
    dag_id: u.num,
    name: dagName(u.mode, u.toVersion, u.release),
    // OBShell counts stages from 1; a finished DAG stands on its last stage.
    stage: u.state === 'succeeded' ? maxStage : Math.min(maxStage, Math.max(1, u.currentStage + 1)),
    max_stage: maxStage,
    state: mapped.state,
    operator: mapped.operator ?? lastOperator,
    start_time: time(u.startedAt),
    end_time: time(u.endedAt),
    additional_data: showDetails
      ? {
          upgrade_id: u.id,
          target: u.targetId,
          from_version: u.fromVersion,
          to_version: u.toVersion,
          mode: u.mode,
          route: u.hops.map((h) => `${h.toVersion}-${h.release}`),
          error: u.error,
          error_code: u.errorCode,
          precheck_report_id: u.precheckReportId,
        }
      : null,
    nodes: showDetails ? u.stages.map((s) => nodeDetail(u, s, target, true)) : null,
  };
}

function checkItemName(i: PrecheckItem): string {
  return i.node ? `${i.name} ${i.node}` : i.name;
}

function checkTasks(c: UpgradeCheck): TaskDetailDTO[] {
  const r = c.report;
  return r.items.map((item, i) => {
    const taskId = c.id * TASKS_PER_DAG + i + 1;
    return {
      id: genericId('check', taskId),
      task_id: taskId,
      name: checkItemName(item),
      state: item.status === 'fail' ? 'FAILED' : 'SUCCEED',
      operator: 'RUN',
      start_time: r.createdAt,
      end_time: time(r.finishedAt),
      additional_data: { status: item.status, node: item.node ?? null },
      execute_times: 1,
      execute_agent: { ip: item.node ?? '', port: 0 },
      task_logs: [`${item.status.toUpperCase()} ${item.name}: ${item.message}`],
    };
  });
}

export function checkNodeDetail(c: UpgradeCheck, withTasks: boolean): NodeDetailDTO {
  const nodeId = c.id * NODES_PER_DAG + 1;
  return {
    id: genericId('check', nodeId),
    node_id: nodeId,
    name: 'Check upgrade environment',
    state: DAG_MAP.check[c.report.state],
    operator: 'RUN',
    start_time: c.report.createdAt,
    end_time: time(c.report.finishedAt),
    additional_data: null,
    sub_tasks: withTasks ? checkTasks(c) : null,
  };
}

export function checkTaskDetail(c: UpgradeCheck, taskId: number): TaskDetailDTO | null {
  return checkTasks(c).find((t) => t.task_id === taskId) ?? null;
}

export function checkDagDetail(c: UpgradeCheck, showDetails: boolean): DagDetailDTO {
  const r = c.report;
  return {
    id: genericId('check', c.id),
    dag_id: c.id,
    name: `Upgrade check OB ${c.version}-${c.release}`,
    stage: 1,
    max_stage: 1,
    state: DAG_MAP.check[r.state],
    operator: 'RUN',
    start_time: r.createdAt,
    end_time: time(r.finishedAt),
    additional_data: showDetails ? { precheck_report_id: r.id, flighting: r.flighting, estimate: r.estimate } : null,
    nodes: showDetails ? [checkNodeDetail(c, true)] : null,
  };
}

/** GET /api/v1/task/sub_task/{id}/logs: one entry per log line, numbered by attempt. */
export function subTaskLogs(taskId: number, s: Pick<Step, 'log' | 'startedAt' | 'endedAt'>): SubTaskLogDTO[] {
  let attempt = 1;
  return s.log.map((line, i) => {
    const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (?:attempt (\d+))?/.exec(line);
    if (m?.[2]) attempt = Math.max(1, Number(m[2]));
    const at = m?.[1] ?? s.startedAt ?? s.endedAt ?? ZERO_TIME;
    return {
      id: i + 1,
      sub_task_id: taskId,
      execute_times: attempt,
      log_content: line,
      is_sync: true,
      create_time: at,
      update_time: at,
    };
  });
}
