// The transition table of the state core (src/engine/core/): every change of an upgrade's,
// a stage's, a step's, a batch's or a wave's state that Liftgate makes, who may cause it, and the
// event it appends.
// The writers in ./writes.ts refuse a transition that is not listed here, and a test replays
// upgrades through every operator action, failure, recovery and rollback and checks each event
// against this table; docs/architecture.md shows the table as this module renders it.
//
// Causes
//   executor   this process's executor, recording what a driver did or moving the DAG on
//   operator   a person or client through an API (pause, resume, cancel, retry, skip, rollback,
//              reschedule, creation, a batch action)
//   scheduler  the leader's housekeeping: maintenance windows, batch waves
//   recovery   the leader taking a step back from an executor that stopped or was lost
//   policy     a rule of the upgrade itself (options.onFailure = "rollback"; after a failure, or
//              after an analysis check of its batch wave failed its target)
//
// Upgrade states
//   scheduled     waiting for its time, its window, or its batch (hold = 'batch')
//   ready         due; the executor starts it
//   prechecking   stage 0 (precheck) runs
//   running       later stages run
//   paused        nothing new starts (hold = NULL: an operator; 'window': its window closed;
//                 'batch': its batch paused); running steps finish
//   failed        a step failed; retry, skip, rollback or cancel
//   (running in a rollback window: a blue/green upgrade's step that only waits runs; the
//   operator may finalize (end it now) or roll back, nothing else)
//   cancelling    cancelled while it had nodes out of service: one restore step per such node
//                 brings it back (the stage `Restore service`); running steps the driver lets
//                 a cancel stop were stopped, the others finish first
//   rolling_back  completed steps are reversed, newest first
//   succeeded | cancelled | rolled_back   final
// Stage states
//   pending -> running -> succeeded | failed; failed -> running (retry, skip, cancel again);
//   any unfinished -> cancelled; any reached -> rolled_back when its upgrade is rolled back
// Step states
//   pending -> running (claimed under a lease and a fencing token) -> succeeded | failed;
//   running -> pending (recovery re-queues an idempotent or not-applied step; the executor
//   retries a retry-safe step after a transient failure, claimable again after its backoff);
//   running -> succeeded by an operator: finalize ends a step that only waits (a rollback window);
//   failed -> pending (retry) | skipped (skip); pending -> cancelled; running -> cancelled (a
//   cancel stops it: its holder is fenced out);
//   succeeded -> rolling_back -> rolled_back, or back to succeeded when the reversal fails
//
// Batch and wave states: see BATCH_STATES in src/domain/types.ts. A wave takes its batch's state
// while it is the current wave; waves are written with their batch (scheduled) and have their own
// events (`wave.*`, data.batchId and data.wave name them).
//
// A row whose `from` is empty is created in that state (no previous state). An event written
// `batch.{to}` is named after the state the transition enters.
import type {
  BatchAction,
  BatchState,
  StageState,
  StepState,
  UpgradeAction,
  UpgradeState,
  WaveState,
} from '../../domain/types.ts';
import { BATCH_ACTIONS, UPGRADE_ACTIONS } from '../../domain/types.ts';

export type Cause = 'executor' | 'operator' | 'scheduler' | 'recovery' | 'policy';
export const CAUSES: readonly Cause[] = ['executor', 'operator', 'scheduler', 'recovery', 'policy'];

export interface Rule<S extends string> {
  from: readonly S[];
  to: readonly S[];
  by: readonly Cause[];
  /** the type of the event the transition appends */
  event: string;
  /** one line for the docs */
  why: string;
  /** states of `from` an operator may leave only inside a rollback window (a waiting step runs) */
  onlyInWindow?: readonly S[];
}

const ACTIVE: readonly UpgradeState[] = ['prechecking', 'running'];

