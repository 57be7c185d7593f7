// Credential endpoints of the native API: who am I, tokens and access keys (create, list, show,
// revoke) and OBShell passwords. Creating, listing and revoking need the admin role of the
// project; any token may revoke itself (a console's log-out).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import type { AppContext } from '../../service/app-context.ts';
import { createAccessKey, getAccessKeyInfo, listAccessKeys, revokeAccessKey } from '../../service/credentials.ts';
import { setObshellPassword } from '../../service/obshell-passwords.ts';
import { agentAddress } from './present.ts';
import { assertRole, type Role } from '../../service/roles.ts';
import {
  canAccessProject,
  createProjectToken,
  getTokenInfo,
  listTokens,
  revokeToken,
  type NewToken,
  type Principal,
} from '../../service/tokens.ts';
import { AppError } from '../../domain/errors.ts';
import * as C from './credential-schemas.ts';
import * as O from '../../api/credential-shapes.ts';
import { ProjectParams, TargetParams } from './schemas.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the least role a route needs when more than the default (src/service/roles.ts requiredRole) */
    role?: Role;
  }
}

const tags = { tags: ['credentials'], security: [{ bearer: [] }] };
const admin = { role: 'admin' as const };
// A create with no body at all means "all defaults" (as before these routes took a body).
const emptyBodyIsDefaults = async (req: FastifyRequest) => {
  if (req.body === undefined || req.body === null) req.body = {};
};

function principalIn(req: FastifyRequest, projectId: string): Principal {
  const p = req.principal;
  // A credential of another project gets the same answer as a missing project: no existence leak.
  if (!p || !canAccessProject(p, projectId)) throw new AppError('PROJECT_NOT_FOUND', `project ${projectId} does not exist`);
  return p;
}

const typed = (app: FastifyInstance) => app.withTypeProvider<TypeBoxTypeProvider>();
type Router = ReturnType<typeof typed>;

export async function credentialRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const r = typed(app);

  r.get(
    '/whoami',
    {
      schema: {
        ...tags,
        summary: 'The calling token: its id, role, project and expiry',
        response: { 200: O.WhoamiOut, ...C.credentialErrors },
      },
    },
    async (req) => {
      const p = req.principal as Principal;
      return { tokenId: p.id, role: p.role, projectId: p.kind === 'admin' ? null : p.projectId, expiresAt: p.expiresAt };
    },
  );

  credentialKind(r, ctx, {
    path: 'tokens',
    param: 'token',
    params: C.TokenParams,
    created: O.TokenCreatedOut,
    shown: O.TokenOut,
    listed: O.TokenList,
    create: createProjectToken,
    list: listTokens,
    get: getTokenInfo,
    revoke: revokeToken,
    // any role may revoke its own token (a console's log-out); revoking another one needs admin
    revokeOwn: true,
  });
  credentialKind(r, ctx, {
    path: 'access-keys',
    param: 'accessKey',
    params: C.AccessKeyParams,
    created: O.AccessKeyCreatedOut,
    shown: O.AccessKeyOut,
    listed: O.AccessKeyList,
    create: createAccessKey,
    list: listAccessKeys,
    get: getAccessKeyInfo,
    revoke: revokeAccessKey,
    revokeOwn: false,
  });

  // ---- OBShell passwords ----
  r.put(
    '/projects/:project/targets/:target/obshell-password',
    {
      config: admin,
      schema: { ...tags, params: TargetParams, body: C.PasswordBody, response: { 200: O.PasswordSet, ...C.credentialErrors } },
    },
    async (req) => {
      const by = principalIn(req, req.params.project);
      const { port } = await setObshellPassword(ctx, req.params.project, req.params.target, req.body.password, by);
      return { targetId: req.params.target, obshellAgent: port === null ? null : agentAddress(req, port) };
    },
  );
}

/** One kind of credential (tokens, access keys): create, list, show and revoke, alike. */
interface CredentialKind {
  path: string;
  param: string;
  params: TSchema;
  created: TSchema;
  shown: TSchema;
  listed: TSchema;
  create(ctx: AppContext, project: string, input: NewToken, by: Principal): Promise<unknown>;
  list(ctx: AppContext, project: string): Promise<unknown[]>;
  get(ctx: AppContext, project: string, id: string): Promise<unknown>;
  revoke(ctx: AppContext, project: string, id: string, by: Principal): Promise<void>;
  /** any role may revoke the credential it calls with */
  revokeOwn: boolean;
}

function credentialKind(r: Router, ctx: AppContext, k: CredentialKind): void {
  const base = `/projects/:project/${k.path}`;
  const one = `${base}/:${k.param}`;
  const idOf = (req: FastifyRequest) => (req.params as Record<string, string>)[k.param];
  const projectOf = (req: FastifyRequest) => (req.params as { project: string }).project;
  r.post(
    base,
    {
      config: admin,
      preValidation: emptyBodyIsDefaults,
      schema: { ...tags, params: ProjectParams, body: C.CredentialBody, response: { 201: k.created, ...C.credentialErrors } },
    },
    async (req, reply) => {
      const by = principalIn(req, projectOf(req));
      reply.code(201);
      return k.create(ctx, projectOf(req), (req.body ?? {}) as NewToken, by);
    },
  );
  r.get(
    base,
    { config: admin, schema: { ...tags, params: ProjectParams, response: { 200: k.listed, ...C.credentialErrors } } },
    async (req) => {
      principalIn(req, projectOf(req));
      return { items: await k.list(ctx, projectOf(req)) };
    },
  );
  r.get(
    one,
    { config: admin, schema: { ...tags, params: k.params, response: { 200: k.shown, ...C.credentialErrors } } },
    async (req) => {
      principalIn(req, projectOf(req));
      return k.get(ctx, projectOf(req), idOf(req));
    },
  );
  const revokeRole: { role: Role } = k.revokeOwn ? { role: 'viewer' } : admin;
  r.delete(
    one,
    { config: revokeRole, schema: { ...tags, params: k.params, response: { 204: Type.Null(), ...C.credentialErrors } } },
    async (req, reply) => {
      const by = principalIn(req, projectOf(req));
      if (k.revokeOwn && by.id !== idOf(req)) assertRole(by.role, 'admin', 'revoking another token');
      await k.revoke(ctx, projectOf(req), idOf(req), by);
      reply.code(204);
      return null;
    },
  );
}
