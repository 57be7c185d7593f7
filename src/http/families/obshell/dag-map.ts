// The one table that maps Liftgate's upgrade, stage and step states onto OBShell's
// task states and operators (ob/agent/engine/task/task.go: STATE_MAP, OPERATOR_MAP).
//
// OBShell has five states (PENDING, READY, RUNNING, FAILED, SUCCEED) and records the
// last operator applied (RUN, RETRY, ROLLBACK, CANCEL, PASS). Its engine ends a
// cancelled DAG as FAILED with operator CANCEL, and a rolled-back DAG as SUCCEED with
// operator ROLLBACK (the rollback itself succeeded); we map ours the same way.
// Liftgate's `paused` has no OBShell state: a paused upgrade starts nothing new and
// waits for an operator, which OBShell shows as PENDING. A cancelling upgrade (its nodes are
// brought back into service before it ends) is RUNNING under the CANCEL operator, as OBShell
// shows a DAG whose cancel is still being carried out.
import type { StageState, StepState, UpgradeState } from '../../../domain/types.ts';
import type { UpgradeAction } from '../../../engine/operations.ts';

export const DAG_STATES = ['PENDING', 'READY', 'RUNNING', 'FAILED', 'SUCCEED'] as const;
export type DagState = (typeof DAG_STATES)[number];
export const DAG_OPERATORS = ['RUN', 'RETRY', 'ROLLBACK', 'CANCEL', 'PASS'] as const;
export type DagOperator = (typeof DAG_OPERATORS)[number];

/** state, plus the operator the state itself implies (null: keep the last operator applied) */
interface Mapped {
  state: DagState;
  operator: DagOperator | null;
}

export const DAG_MAP: {
  upgrade: Record<UpgradeState, Mapped>;
  stage: Record<StageState, Mapped>;
  step: Record<StepState, Mapped>;
  /** POST /api/v1/task/dag/{id} {operator} -> upgradeAction */
  operatorAction: Record<Exclude<DagOperator, 'RUN'>, UpgradeAction>;
  /** upgradeAction recorded in the audit trail -> the operator OBShell would show */
  actionOperator: Partial<Record<UpgradeAction, DagOperator>>;
  /** precheck report states, for the DAG answered by POST /api/v1/ob/upgrade/check */
  check: Record<'running' | 'passed' | 'warned' | 'failed' | 'error', DagState>;
} = {
  upgrade: {
    scheduled: { state: 'PENDING', operator: null },
    ready: { state: 'READY', operator: null },
    prechecking: { state: 'RUNNING', operator: null },
    running: { state: 'RUNNING', operator: null },
    paused: { state: 'PENDING', operator: null },
    succeeded: { state: 'SUCCEED', operator: null },
    failed: { state: 'FAILED', operator: null },
    cancelling: { state: 'RUNNING', operator: 'CANCEL' },
    cancelled: { state: 'FAILED', operator: 'CANCEL' },
    rolling_back: { state: 'RUNNING', operator: 'ROLLBACK' },
    rolled_back: { state: 'SUCCEED', operator: 'ROLLBACK' },
  },
  stage: {
    pending: { state: 'PENDING', operator: null },
    running: { state: 'RUNNING', operator: null },
    succeeded: { state: 'SUCCEED', operator: null },
    failed: { state: 'FAILED', operator: null },
    cancelled: { state: 'FAILED', operator: 'CANCEL' },
    rolled_back: { state: 'SUCCEED', operator: 'ROLLBACK' },
  },
  step: {
    pending: { state: 'PENDING', operator: null },
    running: { state: 'RUNNING', operator: null },
    succeeded: { state: 'SUCCEED', operator: null },
    failed: { state: 'FAILED', operator: null },
    skipped: { state: 'SUCCEED', operator: 'PASS' },
    cancelled: { state: 'FAILED', operator: 'CANCEL' },
    rolling_back: { state: 'RUNNING', operator: 'ROLLBACK' },
    rolled_back: { state: 'SUCCEED', operator: 'ROLLBACK' },
  },
  operatorAction: { RETRY: 'retry', ROLLBACK: 'rollback', CANCEL: 'cancel', PASS: 'skip' },
  actionOperator: { retry: 'RETRY', rollback: 'ROLLBACK', cancel: 'CANCEL', skip: 'PASS' },
  check: { running: 'RUNNING', passed: 'SUCCEED', warned: 'SUCCEED', failed: 'FAILED', error: 'FAILED' },
};

/** Parses the operator of POST /api/v1/task/dag/{id}, case-insensitively as OBShell does. */
export function actionForOperator(operator: string): UpgradeAction | null {
  const upper = operator.toUpperCase();
  return upper in DAG_MAP.operatorAction ? DAG_MAP.operatorAction[upper as keyof typeof DAG_MAP.operatorAction] : null;
}
