// TypeBox schemas of the batch API. The request shape is fixed by the product (docs/fleet.md).
import { Type } from '@sinclair/typebox';
import { literalUnion } from '../../api/common.ts';
import { BATCH_ACTIONS, SCHEDULE_KINDS } from '../../domain/types.ts';
import { AnalysisList, Engine, Id, Labels, Mode, RetryOptions, Version } from './schemas.ts';

const Amount = Type.Union([
  Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  Type.String({ pattern: '^\\d+(\\.\\d+)?%$', description: 'a percentage, e.g. "10%"' }),
]);
const PositiveAmount = Type.Union([
  Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  Type.String({ pattern: '^\\d+(\\.\\d+)?%$', description: 'a percentage, e.g. "50%"' }),
]);

export const Schedule = Type.Object(
  {
    kind: literalUnion(SCHEDULE_KINDS),
    at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

export const WaveBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    targets: Amount,
    maxConcurrency: Type.Optional(PositiveAmount),
    bakeMinutes: Type.Optional(Type.Number({ minimum: 0, maximum: 525600 })),
    approval: Type.Optional(Type.Boolean()),
    analysis: Type.Optional(AnalysisList),
  },
  { additionalProperties: false },
);

export const BatchBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    selector: Type.Optional(
      Type.Object(
        { engine: Type.Optional(Engine), version: Type.Optional(Version), labels: Type.Optional(Labels) },
        { additionalProperties: false },
      ),
    ),
    targetIds: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 100000 })),
    toVersion: Version,
    mode: Type.Optional(Mode),
    schedule: Type.Optional(Schedule),
    waves: Type.Array(WaveBody, { minItems: 1, maxItems: 100 }),
    failureThreshold: Type.Optional(Type.Object({ targets: PositiveAmount }, { additionalProperties: false })),
    upgradeOptions: Type.Optional(
      Type.Object(
        {
          retry: Type.Optional(RetryOptions),
          onFailure: Type.Optional(
            Type.Union([Type.Literal('stop'), Type.Literal('rollback')], {
              description:
                'rollback: an upgrade that fails, or whose target an analysis check fails after it succeeded, is rolled back by itself',
            }),
          ),
          analysis: Type.Optional(AnalysisList),
        },
        { additionalProperties: false, description: 'options every upgrade of the batch gets, as options of POST .../upgrades' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const BatchParams = Type.Object({ project: Id, batch: Type.String({ format: 'uuid' }) });
export const BatchActionBody = Type.Object({ action: literalUnion(BATCH_ACTIONS) }, { additionalProperties: false });
export const BatchListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
  },
  { additionalProperties: false },
);
