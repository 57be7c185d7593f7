// Automatic retry of transient step failures. A step is retried by itself only when its driver
// says running it again is safe (StepPolicy.retry, by default every idempotent step) and the
// failure is one the driver marked transient (DriverError.transient); anything else fails the
// step for an operator as before. How often and how long apart: the driver's default for the
// action, overridden by the upgrade's options.retry:
//
//   {"attempts": 3, "backoffSeconds": 5, "maxBackoffSeconds": 300,
//    "actions": {"verify": {"attempts": 5, "backoffSeconds": 30}}}
//
// `attempts` counts the first run (1 turns retries off); the wait before retry n is
// backoffSeconds * 2^(n-1), at most maxBackoffSeconds. A per-action entry overrides the
// upgrade-wide values for that action; an entry for an action the driver never retries is refused
// when the upgrade is requested, since it would promise what cannot happen.
import type { StepAction, Target } from '../../domain/types.ts';
import { driverRetry, type Driver, type StepPolicy, type StepRetry } from '../../drivers/driver.ts';

/** options.retry as the native schema admits it (every field optional) */
export interface RetryOptions extends Partial<StepRetry> {
  actions?: Partial<Record<StepAction, Partial<StepRetry>>>;
}

const retryOptionsOf = (options: Record<string, unknown>): RetryOptions => {
  const r = options.retry;
  return r && typeof r === 'object' ? (r as RetryOptions) : {};
};

const num = (...vs: unknown[]): number | undefined => vs.find((v): v is number => typeof v === 'number');

/**
 * The retry of a step of this action in this upgrade, or null when a failure of it is never
 * retried by itself (the driver does not declare it safe, or the upgrade turned retries off).
 */
export function retryOf(options: Record<string, unknown>, action: StepAction, policy: StepPolicy): StepRetry | null {
  const base = driverRetry(policy);
  if (!base) return null;
  const o = retryOptionsOf(options);
  const a = o.actions?.[action] ?? {};
  const attempts = num(a.attempts, o.attempts) ?? base.attempts;
  if (attempts <= 1) return null;
  const backoffSeconds = num(a.backoffSeconds, o.backoffSeconds) ?? base.backoffSeconds;
  // a default cap never cuts a longer start the upgrade asked for
  const maxBackoffSeconds = num(a.maxBackoffSeconds, o.maxBackoffSeconds) ?? Math.max(base.maxBackoffSeconds, backoffSeconds);
  return { attempts, backoffSeconds, maxBackoffSeconds: Math.max(maxBackoffSeconds, backoffSeconds) };
}

/** Seconds to wait after the `failed`-th failed attempt (1 = the first run) before the next. */
export function backoffSeconds(r: StepRetry, failed: number): number {
  return Math.min(r.maxBackoffSeconds, r.backoffSeconds * 2 ** Math.max(0, failed - 1));
}

/**
 * What is wrong with an upgrade's options.retry for this target, in words that say what to change;
 * null when nothing is. The schema checks each field; this checks them together and against the
 * target's driver.
 */
export function retryOptionsProblem(options: Record<string, unknown>, driver: Driver, target: Target): string | null {
  const o = retryOptionsOf(options);
  // a cap below the start it caps: named where the cap was given
  const capBelow = (cap: { where: string; value?: number }, start: number | undefined) =>
    cap.value !== undefined && start !== undefined && cap.value < start
      ? `${cap.where}.maxBackoffSeconds (${cap.value}) is below the backoffSeconds it caps (${start}): the wait starts at backoffSeconds and doubles up to maxBackoffSeconds`
      : null;
  const top = { where: 'options.retry', value: o.maxBackoffSeconds };
  const problem = capBelow(top, o.backoffSeconds);
  if (problem) return problem;
  for (const [action, a] of Object.entries(o.actions ?? {}) as [StepAction, Partial<StepRetry>][]) {
    const where = `options.retry.actions.${action}`;
    const cap = a.maxBackoffSeconds !== undefined ? { where, value: a.maxBackoffSeconds } : top;
    const own = capBelow(cap, num(a.backoffSeconds, o.backoffSeconds));
    if (own) return own;
    if (a.attempts === 1 || driverRetry(driver.stepPolicy(action, target))) continue;
    return `${where}: the ${driver.name} driver never runs a failed ${action} again by itself (it is not safe to repeat without an operator); leave it out`;
  }
  return null;
}
