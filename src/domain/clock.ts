// The one source of time for the engine: the executor, the scheduler, maintenance windows,
// leases and heartbeats read it from a Clock passed to them, never from `new Date()`, so tests
// can drive time (a missed window, an expired lease) without sleeping. Timers that only pace
// loops (poll intervals) stay on the real clock: they decide how often, not what is due.

export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to (tests). */
export class ManualClock implements Clock {
  private ms: number;

  constructor(start: Date | string | number = Date.UTC(2026, 0, 1)) {
    this.ms = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  advance(ms: number): void {
    this.ms += ms;
  }

  set(at: Date | string | number): void {
    this.ms = new Date(at).getTime();
  }
}

/** The clock's time as the store keeps it: ISO-8601 UTC text (sorts as text in both dialects). */
export const isoNow = (clock: Clock): string => clock.now().toISOString();

/** The clock's time plus ms, as stored. */
export const isoIn = (clock: Clock, ms: number): string => new Date(clock.now().getTime() + ms).toISOString();

/** Wall-clock time for rows outside the engine's state (creation times of projects, tokens...). */
export const now = (): string => isoNow(systemClock);
