// Schemas of the admin credential's endpoints (admin tokens and the events of no project). A
// secret appears only in the answer to a create or a rotate (AdminTokenCreatedOut), never again.
import { Type } from '@sinclair/typebox';
import { MAX_OFFSET } from './schemas.ts';

const Time = Type.String({ format: 'date-time' });
const MaybeTime = Type.Union([Time, Type.Null()]);

export const AdminTokenParams = Type.Object({ adminToken: Type.String({ maxLength: 64, description: 'the admin token id' }) });

export const AdminTokenBody = Type.Optional(
  Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      expiresAt: Type.Optional(
        Type.String({ format: 'date-time', description: 'ISO-8601 time after which it stops working; default: never' }),
      ),
    },
    { additionalProperties: false },
  ),
);

export const RotateBody = Type.Optional(
  Type.Object(
    {
      expiresAt: Type.Optional(
        Type.Union([Time, Type.Null()], {
          description: 'a new expiry (in the future), or null for none; left out, the token keeps its expiry',
        }),
      ),
    },
    { additionalProperties: false },
  ),
);

export const AdminTokenOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String({ description: '`LIFTGATE_ADMIN_TOKEN` for the one registered from that variable at a start' }),
  createdAt: Time,
  createdBy: Type.Union([Type.String({ description: 'admin:<id>, or system for one registered at a start' }), Type.Null()]),
  expiresAt: MaybeTime,
  rotatedAt: Type.Union([Time, Type.Null()], { description: 'when its secret was last replaced' }),
  lastUsedAt: Type.Union([Time, Type.Null()], {
    description: 'a use of its current secret, recorded at most every 10 minutes per server (so up to 10 minutes old)',
  }),
});
export const AdminTokenList = Type.Object({ items: Type.Array(AdminTokenOut) });
export const AdminTokenCreatedOut = Type.Object({
  ...AdminTokenOut.properties,
  token: Type.String({ description: 'the bearer token: shown once, only its hash is stored' }),
});

export const SystemEventsQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_OFFSET, description: 'only events with a smaller id' })),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET, description: 'only events with a larger id' })),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'default desc: newest first' })),
    type: Type.Optional(
      Type.String({
        pattern: '^[a-z_]+(\\.[a-z_]+)*(\\.\\*)?(,[a-z_]+(\\.[a-z_]+)*(\\.\\*)?)*$',
        description: 'comma-separated event types; `credential.*` matches every type that starts with `credential.`',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
  },
  { additionalProperties: false },
);

export const SystemEventOut = Type.Object({
  id: Type.Integer(),
  type: Type.String({ description: 'credential.created, credential.rotated or credential.revoked' }),
  actor: Type.String({ description: 'admin:<id> of the token that acted, or system for a start' }),
  message: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'credential: admin_token, id, name, expiresAt, ...' }),
  createdAt: Time,
});
export const SystemEventList = Type.Object({
  items: Type.Array(SystemEventOut),
  prunedThrough: Type.Optional(
    Type.Integer({ description: 'the newest event id that event retention deleted, when the list reaches back before it' }),
  ),
});
