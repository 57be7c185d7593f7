// What the native API answers about batches: a batch with its waves, counts, bake timer, failures
// against the threshold, forecast and (once cancelled) the restores its cancel made.
import { Type, type Static } from '@sinclair/typebox';
import { ANALYSIS_ON_ERROR } from '../domain/analysis.ts';
import { BATCH_ACTIONS, BATCH_STATES, SLI_NAMES, WAVE_STATES } from '../domain/types.ts';
import { literalUnion, Nullable, Page, Time } from './common.ts';
import { EstimateOut, ModeOut, RestoreOut, ScheduleOut } from './upgrade-shapes.ts';

export const AnalysisOut = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('prometheus'), Type.Literal('sli')]),
  url: Nullable(Type.String()),
  query: Nullable(Type.String()),
  sli: Nullable(literalUnion(SLI_NAMES)),
  min: Nullable(Type.Number()),
  max: Nullable(Type.Number()),
  onError: literalUnion(ANALYSIS_ON_ERROR),
  intervalSeconds: Type.Number(),
  outcome: Type.Union([Type.Literal('pending'), Type.Literal('pass'), Type.Literal('fail'), Type.Literal('error')], {
    description: 'of its last sample: pending until the first; error = it could not be evaluated',
  }),
  lastValue: Nullable(Type.Number({ description: 'the value that decided the last sample (the failing one when it failed)' })),
  lastAt: Nullable(Time()),
  reason: Nullable(Type.String({ description: 'why it failed or could not be evaluated' })),
});

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
  analysis: Type.Array(AnalysisOut, { description: 'checks judged during the bake, each with its last sample' }),
  analysisFailures: Type.Array(
    Type.Object({
      target: Type.String(),
      check: Type.String(),
      reason: Type.String({ description: 'e.g. analysis "error rate": 0.05 > max 0.01' }),
      rolledBack: Type.Boolean({ description: 'its upgrade was rolled back by its onFailure policy' }),
    }),
    { description: 'targets the analysis checks failed' },
  ),
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
