// Named fault points let tests stop the executor at exact places, e.g. between "the driver
// finished a step" and "the store recorded it". LIFTGATE_FAULT_POINT=name[:n] kills the process
// with SIGKILL the n-th time (default 1st) the point is reached; nothing else is affected.

export const FAULT_POINTS = [
  'step.claimed', // the step is leased, the driver has not been called
  'step.driver_done', // the driver finished, the outcome is not recorded
  'step.recorded', // the outcome is recorded, the stage has not advanced
  'stage.advanced', // the next stage started, nothing claimed yet
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export class FaultPoints {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly armed: { point: string; at: number } | null,
    private readonly onHit: () => never | void = () => process.kill(process.pid, 'SIGKILL'),
  ) {}

  static fromEnv(value = process.env.LIFTGATE_FAULT_POINT): FaultPoints {
    if (!value) return new FaultPoints(null);
    const [point, n] = value.split(':');
    if (!(FAULT_POINTS as readonly string[]).includes(point)) {
      throw new Error(`unknown fault point ${point}; known: ${FAULT_POINTS.join(', ')}`);
    }
    return new FaultPoints({ point, at: n ? Number(n) : 1 });
  }

  hit(point: FaultPoint): void {
    if (!this.armed || this.armed.point !== point) return;
    const c = (this.counts.get(point) ?? 0) + 1;
    this.counts.set(point, c);
    if (c === this.armed.at) this.onHit();
  }
}
