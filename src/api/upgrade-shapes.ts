// What the native API answers about upgrades: an upgrade (in lists), its detail with stages and
// steps, its estimate, the point of no return, a blue/green rollback window and a cancel's restores.
// Fixed names (id, targetId, fromVersion, toVersion, mode, state, stages[].name/state,
// steps[].name/node/state/attempts/startedAt/endedAt) never change; fields may be added.
import { Type, type Static } from '@sinclair/typebox';
import {
  SCHEDULE_KINDS,
  STAGE_STATES,
  STEP_ACTIONS,
  STEP_STATES,
  UPGRADE_ACTIONS,
  UPGRADE_MODES,
  UPGRADE_STATES,
} from '../domain/types.ts';
import { AnyObject, literalUnion, Nullable, Page, Time } from './common.ts';

export const UpgradeStateOut = literalUnion(UPGRADE_STATES);
export const ModeOut = literalUnion(UPGRADE_MODES);

export const StepOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  action: literalUnion(STEP_ACTIONS),
  description: Type.String(),
  node: Nullable(Type.String(), { description: 'null for a step on the whole target' }),
  lane: Type.String({ description: 'steps of one lane run in order; the lanes of a stage run side by side' }),
  order: Type.Integer({ description: 'its place across the whole upgrade' }),
  state: literalUnion(STEP_STATES),
  attempts: Type.Integer(),
  notBefore: Nullable(Time({ description: 'pending after a transient failure: it runs again at this time (its backoff)' })),
  startedAt: Nullable(Time()),
  endedAt: Nullable(Time()),
  error: Nullable(Type.String()),
  params: AnyObject({ description: 'what the planner gave the step (per action)' }),
  result: Nullable(AnyObject({ description: 'what the driver reported when the step succeeded' })),
  progress: Nullable(
    AnyObject({
      description:
        'what the driver reports while the step runs: a blue/green initial copy has bytesDone, bytesTotal, tablesDone, tablesTotal, rateBytesPerSecond, etaSeconds; a catch-up lagBytes and boundBytes; a rollback window until and secondsLeft; a bake until, secondsLeft and checks (each with its last sample)',
    }),
  ),
  log: Type.Optional(Type.Array(Type.String(), { description: 'the step log (the detail of one upgrade only)' })),
});

export const StageOut = Type.Object({
  index: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  state: literalUnion(STAGE_STATES),
  startedAt: Nullable(Time()),
  endedAt: Nullable(Time()),
  steps: Type.Array(StepOut),
});

export const EstimateOut = Type.Object(
  {
    completesAt: Time(),
    remainingSeconds: Type.Integer({ minimum: 0 }),
    basis: Type.String({ description: 'how the estimate was made: which durations were learned, which waits it counts' }),
  },
  { description: 'predicted completion, learned from finished steps; null when the end cannot be foreseen' },
);

export const HopOut = Type.Object({
  fromVersion: Type.String(),
  toVersion: Type.String(),
  release: Type.String(),
  fromEngine: Type.Optional(Type.String({ description: 'set on a hop that changes the engine' })),
  toEngine: Type.Optional(Type.String()),
});

export const ScheduleOut = Type.Object({ kind: literalUnion(SCHEDULE_KINDS), at: Type.Optional(Time()) });

