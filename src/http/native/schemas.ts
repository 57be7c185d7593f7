// TypeBox schemas of the native API: they validate requests and generate /openapi.json.
import { Type, type Static } from '@sinclair/typebox';
import { STEP_ACTIONS, UPGRADE_MODES, UPGRADE_STATES, WEEK_DAYS } from '../../domain/types.ts';
import { UPGRADE_ACTIONS } from '../../engine/operations.ts';

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
    days: Type.Array(Type.Union(WEEK_DAYS.map((d) => Type.Literal(d))), { minItems: 1, maxItems: 7, uniqueItems: true }),
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
    kind: Type.Union([Type.Literal('cluster'), Type.Literal('instance')]),
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

export const Mode = Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m)));
export const UpgradeStateT = Type.Union(UPGRADE_STATES.map((s) => Type.Literal(s)));

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
    action: Type.Union([...UPGRADE_ACTIONS, 'reschedule' as const].map((a) => Type.Literal(a))),
    /** for reschedule */
    schedule: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('now'), Type.Literal('window'), Type.Literal('at')]),
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
    step: Type.Union(STEP_ACTIONS.map((a) => Type.Literal(a))),
    kind: Type.Union([
      Type.Literal('fail'),
      Type.Literal('hang'),
      Type.Literal('crash'),
      Type.Literal('health_timeout'),
      Type.Literal('rollback_fail'),
    ]),
    times: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
    transient: Type.Optional(
      Type.Boolean({
        description: 'kinds fail and health_timeout: the error is marked transient, so a retry-safe step is retried after it',
      }),
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
  notBefore: Type.Optional(
    Nullable(Type.String({ description: 'pending after a transient failure: it runs again at this time (its backoff)' })),
  ),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  error: Nullable(Type.String()),
  progress: Type.Optional(
    Nullable(
      Open(
        {},
        'what the driver reports while the step runs: a blue/green initial copy has bytesDone, bytesTotal, tablesDone, tablesTotal, rateBytesPerSecond, etaSeconds; a catch-up lagBytes and boundBytes; a rollback window until and secondsLeft',
      ),
    ),
  ),
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

export const EstimateOut = Type.Object(
  {
    completesAt: Type.String({ format: 'date-time' }),
    remainingSeconds: Type.Integer({ minimum: 0 }),
    basis: Type.String({ description: 'how the estimate was made: which durations were learned, which waits it counts' }),
  },
  { description: 'predicted completion, learned from finished steps; null when the end cannot be foreseen' },
);

export const UpgradeOut = Open(
  {
    id: Type.String(),
    targetId: Type.String(),
    fromEngine: Type.Optional(Nullable(Type.String({ description: 'the engine before the upgrade (a route may change it)' }))),
    toEngine: Type.Optional(Nullable(Type.String({ description: 'the engine after it, e.g. valkey for redis -> valkey' }))),
    fromVersion: Type.String(),
    toVersion: Type.String(),
    mode: Type.String(),
    state: Type.String(),
    error: Nullable(Type.String()),
    errorCode: Nullable(Type.String()),
    allowedActions: Type.Optional(
      Type.Array(Type.String(), { description: 'the operator actions the current state allows (pause, resume, ...)' }),
    ),
    estimate: Type.Optional(Nullable(EstimateOut)),
  },
  'an upgrade (a DAG run)',
);

export const RestoreOut = Open({
  upgradeId: Type.String(),
  targetId: Type.String(),
  node: Type.String(),
  state: Type.String({ description: 'the restore step: pending, running, succeeded (back in service) or failed' }),
  reason: Nullable(Type.String({ description: 'why the node was out of service: the last step that touched it' })),
  summary: Nullable(Type.String({ description: 'what the driver did, e.g. "started on 7.10.3; it was stopped"' })),
  error: Nullable(Type.String()),
});

export const UpgradeDetailOut = Type.Composite(
  [
    UpgradeOut,
    Type.Object({
      stages: Type.Array(StageOut),
      pointOfNoReturn: Type.Optional(
        Nullable(
          Open(
            {
              stepId: Type.String(),
              name: Type.String(),
              node: Nullable(Type.String()),
              action: Type.String(),
              reason: Nullable(Type.String({ description: 'why the step cannot be reversed, in the driver\u2019s words' })),
              passed: Type.Boolean({ description: 'the step has started: rollback is refused and no longer offered' }),
            },
            'the first step the driver cannot reverse; null when every step can be',
          ),
        ),
      ),
      rollbackWindow: Type.Optional(
        Nullable(
          Open(
            {
              state: Type.String({
                description: 'not_started, open, ended (finalized or run out) or closed (the old cluster is decommissioned)',
              }),
              until: Nullable(Type.String()),
              secondsLeft: Nullable(Type.Integer()),
              rollbackPossible: Type.Boolean(),
            },
            'blue_green: how long the old cluster is kept in step, so a rollback can return to it',
          ),
        ),
      ),
      restores: Type.Optional(
        Type.Array(RestoreOut, {
          description: 'what a cancel did on each node it found out of service (stage Restore service); empty when none',
        }),
      ),
    }),
  ],
  { additionalProperties: true },
);

export const NodeOut = Open({
  name: Type.String(),
  role: Type.String(),
  zone: Type.String(),
  version: Type.String(),
  health: Type.String(),
  host: Type.Optional(Type.String()),
  port: Type.Optional(Type.Integer()),
  engine: Type.Optional(Type.String({ description: 'the engine the node runs, when a route changes it (redis, valkey)' })),
  shard: Type.Optional(Type.String({ description: 'its shard in a Redis Cluster' })),
});

export const ObshellAgentOut = Type.Object(
  {
    host: Type.String({ description: 'the host name this request reached Liftgate by' }),
    port: Type.Integer({ description: 'the port of this cluster\u2019s own OBShell agent (LIFTGATE_OBSHELL_PORTS)' }),
  },
  { description: 'where OBShell clients reach this cluster (point the SDK at host and port); null: no OBShell password set' },
);

export const TargetOut = Open({
  id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  engine: Type.String(),
  version: Type.String(),
  driver: Type.String(),
  nodes: Type.Array(NodeOut),
  obshellAgent: Type.Optional(Nullable(ObshellAgentOut)),
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

export const ExecutorOut = Open({
  id: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  startedAt: Type.String(),
  heartbeatAt: Type.String({ description: 'time of the last heartbeat, by the executor\u2019s own clock' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('lost')]),
  endedAt: Nullable(Type.String()),
  leader: Type.Boolean({ description: 'runs the housekeeping (scheduling, recovery sweeps) for all replicas' }),
});

export const ExecutorList = Open({ items: Type.Array(ExecutorOut) });
