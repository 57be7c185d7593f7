// Analysis checks: a wave's bake judged on measured health (docs/fleet.md "Analysis checks").
// A check is a Prometheus instant query or a service-level indicator the target's driver measures
// (Driver.slis), with a lower and/or upper bound. As written by a client:
//   {"name": "error rate", "prometheus": {"url": "http://prom:9090", "query": "...", "max": 0.01}}
//   {"name": "lag", "sli": "replication_lag_seconds", "max": 5}
// plus two optional fields of ours: "onError" ("pause" | "fail", default pause) says what a check
// that cannot be evaluated does, and "intervalSeconds" (default 10) how often it is sampled
// during the bake. This module checks what TypeBox cannot say (one source, at least one bound, a
// usable URL) and turns the request's shape into the one the scheduler stores and judges.
import { AppError } from './errors.ts';
import { SLI_NAMES, type SliName } from './types.ts';

export const ANALYSIS_ON_ERROR = ['pause', 'fail'] as const;
export type AnalysisOnError = (typeof ANALYSIS_ON_ERROR)[number];

/** how often a check is sampled during a bake when the request does not say */
export const DEFAULT_ANALYSIS_INTERVAL_SECONDS = 10;

/** A check as a client writes it (the request's shape). */
export interface AnalysisCheckBody {
  name: string;
  prometheus?: { url: string; query: string; min?: number; max?: number };
  sli?: string;
  min?: number;
  max?: number;
  onError?: AnalysisOnError;
  intervalSeconds?: number;
}

/** The outcome of one sample of a check. */
export type AnalysisOutcome = 'pass' | 'fail' | 'error';

/** A check as stored with its wave, with its last sample. */
export interface AnalysisCheck {
  name: string;
  source: { kind: 'prometheus'; url: string; query: string } | { kind: 'sli'; sli: SliName };
  min: number | null;
  max: number | null;
  onError: AnalysisOnError;
  intervalSeconds: number;
  last: {
    at: string;
    outcome: AnalysisOutcome;
    /** the value that decided it: the worst judged one (null when there was none) */
    value: number | null;
    reason: string | null;
  } | null;
}

/** A target failed by a check, recorded on its wave. */
export interface AnalysisFailure {
  target: string;
  check: string;
  reason: string;
  /** its upgrade is rolled back by its onFailure policy (it then counts as a failed upgrade, not here) */
  rolledBack: boolean;
}

const bad = (message: string, details: Record<string, unknown> = {}) => new AppError('VALIDATION_FAILED', message, details);

/**
 * Checks a list of checks as written (`where` names it in messages, e.g. `waves[0].analysis`) and
 * returns it in its stored shape; throws VALIDATION_FAILED naming what to fix.
 */
export function parseAnalysis(list: readonly AnalysisCheckBody[] | undefined, where: string): AnalysisCheck[] {
  if (!list) return [];
  const names = new Set<string>();
  return list.map((c, i) => {
    const at = `${where}[${i}]${c.name ? ` ("${c.name}")` : ''}`;
    if (names.has(c.name)) throw bad(`${at}: check names must be unique within the list`);
    names.add(c.name);
    if ((c.prometheus === undefined) === (c.sli === undefined)) {
      throw bad(`${at}: give either "prometheus": {"url", "query", "max"} or "sli": "<name>", exactly one`);
    }
    let min = c.min ?? null;
    let max = c.max ?? null;
    let source: AnalysisCheck['source'];
    if (c.prometheus) {
      const p = c.prometheus;
      // the bounds sit inside "prometheus" (the documented shape); beside it is accepted too
      if ((p.min !== undefined && c.min !== undefined) || (p.max !== undefined && c.max !== undefined)) {
        throw bad(`${at}: give min and max once, inside "prometheus" (not also beside it)`);
      }
      min = p.min ?? min;
      max = p.max ?? max;
      let url: URL;
      try {
        url = new URL(p.url);
      } catch {
        throw bad(
          `${at}.prometheus.url "${p.url}" is not a URL; write the Prometheus server's base, e.g. "http://prometheus:9090"`,
        );
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw bad(`${at}.prometheus.url must start with http:// or https:// (got ${url.protocol})`);
      }
      if (url.search || url.hash) {
        throw bad(`${at}.prometheus.url is the server's base URL; put the PromQL in "query", not in the URL`);
      }
      if (!p.query.trim()) throw bad(`${at}.prometheus.query is empty; write a PromQL expression`);
      source = { kind: 'prometheus', url: url.toString().replace(/\/+$/, ''), query: p.query };
    } else {
      const sli = c.sli as string;
      if (!(SLI_NAMES as readonly string[]).includes(sli)) {
        throw bad(`${at}.sli "${sli}" is not a service-level indicator; allowed: ${SLI_NAMES.join(', ')}`, {
          allowed: SLI_NAMES,
        });
      }
      source = { kind: 'sli', sli: sli as SliName };
    }
    if (min === null && max === null) {
      throw bad(
        `${at}: give a bound: "max" (the value must stay at or below it), "min" (at or above it), or both` +
          (c.prometheus ? ', inside "prometheus"' : ''),
      );
    }
    if (min !== null && max !== null && min > max) throw bad(`${at}: min ${min} is above max ${max}`);
    return {
      name: c.name,
      source,
      min,
      max,
      onError: c.onError ?? 'pause',
      intervalSeconds: c.intervalSeconds ?? DEFAULT_ANALYSIS_INTERVAL_SECONDS,
      last: null,
    };
  });
}

/** The checks of a wave: its own, then the batch's (upgradeOptions.analysis) not named the same. */
export function mergeChecks(wave: AnalysisCheck[], batch: AnalysisCheck[]): AnalysisCheck[] {
  const names = new Set(wave.map((c) => c.name));
  return [...wave, ...batch.filter((c) => !names.has(c.name))];
}

/** The bound a value breaks, in words ("> max 0.01"), or null when it lies within them. */
export function breach(c: Pick<AnalysisCheck, 'min' | 'max'>, value: number): { bound: number; text: string } | null {
  if (Number.isNaN(value)) return { bound: c.max ?? c.min ?? 0, text: 'is not a number' };
  if (c.max !== null && value > c.max) return { bound: c.max, text: `> max ${c.max}` };
  if (c.min !== null && value < c.min) return { bound: c.min, text: `< min ${c.min}` };
  return null;
}
