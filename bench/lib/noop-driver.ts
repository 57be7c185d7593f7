// A driver that does nothing (benchmarks only): every step returns at once, with no store writes
// and no result, the way a graphile-worker job with an empty body costs its queue nothing but the
// queue's own work. What a step then costs is the engine's alone: claim, context, outcome, event.
import type { Target } from '../../src/domain/types.ts';
import type { Driver, DriverCapabilities, PrecheckResult, StepPolicy, StepResult, Topology } from '../../src/drivers/driver.ts';

export class NoopDriver implements Driver {
  readonly name = 'noop';
  readonly capabilities: DriverCapabilities = { switchover: false, azMigration: false, faults: false, provision: false };

  /** every step may run again and be reversed: doing nothing twice is doing nothing */
  stepPolicy(): StepPolicy {
    return { idempotent: true, reversible: true, interruptible: true, retry: false };
  }

  /** the nodes the target was registered with, as they are stored */
  async inspect(target: Target): Promise<Topology> {
    return { nodes: target.nodes };
  }

  /** no findings: nothing to check */
  async precheck(): Promise<PrecheckResult> {
    return { items: [], flighting: null, estimate: null };
  }

  async execute(): Promise<StepResult> {
    return {};
  }

  async rollback(): Promise<StepResult> {
    return {};
  }
}
