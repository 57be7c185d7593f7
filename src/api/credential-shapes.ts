// What the native API answers about credentials (tokens, access keys, admin tokens, whoami, OBShell
// passwords), the events of no project, webhooks and their deliveries, and the estimates' accuracy.
// A secret appears only in the answer to a create or a rotate, never again.
import { Type, type Static } from '@sinclair/typebox';
import { ROLES, WEBHOOK_DELIVERY_STATES } from '../domain/types.ts';
import { AnyObject, EventPage, literalUnion, Nullable, Time } from './common.ts';
import { ObshellAgentOut } from './target-shapes.ts';

export const RoleOut = literalUnion(ROLES, {
  description: 'viewer: reads; operator: upgrade actions; admin: credentials and targets',
});

const common = {
  name: Type.String(),
  role: RoleOut,
  createdAt: Time(),
  createdBy: Nullable(Type.String({ description: 'the actor that created it, e.g. token:<id>' })),
  expiresAt: Nullable(Time()),
};

export const TokenOut = Type.Object({ id: Type.String({ format: 'uuid' }), projectId: Nullable(Type.String()), ...common });
export const TokenCreatedOut = Type.Object({
  ...TokenOut.properties,
  token: Type.String({ description: 'the bearer token: shown once, only its hash is stored' }),
});
export const TokenList = Type.Object({ items: Type.Array(TokenOut) });
export const AccessKeyOut = Type.Object({
  id: Type.String({ description: 'the AccessKey ID' }),
  projectId: Type.String(),
  ...common,
});
export const AccessKeyCreatedOut = Type.Object({
  ...AccessKeyOut.properties,
  accessKeyId: Type.String(),
  accessKeySecret: Type.String({ description: 'shown once; stored encrypted under the master key' }),
});
export const AccessKeyList = Type.Object({ items: Type.Array(AccessKeyOut) });

export const WhoamiOut = Type.Object({
  tokenId: Type.String(),
  role: RoleOut,
  projectId: Nullable(Type.String(), { description: 'null for the admin token, which reaches every project' }),
  expiresAt: Nullable(Time()),
});

export const PasswordSet = Type.Object({
  targetId: Type.String(),
  obshellAgent: Nullable(ObshellAgentOut, {
    description: 'the cluster\u2019s own OBShell agent address; null until a server of this store listens for it',
  }),
});

export const AdminTokenOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String({ description: '`LIFTGATE_ADMIN_TOKEN` for the one registered from that variable at a start' }),
  createdAt: Time(),
  createdBy: Nullable(Type.String({ description: 'admin:<id>, or system for one registered at a start' })),
  expiresAt: Nullable(Time()),
  rotatedAt: Nullable(Time(), { description: 'when its secret was last replaced' }),
  lastUsedAt: Nullable(Time(), {
    description: 'a use of its current secret, recorded at most every 10 minutes per server (so up to 10 minutes old)',
  }),
});
export const AdminTokenList = Type.Object({ items: Type.Array(AdminTokenOut) });
export const AdminTokenCreatedOut = Type.Object({
  ...AdminTokenOut.properties,
  token: Type.String({ description: 'the bearer token: shown once, only its hash is stored' }),
});

export const SystemEventOut = Type.Object({
  id: Type.Integer(),
  type: Type.String({ description: 'credential.created, credential.rotated or credential.revoked' }),
  actor: Type.String({ description: 'admin:<id> of the token that acted, or system for a start' }),
  actorName: Type.Optional(Type.String({ description: 'the name of the admin token that acted, while it exists' })),
  message: Type.String(),
  data: AnyObject({ description: 'credential: admin_token, id, name, expiresAt, ...' }),
  createdAt: Time(),
});
export const SystemEventList = EventPage(SystemEventOut);

export const WebhookOut = Type.Object({
  id: Type.String(),
  projectId: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  createdBy: Type.String(),
  createdAt: Time(),
  secret: Type.Optional(Type.String({ description: 'only in the answer that generated it' })),
});
export const WebhookList = Type.Object({ items: Type.Array(WebhookOut) });

export const DeliveryOut = Type.Object({
  id: Type.String(),
  webhookId: Type.String(),
  eventId: Type.Integer(),
  eventType: Type.String(),
  state: literalUnion(WEBHOOK_DELIVERY_STATES),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Time()),
  giveUpAt: Time(),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  createdAt: Time(),
  deliveredAt: Nullable(Time()),
  log: Type.Array(
    Type.Object({
      at: Time(),
      status: Nullable(Type.Integer()),
      error: Nullable(Type.String()),
      ms: Type.Number(),
    }),
  ),
});
export const DeliveryList = Type.Object({ items: Type.Array(DeliveryOut), total: Type.Integer() });

const EngineErrorOut = Type.Object({
  engine: Type.String(),
  measured: Type.Integer({ description: 'finished upgrades whose estimate error was measured' }),
  medianAbsErrorPercent: Nullable(Type.Number()),
  medianAbsErrorSeconds: Nullable(Type.Number()),
});
const ModelEntryOut = Type.Object({
  engine: Type.String(),
  action: Type.String(),
  role: Type.String(),
  samples: Type.Integer(),
  seconds: Type.Number({ description: 'trimmed mean of the latest samples' }),
});
export const EstimatesOut = Type.Object({
  engines: Type.Array(EngineErrorOut),
  batches: Type.Array(EngineErrorOut, {
    description: 'the same for finished batches (by the engine of their targets), measured on those that ran straight through',
  }),
  model: Type.Optional(Type.Array(ModelEntryOut, { description: 'admin only: learned step durations' })),
});

export type TokenT = Static<typeof TokenOut>;
export type AccessKeyT = Static<typeof AccessKeyOut>;
export type WhoamiT = Static<typeof WhoamiOut>;
export type PasswordSetT = Static<typeof PasswordSet>;
export type AdminTokenT = Static<typeof AdminTokenOut>;
export type SystemEventT = Static<typeof SystemEventOut>;
