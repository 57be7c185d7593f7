// The GaussDB-style batch minor-version upgrade: every instance is checked first and every
// problem is reported at once (nothing is created then); otherwise it becomes one batch of the
// fleet scheduler (src/service/fleet-batches.ts), all or nothing.
import { AppError } from '../domain/errors.ts';
import type { CatalogVersion, Target } from '../domain/types.ts';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import { upgradeCandidates } from '../domain/versions.ts';
import { loadTarget } from '../store/targets-repo.ts';
import { listCatalog } from './catalog.ts';
import type { AppContext } from './app-context.ts';
import { createBatchRecord } from './fleet-batches.ts';
import { getUpgrade, type UpgradeDetail } from './upgrades.ts';

/** major line of a version: its first two dot-separated parts ("2.0.48.231200" -> "2.0") */
const majorOf = (v: string): string => v.split('.').slice(0, 2).join('.');

/** The newest non-deprecated catalog version of the same major line reachable from `from`. */
export function latestMinorVersion(engine: string, from: string, catalog: CatalogVersion[]): CatalogVersion | null {
  return upgradeCandidates(engine, from, catalog).find((v) => majorOf(v.version) === majorOf(from)) ?? null;
}

export type BatchProblem =
  | { instanceId: string; kind: 'not_found' }
  | { instanceId: string; kind: 'duplicate' }
  | { instanceId: string; kind: 'version_mismatch'; given: string; actual: string }
  | { instanceId: string; kind: 'no_newer_minor'; actual: string }
  | { instanceId: string; kind: 'busy'; upgradeId: string }
  | { instanceId: string; kind: 'no_window' };

export interface BatchItem {
  instanceId: string;
  /** what the caller believes the instance runs; omitted = the instance's own version */
  currentVersion?: string;
}

export interface BatchInput {
  items: BatchItem[];
  /** true: each instance in its own maintenance window; false: now */
  delay: boolean;
  /** which API asked (recorded on the batch) */
  source: string;
}

interface Checked {
  target: Target;
  toVersion: string;
}

async function check(
  ctx: AppContext,
  projectId: string,
  input: BatchInput,
): Promise<{ ok: Checked[]; problems: BatchProblem[] }> {
  const ok: Checked[] = [];
  const problems: BatchProblem[] = [];
  const seen = new Set<string>();
  const catalogs = new Map<string, CatalogVersion[]>();
  for (const item of input.items) {
    const instanceId = item.instanceId;
    if (seen.has(instanceId)) {
      problems.push({ instanceId, kind: 'duplicate' });
      continue;
    }
    seen.add(instanceId);
    const target = await loadTarget(ctx.store.db, projectId, instanceId);
    if (!target) {
      problems.push({ instanceId, kind: 'not_found' });
      continue;
    }
    if (item.currentVersion !== undefined && item.currentVersion !== target.version) {
      problems.push({ instanceId, kind: 'version_mismatch', given: item.currentVersion, actual: target.version });
      continue;
    }
    if (!catalogs.has(target.engine)) catalogs.set(target.engine, await listCatalog(ctx, target.engine));
    const next = latestMinorVersion(target.engine, target.version, catalogs.get(target.engine) ?? []);
    if (!next) {
      problems.push({ instanceId, kind: 'no_newer_minor', actual: target.version });
      continue;
    }
    const active = await ctx.store.db
      .selectFrom('upgrades')
      .select('id')
      .where('project_id', '=', projectId)
      .where('target_id', '=', target.id)
      .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
      .executeTakeFirst();
    if (active) {
      problems.push({ instanceId, kind: 'busy', upgradeId: active.id });
      continue;
    }
    if (input.delay && !target.maintenanceWindow) {
      problems.push({ instanceId, kind: 'no_window' });
      continue;
    }
    ok.push({ target, toVersion: next.version });
  }
  return { ok, problems };
}

export class BatchRefusedError extends AppError {
  constructor(readonly problems: BatchProblem[]) {
    super('VALIDATION_FAILED', `the batch was refused: ${problems.map((p) => `${p.instanceId} (${p.kind})`).join(', ')}`, {
      problems,
    });
  }
}

export interface BatchResult {
  batchId: string;
  upgrades: UpgradeDetail[];
}

/**
 * The GaussDB batch as one kind of batch: one wave of every instance at once (no concurrency
 * limit, no bake, no threshold: GaussDB upgrades each instance on its own), each upgrade starting
 * now (`delay` false) or in its instance's own maintenance window (`delay` true).
 */
export async function createMinorUpgradeBatch(
  ctx: AppContext,
  projectId: string,
  input: BatchInput,
  actor: string,
): Promise<BatchResult> {
  if (input.items.length === 0) throw new AppError('VALIDATION_FAILED', 'the batch names no instance');
  const { ok, problems } = await check(ctx, projectId, input);
  if (problems.length > 0) throw new BatchRefusedError(problems);
  const n = ok.length;
  const { batchId, upgradeIds } = await createBatchRecord(
    ctx,
    projectId,
    {
      name: `${input.source} (${n} instance${n === 1 ? '' : 's'})`,
      kind: 'gaussdb',
      source: input.source,
      request: input,
      items: ok.map((c) => ({ target: c.target, toVersion: c.toVersion })),
      mode: 'rolling',
      schedule: input.delay ? { kind: 'window' } : { kind: 'now' },
      plan: {
        waves: [{ name: 'all', targetIds: ok.map((c) => c.target.id), maxConcurrency: n, bakeSeconds: 0, approval: false }],
        failureLimit: n + 1,
      },
    },
    actor,
  );
  return { batchId, upgrades: await Promise.all(upgradeIds.map((id) => getUpgrade(ctx, projectId, id))) };
}
