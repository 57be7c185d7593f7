// Precheck reports: created before an upgrade (on request) and as stage 0 of every upgrade.
import { randomBytes } from 'node:crypto';
import type { Hop, PrecheckReport, Target, UpgradeMode } from '../domain/types.ts';
import type { Driver, PrecheckResult } from '../drivers/driver.ts';
import { toReport } from '../store/mappers.ts';
import { now, type Db } from './transitions.ts';

/** 32 hex characters, the shape ACK uses for precheck report ids */
export const newReportId = (): string => randomBytes(16).toString('hex');

export async function createReport(
  db: Db,
  r: { id?: string; projectId: string; targetId: string; upgradeId: string | null; toVersion: string },
): Promise<string> {
  const id = r.id ?? newReportId();
  await db
    .insertInto('precheck_reports')
    .values({
      id,
      project_id: r.projectId,
      target_id: r.targetId,
      upgrade_id: r.upgradeId,
      to_version: r.toVersion,
      state: 'running',
      items: '[]',
      flighting: null,
      estimate: null,
      created_at: now(),
      finished_at: null,
    })
    .execute();
  return id;
}

export function reportState(result: PrecheckResult): PrecheckReport['state'] {
  if (result.items.some((i) => i.status === 'fail')) return 'failed';
  if (result.items.some((i) => i.status === 'warn')) return 'warned';
  return 'passed';
}

export async function finishReport(db: Db, id: string, result: PrecheckResult | Error): Promise<PrecheckReport> {
  const values =
    result instanceof Error
      ? {
          state: 'error',
          items: JSON.stringify([{ name: 'precheck', status: 'fail', message: result.message }]),
        }
      : {
          state: reportState(result),
          items: JSON.stringify(result.items),
          flighting: result.flighting ? JSON.stringify(result.flighting) : null,
          estimate: result.estimate ? JSON.stringify(result.estimate) : null,
        };
  await db
    .updateTable('precheck_reports')
    .set({ ...values, finished_at: now() })
    .where('id', '=', id)
    .execute();
  return toReport(await db.selectFrom('precheck_reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
}

export async function runDriverPrecheck(
  driver: Driver,
  target: Target,
  toVersion: string,
  hops: Hop[],
  mode: UpgradeMode,
  options: Record<string, unknown>,
): Promise<PrecheckResult> {
  return driver.precheck({ target, toVersion, hops, mode, options });
}
