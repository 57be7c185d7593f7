// Named fault points let tests stop the executor at exact places, e.g. between "the driver
// finished a step" and "the store recorded it". LIFTGATE_FAULT_POINT=name[:n][@action] kills the
// process with SIGKILL the n-th time (default 1st) the point is reached, counting only steps of
// that action when one is named (`step.driver_done:1@install`); nothing else is affected.

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

export class FaultPoints {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly armed: { point: string; at: number; action?: string } | null,
    private readonly onHit: () => never | void = () => process.kill(process.pid, 'SIGKILL'),
  ) {}

  static fromEnv(value = process.env.LIFTGATE_FAULT_POINT): FaultPoints {
    if (!value) return new FaultPoints(null);
    const [spec, action] = value.split('@');
    const [point, n] = spec.split(':');
    if (!(FAULT_POINTS as readonly string[]).includes(point)) {
      throw new Error(`unknown fault point ${point}; known: ${FAULT_POINTS.join(', ')}`);
    }
    return new FaultPoints({ point, at: n ? Number(n) : 1, ...(action ? { action } : {}) });
  }

  /** a point inside a driver's step (named in DRIVER_FAULT_POINTS) */
  hitDriver(point: string): void {
    this.hit(point as FaultPoint);
  }

  hit(point: FaultPoint, action?: string): void {
    if (!this.armed || this.armed.point !== point) return;
    if (this.armed.action !== undefined && this.armed.action !== action) return;
    const c = (this.counts.get(point) ?? 0) + 1;
    this.counts.set(point, c);
    if (c === this.armed.at) this.onHit();
  }
}
