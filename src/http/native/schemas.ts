// TypeBox schemas of the native API: they validate requests and generate /openapi.json.
import { Type, type Static } from '@sinclair/typebox';
import {
  SCHEDULE_KINDS,
  SIM_FAULT_KINDS,
  SLI_NAMES,
  STEP_ACTIONS,
  TARGET_KINDS,
  UPGRADE_ACTIONS,
  UPGRADE_MODES,
  WEEK_DAYS,
} from '../../domain/types.ts';
import { literalUnion } from '../../api/common.ts';
import { ANALYSIS_ON_ERROR } from '../../domain/analysis.ts';

export const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'letters, digits, . _ - (max 64)' });
export const Engine = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,31}$', description: 'engine name, lower case' });
export const Version = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z][0-9A-Za-z._+-]*$' });
const HHMM = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM' });
export const DailyWindow = Type.Object(
  { start: HHMM, end: HHMM },
  { additionalProperties: false, description: 'every day, UTC times of day; may wrap past midnight' },
);
export const WeeklyWindow = Type.Object(
  {
    days: Type.Array(literalUnion(WEEK_DAYS), { minItems: 1, maxItems: 7, uniqueItems: true }),
    start: HHMM,
    durationMinutes: Type.Integer({ minimum: 1, maximum: 10080 }),
    timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Asia/Shanghai' }),
  },
  { additionalProperties: false, description: 'opens at start (wall clock in timeZone) on each day, for durationMinutes' },
);
export const Window = Type.Union([WeeklyWindow, DailyWindow]);
export const Exclusions = Type.Array(
  Type.Object(
    {
      from: Type.String({ format: 'date-time' }),
      to: Type.String({ format: 'date-time' }),
      reason: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  { maxItems: 100, description: 'no upgrade starts or continues in these periods' },
);
export const Labels = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$' }),
  Type.String({ pattern: '^[A-Za-z0-9._-]{0,63}$' }),
  { maxProperties: 64, description: 'key/value labels, e.g. {"env":"prod"}' },
);
const Str = (max = 256) => Type.String({ maxLength: max });
/** Offsets and event ids: bounded so no store sees a number outside its 32-bit integer range. */
export const MAX_OFFSET = 2_147_483_647;
const Offset = Type.Integer({ minimum: 0, maximum: MAX_OFFSET, default: 0 });

export const ProjectBody = Type.Object({ id: Id, name: Type.Optional(Str(128)) }, { additionalProperties: false });
export const ProjectParams = Type.Object({ project: Id });
export const TargetParams = Type.Object({ project: Id, target: Id });
export const UpgradeParams = Type.Object({ project: Id, upgrade: Type.String({ format: 'uuid' }) });
export const ReportParams = Type.Object({ project: Id, report: Type.String({ pattern: '^[a-f0-9]{32}$' }) });
export const EngineParams = Type.Object({ engine: Engine });

export const CatalogAcrossQuery = Type.Object(
  {
    fromEngine: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9._-]{0,31}$',
        description:
          'only the entries of other engines a target of this engine can move to (upgradableFrom names it, e.g. "redis:7.0.*")',
      }),
    ),
  },
  { additionalProperties: false },
);

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
    kind: literalUnion(TARGET_KINDS),
    engine: Engine,
    version: Version,
    release: Type.Optional(Str(128)),
    region: Type.Optional(Type.String({ maxLength: 64 })),
    driver: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' })),
    driverConfig: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    maintenanceWindow: Type.Optional(Type.Union([Window, Type.Null()])),
    maintenanceExclusions: Type.Optional(Exclusions),
    labels: Type.Optional(Labels),
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
    maintenanceExclusions: Type.Optional(Exclusions),
    labels: Type.Optional(Labels),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Mode = literalUnion(UPGRADE_MODES);

