// The Huawei-style families' enums, each mapped from the engine's states in ONE table.
// test/families/huawei/state-maps.test.ts checks that every engine state has an entry.
import type { StepState, UpgradeState } from '../../../domain/types.ts';

export type CssTaskStatus = 'RUNNING' | 'SUCCESS' | 'FAILED' | 'PARTIAL_FAILED';

/**
 * CSS upgrade/detail `status`. An upgrade that stopped short after some nodes were already done
 * is PARTIAL_FAILED (CSS's word for "some nodes replaced, then the task failed or was aborted");
 * with no node done it is FAILED. Everything still in flight, including paused and scheduled
 * upgrades, is RUNNING: CSS has no separate word for them.
 */
export const CSS_TASK_STATUS: Record<UpgradeState, { noNodeDone: CssTaskStatus; someNodesDone: CssTaskStatus }> = {
  scheduled: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  ready: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  prechecking: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  running: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  paused: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  rolling_back: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  succeeded: { noNodeDone: 'SUCCESS', someNodesDone: 'SUCCESS' },
  failed: { noNodeDone: 'FAILED', someNodesDone: 'PARTIAL_FAILED' },
  // still at work: the nodes it took out of service are brought back before it ends
  cancelling: { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' },
  cancelled: { noNodeDone: 'FAILED', someNodesDone: 'PARTIAL_FAILED' },
  rolled_back: { noNodeDone: 'FAILED', someNodesDone: 'FAILED' },
};

export type CssStepStatus = 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAILED';

/** CSS currentNodeDetail[].status. A skipped step counts as done; a cancelled one did not happen. */
export const CSS_STEP_STATUS: Record<StepState, CssStepStatus> = {
  pending: 'WAITING',
  running: 'RUNNING',
  succeeded: 'SUCCESS',
  skipped: 'SUCCESS',
  failed: 'FAILED',
  cancelled: 'FAILED',
  rolling_back: 'RUNNING',
  rolled_back: 'FAILED',
};

export type GaussJobStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Canceled';

/** GaussDB job `status` (GET /jobs) and scheduled-job `job_status`: one table for both. */
export const GAUSS_JOB_STATUS: Record<UpgradeState, GaussJobStatus> = {
  scheduled: 'Pending',
  ready: 'Running',
  prechecking: 'Running',
  running: 'Running',
  paused: 'Running',
  rolling_back: 'Running',
  succeeded: 'Completed',
  failed: 'Failed',
  rolled_back: 'Failed',
  // the job still runs (its nodes are brought back); Canceled once they are
  cancelling: 'Running',
  cancelled: 'Canceled',
};

/** The engine states behind one GaussDB status, for the `status` filter of scheduled-jobs. */
export function statesForGaussStatus(status: string): UpgradeState[] {
  return (Object.keys(GAUSS_JOB_STATUS) as UpgradeState[]).filter((s) => GAUSS_JOB_STATUS[s] === status);
}

/** GaussDB `datastore_type` of an engine; engines without a vendor name keep their own. */
export const GAUSS_DATASTORE_TYPE: Record<string, string> = { gaussdb: 'gaussdb-mysql' };

/** The job name GaussDB gives a kernel version upgrade in its task centre. */
export const GAUSS_UPGRADE_JOB_NAME = 'UpgradeGaussDBforMySQLDatabaseVersion';

/** CSS prints times as 'YYYY-MM-DDTHH:mm:ss' (UTC, no zone); "" when there is none yet. */
export function cssTime(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 19) : '';
}

/** GaussDB prints times as 'yyyy-mm-ddThh:mm:ss+0000'; "" when there is none yet. */
export function gaussTime(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 19)}+0000` : '';
}
