// One sample of an analysis check (src/domain/analysis.ts) over the upgraded targets of a baking
// wave. A Prometheus check runs an instant query (GET {url}/api/v1/query) and judges every sample
// it returns: a sample whose `target` label names a target of the wave (its id or its name)
// judges that target only; a sample without that label judges every target of the wave; one
// naming a target outside the wave is not ours and is left out. An sli check asks each target's
// driver (Driver.slis). A check that cannot be evaluated (Prometheus down, a query error, no
// sample, a target that does not answer, a driver that does not measure the indicator) is its
// own outcome, `error`, never a pass: the scheduler pauses the batch or fails the targets, as the
// check's onError says.
import { breach, type AnalysisCheck, type AnalysisOutcome } from '../domain/analysis.ts';
import type { Target } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';

/** how long a Prometheus query or a driver's measurement may take before the sample is an error */
export const ANALYSIS_TIMEOUT_MS = 10_000;

/** A target a check failed (outcome fail), or could not judge (outcome error). */
export interface JudgedFailure {
  target: string;
  value: number | null;
  bound: number | null;
  reason: string;
}

export interface CheckSample {
  outcome: AnalysisOutcome;
  /** the worst value judged (the failing one when it failed); null when none was read */
  value: number | null;
  /** the bound it broke (fail) */
  bound: number | null;
  /** why it failed or could not be evaluated, in words; null when it passed */
  reason: string | null;
  /** fail: the targets it failed; error: the targets it could not judge */
  failures: JudgedFailure[];
}

const round = (v: number) => Number(v.toPrecision(6));

/** `analysis "error rate": 0.05 > max 0.01` */
export const failText = (check: string, value: number, text: string) => `analysis "${check}": ${round(value)} ${text}`;

/** Samples one check over the wave's upgraded targets. */
export async function sampleCheck(
  check: AnalysisCheck,
  targets: readonly Target[],
  drivers: Map<string, Driver>,
  timeoutMs = ANALYSIS_TIMEOUT_MS,
): Promise<CheckSample> {
  const values: { targets: readonly Target[]; value: number }[] = [];
  const errors: JudgedFailure[] = [];
  if (check.source.kind === 'prometheus') {
    const got = await promQuery(check.source.url, check.source.query, timeoutMs);
    if ('error' in got) return errored(check, targets, got.error);
    for (const s of got.samples) {
      const label = s.labels.target;
      if (label === undefined) {
        values.push({ targets, value: s.value });
        continue;
      }
      const t = targets.find((x) => x.id === label || x.name === label);
      if (t) values.push({ targets: [t], value: s.value });
    }
    if (values.length === 0) {
      return errored(
        check,
        targets,
        got.samples.length === 0
          ? 'the query returned no samples'
          : `no sample names a target of the wave (label "target" = ${targets.map((t) => t.id).join(', ')}) or has no "target" label`,
      );
    }
  } else {
    const sli = check.source.sli;
    for (const t of targets) {
      const driver = drivers.get(t.driver);
      if (!driver?.slis) {
        errors.push({ target: t.id, value: null, bound: null, reason: `the ${t.driver} driver does not measure SLIs` });
        continue;
      }
      try {
        const m = await withTimeout(driver.slis(t), timeoutMs, `${t.id} did not answer within ${timeoutMs / 1000} s`);
        const v = m[sli];
        if (typeof v === 'number') values.push({ targets: [t], value: v });
        else
          errors.push({
            target: t.id,
            value: null,
            bound: null,
            reason: `the ${t.driver} driver does not measure ${sli} on ${t.id}`,
          });
      } catch (err) {
        errors.push({
          target: t.id,
          value: null,
          bound: null,
          reason: `${t.id}: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
  }
  // a breach fails the targets it judged; the first (worst) value per target is the reason
  const failures = new Map<string, JudgedFailure>();
  let worst: { value: number; bound: number; text: string } | null = null;
  for (const v of values) {
    const b = breach(check, v.value);
    if (!b) continue;
    if (!worst || Math.abs(v.value - b.bound) > Math.abs(worst.value - worst.bound)) worst = { value: v.value, ...b };
    for (const t of v.targets) {
      if (!failures.has(t.id))
        failures.set(t.id, { target: t.id, value: v.value, bound: b.bound, reason: failText(check.name, v.value, b.text) });
    }
  }
  if (worst) {
    return {
      outcome: 'fail',
      value: worst.value,
      bound: worst.bound,
      reason: failText(check.name, worst.value, worst.text),
      failures: [...failures.values()],
    };
  }
  if (errors.length > 0) {
    const reason = `analysis "${check.name}" could not be evaluated: ${errors.map((e) => e.reason).join('; ')}`;
    return { outcome: 'error', value: null, bound: null, reason, failures: errors.map((e) => ({ ...e, reason })) };
  }
  // all within bounds: the value shown is the one closest to a bound
  const near = values.reduce((a, v) => (distance(check, v.value) < distance(check, a.value) ? v : a));
  return { outcome: 'pass', value: near.value, bound: null, reason: null, failures: [] };
}

const distance = (c: AnalysisCheck, v: number) =>
  Math.min(c.max !== null ? c.max - v : Infinity, c.min !== null ? v - c.min : Infinity);

function errored(check: AnalysisCheck, targets: readonly Target[], why: string): CheckSample {
  const reason = `analysis "${check.name}" could not be evaluated: ${why}`;
  return {
    outcome: 'error',
    value: null,
    bound: null,
    reason,
    failures: targets.map((t) => ({ target: t.id, value: null, bound: null, reason })),
  };
}

interface PromSample {
  labels: Record<string, string>;
  value: number;
}

/** A Prometheus instant query: its samples (a vector's, or a scalar as one unlabelled sample). */
export async function promQuery(
  base: string,
  query: string,
  timeoutMs: number,
): Promise<{ samples: PromSample[] } | { error: string }> {
  const url = `${base}/api/v1/query?query=${encodeURIComponent(query)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
    return { error: `Prometheus at ${base} is unreachable (${why})` };
  }
  let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    return { error: `Prometheus at ${base} answered ${res.status} without JSON` };
  }
  if (body.status !== 'success') return { error: `the query failed: ${body.error ?? `HTTP ${res.status}`}` };
  const data = body.data ?? {};
  if (data.resultType === 'scalar') {
    const [, v] = data.result as [number, string];
    return { samples: [{ labels: {}, value: Number(v) }] };
  }
  if (data.resultType !== 'vector') {
    return { error: `the query returns a ${data.resultType ?? 'result'} , not an instant vector or a scalar` };
  }
  const result = (data.result ?? []) as { metric: Record<string, string>; value: [number, string] }[];
  return { samples: result.map((r) => ({ labels: r.metric ?? {}, value: Number(r.value[1]) })) };
}

async function withTimeout<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(why)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
