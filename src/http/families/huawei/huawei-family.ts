// The two Huawei-style API families (CSS cluster upgrade, GaussDB batch minor-version upgrade).
// Each is its own encapsulated scope: its raw-body parser, authentication hook and error envelope
// never leak into the native API or the other families.
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../../service/app-context.ts';
import { cssRoutes } from './css.ts';
import { gaussdbRoutes } from './gaussdb.ts';

export const huaweiFamily: FastifyPluginAsync<{ ctx: AppContext }> = async (app, opts) => {
  await app.register(cssRoutes, { ctx: opts.ctx });
  await app.register(gaussdbRoutes, { ctx: opts.ctx });
};
