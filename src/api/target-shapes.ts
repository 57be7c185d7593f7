// What the native API answers about projects, targets, the catalog, prechecks, sim faults, events
// and executors.
import { Type, type Static } from '@sinclair/typebox';
import {
  EXECUTOR_STATES,
  FINDING_STATUSES,
  NODE_HEALTHS,
  PRECHECK_STATES,
  SIM_FAULT_KINDS,
  SLI_NAMES,
  STEP_ACTIONS,
  TARGET_KINDS,
  WEEK_DAYS,
} from '../domain/types.ts';
import { AnyObject, EventPage, literalUnion, Nullable, Time } from './common.ts';

export const ProjectOut = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Time() });
export const ProjectList = Type.Object({ items: Type.Array(ProjectOut) });

export const NodeOut = Type.Object({
  name: Type.String(),
  role: Type.String({ description: 'primary/replica, leader/follower, master/data, ...' }),
  zone: Type.String(),
  version: Type.String(),
  health: literalUnion(NODE_HEALTHS),
  host: Type.Optional(Type.String()),
  port: Type.Optional(Type.Integer()),
  engine: Type.Optional(Type.String({ description: 'the engine the node runs, when a route changes it (redis, valkey)' })),
  shard: Type.Optional(Type.String({ description: 'its shard in a Redis Cluster' })),
});

export const WeeklyWindowOut = Type.Object(
  {
    days: Type.Array(literalUnion(WEEK_DAYS)),
    start: Type.String({ description: 'HH:MM, wall clock in timeZone' }),
    durationMinutes: Type.Integer(),
    timeZone: Type.String({ description: 'IANA time zone, e.g. Asia/Shanghai' }),
  },
  { description: 'opens at start on each day, for durationMinutes' },
);
export const DailyWindowOut = Type.Object(
  { start: Type.String({ description: 'HH:MM UTC' }), end: Type.String({ description: 'HH:MM UTC' }) },
  { description: 'every day, UTC times of day; may wrap past midnight' },
);
export const WindowOut = Type.Union([WeeklyWindowOut, DailyWindowOut]);

export const ExclusionOut = Type.Object({ from: Time(), to: Time(), reason: Type.Optional(Type.String()) });

export const ObshellAgentOut = Type.Object(
  {
    host: Type.String({ description: 'the host name this request reached Liftgate by' }),
    port: Type.Integer({ description: 'the port of this cluster\u2019s own OBShell agent (LIFTGATE_OBSHELL_PORTS)' }),
  },
  { description: 'where OBShell clients reach this cluster (point the SDK at host and port); null: no OBShell password set' },
);

/** a target as created, changed and listed */
export const TargetOut = Type.Object({
  projectId: Type.String(),
  id: Type.String(),
  name: Type.String(),
  kind: literalUnion(TARGET_KINDS),
  engine: Type.String(),
  version: Type.String(),
  release: Type.String(),
  region: Type.String(),
  driver: Type.String(),
  driverConfig: AnyObject({ description: 'the driver\u2019s own settings of this target (docs/drivers)' }),
  maintenanceWindow: Nullable(WindowOut),
  maintenanceExclusions: Type.Array(ExclusionOut),
  labels: Type.Record(Type.String(), Type.String(), { description: 'key/value labels, e.g. {"env":"prod"}' }),
  nodes: Type.Array(NodeOut),
  createdAt: Time(),
  updatedAt: Time(),
});

/** one target as GET .../targets/{t} answers it: where clients connect, and its OBShell agent */
export const TargetDetailOut = Type.Object({
  ...TargetOut.properties,
  endpoint: Nullable(
    Type.Object({ host: Type.String(), port: Type.Integer() }, { description: 'the pooler, else the primary (leader)' }),
  ),
  obshellAgent: Nullable(ObshellAgentOut),
});

export const TargetList = Type.Object({ items: Type.Array(TargetOut), total: Type.Integer({ minimum: 0 }) });

export const FaultOut = Type.Object({
  id: Type.String(),
  node: Type.Optional(Type.String()),
  step: literalUnion(STEP_ACTIONS),
  kind: literalUnion(SIM_FAULT_KINDS),
  times: Type.Integer(),
  transient: Type.Optional(Type.Boolean()),
  sli: Type.Optional(literalUnion(SLI_NAMES)),
  value: Type.Optional(Type.Number()),
});

