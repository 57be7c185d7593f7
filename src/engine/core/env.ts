// What the state core needs besides a transaction: the clock, the store's capabilities and the
// installed drivers. Every module of the core takes it; the service builds it from its context.
import type { Clock } from '../../domain/clock.ts';
import type { Driver } from '../../drivers/driver.ts';

export interface CoreEnv {
  clock: Clock;
  /** PostgreSQL: serialise an upgrade's writers with a row lock */
  rowLocks: boolean;
  /** PostgreSQL: a step's outcome, its event and its stage's check in one statement */
  writableCte: boolean;
  /** the installed drivers (reversibility, for the onFailure policy) */
  drivers: Map<string, Driver>;
}
