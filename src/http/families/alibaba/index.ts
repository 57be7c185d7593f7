// The two Alibaba-style API families (Hologres instance upgrade status, ACK cluster upgrade),
// both authenticated with ACS3-HMAC-SHA256 access keys. Each is its own encapsulated plugin
// with its own body parser, auth hook and error envelope.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../../service/app-context.ts';
import { ackFamily } from './ack.ts';
import { hologresFamily } from './hologres.ts';

export async function alibabaFamilies(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  await app.register(hologresFamily, opts);
  await app.register(ackFamily, opts);
}
