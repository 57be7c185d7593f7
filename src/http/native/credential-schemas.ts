// Request schemas of the credential endpoints: tokens, access keys, OBShell passwords and whoami.
// What they answer is in src/api/credential-shapes.ts.
import { Type } from '@sinclair/typebox';
import { literalUnion } from '../../api/common.ts';
import { ROLES } from '../../domain/types.ts';
import { Id } from './schemas.ts';

export const CredentialBody = Type.Optional(
  Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      role: Type.Optional(
        literalUnion(ROLES, { description: 'default: the role of the credential that creates it (never more)' }),
      ),
      expiresAt: Type.Optional(
        Type.String({ format: 'date-time', description: 'ISO-8601 time after which it stops working; default: never' }),
      ),
    },
    { additionalProperties: false },
  ),
);

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

export { errorResponses as credentialErrors } from '../../api/common.ts';