/** the options of an az_migration (src/domain/zones.ts, docs/az-migration.md) */
/** options of a blue_green upgrade (docs/postgres-driver.md, "Major versions: blue/green") */
const BlueGreenOptions = {
  retentionSeconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 30 * 86400,
      description:
        'blue_green: how long the old cluster is kept in step after the switch, so a rollback can return to it (default 3600)',
    }),
  ),
  switchoverTimeoutSeconds: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 600,
      description: 'blue_green: the longest clients may be held at cutover; past it the cutover is undone (default 30)',
    }),
  ),
  maxLagBytes: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1073741824,
      description: 'blue_green: the replication lag under which catch-up ends and cutover may start (default 1 MiB)',
    }),
  ),
  allowReplicaIdentityFull: Type.Optional(
    Type.Boolean({
      description:
        'blue_green: give tables without a primary key REPLICA IDENTITY FULL for the replication window (default true); false makes the precheck fail naming them',
    }),
  ),
  maxTransactionSeconds: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 86400,
      description: 'blue_green: the oldest open transaction the precheck accepts (default 300)',
    }),
  ),
} as const;

const AzOptions = {
  sourceAz: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'az_migration: the zone whose nodes move; required when the target spans more than one zone',
    }),
  ),
  targetAz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'az_migration: the zone the nodes move to' })),
  allowZoneReduction: Type.Optional(
    Type.Boolean({
      description: 'az_migration: accept a move that leaves the target in fewer zones (targetAz already holds nodes)',
    }),
  ),
};

const Bound = Type.Number({ minimum: -1e15, maximum: 1e15 });

/**
 * One analysis check (src/domain/analysis.ts, docs/fleet.md "Analysis checks"): a Prometheus
 * instant query or a driver-measured SLI, with min and/or max (inside "prometheus" for a query).
 */
export const AnalysisCheckBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    prometheus: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, maxLength: 2048, description: 'the Prometheus server, e.g. http://prometheus:9090' }),
          query: Type.String({
            minLength: 1,
            maxLength: 10_000,
            description: 'PromQL; every sample of the instant query is judged',
          }),
          min: Type.Optional(Bound),
          max: Type.Optional(Bound),
        },
        { additionalProperties: false },
      ),
    ),
    sli: Type.Optional(literalUnion(SLI_NAMES, { description: 'a service-level indicator the target\u2019s driver measures' })),
    min: Type.Optional(Bound),
    max: Type.Optional(Bound),
    onError: Type.Optional(
      literalUnion(ANALYSIS_ON_ERROR, {
        description: 'a check that cannot be evaluated: pause the batch (default) or fail the targets it judges',
      }),
    ),
    intervalSeconds: Type.Optional(
      Type.Number({ minimum: 0.001, maximum: 86400, description: 'how often it is sampled during the bake (default 10)' }),
    ),
  },
  { additionalProperties: false },
);
export const AnalysisList = Type.Array(AnalysisCheckBody, {
  maxItems: 20,
  description: 'checks judged during a bake: of a batch wave, or of a lone upgrade (options.bakeMinutes); src/domain/analysis.ts',
});

/** one level of options.retry: the whole upgrade, or one step action (src/engine/core/retry.ts) */
const retryFields = {
  attempts: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 10, description: 'runs in all, the first included; 1 turns automatic retries off' }),
  ),
  backoffSeconds: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 3600, description: 'the wait before the first retry; it doubles after each failure' }),
  ),
  maxBackoffSeconds: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 86400, description: 'the longest wait between two attempts' }),
  ),
};

