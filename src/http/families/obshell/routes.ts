// The OceanBase OBShell-style API family (seed 002): POST /api/v1/ob/upgrade and the task
// endpoints a client needs to drive the upgrade DAG. One OBShell agent serves one cluster, so
// each cluster has its own agent port (src/service/obshell-agents.ts): the port a request arrives
// on selects the cluster, and the password inside X-OCS-Header is checked against that cluster's
// alone. On the main port these paths answer 421 with where to look up a cluster's address. Every
// route but /api/v1/secret and /api/v1/info is authenticated; bodies arrive AES-encrypted, so this scope parses
// them as raw bytes.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../../../domain/errors.ts';
import { ACTIVE_UPGRADE_STATES, type Target } from '../../../domain/types.ts';
import { UPGRADE_ACTION_FROM, type UpgradeAction } from '../../../engine/operations.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { listEvents } from '../../../service/events.ts';
import { getUpgradeCheck, recordUpgradeCheck, type UpgradeCheck } from '../../../service/obshell-checks.ts';
import { startPrecheck } from '../../../service/prechecks.ts';
import { getTarget } from '../../../service/targets.ts';
import {
  createUpgrade,
  getUpgradeByNum,
  listUpgrades,
  upgradeAction,
  withStages,
  type UpgradeDetail,
} from '../../../service/upgrades.ts';
import { errorHandler } from '../../error-render.ts';
import { agentPortOf } from '../../obshell-agent-servers.ts';
import { actionForOperator, DAG_MAP, type DagOperator } from './dag-map.ts';
import { obshellEnvelope, renderObshellError } from './envelope.ts';
import { ObshellError, type ObshellErrorKey } from './i18n.ts';
import { authenticate, loadServerCrypto, type ObshellCaller } from './obshell-auth.ts';
import {
  checkDagDetail,
  checkNodeDetail,
  checkTaskDetail,
  dagDetail,
  nodeDetail,
  NODES_PER_DAG,
  parseGenericId,
  subTaskLogs,
  taskDetail,
  TASKS_PER_DAG,
} from './present.ts';
import { assertNotUnderMaintenance, parseUpgradeBody, precheckUpgrade } from './prechecks.ts';

/** Each cluster's agent speaks as one OBShell agent of a cluster, of a version whose auth is v2. */
const AGENT_IDENTITY = 'CLUSTER AGENT';
const AGENT_VERSION = '4.2.4.0';

function send(req: FastifyRequest, reply: FastifyReply, status: number, data: unknown) {
  reply.code(status).send(obshellEnvelope(status, String(req.id), reply.elapsedTime, data));
}

/** What OBShell answers when the engine refuses an operator in the DAG's current state. */
const REFUSED: Partial<Record<UpgradeAction, ObshellErrorKey>> = {
  retry: 'retryNotFailed',
  skip: 'passNotFailed',
  rollback: 'rollbackNotFailed',
  cancel: 'cancelFinished',
};