export const UPGRADE_RULES = {
  create: {
    from: [],
    to: ['scheduled', 'ready'],
    by: ['operator'],
    event: 'upgrade.created',
    why: 'requested (alone or by a batch)',
  },
  promote: {
    from: ['scheduled'],
    to: ['ready'],
    by: ['scheduler'],
    event: 'upgrade.ready',
    why: 'its time came and its window is open',
  },
  release: {
    from: ['scheduled'],
    to: ['scheduled'],
    by: ['scheduler'],
    event: 'upgrade.released',
    why: 'its batch wave let it go',
  },
  hold: {
    from: ['scheduled', 'ready'],
    to: ['scheduled'],
    by: ['operator'],
    event: 'upgrade.held',
    why: 'its batch was paused before it started',
  },
  reschedule: {
    from: ['scheduled', 'paused'],
    to: ['scheduled', 'paused'],
    by: ['operator'],
    event: 'upgrade.reschedule',
    why: 'a new schedule (same state)',
  },
  start: { from: ['ready'], to: ['prechecking'], by: ['executor'], event: 'upgrade.started', why: 'the executor starts stage 0' },
  prechecked: {
    from: ['prechecking'],
    to: ['running'],
    by: ['executor', 'operator', 'scheduler', 'recovery'],
    event: 'upgrade.prechecked',
    why: 'the precheck stage passed',
  },
  succeed: {
    from: ACTIVE,
    to: ['succeeded'],
    by: ['executor', 'operator', 'scheduler', 'recovery'],
    event: 'upgrade.succeeded',
    why: 'its last stage completed',
  },
  fail: {
    from: ['prechecking', 'running', 'paused', 'cancelling', 'rolling_back'],
    to: ['failed'],
    by: ['executor', 'recovery'],
    event: 'upgrade.failed',
    why: 'a step (the reversal of one, or the restore of a node) failed',
  },
  pause: {
    from: ['ready', ...ACTIVE],
    to: ['paused'],
    by: ['operator'],
    event: 'upgrade.pause',
    why: 'an operator (or its batch) paused it, started or not yet',
  },
  window_close: { from: ACTIVE, to: ['paused'], by: ['scheduler'], event: 'upgrade.window_closed', why: 'its window closed' },
  analysis_pause: {
    from: ACTIVE,
    to: ['paused'],
    by: ['executor'],
    event: 'upgrade.analysis_paused',
    why: 'an analysis check of its bake could not be evaluated and its onError is pause',
  },
  resume: {
    from: ['paused'],
    to: ['ready', ...ACTIVE],
    by: ['operator'],
    event: 'upgrade.resume',
    why: 'an operator (or its batch) resumed it (ready again if it had not started)',
  },
  window_open: {
    from: ['paused'],
    to: ACTIVE,
    by: ['scheduler'],
    event: 'upgrade.window_opened',
    why: 'its window opened again',
  },
  cancel: {
    from: ['scheduled', 'ready', 'prechecking', 'running', 'paused', 'failed'],
    to: ['cancelling', 'cancelled'],
    by: ['operator', 'scheduler'],
    event: 'upgrade.cancel',
    why: 'an operator (or its batch) cancelled it; pending steps are cancelled; cancelling while nodes it took out of service are brought back',
  },
  cancelled: {
    from: ['cancelling'],
    to: ['cancelled'],
    by: ['executor', 'recovery'],
    event: 'upgrade.cancelled',
    why: 'every node its cancel found out of service is back in service',
  },
  retry: { from: ['failed'], to: ACTIVE, by: ['operator'], event: 'upgrade.retry', why: 'its failed steps run again' },
  skip: { from: ['failed'], to: ACTIVE, by: ['operator'], event: 'upgrade.skip', why: 'its failed steps are passed over' },
  rollback: {
    from: ['failed', 'paused', 'cancelled', 'running'],
    to: ['rolling_back'],
    by: ['operator', 'policy'],
    onlyInWindow: ['running'],
    event: 'upgrade.rollback',
    why: 'an operator, or its onFailure policy, asked to reverse it (running: only in a rollback window, whose wait stops)',
  },
  revert: {
    from: ['succeeded'],
    to: ['rolling_back'],
    by: ['policy'],
    event: 'upgrade.rollback',
    why: 'an analysis check of its batch wave failed its target after it succeeded, and its onFailure policy is rollback: its completed steps are reversed',
  },
  finalize: {
    from: ['running'],
    to: ['running'],
    by: ['operator'],
    onlyInWindow: ['running'],
    event: 'upgrade.finalize',
    why: 'an operator ended its rollback window early: the old cluster is decommissioned next (same state)',
  },
  rolled_back: {
    from: ['rolling_back'],
    to: ['rolled_back'],
    by: ['executor', 'operator', 'policy'],
    event: 'upgrade.rolled_back',
    why: 'every completed step is reversed',
  },
} as const satisfies Record<string, Rule<UpgradeState>>;

