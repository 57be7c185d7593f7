// The batch wave planner: a pure function from the batch's targets and its waves as written
// ({"targets": 1 | "10%", "maxConcurrency": 25 | "50%", "bakeMinutes", "approval"}) to the
// targets of each wave and the numbers the scheduler enforces. Rules (docs/fleet.md):
//   - a wave's `targets` is a count or a percentage of ALL the batch's targets, rounded up, taken
//     in order from those no earlier wave took; "100%" therefore means "the rest";
//   - the waves must cover every target (the whole plan is visible from the start); a wave left
//     with nothing to take is refused, since it would gate or bake nothing;
//   - `maxConcurrency` is a count or a percentage of the wave's targets, rounded up, at least 1;
//     absent = 1 (as Azure Fleet Manager's default);
//   - the failure threshold is a count or a percentage of all targets, rounded up, at least 1;
//     the batch halts when that many targets have failed. Absent = 1: the first failure halts.
import { parseAnalysis, type AnalysisCheck, type AnalysisCheckBody } from './analysis.ts';
import { AppError } from './errors.ts';

/** a count (whole number) or a percentage ("10%", "12.5%") */
export type Amount = number | string;

export interface WaveSpec {
  name: string;
  targets: Amount;
  maxConcurrency?: Amount;
  bakeMinutes?: number;
  approval?: boolean;
  /** checks judged during its bake (src/domain/analysis.ts) */
  analysis?: AnalysisCheckBody[];
}

export interface PlannedWave {
  name: string;
  targetIds: string[];
  maxConcurrency: number;
  bakeSeconds: number;
  approval: boolean;
  /** checks judged during its bake; none when absent */
  analysis?: AnalysisCheck[];
}

export interface BatchPlan {
  waves: PlannedWave[];
  failureLimit: number;
}

const PCT = /^(\d+(?:\.\d+)?)%$/;

/** The number an amount stands for out of `of`; percentages round up. */
export function resolveAmount(a: Amount, of: number, what: string): number {
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0) throw new AppError('VALIDATION_FAILED', `${what} must be a whole number or "N%"`);
    return a;
  }
  const m = PCT.exec(a);
  const pct = m ? Number(m[1]) : NaN;
  if (!m || pct <= 0 || pct > 100) {
    throw new AppError('VALIDATION_FAILED', `${what} "${a}" must be a whole number or a percentage from "0.1%" to "100%"`);
  }
  return Math.ceil((pct * of) / 100 - 1e-9);
}

export function planBatch(targetIds: readonly string[], waves: readonly WaveSpec[], failureThreshold?: Amount): BatchPlan {
  if (waves.length === 0) throw new AppError('VALIDATION_FAILED', 'a batch needs at least one wave');
  const names = new Set<string>();
  const total = targetIds.length;
  let taken = 0;
  const planned = waves.map((w, i): PlannedWave => {
    const what = `waves[${i}] (${w.name})`;
    if (names.has(w.name)) throw new AppError('VALIDATION_FAILED', `${what}: wave names must be unique`);
    names.add(w.name);
    const want = resolveAmount(w.targets, total, `${what}.targets`);
    const n = Math.min(want, total - taken);
    if (n <= 0) {
      throw new AppError(
        'VALIDATION_FAILED',
        `${what} gets no target: the earlier waves already take all ${total}; remove it or make the earlier waves smaller`,
      );
    }
    const ids = targetIds.slice(taken, taken + n);
    taken += n;
    const conc = w.maxConcurrency === undefined ? 1 : resolveAmount(w.maxConcurrency, n, `${what}.maxConcurrency`);
    const bake = w.bakeMinutes ?? 0;
    if (!Number.isFinite(bake) || bake < 0) throw new AppError('VALIDATION_FAILED', `${what}.bakeMinutes must be 0 or more`);
    const analysis = parseAnalysis(w.analysis, `waves[${i}].analysis`);
    if (analysis.length > 0 && bake <= 0) {
      throw new AppError(
        'VALIDATION_FAILED',
        `${what} has analysis checks but no bake: give it "bakeMinutes" (the checks are sampled while the wave bakes)`,
      );
    }
    return {
      name: w.name,
      targetIds: ids,
      maxConcurrency: Math.max(1, conc),
      bakeSeconds: Math.round(bake * 60 * 1000) / 1000,
      approval: w.approval === true,
      analysis,
    };
  });
  if (taken < total) {
    throw new AppError(
      'VALIDATION_FAILED',
      `the waves cover ${taken} of the ${total} targets; make the last wave "100%" to take the rest`,
      { covered: taken, total },
    );
  }
  const limit = failureThreshold === undefined ? 1 : resolveAmount(failureThreshold, total, 'failureThreshold.targets');
  return { waves: planned, failureLimit: Math.max(1, limit) };
}
