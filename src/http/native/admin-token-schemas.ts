// Request schemas of the admin credential's endpoints (admin tokens and the events of no project).
// What they answer is in src/api/credential-shapes.ts.
import { Type } from '@sinclair/typebox';
import { MAX_OFFSET } from './schemas.ts';

const Time = Type.String({ format: 'date-time' });

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
