// What the native API answers about batches: a batch with its waves, counts, bake timer, failures
// against the threshold, forecast and (once cancelled) the restores its cancel made.
import { Type, type Static } from '@sinclair/typebox';
import { BATCH_ACTIONS, BATCH_STATES, WAVE_STATES } from '../domain/types.ts';
import { literalUnion, Nullable, Page, Time } from './common.ts';
import { EstimateOut, ModeOut, RestoreOut, ScheduleOut } from './upgrade-shapes.ts';

export const WaveOut = Type.Object({
  index: Type.Integer(),
  name: Type.String(),
  state: literalUnion(WAVE_STATES),
  targets: Type.Integer({ description: 'how many targets the wave holds' }),
  maxConcurrency: Type.Integer(),
  bakeMinutes: Type.Number(),
  approval: Type.Boolean({ description: 'the wave waits for the approve action before it starts' }),
  approvedBy: Nullable(Type.String()),
  startedAt: Nullable(Time()),
  endedAt: Nullable(Time()),
  bakeUntil: Nullable(Time()),
  counts: Type.Record(Type.String(), Type.Integer(), { description: 'upgrades of the wave per upgrade state' }),
  healthFailures: Type.Array(Type.String(), { description: 'targets found unhealthy at the end of the bake' }),
});

export const BatchOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  projectId: Type.String(),
  name: Type.String(),
  kind: Type.String({ description: 'what made it: fleet (this API) or a family\u2019s batch' }),
  source: Type.String(),
  state: literalUnion(BATCH_STATES),
  allowedActions: Type.Array(literalUnion(BATCH_ACTIONS), {
    description: 'the operator actions the current state allows (pause, resume, cancel, retry, approve)',
  }),
  pendingReason: Nullable(Type.String({ description: 'why it does not move now, in words' })),
  mode: ModeOut,
  toVersions: Type.Array(Type.String()),
  schedule: ScheduleOut,
  notBefore: Nullable(Time()),
  targets: Type.Integer(),
  failures: Type.Integer(),
  failureLimit: Type.Integer({ description: 'the failed targets that halt it' }),
  currentWave: Nullable(Type.Integer()),
  waves: Type.Array(WaveOut),
  bake: Nullable(Type.Object({ wave: Type.Integer(), until: Time(), remainingSeconds: Type.Integer() })),
  estimate: Nullable(EstimateOut),
  createdAt: Time(),
  updatedAt: Nullable(Time()),
  endedAt: Nullable(Time()),
  restores: Type.Array(RestoreOut, {
    description: 'a cancelled batch: what the cancel did on each node its upgrades had left out of service',
  }),
});

export const BatchList = Page(BatchOut);

export const BatchPreviewOut = Type.Object(
  {
    name: Type.String(),
    toVersion: Type.String(),
    mode: ModeOut,
    schedule: ScheduleOut,
    targets: Type.Integer({ description: 'how many targets the batch would upgrade' }),
    failureLimit: Type.Integer({ description: 'the failed targets that would halt it' }),
    waves: Type.Array(
      Type.Object({
        index: Type.Integer(),
        name: Type.String(),
        maxConcurrency: Type.Integer(),
        bakeMinutes: Type.Number(),
        approval: Type.Boolean(),
        targets: Type.Array(
          Type.Object({ id: Type.String(), name: Type.String(), engine: Type.String(), version: Type.String() }),
          { description: 'the targets the wave would take, in the order it takes them' },
        ),
      }),
    ),
  },
  { description: 'the batch a request would create; nothing is written' },
);

export type WaveT = Static<typeof WaveOut>;
export type BatchT = Static<typeof BatchOut>;
export type BatchPreviewT = Static<typeof BatchPreviewOut>;
