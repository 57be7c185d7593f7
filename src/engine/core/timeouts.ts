// How long a step may run before it is aborted and fails with STEP_TIMEOUT: the upgrade's
// options.timeouts names seconds per step action ({"verify": 600, "install": 3600}); an action
// not named there gets the step's own bound (params.timeoutSeconds, set by the planner for a step
// known to be long), else options.stepTimeoutSeconds, and that defaults to an hour.
import type { StepAction } from '../../domain/types.ts';

export const DEFAULT_STEP_TIMEOUT_SECONDS = 3600;

export function timeoutOf(options: Record<string, unknown>, action: StepAction, params: Record<string, unknown> = {}): number {
  const per = options.timeouts as Partial<Record<string, unknown>> | undefined;
  const own = per && typeof per === 'object' ? per[action] : undefined;
  if (typeof own === 'number' && own > 0) return own;
  // a step the planner knows to be long (a rollback window, a data copy) carries its own bound
  if (typeof params.timeoutSeconds === 'number' && params.timeoutSeconds > 0) return params.timeoutSeconds;
  const all = options.stepTimeoutSeconds;
  return typeof all === 'number' && all > 0 ? all : DEFAULT_STEP_TIMEOUT_SECONDS;
}
