// The names of the fault points (src/engine/fault-points.ts), here at the bottom so the settings
// (LIFTGATE_FAULT_POINT, src/domain/settings.ts) can refuse an unknown one at start.

/** points on a step's way through the executor */
export const STEP_FAULT_POINTS = [
  'step.claimed', // the step is leased, the driver has not been called
  'step.driver_done', // the driver finished, the outcome is not recorded
  'step.recorded', // the outcome is recorded, the stage has not advanced
  'stage.advanced', // the next stage started, nothing claimed yet
] as const;

/** points inside the recovery of a step whose holder died */
export const RECOVERY_FAULT_POINTS = [
  'recovery.started', // recovery picked the step, nothing is decided
  'recovery.reconciled', // the driver said whether it took effect, nothing is recorded
  'recovery.recorded', // the recovery's transaction committed
] as const;

/** points inside the postgres driver's blue/green steps (src/drivers/postgres/blue-green.ts) */
export const DRIVER_FAULT_POINTS = [
  'bg.green_built', // green's servers run, the blue/green state does not record them yet
  'bg.schema_copied', // a database's schema is on green, the step is not done
  'bg.copy_started', // green subscribes to blue and copies, the step is not done
  'bg.cutover_paused', // the pooler holds clients, green has not caught up
  'bg.cutover_switching', // replication is being reversed, the pooler still points at blue
  'bg.cutover_repointed', // the pooler points at green, clients are still held
  // the redis driver (src/drivers/redis/ops.ts)
  'redis.failover_issued', // FAILOVER / CLUSTER FAILOVER sent, the new primary not seen yet
] as const;

export const FAULT_POINTS = [...STEP_FAULT_POINTS, ...RECOVERY_FAULT_POINTS, ...DRIVER_FAULT_POINTS] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];
