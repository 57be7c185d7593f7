// What a cancel does, in the state core: a cancel never leaves a node out of service.
//
// A cancel arrives at any point of a plan: a node may be drained, stopped, half installed,
// started but not verified, crashed by a failed step, or in the middle of a step. In the one
// transaction that accepts the cancel (src/engine/operations.ts):
//   1. every running step the driver declares interruptible (StepPolicy.interruptible) is
//      cancelled at once: its fence moves on, so its holder's later writes (and, for a driver
//      that checks the fence, its effect) are refused; the holder aborts its call when its next
//      heartbeat finds the lease gone (at once when it is this process). A step that is not
//      interruptible (a switchover half done) keeps running and finishes or times out.
//   2. pending steps and unfinished stages are cancelled, as before.
//   3. every node some started step left short of the end of its part of the plan is found
//      (nodesToRestore), and a stage `Restore service` is added after the last stage with one
//      `restore` step per node, primaries first, in one lane. The upgrade becomes `cancelling`
//      and that stage starts. With no such node it is `cancelled` at once.
// The executor then claims the restore steps like any step (a lease, a fence, recovery by the
// driver's rules: restore is idempotent), once no other step of the upgrade runs. The driver
// brings the node back as it is: started on the version it has, a member of the cluster again,
// healthy (src/drivers/driver.ts, Driver.execute). When the last one succeeds the upgrade is
// `cancelled` (upgrade.cancelled, naming what was done per node). A failed restore fails the
// upgrade with RESTORE_FAILED; a cancel again runs the failed restore steps again.
import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { isoNow } from '../../domain/clock.ts';
import type { Step, StepState, TargetNode, Upgrade } from '../../domain/types.ts';
import { newStepRow, toStep } from '../../store/mappers.ts';
import type { StageRow, StepRow, UpgradeRow } from '../../store/schema.ts';
import { loadTarget } from '../../store/targets-repo.ts';
import { STEP_TEXT } from '../planner.ts';
import type { Db } from '../../store/schema.ts';
import type { CoreEnv } from './env.ts';
import {
  insertRestoreStage,
  moveStages,
  moveStep,
  moveSteps,
  moveUpgrade,
  stageOpen,
  type By,
  type UpgradeRef,
} from './writes.ts';

const where = (s: { name: string; node: string | null }) => `${s.name}${s.node ? ` on ${s.node}` : ''}`;
const ref = (u: Pick<Upgrade, 'id' | 'projectId' | 'targetId'>): UpgradeRef => ({
  id: u.id,
  projectId: u.projectId,
  targetId: u.targetId,
});

/** the roles restored first: replicas started before their primary could not verify */
const FIRST_ROLES = new Set(['primary', 'leader', 'master', 'control-plane']);

export interface NodeToRestore {
  node: string;
  /** the hop of the step that left it out of service */
  hop: number;
  /** why, in words: the last step that touched it and how that ended */
  why: string;
}

/** Steps that did something (or may have): ran, or were cancelled after they had been claimed. */
const touched = (s: Step): boolean =>
  s.state !== 'pending' && s.state !== 'skipped' && !(s.state === 'cancelled' && s.startedAt === null);
const done = (s: Step): boolean => s.state === 'succeeded' || s.state === 'skipped';
const STATE_WORD: Partial<Record<StepState, string>> = {
  succeeded: 'done',
  failed: 'failed',
  running: 'still running',
  cancelled: 'stopped by the cancel',
  rolled_back: 'reversed',
};

/**
 * The nodes a cancel must bring back, from the upgrade's steps as the cancel left them. A node's
 * part of each hop of the plan (drain, stop, install, start, verify, rejoin in a rolling upgrade;
 * one step per stage in a stop-service one) either never began, or ended: every step of it done.
 * Any other node is out of service, or may be: some step of it ran, failed, was stopped, or still
 * runs. A switchover that began and did not end concerns both its nodes. The restore of a node
 * that proves to be in service does nothing, so a doubt costs a check, never a node left down.
 * Primaries and leaders come first, then the plan's order.
 */