export const STAGE_RULES = {
  start: {
    from: ['pending'],
    to: ['running'],
    by: ['executor', 'operator', 'scheduler', 'recovery'],
    event: 'stage.started',
    why: 'the previous stage completed',
  },
  succeed: {
    from: ['pending', 'running'],
    to: ['succeeded'],
    by: ['executor', 'operator', 'scheduler', 'recovery'],
    event: 'stage.succeeded',
    why: 'each of its steps succeeded or was skipped',
  },
  fail: {
    from: ['running'],
    to: ['failed'],
    by: ['executor', 'recovery'],
    event: 'stage.failed',
    why: 'one of its steps failed',
  },
  reopen: {
    from: ['failed'],
    to: ['running'],
    by: ['operator'],
    event: 'stage.reopened',
    why: 'retry or skip of its failed steps (or a cancel again after a failed restore)',
  },
  cancel: {
    from: ['pending', 'running', 'failed'],
    to: ['cancelled'],
    by: ['operator', 'scheduler'],
    event: 'stage.cancelled',
    why: 'its upgrade was cancelled',
  },
  rolled_back: {
    from: ['succeeded', 'running', 'failed'],
    to: ['rolled_back'],
    by: ['executor', 'operator', 'policy'],
    event: 'stage.rolled_back',
    why: 'its upgrade was rolled back',
  },
} as const satisfies Record<string, Rule<StageState>>;

export const STEP_RULES = {
  claim: {
    from: ['pending'],
    to: ['running'],
    by: ['executor'],
    event: 'step.started',
    why: 'claimed under a lease; the driver is called',
  },
  succeed: {
    from: ['running'],
    to: ['succeeded'],
    by: ['executor', 'recovery'],
    event: 'step.succeeded',
    why: 'the driver finished it (or recovery found its effect)',
  },
  fail: {
    from: ['running'],
    to: ['failed'],
    by: ['executor', 'recovery'],
    event: 'step.failed',
    why: 'the driver failed, it timed out, or recovery cannot tell (or gave up)',
  },
  requeue: {
    from: ['running'],
    to: ['pending'],
    by: ['recovery'],
    event: 'step.recovered',
    why: 'its holder died; idempotent, or had not taken effect',
  },
  bake_pause: {
    from: ['running'],
    to: ['pending'],
    by: ['executor'],
    event: 'step.bake_paused',
    why: 'its upgrade paused on an analysis check that could not be evaluated; resumed, the bake samples again until its stored end',
  },
  retry_auto: {
    from: ['running'],
    to: ['pending'],
    by: ['executor'],
    event: 'step.retrying',
    why: 'it failed with a transient error, its driver lets it run again and it has attempts left: claimed again once its backoff ends',
  },
  reverse_again: {
    from: ['rolling_back'],
    to: ['succeeded'],
    by: ['recovery'],
    event: 'step.recovered',
    why: 'its holder died while reversing it; it is reversed again',
  },
  retry: {
    from: ['failed'],
    to: ['pending'],
    by: ['operator'],
    event: 'step.retry',
    why: 'an operator retries it (a failed restore: cancel again)',
  },
  skip: { from: ['failed'], to: ['skipped'], by: ['operator'], event: 'step.skipped', why: 'an operator skips it' },
  cancel: {
    from: ['pending'],
    to: ['cancelled'],
    by: ['operator', 'scheduler', 'policy'],
    event: 'step.cancelled',
    why: 'its upgrade was cancelled or is rolled back',
  },
  abort: {
    from: ['running'],
    to: ['cancelled'],
    by: ['operator', 'scheduler', 'recovery'],
    event: 'step.cancelled',
    why: 'its upgrade was cancelled while it ran and its driver lets a cancel stop it (or its holder died); the holder is fenced out',
  },
  end_wait: {
    from: ['running'],
    to: ['succeeded'],
    by: ['operator'],
    event: 'step.succeeded',
    why: 'a step that only waits (a rollback window) ended by an operator\u2019s finalize; its holder is fenced out',
  },
  reverse: {
    from: ['succeeded'],
    to: ['rolling_back'],
    by: ['executor'],
    event: 'step.rolling_back',
    why: 'claimed for reversal',
  },
  reversed: {
    from: ['rolling_back'],
    to: ['rolled_back'],
    by: ['executor'],
    event: 'step.rolled_back',
    why: 'the driver reversed it',
  },
  unreversed: {
    from: ['rolling_back'],
    to: ['succeeded'],
    by: ['executor', 'recovery'],
    event: 'step.rollback_failed',
    why: 'its reversal failed or was interrupted; a later rollback reverses it again',
  },
} as const satisfies Record<string, Rule<StepState>>;