/** options.retry of an upgrade (and of the upgrades of a batch) */
export const RetryOptions = Type.Object(
  {
    ...retryFields,
    actions: Type.Optional(
      Type.Object(
        Object.fromEntries(
          STEP_ACTIONS.map((a) => [a, Type.Optional(Type.Object(retryFields, { additionalProperties: false }))]),
        ),
        {
          additionalProperties: false,
          description: 'per step action, e.g. {"verify": {"attempts": 5}}; overrides the values above',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'automatic retry of a step that failed with a transient error, for the steps its driver declares safe to run again (default: 3 attempts, 5 s backoff doubling up to 300 s)',
  },
);

export const UpgradeBody = Type.Object(
  {
    targetId: Id,
    toEngine: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9._-]{0,31}$',
        description: 'the engine the target ends on (default its own): a route may change it, e.g. redis -> valkey',
      }),
    ),
    toVersion: Type.Optional(Version),
    release: Type.Optional(Str(128)),
    mode: Type.Optional(Mode),
    force: Type.Optional(Type.Boolean()),
    schedule: Type.Optional(
      Type.Object(
        {
          kind: literalUnion(SCHEDULE_KINDS),
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
          ...AzOptions,
          stepTimeoutSeconds: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 86400, description: 'seconds a step may run (actions not in timeouts)' }),
          ),
          timeouts: Type.Optional(
            Type.Object(
              Object.fromEntries(STEP_ACTIONS.map((a) => [a, Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 }))])),
              { additionalProperties: false, description: 'seconds a step of this action may run, e.g. {"verify": 600}' },
            ),
          ),
          onFailure: Type.Optional(
            Type.Union([Type.Literal('stop'), Type.Literal('rollback')], {
              description: 'rollback: a failed upgrade whose completed steps are reversible is rolled back by itself',
            }),
          ),
          retry: Type.Optional(RetryOptions),
          analysis: Type.Optional(AnalysisList),
          bakeMinutes: Type.Optional(
            Type.Number({
              minimum: 1,
              maximum: 10080,
              description: 'minutes the upgrade bakes after its steps while options.analysis is sampled (required with it)',
            }),
          ),
          flightingSql: Type.Optional(Type.String({ maxLength: 1_000_000 })),
          ...BlueGreenOptions,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ActionBody = Type.Object(
  {
    action: literalUnion([...UPGRADE_ACTIONS, 'reschedule'] as const),
    /** for reschedule */
    schedule: Type.Optional(
      Type.Object(
        {
          kind: literalUnion(SCHEDULE_KINDS),
          at: Type.Optional(Type.String({ format: 'date-time' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const UpgradeListQuery = Type.Object(
  {
    target: Type.Optional(Id),
    state: Type.Optional(Type.String({ pattern: '^[a-z_]+(,[a-z_]+)*$', description: 'comma-separated states' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    offset: Type.Optional(Offset),
  },
  { additionalProperties: false },
);

export const PrecheckBody = Type.Object(
  {
    /** required for a version upgrade; an az_migration keeps the version */
    toVersion: Type.Optional(Version),
    toEngine: Type.Optional(Engine),
    mode: Type.Optional(Mode),
    wait: Type.Optional(Type.Boolean()),
    options: Type.Optional(
      Type.Object(
        { flightingSql: Type.Optional(Type.String({ maxLength: 1_000_000 })), ...AzOptions, ...BlueGreenOptions },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const FaultBody = Type.Object(
  {
    node: Type.Optional(Id),
    step: literalUnion(STEP_ACTIONS),
    kind: literalUnion(SIM_FAULT_KINDS),
    times: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
    transient: Type.Optional(
      Type.Boolean({
        description: 'kinds fail and health_timeout: the error is marked transient, so a retry-safe step is retried after it',
      }),
    ),
    sli: Type.Optional(literalUnion(SLI_NAMES, { description: 'kind regress: the indicator the step makes worse' })),
    value: Type.Optional(
      Type.Number({ minimum: -1e15, maximum: 1e15, description: 'kind regress: the value the indicator takes on the node' }),
    ),
  },
  { additionalProperties: false },
);

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
    before: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_OFFSET, description: 'only events with a smaller id' })),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'desc: newest first' })),
    upgrade: Type.Optional(Type.String({ format: 'uuid' })),
    target: Type.Optional(Id),
    type: Type.Optional(
      Type.String({
        pattern: '^[a-z_]+(\\.[a-z_]+)*(\\.\\*)?(,[a-z_]+(\\.[a-z_]+)*(\\.\\*)?)*$',
        description: 'comma-separated event types; `upgrade.*` matches every type that starts with `upgrade.`',
      }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'only events at or after this time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
    stream: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const LabelSpec = Type.String({ pattern: '^[^=]+=.*$', maxLength: 200, description: 'key=value, e.g. env=prod' });
export const TargetListQuery = Type.Object(
  {
    engine: Type.Optional(Engine),
    version: Type.Optional(Version),
    label: Type.Optional(Type.Union([LabelSpec, Type.Array(LabelSpec, { maxItems: 20 })])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    offset: Type.Optional(Offset),
  },
  { additionalProperties: false },
);

// ---- responses: the shapes are in src/api/ (the console and the CLI read their types there) ----
export { ErrorBody, errorResponses } from '../../api/common.ts';
