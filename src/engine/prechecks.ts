// Precheck reports: created before an upgrade (on request) and as stage 0 of every upgrade.
import { randomBytes } from 'node:crypto';
import type { PrecheckReport } from '../domain/types.ts';
import { azMoveOptionsOf, zoneLayoutItem } from '../domain/zones.ts';
import type { Driver, PrecheckInput, PrecheckResult } from '../drivers/driver.ts';
import { toReport } from '../store/mappers.ts';
import { now } from '../domain/clock.ts';
import type { Db } from '../store/schema.ts';

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

/**
 * The precheck of an upgrade, before it (on request) and as its stage 0: the driver's findings,
 * then the engine's own. An AZ migration adds its zone layout before and after (zone_layout,
 * src/domain/zones.ts), so the report shows what the move does to the target's zones.
 */
export async function runPrecheck(driver: Driver, input: PrecheckInput): Promise<PrecheckResult> {
  const result = await driver.precheck(input);
  if (input.mode !== 'az_migration') return result;
  return { ...result, items: [...result.items, zoneLayoutItem(input.target, azMoveOptionsOf(input.options))] };
}