const UNFINISHED_BATCH: readonly BatchState[] = [
  'scheduled',
  'running',
  'baking',
  'awaiting_approval',
  'paused',
  'halted',
  'failed',
];

export const BATCH_RULES = {
  create: {
    from: [],
    to: ['creating'],
    by: ['operator'],
    event: 'batch.created',
    why: 'requested; its waves are written with it and its upgrades are created held',
  },
  created: {
    from: ['creating'],
    to: ['scheduled'],
    by: ['operator'],
    event: 'batch.scheduled',
    why: 'every upgrade was created',
  },
  discard: {
    from: ['creating'],
    to: ['cancelled'],
    by: ['operator'],
    event: 'batch.cancelled',
    why: 'creating an upgrade failed; the held ones are discarded',
  },
  start: {
    from: ['scheduled'],
    to: ['running'],
    by: ['scheduler'],
    event: 'batch.running',
    why: 'its start time came; wave 1 starts',
  },
  await_approval: {
    from: ['scheduled', 'running', 'baking'],
    to: ['awaiting_approval'],
    by: ['scheduler'],
    event: 'batch.awaiting_approval',
    why: 'the next wave needs approval',
  },
  bake: {
    from: ['running'],
    to: ['baking'],
    by: ['scheduler'],
    event: 'batch.baking',
    why: 'the current wave is done and has a bake time',
  },
  next_wave: {
    from: ['running', 'baking'],
    to: ['running'],
    by: ['scheduler'],
    event: 'batch.wave_started',
    why: 'the current wave is done (and its bake and health checks passed); the next wave starts',
  },
  succeed: {
    from: ['running', 'baking'],
    to: ['succeeded'],
    by: ['scheduler'],
    event: 'batch.succeeded',
    why: 'the last wave is done, no target failed',
  },
  fail: {
    from: ['running', 'baking'],
    to: ['failed'],
    by: ['scheduler'],
    event: 'batch.failed',
    why: 'the last wave is done, some targets failed (fewer than the threshold)',
  },
  halt: {
    from: ['running', 'baking'],
    to: ['halted'],
    by: ['scheduler'],
    event: 'batch.halted',
    why: 'failed targets reached the threshold: nothing new starts, running upgrades finish',
  },
  approve: {
    from: ['awaiting_approval'],
    to: ['running'],
    by: ['operator'],
    event: 'batch.running',
    why: 'an operator approved the gated wave; it starts',
  },
  pause: {
    from: ['scheduled', 'running', 'baking', 'awaiting_approval'],
    to: ['paused'],
    by: ['operator', 'scheduler'],
    event: 'batch.paused',
    why: 'an operator paused it (released upgrades not started are held, running ones pause), or an analysis check with onError pause could not be evaluated during its bake',
  },
  resume: {
    from: ['paused'],
    to: ['scheduled', 'running', 'baking', 'awaiting_approval'],
    by: ['operator'],
    event: 'batch.{to}',
    why: 'an operator resumed it: back to the state it was paused in',
  },
  retry: {
    from: ['halted', 'failed', 'running', 'baking'],
    to: ['running', 'baking'],
    by: ['operator'],
    event: 'batch.retried',
    why: 'its failed targets run again (halted or failed: it runs again; running or baking: same state)',
  },
  cancel: {
    from: UNFINISHED_BATCH,
    to: ['cancelled'],
    by: ['operator'],
    event: 'batch.cancelled',
    why: 'an operator cancelled it: nothing new starts, unfinished upgrades are cancelled',
  },
} as const satisfies Record<string, Rule<BatchState>>;