export function nodesToRestore(steps: readonly Step[], nodes: readonly Pick<TargetNode, 'name' | 'role'>[]): NodeToRestore[] {
  const groups = new Map<string, Step[]>();
  const extra = new Map<string, { step: Step; first: number }>();
  for (const s of steps) {
    if (s.action === 'restore') continue;
    if (s.node) {
      const k = `${s.node}\u0000${s.hop}`;
      groups.set(k, [...(groups.get(k) ?? []), s]);
    } else if (s.action === 'switchover' && touched(s) && !done(s)) {
      for (const n of [s.params.from, s.params.to]) if (typeof n === 'string') extra.set(n, { step: s, first: s.seq });
    }
  }
  const found = new Map<string, NodeToRestore & { first: number; last: number }>();
  for (const group of groups.values()) {
    const ran = group.filter(touched);
    if (ran.length === 0 || group.every(done)) continue;
    const last = ran.reduce((a, b) => (b.seq > a.seq ? b : a));
    const node = last.node as string;
    const prev = found.get(node);
    const first = Math.min(prev?.first ?? Infinity, group[0].seq);
    // a node out of service in two hops is described by the later one
    if (prev && prev.last > last.seq) prev.first = first;
    else
      found.set(node, {
        node,
        hop: last.hop,
        why: `after ${last.name} (${STATE_WORD[last.state] ?? last.state})`,
        first,
        last: last.seq,
      });
  }
  for (const [node, { step, first }] of extra) {
    if (found.has(node)) continue;
    found.set(node, {
      node,
      hop: step.hop,
      why: `after ${step.name} (${STATE_WORD[step.state] ?? step.state})`,
      first,
      last: step.seq,
    });
  }
  const role = new Map(nodes.map((n) => [n.name, n.role]));
  const rank = (n: string) => (FIRST_ROLES.has(role.get(n) ?? '') ? 0 : 1);
  return [...found.values()]
    .sort((a, b) => rank(a.node) - rank(b.node) || a.first - b.first)
    .map(({ node, hop, why }) => ({ node, hop, why }));
}

export interface CancelPlan {
  to: 'cancelling' | 'cancelled';
  set: Partial<
    Pick<
      Selectable<UpgradeRow>,
      'current_stage' | 'stage_count' | 'error' | 'error_code' | 'ended_at' | 'hold' | 'pending_reason'
    >
  >;
  message: string;
  data: Record<string, unknown>;
  /** running steps the cancel stopped: their holders are fenced out (the old fence is given) */
  stopped: { id: string; fence: number }[];
  /** the restore stage was added and must start once the upgrade is cancelling */
  startStage: number | null;
}

/**
 * The cancel's work before its upgrade transition (operations.ts moves the upgrade to plan.to
 * and then calls startRestore): running steps stopped or left to finish, pending steps and open
 * stages cancelled, the restore stage added. The caller holds the upgrade's lock.
 */
export async function prepareCancel(db: Db, env: CoreEnv, u: Upgrade, by: By, actor: string): Promise<CancelPlan> {
  const ts = isoNow(env.clock);
  // a cancel whose restore failed: the failed restore steps run again
  if (u.state === 'failed' && u.errorCode === 'RESTORE_FAILED') {
    const again = await moveSteps(db, env.clock, 'retry', {
      ...by,
      u: ref(u),
      from: 'failed',
      to: 'pending',
      stageIndex: u.currentStage,
      clearError: true,
    });
    await moveStages(db, env.clock, 'reopen', {
      ...by,
      u: ref(u),
      idx: u.currentStage,
      from: ['failed'],
      to: 'running',
      stageCount: u.stageCount,
    });
    return {
      to: 'cancelling',
      set: { error: null, error_code: null, ended_at: null },
      message: `${actor} requested cancel again: ${again} failed restore step(s) run again`,
      data: { again: true, retried: again },
      stopped: [],
      startStage: null,
    };
  }
  const target = await loadTarget(db, u.projectId, u.targetId);
  const driver = target ? env.drivers.get(target.driver) : undefined;
  const rows = (await db.selectFrom('steps').selectAll().where('upgrade_id', '=', u.id).orderBy('seq').execute()).map(toStep);
  const stopped: CancelPlan['stopped'] = [];
  const waiting: string[] = [];
  for (const s of rows.filter((x) => x.state === 'running')) {
    const interruptible = s.action === 'precheck' || !driver || driver.stepPolicy(s.action, target ?? undefined).interruptible;
    if (!interruptible) {
      waiting.push(where(s));
      continue;
    }
    const ok = await moveStep(db, env.clock, 'abort', {
      ...by,
      u: ref(u),
      step: s,
      from: 'running',
      to: 'cancelled',
      leaseOwner: s.leaseOwner,
      fence: s.fence,
      fenceHolder: true,
      error: 'cancelled while it ran',
      log: [...s.log, `${ts} cancelled by ${actor} while it ran; ${s.leaseOwner ?? 'its holder'} is fenced out`],
      message: `${where(s)} cancelled while it ran`,
      data: { fence: s.fence + 1 },
    });
    if (!ok) throw new CancelRace(where(s));
    stopped.push({ id: s.id, fence: s.fence });
    s.state = 'cancelled';
  }
  await moveSteps(db, env.clock, 'cancel', { ...by, u: ref(u), from: 'pending', to: 'cancelled' });
  for (const s of rows) if (s.state === 'pending') s.state = 'cancelled';
  await moveStages(db, env.clock, 'cancel', {
    ...by,
    u: ref(u),
    idx: 'all',
    from: ['pending', 'running', 'failed'],
    to: 'cancelled',
    stageCount: u.stageCount,
  });
  const restore = target && driver ? nodesToRestore(rows, target.nodes) : [];
  const base = { hold: null, pending_reason: null };
  if (restore.length === 0) {
    return {
      to: 'cancelled',
      set: { ...base, ended_at: ts },
      message:
        target && driver
          ? `${actor} requested cancel; no node was out of service`
          : `${actor} requested cancel; its ${target ? `driver ${target.driver} is not installed` : 'target is gone'}, so no node could be restored`,
      data: { restore: [], stopped: stopped.length },
      stopped,
      startStage: null,
    };
  }
  const idx = u.stageCount;
  const seq0 = rows.reduce((m, s) => Math.max(m, s.seq), -1) + 1;
  const list = restore.map((r) => `${r.node} (${r.why})`).join(', ');
  const stage: Selectable<StageRow> & { state: 'pending' } = {
    upgrade_id: u.id,
    idx,
    name: STEP_TEXT.restore.name,
    description: `The upgrade was cancelled; these nodes are brought back into service as they are: ${list}.`,
    state: 'pending',
    started_at: null,
    ended_at: null,
  };
  const steps = restore.map((r, i) =>
    newStepRow({
      id: randomUUID(),
      upgrade_id: u.id,
      stage_index: idx,
      lane: 'restore',
      ord: i,
      seq: seq0 + i,
      action: 'restore' as const,
      name: STEP_TEXT.restore.name,
      description: `${STEP_TEXT.restore.description} It was left ${r.why}.`,
      node: r.node,
      hop: r.hop,
      params: JSON.stringify({ reason: r.why }),
    }),
  );
  await insertRestoreStage(db, stage, steps);
  return {
    to: 'cancelling',
    set: { ...base, current_stage: idx, stage_count: idx + 1 },
    message:
      `${actor} requested cancel; bringing back ${restore.length} node(s) out of service: ${list}` +
      (waiting.length > 0
        ? `; first waiting for ${waiting.join(', ')} to finish (its driver does not let a cancel stop it)`
        : ''),
    data: { restore: restore.map((r) => ({ node: r.node, reason: r.why })), stopped: stopped.length, waitingFor: waiting },
    stopped,
    startStage: idx,
  };
}

