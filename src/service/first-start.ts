// First-start work: the first admin token and the demo fleet. Replicas started at the same
// moment on an empty store would each find no token and no project and each create them (three
// "first" admin tokens, or a crash on the token's or the demo project's unique key), so the work
// runs under a lock across the store's processes: the first to get it does the work, the others
// then find it done.
import { withStoreLock } from '../store/store-lock.ts';
import type { AppContext } from './app-context.ts';
import { seedDemo } from './demo.ts';
import { ensureAdminToken } from './tokens.ts';

export interface FirstStart {
  /** the admin token generated now (print it once), or null */
  createdToken: string | null;
  /** about the admin token: one that has expired, or none that works */
  warnings: string[];
  /** whether the demo project was created now */
  seededDemo: boolean;
}

export function firstStart(
  ctx: AppContext,
  opts: {
    adminToken?: string;
    demo: boolean;
    /** why the demo gets no PostgreSQL cluster (already said) */ noPostgresDemo?: string;
  },
): Promise<FirstStart> {
  return withStoreLock(ctx.store, 'first-start', async () => {
    const { created, warnings } = await ensureAdminToken(ctx, opts.adminToken);
    const seededDemo = opts.demo ? await seedDemo(ctx, opts.noPostgresDemo) : false;
    return { createdToken: created, warnings, seededDemo };
  });
}