export const WAVE_RULES = {
  start: {
    from: ['scheduled'],
    to: ['running'],
    by: ['scheduler'],
    event: 'wave.started',
    why: 'the wave before it ended (or the batch started); it releases its upgrades',
  },
  await_approval: {
    from: ['scheduled'],
    to: ['awaiting_approval'],
    by: ['scheduler'],
    event: 'wave.awaiting_approval',
    why: 'it is next and needs approval',
  },
  approve: {
    from: ['awaiting_approval'],
    to: ['running'],
    by: ['operator'],
    event: 'wave.approved',
    why: 'an operator approved it',
  },
  bake: {
    from: ['running'],
    to: ['baking'],
    by: ['scheduler'],
    event: 'wave.baking',
    why: 'its upgrades ended; the bake starts',
  },
  succeed: {
    from: ['running', 'baking'],
    to: ['succeeded'],
    by: ['scheduler'],
    event: 'wave.succeeded',
    why: 'its upgrades ended (and its bake), every target upgraded and healthy',
  },
  fail: {
    from: ['running', 'baking'],
    to: ['failed'],
    by: ['scheduler'],
    event: 'wave.failed',
    why: 'its upgrades ended (and its bake); some target failed or was not healthy after the bake',
  },
  halt: {
    from: ['running', 'baking'],
    to: ['halted'],
    by: ['scheduler'],
    event: 'wave.halted',
    why: 'its batch halted while it was the current wave',
  },
  pause: {
    from: ['running', 'baking', 'awaiting_approval'],
    to: ['paused'],
    by: ['operator', 'scheduler'],
    event: 'wave.paused',
    why: 'its batch was paused while it was the current wave',
  },
  resume: {
    from: ['paused'],
    to: ['running', 'baking', 'awaiting_approval'],
    by: ['operator'],
    event: 'wave.resumed',
    why: 'its batch was resumed',
  },
  retry: {
    from: ['halted', 'failed', 'succeeded'],
    to: ['running'],
    by: ['operator'],
    event: 'wave.retried',
    why: 'its batch was retried while it was the current wave',
  },
  cancel: {
    from: ['scheduled', 'running', 'baking', 'awaiting_approval', 'paused', 'halted'],
    to: ['cancelled'],
    by: ['operator'],
    event: 'wave.cancelled',
    why: 'its batch was cancelled before the wave ended',
  },
} as const satisfies Record<string, Rule<WaveState>>;

export type UpgradeRule = keyof typeof UPGRADE_RULES;
export type StageRule = keyof typeof STAGE_RULES;
export type StepRule = keyof typeof STEP_RULES;
export type BatchRule = keyof typeof BATCH_RULES;
export type WaveRule = keyof typeof WAVE_RULES;

export type Entity = 'upgrade' | 'stage' | 'step' | 'batch' | 'wave';
export const RULES: Record<Entity, Record<string, Rule<string>>> = {
  upgrade: UPGRADE_RULES,
  stage: STAGE_RULES,
  step: STEP_RULES,
  batch: BATCH_RULES,
  wave: WAVE_RULES,
};

/** The cause an event's actor stands for: anything but a system cause is an operator. */
export function causeOf(actor: string): Cause {
  return (CAUSES as readonly string[]).includes(actor) && actor !== 'operator' ? (actor as Cause) : 'operator';
}

/** The event type a rule appends when it enters `to` (`batch.{to}` is named after the state). */
export const eventOf = (rule: Rule<string>, to: string): string => rule.event.replace('{to}', to);

/** The rules whose event has this type (two recovery rules share step.recovered); empty when none. */
export function rulesOfEvent(type: string): { entity: Entity; name: string; rule: Rule<string> }[] {
  const found: { entity: Entity; name: string; rule: Rule<string> }[] = [];
  for (const entity of Object.keys(RULES) as Entity[]) {
    for (const [name, rule] of Object.entries(RULES[entity])) {
      if (rule.to.some((to) => eventOf(rule, to) === type)) found.push({ entity, name, rule });
    }
  }
  return found;
}

