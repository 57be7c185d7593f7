// TypeBox schemas of the native API: they validate requests and generate /openapi.json.
import { Type, type Static } from '@sinclair/typebox';
import { STEP_ACTIONS, UPGRADE_MODES, UPGRADE_STATES } from '../../domain/types.ts';
import { UPGRADE_ACTIONS } from '../../engine/operations.ts';

export const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'letters, digits, . _ - (max 64)' });
export const Engine = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,31}$', description: 'engine name, lower case' });
export const Version = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z][0-9A-Za-z._+-]*$' });
export const Window = Type.Object(
  {
    start: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }),
    end: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }),
  },
  { additionalProperties: false, description: 'UTC times of day, HH:MM; may wrap past midnight' },
);
const Str = (max = 256) => Type.String({ maxLength: max });

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

export const ProjectBody = Type.Object({ id: Id, name: Type.Optional(Str(128)) }, { additionalProperties: false });
export const ProjectParams = Type.Object({ project: Id });
export const TargetParams = Type.Object({ project: Id, target: Id });
export const UpgradeParams = Type.Object({ project: Id, upgrade: Type.String({ format: 'uuid' }) });
export const ReportParams = Type.Object({ project: Id, report: Type.String({ pattern: '^[a-f0-9]{32}$' }) });
export const EngineParams = Type.Object({ engine: Engine });

export const CatalogBody = Type.Object(
  {
    version: Version,
    release: Type.Optional(Str(128)),
    imageId: Type.Optional(Str(128)),
    displayName: Type.Optional(Str(128)),
    description: Type.Optional(Str(2000)),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    upgradableFrom: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 200 })),
    barrier: Type.Optional(Type.Boolean()),
    deprecated: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const NodeInput = Type.Object(
  {
    name: Id,
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    version: Type.Optional(Version),
  },
  { additionalProperties: false },
);

export const TargetBody = Type.Object(
  {
    id: Id,
    name: Type.Optional(Str(128)),
    kind: Type.Union([Type.Literal('cluster'), Type.Literal('instance')]),
    engine: Engine,
    version: Version,
    release: Type.Optional(Str(128)),
    region: Type.Optional(Type.String({ maxLength: 64 })),
    driver: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' })),
    driverConfig: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    maintenanceWindow: Type.Optional(Type.Union([Window, Type.Null()])),
    nodes: Type.Optional(Type.Array(NodeInput, { maxItems: 1000 })),
  },
  { additionalProperties: false },
);
export type TargetBodyT = Static<typeof TargetBody>;

export const TargetPatchBody = Type.Object(
  {
    name: Type.Optional(Str(128)),
    region: Type.Optional(Type.String({ maxLength: 64 })),
    release: Type.Optional(Str(128)),
    maintenanceWindow: Type.Optional(Type.Union([Window, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Mode = Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m)));
export const UpgradeStateT = Type.Union(UPGRADE_STATES.map((s) => Type.Literal(s)));

export const UpgradeBody = Type.Object(
  {
    targetId: Id,
    toVersion: Type.Optional(Version),
    release: Type.Optional(Str(128)),
    mode: Type.Optional(Mode),
    force: Type.Optional(Type.Boolean()),
    schedule: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('now'), Type.Literal('window'), Type.Literal('at')]),
          at: Type.Optional(Type.String({ format: 'date-time' })),
        },
        { additionalProperties: false },
      ),
    ),
    options: Type.Optional(
      Type.Object(
        {
          parallelism: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          masterOnly: Type.Optional(Type.Boolean()),
          sourceAz: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          targetAz: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          stepTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
          flightingSql: Type.Optional(Type.String({ maxLength: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ActionBody = Type.Object(
  {
    action: Type.Union(UPGRADE_ACTIONS.map((a) => Type.Literal(a))),
  },
  { additionalProperties: false },
);

export const UpgradeListQuery = Type.Object(
  {
    target: Type.Optional(Id),
    state: Type.Optional(Type.String({ pattern: '^[a-z_]+(,[a-z_]+)*$', description: 'comma-separated states' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);

export const PrecheckBody = Type.Object(
  {
    toVersion: Version,
    mode: Type.Optional(Mode),
    wait: Type.Optional(Type.Boolean()),
    options: Type.Optional(
      Type.Object({ flightingSql: Type.Optional(Type.String({ maxLength: 1_000_000 })) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const FaultBody = Type.Object(
  {
    node: Type.Optional(Id),
    step: Type.Union(STEP_ACTIONS.map((a) => Type.Literal(a))),
    kind: Type.Union([Type.Literal('fail'), Type.Literal('hang'), Type.Literal('crash'), Type.Literal('health_timeout')]),
    times: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
  },
  { additionalProperties: false },
);

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0 })),
    upgrade: Type.Optional(Type.String({ format: 'uuid' })),
    target: Type.Optional(Id),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
    stream: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const TargetListQuery = Type.Object(
  {
    engine: Type.Optional(Engine),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);

// ---- responses (documentation in /openapi.json; open objects, so added fields pass through) ----
const Open = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: true, ...(description ? { description } : {}) });
const Nullable = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Union([t, Type.Null()]);

export const StepOut = Open({
  id: Type.String(),
  name: Type.String(),
  action: Type.String(),
  description: Type.String(),
  node: Nullable(Type.String()),
  state: Type.String(),
  attempts: Type.Integer(),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  error: Nullable(Type.String()),
  log: Type.Optional(Type.Array(Type.String())),
});

export const StageOut = Open({
  index: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  state: Type.String(),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  steps: Type.Array(StepOut),
});

export const UpgradeOut = Open(
  {
    id: Type.String(),
    targetId: Type.String(),
    fromVersion: Type.String(),
    toVersion: Type.String(),
    mode: Type.String(),
    state: Type.String(),
    error: Nullable(Type.String()),
    errorCode: Nullable(Type.String()),
  },
  'an upgrade (a DAG run)',
);

export const UpgradeDetailOut = Type.Composite([UpgradeOut, Type.Object({ stages: Type.Array(StageOut) })], {
  additionalProperties: true,
});

export const NodeOut = Open({
  name: Type.String(),
  role: Type.String(),
  zone: Type.String(),
  version: Type.String(),
  health: Type.String(),
});

export const TargetOut = Open({
  id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  engine: Type.String(),
  version: Type.String(),
  driver: Type.String(),
  nodes: Type.Array(NodeOut),
});

export const ReportOut = Open({
  id: Type.String(),
  targetId: Type.String(),
  toVersion: Type.String(),
  state: Type.String(),
  items: Type.Array(Open({ name: Type.String(), status: Type.String(), message: Type.String() })),
});

export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
};
