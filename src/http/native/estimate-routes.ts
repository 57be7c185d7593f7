// GET /v1/estimates: how good the estimates are (median absolute error per engine of finished
// upgrades) and, for the admin, what the duration model has learned.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../service/app-context.ts';
import type { Principal } from '../../service/tokens.ts';
import { ErrorBody } from './schemas.ts';

const EngineErrorOut = Type.Object({
  engine: Type.String(),
  measured: Type.Integer({ description: 'finished upgrades whose estimate error was measured' }),
  medianAbsErrorPercent: Type.Union([Type.Number(), Type.Null()]),
  medianAbsErrorSeconds: Type.Union([Type.Number(), Type.Null()]),
});
const ModelEntryOut = Type.Object({
  engine: Type.String(),
  action: Type.String(),
  role: Type.String(),
  samples: Type.Integer(),
  seconds: Type.Number({ description: 'trimmed mean of the latest samples' }),
});
const EstimatesOut = Type.Object({
  engines: Type.Array(EngineErrorOut),
  batches: Type.Array(EngineErrorOut, {
    description: 'the same for finished batches (by the engine of their targets), measured on those that ran straight through',
  }),
  model: Type.Optional(Type.Array(ModelEntryOut, { description: 'admin only: learned step durations' })),
});

export async function estimateRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/estimates',
    {
      schema: {
        tags: ['estimates'],
        security: [{ bearer: [] }],
        description: 'Median absolute error of the estimates per engine (a project token sees its own project).',
        response: { 200: EstimatesOut, 401: ErrorBody },
      },
    },
    async (req) => {
      const p = req.principal as Principal;
      if (p.kind !== 'admin') {
        return {
          engines: await ctx.estimates.errors(p.projectId),
          batches: await ctx.estimates.errors(p.projectId, 'batch'),
        };
      }
      await ctx.estimates.model.refresh();
      const model = ctx.estimates.model
        .entries()
        .map((e) => ({ ...e, seconds: Math.round(e.seconds * 1000) / 1000 }))
        .sort((a, b) => a.engine.localeCompare(b.engine) || a.action.localeCompare(b.action) || a.role.localeCompare(b.role));
      return { engines: await ctx.estimates.errors(), batches: await ctx.estimates.errors(undefined, 'batch'), model };
    },
  );
}