export class TransitionError extends Error {}

/** Throws unless `from -> to` by `by` is in the table under `name` (a programming error, not input). */
export function checkRule(entity: Entity, name: string, from: readonly string[], to: string, by: Cause): Rule<string> {
  const rule = RULES[entity][name];
  if (!rule) throw new TransitionError(`no ${entity} transition named ${name}`);
  const bad = from.filter((f) => !rule.from.includes(f));
  if (bad.length > 0 || !rule.to.includes(to) || !rule.by.includes(by)) {
    throw new TransitionError(`${entity} ${name}: ${from.join('|')} -> ${to} by ${by} is not in the transition table`);
  }
  return rule;
}

/**
 * The states an operator may ask for `action` in, read from the rule of the same name: the states
 * it leaves by an operator, without those it leaves only inside a rollback window.
 */
function operatorFrom<S extends string>(rule: Rule<S>): readonly S[] {
  if (!rule.by.includes('operator')) return [];
  return rule.from.filter((f) => !rule.onlyInWindow?.includes(f));
}

export const UPGRADE_ACTION_FROM: Record<UpgradeAction, readonly UpgradeState[]> = Object.fromEntries(
  UPGRADE_ACTIONS.map((a) => [a, operatorFrom<UpgradeState>(UPGRADE_RULES[a])]),
) as Record<UpgradeAction, readonly UpgradeState[]>;

/** In a rollback window only the actions whose rule allows it there are offered: rollback and finalize. */
const WINDOW_ACTIONS: readonly UpgradeAction[] = UPGRADE_ACTIONS.filter((a) =>
  (UPGRADE_RULES[a] as Rule<UpgradeState>).onlyInWindow?.includes('running'),
);

/**
 * The actions an operator may request of an upgrade in this state (the API shows them, the
 * operations refuse the others, the API families map refusals to their own codes);
 * inWindow: a step that only waits (a blue/green rollback window) is running.
 */
export function allowedActions(state: UpgradeState, inWindow = false): UpgradeAction[] {
  if (inWindow && state === 'running') return [...WINDOW_ACTIONS];
  return UPGRADE_ACTIONS.filter((a) => UPGRADE_ACTION_FROM[a].includes(state));
}

/** The batch states an operator may ask for a batch action in, from the batch rules. */
export const BATCH_ACTION_FROM: Record<BatchAction, readonly BatchState[]> = {
  pause: operatorFrom<BatchState>(BATCH_RULES.pause),
  resume: operatorFrom<BatchState>(BATCH_RULES.resume),
  approve: operatorFrom<BatchState>(BATCH_RULES.approve),
  retry: operatorFrom<BatchState>(BATCH_RULES.retry),
  cancel: operatorFrom<BatchState>(BATCH_RULES.cancel),
};

/**
 * The actions an operator may request of a batch in this state (the API shows them, batchAction
 * refuses the others); retry only when it has something to retry (failed or unhealthy targets).
 */
export function allowedBatchActions(state: BatchState, retryable: boolean): BatchAction[] {
  return BATCH_ACTIONS.filter((a) => BATCH_ACTION_FROM[a].includes(state) && (a !== 'retry' || retryable));
}

/** The table as a Markdown table (docs/architecture.md holds this text; a test compares them). */
export function renderTable(): string {
  const lines = ['| entity | transition | from | to | caused by | event | when |', '|---|---|---|---|---|---|---|'];
  for (const entity of Object.keys(RULES) as Entity[]) {
    for (const [name, r] of Object.entries(RULES[entity])) {
      const from = r.from.length === 0 ? '(new)' : r.from.join(', ');
      const window = r.onlyInWindow ? ` (${r.onlyInWindow.join(', ')}: only in a rollback window)` : '';
      lines.push(
        `| ${entity} | ${name} | ${from}${window} | ${r.to.join(', ')} | ${r.by.join(', ')} | \`${r.event}\` | ${r.why} |`,
      );
    }
  }
  return lines.join('\n');
}