export const obshellFamily: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const crypto = loadServerCrypto(ctx);
  const callers = new WeakMap<FastifyRequest, ObshellCaller>();

  // Bodies are base64 AES ciphertext whatever Content-Type says: keep the raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler(errorHandler(renderObshellError));
  // these routes are the ones an agent's port serves (src/http/app.ts refuses the rest there)
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, obshellAgent: true };
  });
  // the main port serves no cluster: say where a cluster's own address is found
  app.addHook('onRequest', async (req) => {
    if (agentPortOf(req.raw) === undefined) throw new ObshellError('misdirected');
  });

  app.get('/api/v1/secret', async (req, reply) => send(req, reply, 200, { public_key: crypto.publicKeyBase64() }));
  // What the official SDKs ask first (no auth, as OBShell's agent): the agent's version decides the
  // auth scheme they use (v2: X-OCS-Header). It names no project or cluster.
  app.get('/api/v1/info', async (req, reply) =>
    send(req, reply, 200, {
      ip: req.hostname,
      port: agentPortOf(req.raw),
      identity: AGENT_IDENTITY,
      version: AGENT_VERSION,
      supportedAuth: ['v2'],
      security: false,
      isObproxyAgent: false,
    }),
  );

  const caller = (req: FastifyRequest): ObshellCaller => {
    const c = callers.get(req);
    if (!c) throw new ObshellError('unauthorized');
    return c;
  };
  const showDetails = (req: FastifyRequest): boolean =>
    (req.query as Record<string, string | undefined>).show_details !== 'false';
  const actor = (c: ObshellCaller): string => `obshell:${c.targetId}`;

  async function lastOperator(u: UpgradeDetail): Promise<DagOperator> {
    const events = await listEvents(ctx, u.projectId, { upgradeId: u.id, limit: 100_000 });
    let op: DagOperator = 'RUN';
    for (const e of events) {
      const action = e.type.startsWith('upgrade.') ? (e.type.slice('upgrade.'.length) as UpgradeAction) : null;
      const mapped = action ? DAG_MAP.actionOperator[action] : undefined;
      if (mapped) op = mapped;
    }
    return op;
  }

  /** The caller's upgrade with this num; another cluster's is "not found", not "forbidden". */
  async function upgradeOf(c: ObshellCaller, num: number, id: string): Promise<UpgradeDetail> {
    const u = await getUpgradeByNum(ctx, c.projectId, num);
    if (!u || u.targetId !== c.targetId) throw new ObshellError('taskNotFound', [id]);
    return u;
  }

  async function checkOf(c: ObshellCaller, n: number, id: string): Promise<UpgradeCheck> {
    const check = await getUpgradeCheck(ctx, c.projectId, c.targetId, n);
    if (!check) throw new ObshellError('taskNotFound', [id]);
    return check;
  }

  const targetOf = (c: ObshellCaller): Promise<Target> => getTarget(ctx, c.projectId, c.targetId);

  await app.register(async (r) => {
    r.addHook('preHandler', async (req) => {
      const cluster = await ctx.obshellAgents.clusterAt(agentPortOf(req.raw) as number);
      const c = await authenticate(ctx, crypto, req, cluster);
      callers.set(req, c);
      req.credential = `obshell:${c.projectId}/${c.targetId}`;
    });

    r.post('/api/v1/ob/upgrade', async (req, reply) => {
      const c = caller(req);
      const target = await targetOf(c);
      const body = parseUpgradeBody(c.body, true);
      const { mode } = await precheckUpgrade(ctx, target, body, true);
      let u: UpgradeDetail;
      try {
        u = await createUpgrade(
          ctx,
          c.projectId,
          {
            targetId: c.targetId,
            toVersion: body.version,
            release: body.release,
            mode: mode ?? 'rolling',
            options: { upgradeDir: body.upgradeDir, freezeServer: body.freezeServer },
          },
          actor(c),
        );
      } catch (err) {
        // Lost a race with another request for the same cluster: name the DAG that won.
        if (isAppError(err) && err.code === 'TARGET_BUSY') await assertNotUnderMaintenance(ctx, target);
        throw err;
      }
      send(req, reply, 200, dagDetail(u, 'RUN', target, false));
    });

    r.post('/api/v1/ob/upgrade/check', async (req, reply) => {
      const c = caller(req);
      const target = await targetOf(c);
      const body = parseUpgradeBody(c.body, false);
      const { mode } = await precheckUpgrade(ctx, target, body, false);
      // Like OBShell's check DAG this runs in the background and is polled by its id.
      const report = await startPrecheck(ctx, c.projectId, c.targetId, { toVersion: body.version, mode: mode ?? 'rolling' });
      const check = await recordUpgradeCheck(ctx, {
        projectId: c.projectId,
        targetId: c.targetId,
        reportId: report.id,
        version: body.version,
        release: body.release,
        actor: actor(c),
      });
      send(req, reply, 200, checkDagDetail(check, false));
    });

    r.get('/api/v1/task/dag/ob/unfinish', async (req, reply) => {
      const c = caller(req);
      const target = await targetOf(c);
      const { items } = await listUpgrades(ctx, c.projectId, {
        targetId: c.targetId,
        state: [...ACTIVE_UPGRADE_STATES],
        limit: 100,
      });
      const dags = [];
      for (const item of items) {
        const u = await withStages(ctx, item as UpgradeDetail);
        dags.push(dagDetail(u, await lastOperator(u), target, showDetails(req)));
      }
      send(req, reply, 200, dags);
    });

    r.get<{ Params: { id: string } }>('/api/v1/task/dag/:id', async (req, reply) => {
      const c = caller(req);
      const { kind, n } = parseGenericId(req.params.id);
      if (kind === 'check') return send(req, reply, 200, checkDagDetail(await checkOf(c, n, req.params.id), showDetails(req)));
      const u = await upgradeOf(c, n, req.params.id);
      send(req, reply, 200, dagDetail(u, await lastOperator(u), await targetOf(c), showDetails(req)));
    });

    r.post<{ Params: { id: string } }>('/api/v1/task/dag/:id', async (req, reply) => {
      const c = caller(req);
      const { kind, n } = parseGenericId(req.params.id);
      const operator = (c.body as { operator?: unknown } | undefined)?.operator;
      if (typeof operator !== 'string' || operator === '') throw new ObshellError('illegalArgument', ['operator', 'is required']);
      const action = actionForOperator(operator);
      if (!action) throw new ObshellError('operatorNotSupport', [operator]);
      if (kind === 'check') {
        await checkOf(c, n, req.params.id);
        // A check cannot be operated on; OBShell's check tasks have no retry/rollback either.
        throw new ObshellError('operatorNotSupport', [operator]);
      }
      const u = await upgradeOf(c, n, req.params.id);
      await operate(c, u, action);
      send(req, reply, 200, undefined);
    });

    async function operate(c: ObshellCaller, u: UpgradeDetail, action: UpgradeAction): Promise<void> {
      const dagState = DAG_MAP.upgrade[u.state].state;
      // Refusals the transition table makes (src/engine/core/table.ts), checked first so the caller
      // gets OBShell's codes; OBShell rolls back only a DAG that failed.
      const allowed = action === 'rollback' ? dagState === 'FAILED' : UPGRADE_ACTION_FROM[action].includes(u.state);
      if (!allowed) throw new ObshellError(REFUSED[action] ?? 'badRequest', [`cannot ${action} a task that is ${u.state}`]);
      try {
        await upgradeAction(ctx, c.projectId, u.id, action, actor(c));
      } catch (err) {
        if (!isAppError(err)) throw err;
        if (err.code === 'ROLLBACK_BLOCKED') throw new ObshellError('rollbackNotAllowed', [String(err.details.step ?? '')]);
        if (err.code === 'INVALID_STATE') {
          throw new ObshellError(REFUSED[action] ?? 'badRequest', [err.message]);
        }
        if (err.code === 'TARGET_BUSY') await assertNotUnderMaintenance(ctx, await targetOf(c));
        throw err;
      }
    }

    r.get<{ Params: { id: string } }>('/api/v1/task/node/:id', async (req, reply) => {
      const c = caller(req);
      const { kind, n } = parseGenericId(req.params.id);
      const num = Math.floor(n / NODES_PER_DAG);
      const index = (n % NODES_PER_DAG) - 1;
      if (kind === 'check') {
        if (index !== 0) throw new ObshellError('taskNotFound', [req.params.id]);
        return send(req, reply, 200, checkNodeDetail(await checkOf(c, num, req.params.id), showDetails(req)));
      }
      const u = await upgradeOf(c, num, req.params.id);
      const stage = u.stages.find((s) => s.index === index);
      if (!stage) throw new ObshellError('taskNotFound', [req.params.id]);
      send(req, reply, 200, nodeDetail(u, stage, await targetOf(c), showDetails(req)));
    });

    async function subTask(c: ObshellCaller, id: string) {
      const { kind, n } = parseGenericId(id);
      const num = Math.floor(n / TASKS_PER_DAG);
      if (kind === 'check') {
        const t = checkTaskDetail(await checkOf(c, num, id), n);
        if (!t) throw new ObshellError('taskNotFound', [id]);
        return { detail: t, logs: null };
      }
      const u = await upgradeOf(c, num, id);
      const seq = (n % TASKS_PER_DAG) - 1;
      const step = u.stages.flatMap((s) => s.steps).find((s) => s.seq === seq);
      if (!step) throw new ObshellError('taskNotFound', [id]);
      return { detail: taskDetail(u, step, await targetOf(c)), logs: subTaskLogs(n, step) };
    }

    r.get<{ Params: { id: string } }>('/api/v1/task/sub_task/:id', async (req, reply) => {
      send(req, reply, 200, (await subTask(caller(req), req.params.id)).detail);
    });

    r.get<{ Params: { id: string } }>('/api/v1/task/sub_task/:id/logs', async (req, reply) => {
      const { detail, logs } = await subTask(caller(req), req.params.id);
      const at = detail.end_time;
      send(
        req,
        reply,
        200,
        logs ??
          (detail.task_logs ?? []).map((line, i) => ({
            id: i + 1,
            sub_task_id: detail.task_id,
            execute_times: 1,
            log_content: line,
            is_sync: true,
            create_time: at,
            update_time: at,
          })),
      );
    });
  });
};
