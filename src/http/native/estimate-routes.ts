// GET /v1/estimates: how good the estimates are (median absolute error per engine of finished
// upgrades) and, for the admin, what the duration model has learned.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../service/app-context.ts';
import type { Principal } from '../../service/tokens.ts';
import { errorResponses } from '../../api/common.ts';
import { EstimatesOut } from '../../api/credential-shapes.ts';

export async function estimateRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/estimates',
    {
      schema: {
        tags: ['estimates'],
        security: [{ bearer: [] }],
        description: 'Median absolute error of the estimates per engine (a project token sees its own project).',
        response: { 200: EstimatesOut, ...errorResponses },
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