/** A running step changed hands while the cancel was applied (it cannot under the upgrade's lock). */
export class CancelRace extends Error {
  constructor(readonly step: string) {
    super(`step ${step} changed while the cancel was applied; try again`);
  }
}

/** Starts the restore stage, once the upgrade is cancelling (same transaction as the cancel). */
export async function startRestore(db: Db, env: CoreEnv, u: Upgrade, by: By, idx: number): Promise<void> {
  await moveStages(db, env.clock, 'start', { ...by, u: ref(u), idx, from: ['pending'], to: 'running', stageCount: idx + 1 });
}

/**
 * cancelling -> cancelled once the restore stage is done (called by advance() in the transaction
 * that recorded its last step). The event names what the restore did on each node.
 */
export async function finishCancelIfDone(db: Db, env: CoreEnv, u: Upgrade, by: By, closedStage?: number): Promise<boolean> {
  if (closedStage !== u.currentStage && (await stageOpen(db, u.id, u.currentStage))) return false;
  await moveStages(db, env.clock, 'succeed', {
    ...by,
    u: ref(u),
    idx: u.currentStage,
    from: ['running'],
    to: 'succeeded',
    stageCount: u.stageCount,
  });
  const restored = (
    await db
      .selectFrom('steps')
      .select(['node', 'state', 'result'])
      .where('upgrade_id', '=', u.id)
      .where('stage_index', '=', u.currentStage)
      .orderBy('seq')
      .execute()
  ).map((r) => ({ node: r.node, state: r.state, summary: summaryOf(r) }));
  return moveUpgrade(db, env.clock, 'cancelled', {
    ...by,
    u: ref(u),
    from: 'cancelling',
    to: 'cancelled',
    set: { ended_at: isoNow(env.clock) },
    message: `cancelled; back in service: ${restored.map((r) => `${r.node} (${r.summary})`).join(', ')}`,
    data: { restored },
  });
}

/** What a restore step's driver said it did (result.data.summary), or its state. */
export function summaryOf(r: Pick<Selectable<StepRow>, 'state' | 'result'>): string {
  try {
    const data = r.result ? (JSON.parse(r.result) as Record<string, unknown>) : {};
    if (typeof data.summary === 'string') return data.summary;
  } catch {
    // not JSON: fall through to the state
  }
  return r.state;
}
