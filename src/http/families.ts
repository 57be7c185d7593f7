// The vendor-compatible API families served beside the native API. Each is a Fastify plugin
// that translates its vendor's paths, fields and envelopes onto the service layer.
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../service/app-context.ts';
import { obshellFamily } from './families/obshell/routes.ts';
import { alibabaFamilies } from './families/alibaba/index.ts';
import { huaweiFamily } from './families/huawei/huawei-family.ts';

export async function loadFamilies(): Promise<FastifyPluginAsync<{ ctx: AppContext }>[]> {
  return [obshellFamily, alibabaFamilies, huaweiFamily];
}
