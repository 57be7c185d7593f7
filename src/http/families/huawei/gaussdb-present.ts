// GaussDB response shapes. Field sources are listed in docs/api-compat/gaussdb.md.
import type { CatalogVersion, Target, Upgrade } from '../../../domain/types.ts';
import type { UpgradeDetail } from '../../../service/upgrades.ts';
import { GAUSS_DATASTORE_TYPE, GAUSS_JOB_STATUS, GAUSS_UPGRADE_JOB_NAME, gaussTime } from './state-maps.ts';

/** Share of steps finished, as GaussDB's "60%"; only while the job runs, else "". */
function progress(u: UpgradeDetail): string {
  if (GAUSS_JOB_STATUS[u.state] !== 'Running') return '';
  const steps = u.stages.flatMap((s) => s.steps);
  const done = steps.filter((s) => s.state === 'succeeded' || s.state === 'skipped').length;
  return `${steps.length ? Math.floor((done * 100) / steps.length) : 0}%`;
}

export function presentJob(u: UpgradeDetail, target: Target | null) {
  return {
    job: {
      id: u.id,
      name: GAUSS_UPGRADE_JOB_NAME,
      status: GAUSS_JOB_STATUS[u.state],
      created: gaussTime(u.createdAt),
      ended: gaussTime(u.endedAt),
      process: progress(u),
      instance: { id: u.targetId, name: target?.name ?? u.targetId },
      entities: { from_version: u.fromVersion, to_version: u.toVersion, batch_id: u.batchId ?? '' },
      fail_reason: u.error ?? '',
    },
  };
}

export function presentScheduleTask(u: Upgrade, target: Target | null) {
  const engine = target?.engine ?? '';
  return {
    job_id: u.id,
    instance_id: u.targetId,
    instance_name: target?.name ?? u.targetId,
    instance_status: target ? 'normal' : 'deleted',
    project_id: u.projectId,
    job_name: GAUSS_UPGRADE_JOB_NAME,
    job_status: GAUSS_JOB_STATUS[u.state],
    create_time: gaussTime(u.createdAt),
    // when it started, or (still waiting) when it is due: the start of its maintenance window
    start_time: gaussTime(u.startedAt ?? u.notBefore),
    end_time: gaussTime(u.endedAt),
    datastore_type: GAUSS_DATASTORE_TYPE[engine] ?? engine,
  };
}

export function presentDatabaseVersion(target: Target, latest: CatalogVersion | null) {
  return {
    datastore: {
      current_version: target.version,
      current_kernel_version: target.release,
      latest_version: latest?.version ?? target.version,
      latest_kernel_version: latest?.release ?? target.release,
    },
    upgrade_flag: latest !== null,
  };
}
