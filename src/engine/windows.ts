// Maintenance windows in the engine: when a scheduled upgrade may start, when a running one must
// stop starting new steps, and when it continues by itself.
//
//   scheduled --(due, its window/exclusions open)--> ready         run_until = when that span ends
//   scheduled --(due, still closed)-----------------> scheduled     not_before = next opening
//   running|prechecking --(run_until passed)-------> paused        hold = 'window'
//   paused[hold=window] --(next span opens)--------> running|prechecking
//
// The claim query refuses steps of an upgrade whose run_until has passed, so no node step starts
// after the window closes even before the pause is recorded; the step in flight finishes. An
// operator's pause has hold = NULL and is never resumed from here. Every change is one guarded
// transition with its event in the same transaction. Time comes from the injected clock.
import type { Clock } from '../domain/clock.ts';
import type { Target, Upgrade } from '../domain/types.ts';
import { formatDuration, nextRunSpan, waitReason, type RunPolicy } from '../domain/window.ts';
import { toUpgrade } from '../store/mappers.ts';
import type { Store } from '../store/open.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { Db } from '../store/schema.ts';
import { moveUpgrade, updateUpgrade } from './core/writes.ts';

/** how long an upgrade whose window never opens (within the horizon) waits before it is looked at again */
const RECHECK_MS = 24 * 3600_000;

export function policyOf(u: Pick<Upgrade, 'schedule'>, t: Target | null): RunPolicy {
  return {
    window: t?.maintenanceWindow ?? null,
    useWindow: u.schedule.kind === 'window',
    exclusions: t?.maintenanceExclusions ?? [],
  };
}

export interface Gate {
  /** may it run now? */
  go: boolean;
  /** when it must stop starting steps (null = no bound) */
  runUntil: string | null;
  /** when to look again if it may not run now */
  notBefore: string;
  reason: string | null;
}

/** The gate of an upgrade at `at`: its window (if scheduled into one) and its target's exclusions. */
export function gateAt(u: Pick<Upgrade, 'schedule'>, t: Target | null, at: Date): Gate {
  const policy = policyOf(u, t);
  const span = nextRunSpan(policy, at);
  if (span && span.start.getTime() === at.getTime()) {
    return { go: true, runUntil: span.end?.toISOString() ?? null, notBefore: at.toISOString(), reason: null };
  }
  return {
    go: false,
    runUntil: null,
    notBefore: (span?.start ?? new Date(at.getTime() + RECHECK_MS)).toISOString(),
    reason: waitReason(policy, at),
  };
}

/** Why an upgrade waits, computed now (stored reasons of window waits would go stale). */
export function pendingReasonOf(u: Upgrade, t: Target | null, at: Date): string | null {
  if (u.state === 'scheduled' && u.hold === null && u.notBefore) {
    const due = Date.parse(u.notBefore);
    if (due > at.getTime() && u.schedule.kind === 'at') {
      return `scheduled for ${u.notBefore} (starts in ${formatDuration(due - at.getTime())})`;
    }
    return gateAt(u, t, at).reason ?? u.pendingReason;
  }
  if (u.state === 'paused' && u.hold === 'window') {
    const why = gateAt(u, t, at).reason;
    return why ? `paused: its window closed${u.runUntil ? ` at ${u.runUntil}` : ''}; ${why}` : u.pendingReason;
  }
  return u.pendingReason;
}

const runState = (u: Upgrade) => (u.currentStage === 0 ? ('prechecking' as const) : ('running' as const));

/**
 * One pass of the window housekeeping. `afterReopen` runs in the transaction that let an upgrade
 * continue (the executor advances a stage that completed while it was paused).
 */
export async function housekeepWindows(
  store: Store,
  clock: Clock,
  afterReopen: (db: Db, upgradeId: string) => Promise<unknown>,
): Promise<string[]> {
  const db = store.db;
  const at = clock.now();
  const iso = at.toISOString();
  const touched: string[] = [];

  const due = await db
    .selectFrom('upgrades')
    .selectAll()
    .where('state', '=', 'scheduled')
    .where('hold', 'is', null)
    .where('not_before', '<=', iso)
    .orderBy('num')
    .limit(200)
    .execute();
  for (const row of due) {
    const u = toUpgrade(row);
    const g = gateAt(u, await loadTarget(db, u.projectId, u.targetId), at);
    await db.transaction().execute(async (trx) => {
      if (!g.go) {
        await updateUpgrade(trx, clock, u.id, ['scheduled'], { not_before: g.notBefore, pending_reason: g.reason });
        return;
      }
      const until = g.runUntil ? `; no new step starts after ${g.runUntil}` : '';
      if (
        await moveUpgrade(trx, clock, 'promote', {
          by: 'scheduler',
          u,
          from: 'scheduled',
          to: 'ready',
          set: { run_until: g.runUntil, pending_reason: null },
          message: `due${until}`,
        })
      ) {
        touched.push(u.id);
      }
    });
  }

  const closing = await db
    .selectFrom('upgrades')
    .selectAll()
    .where('state', 'in', ['running', 'prechecking'])
    .where('run_until', '<=', iso)
    .limit(200)
    .execute();
  for (const row of closing) {
    const u = toUpgrade(row);
    const g = gateAt(u, await loadTarget(db, u.projectId, u.targetId), at);
    await db.transaction().execute(async (trx) => {
      if (g.go) {
        // a new span began where the old one ended (adjacent windows): carry on
        await updateUpgrade(trx, clock, u.id, [u.state], { run_until: g.runUntil });
        return;
      }
      const reason = `paused: its window closed at ${u.runUntil}; ${g.reason}`;
      if (
        await moveUpgrade(trx, clock, 'window_close', {
          by: 'scheduler',
          u,
          from: u.state,
          to: 'paused',
          set: { hold: 'window', not_before: g.notBefore, pending_reason: reason },
          message: reason,
        })
      ) {
        touched.push(u.id);
      }
    });
  }

  const reopening = await db
    .selectFrom('upgrades')
    .selectAll()
    .where('state', '=', 'paused')
    .where('hold', '=', 'window')
    .where('not_before', '<=', iso)
    .limit(200)
    .execute();
  for (const row of reopening) {
    const u = toUpgrade(row);
    const g = gateAt(u, await loadTarget(db, u.projectId, u.targetId), at);
    await db.transaction().execute(async (trx) => {
      if (!g.go) {
        await updateUpgrade(trx, clock, u.id, ['paused'], {
          not_before: g.notBefore,
          pending_reason: `paused: its window closed; ${g.reason}`,
        });
        return;
      }
      if (
        await moveUpgrade(trx, clock, 'window_open', {
          by: 'scheduler',
          u,
          from: 'paused',
          to: runState(u),
          set: { hold: null, run_until: g.runUntil, pending_reason: null },
          message: 'its window opened again; continuing',
        })
      ) {
        touched.push(u.id);
        await afterReopen(trx, u.id);
      }
    });
  }
  return touched;
}