export const CatalogVersionOut = Type.Object({
  engine: Type.String(),
  version: Type.String(),
  release: Type.String(),
  imageId: Type.String(),
  displayName: Type.String(),
  description: Type.String(),
  priority: Type.Integer(),
  upgradableFrom: Type.Array(Type.String(), { description: 'versions that may upgrade straight to this one; empty: any older' }),
  barrier: Type.Boolean({ description: 'a route from below may not skip it' }),
  deprecated: Type.Boolean(),
  createdAt: Time(),
});
export const CatalogList = Type.Object({ items: Type.Array(CatalogVersionOut) });

export const ZoneLayoutOut = Type.Object(
  {
    before: Type.Record(Type.String(), Type.Array(Type.String())),
    after: Type.Record(Type.String(), Type.Array(Type.String())),
  },
  { description: 'zone -> node names before and after (the zone_layout item of an AZ migration)' },
);

export const PrecheckItemOut = Type.Object({
  name: Type.String(),
  status: literalUnion(FINDING_STATUSES),
  message: Type.String(),
  node: Type.Optional(Type.String()),
  zones: Type.Optional(ZoneLayoutOut),
  forceable: Type.Optional(Type.Literal(false, { description: 'a failure that force does not run past' })),
});

export const ReportOut = Type.Object({
  id: Type.String(),
  projectId: Type.String(),
  targetId: Type.String(),
  upgradeId: Nullable(Type.String()),
  toVersion: Type.String(),
  state: literalUnion(PRECHECK_STATES),
  items: Type.Array(PrecheckItemOut),
  flighting: Nullable(
    Type.Object(
      {
        totalExecuted: Type.Integer(),
        exceptions: Type.Integer(),
        incorrect: Type.Integer(),
        slow: Type.Integer(),
        dqlSpeedup: Type.Number(),
        details: Type.Optional(
          Type.Array(
            Type.Object({
              statement: Type.String(),
              kind: literalUnion(['exception', 'incorrect', 'slow'] as const),
              message: Type.String(),
            }),
          ),
        ),
      },
      { description: 'the replay of the flighting SQL on the new version' },
    ),
  ),
  estimate: Nullable(
    Type.Object({
      stopInstanceSeconds: Type.Number(),
      backupDataSeconds: Type.Number(),
      upgradeInstanceSeconds: Type.Number(),
    }),
  ),
  createdAt: Time(),
  finishedAt: Nullable(Time()),
});
export const ReportList = Type.Object({ items: Type.Array(ReportOut) });

export const EventOut = Type.Object({
  id: Type.Integer(),
  projectId: Type.String(),
  targetId: Nullable(Type.String()),
  upgradeId: Nullable(Type.String()),
  stepId: Nullable(Type.String()),
  actor: Type.String({ description: 'who: token:<id>, admin:<id>, system, policy, ...' }),
  type: Type.String({ description: 'e.g. upgrade.started, step.succeeded, batch.wave_started' }),
  fromState: Nullable(Type.String()),
  toState: Nullable(Type.String()),
  message: Type.String(),
  data: AnyObject(),
  createdAt: Time(),
});
export const EventList = EventPage(EventOut);

export const ExecutorOut = Type.Object({
  id: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  startedAt: Time(),
  heartbeatAt: Time({ description: 'time of the last heartbeat, by the executor\u2019s own clock' }),
  state: literalUnion(EXECUTOR_STATES),
  endedAt: Nullable(Time()),
  leader: Type.Boolean({ description: 'runs the housekeeping (scheduling, recovery sweeps) for all replicas' }),
});
export const ExecutorList = Type.Object({ items: Type.Array(ExecutorOut) });

export type ProjectT = Static<typeof ProjectOut>;
export type NodeT = Static<typeof NodeOut>;
export type WindowT = Static<typeof WindowOut>;
export type TargetT = Static<typeof TargetOut>;
export type TargetDetailT = Static<typeof TargetDetailOut>;
export type FaultT = Static<typeof FaultOut>;
export type CatalogVersionT = Static<typeof CatalogVersionOut>;
export type PrecheckItemT = Static<typeof PrecheckItemOut>;
export type ZoneLayoutT = Static<typeof ZoneLayoutOut>;
export type ReportT = Static<typeof ReportOut>;
export type EventT = Static<typeof EventOut>;
