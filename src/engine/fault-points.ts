// Named fault points let tests stop the executor at exact places, e.g. between "the driver
// finished a step" and "the store recorded it". LIFTGATE_FAULT_POINT=name[:n][@action] kills the
// process with SIGKILL the n-th time (default 1st) the point is reached, counting only steps of
// that action when one is named (`step.driver_done:1@install`); nothing else is affected.

import type { FaultPoint } from '../domain/fault-point-names.ts';
import { setting } from '../domain/settings.ts';

export class FaultPoints {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly armed: { point: string; at: number; action?: string } | null,
    private readonly onHit: () => never | void = () => process.kill(process.pid, 'SIGKILL'),
  ) {}

  /** armed by LIFTGATE_FAULT_POINT (checked by the settings: an unknown point is refused) */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): FaultPoints {
    const armed = setting('LIFTGATE_FAULT_POINT', env);
    return new FaultPoints(armed ?? null);
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