export const UpgradeOut = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    number: Type.Optional(Type.Integer({ description: 'its number in the project (1, 2, ...)' })),
    ref: Type.Optional(
      Type.String({
        pattern: '^up-[0-9]+$',
        description: 'its short reference ("up-" and its number): the console, the CLI and the API show it, the CLI takes it',
      }),
    ),
    targetId: Type.String(),
    fromEngine: Nullable(Type.String({ description: 'the engine before the upgrade (a route may change it)' })),
    toEngine: Nullable(Type.String({ description: 'the engine after it, e.g. valkey for redis -> valkey' })),
    fromVersion: Type.String(),
    toVersion: Type.String(),
    release: Type.String(),
    mode: ModeOut,
    azMigration: Type.Optional(
      Type.Object(
        { sourceAz: Nullable(Type.String()), targetAz: Nullable(Type.String()), allowZoneReduction: Type.Boolean() },
        { description: 'az_migration: which zone\u2019s nodes move where' },
      ),
    ),
    state: UpgradeStateOut,
    allowedActions: Type.Array(literalUnion(UPGRADE_ACTIONS), {
      description: 'the operator actions the current state allows (pause, resume, ...)',
    }),
    currentStage: Type.Integer(),
    stageCount: Type.Integer(),
    hops: Type.Array(HopOut, { description: 'a route through barrier versions: one hop per version it stops on' }),
    force: Type.Boolean(),
    schedule: ScheduleOut,
    notBefore: Nullable(Time()),
    batchId: Nullable(Type.String()),
    waveIndex: Nullable(Type.Integer()),
    pendingReason: Nullable(Type.String({ description: 'why it is not running now, in words' })),
    hold: Nullable(literalUnion(['batch', 'window'] as const, { description: 'what holds it besides an operator' })),
    runUntil: Nullable(Time({ description: 'no new step starts at or after this time (its window closes)' })),
    precheckReportId: Nullable(Type.String()),
    error: Nullable(Type.String()),
    errorCode: Nullable(Type.String()),
    retries: Type.Integer({ description: 'how many times an operator retried it' }),
    createdBy: Type.String(),
    createdByName: Type.Optional(
      Type.String({ description: 'the name of the token or access key that created it, while it exists' }),
    ),
    createdAt: Time(),
    updatedAt: Time(),
    startedAt: Nullable(Time()),
    endedAt: Nullable(Time()),
  },
  { description: 'an upgrade (a DAG run)' },
);

export const RestoreOut = Type.Object({
  upgradeId: Type.String(),
  targetId: Type.String(),
  node: Type.String(),
  state: literalUnion(STEP_STATES, {
    description: 'the restore step: pending, running, succeeded (back in service) or failed',
  }),
  reason: Nullable(Type.String({ description: 'why the node was out of service: the last step that touched it' })),
  summary: Nullable(Type.String({ description: 'what the driver did, e.g. "started on 7.10.3; it was stopped"' })),
  error: Nullable(Type.String()),
});

export const PointOfNoReturnOut = Type.Object(
  {
    stepId: Type.String(),
    name: Type.String(),
    node: Nullable(Type.String()),
    action: Type.String(),
    reason: Nullable(Type.String({ description: 'why the step cannot be reversed, in the driver\u2019s words' })),
    passed: Type.Boolean({ description: 'the step has started: rollback is refused and no longer offered' }),
  },
  { description: 'the first step the driver cannot reverse; null when every step can be' },
);

export const RollbackWindowOut = Type.Object(
  {
    state: Type.String({
      description: 'not_started, open, ended (finalized or run out) or closed (the old cluster is decommissioned)',
    }),
    retentionSeconds: Nullable(Type.Integer()),
    until: Nullable(Time()),
    secondsLeft: Nullable(Type.Integer()),
    rollbackPossible: Type.Boolean(),
    message: Type.String(),
  },
  { description: 'blue_green: how long the old cluster is kept in step, so a rollback can return to it' },
);

export const UpgradeDetailOut = Type.Object(
  {
    ...UpgradeOut.properties,
    estimate: Nullable(EstimateOut),
    pointOfNoReturn: Nullable(PointOfNoReturnOut),
    rollbackWindow: Type.Optional(Nullable(RollbackWindowOut)),
    stages: Type.Array(StageOut),
    restores: Type.Array(RestoreOut, {
      description: 'what a cancel did on each node it found out of service (stage Restore service); empty when none',
    }),
  },
  { description: 'an upgrade with its stages and steps' },
);

export const UpgradeList = Page(UpgradeOut);

export type StepT = Static<typeof StepOut>;
export type StageT = Static<typeof StageOut>;
export type EstimateT = Static<typeof EstimateOut>;
export type UpgradeT = Static<typeof UpgradeOut>;
export type UpgradeDetailT = Static<typeof UpgradeDetailOut>;
export type RestoreT = Static<typeof RestoreOut>;
export type PointOfNoReturnT = Static<typeof PointOfNoReturnOut>;
export type RollbackWindowT = Static<typeof RollbackWindowOut>;
