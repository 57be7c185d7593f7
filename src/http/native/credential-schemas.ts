// Schemas of the credential endpoints: tokens, access keys, OBShell passwords and whoami.
// Secrets appear only in the answer to a create (TokenCreated, AccessKeyCreated), never again.
import { Type, type TUnsafe } from '@sinclair/typebox';
import { ROLES, type Role as RoleName } from '../../service/roles.ts';
import { ErrorBody, Id, ObshellAgentOut } from './schemas.ts';

const roleSchema = (description: string): TUnsafe<RoleName> =>
  Type.Unsafe<RoleName>({ type: 'string', enum: [...ROLES], description });
export const Role = roleSchema('viewer: reads; operator: upgrade actions; admin: credentials and targets');
const Time = Type.String({ format: 'date-time' });
const MaybeTime = Type.Union([Time, Type.Null()]);

export const CredentialBody = Type.Optional(
  Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      role: Type.Optional(roleSchema('default: the role of the credential that creates it (never more)')),
      expiresAt: Type.Optional(
        Type.String({ format: 'date-time', description: 'ISO-8601 time after which it stops working; default: never' }),
      ),
    },
    { additionalProperties: false },
  ),
);

const common = {
  name: Type.String(),
  role: Role,
  createdAt: Time,
  createdBy: Type.Union([Type.String({ description: 'the actor that created it, e.g. token:<id>' }), Type.Null()]),
  expiresAt: MaybeTime,
};

export const TokenOut = Type.Object({ id: Type.String({ format: 'uuid' }), projectId: Type.Union([Id, Type.Null()]), ...common });
export const TokenCreatedOut = Type.Object({
  ...TokenOut.properties,
  token: Type.String({ description: 'the bearer token: shown once, only its hash is stored' }),
});
export const AccessKeyOut = Type.Object({ id: Type.String({ description: 'the AccessKey ID' }), projectId: Id, ...common });
export const AccessKeyCreatedOut = Type.Object({
  ...AccessKeyOut.properties,
  accessKeyId: Type.String(),
  accessKeySecret: Type.String({ description: 'shown once; stored encrypted under the master key' }),
});
export const WhoamiOut = Type.Object({
  tokenId: Type.String(),
  role: Role,
  projectId: Type.Union([Id, Type.Null()], { description: 'null for the admin token, which reaches every project' }),
  expiresAt: MaybeTime,
});

export const TokenParams = Type.Object({ project: Id, token: Type.String({ maxLength: 64 }) });
export const AccessKeyParams = Type.Object({ project: Id, accessKey: Type.String({ maxLength: 64 }) });
export const PasswordBody = Type.Object(
  {
    password: Type.String({
      minLength: 12,
      maxLength: 128,
      description: 'at least 12 characters, hard to guess (zxcvbn score 3 of 4)',
    }),
  },
  { additionalProperties: false },
);

export const PasswordSet = Type.Object({
  targetId: Type.String(),
  obshellAgent: Type.Union([ObshellAgentOut, Type.Null()], {
    description: 'the cluster\u2019s own OBShell agent address; null until a server of this store listens for it',
  }),
});

export const credentialErrors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
