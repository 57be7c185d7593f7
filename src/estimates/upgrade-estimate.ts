// The estimate of one upgrade: walk its remaining plan on a timeline. Stages run in order; the
// lanes of a stage run in parallel and the steps of a lane in order, each step as long as the
// duration model says. A gate (the maintenance window) decides when a new step may start, so a
// window that closes mid-upgrade pushes the rest into the next window, as the executor does.
// Pure: the caller passes the model, the upgrade, the target and the time.
import type { Stage, Step, StepAction, Target, Upgrade } from '../domain/types.ts';
import type { DurationModel, Source } from './duration-model.ts';

export interface Estimate {
  completesAt: string;
  remainingSeconds: number;
  basis: string;
}

/** The earliest moment at or after t at which a new step may start. */
export type StartGate = (t: Date) => Date;

export type PlannedUpgrade = Pick<Upgrade, 'state' | 'notBefore'> & { stages: (Stage & { steps: Step[] })[] };

/** Upgrade states with a foreseeable end; others (paused, failed, final) get no estimate. */
export const ESTIMATED_STATES: ReadonlySet<string> = new Set(['scheduled', 'ready', 'prechecking', 'running']);

const DONE: ReadonlySet<string> = new Set(['succeeded', 'skipped', 'cancelled', 'rolled_back']);
/** an overrunning step is assumed to need this share of its usual length still */
const OVERRUN_SHARE = 0.1;

export interface Timeline {
  /** when the last step ends */
  end: Date;
  /** how many remaining steps each source of durations priced */
  sources: Record<Source, number>;
  /** learned samples behind the priced steps (max per step) */
  samples: number;
  /** time spent waiting at the gate */
  waitedMs: number;
}

function roleOf(target: Target, node: string | null): string {
  if (node === null) return '*';
  return target.nodes.find((n) => n.name === node)?.role ?? '*';
}

/**
 * Prices the remaining steps from `start`. With `fromScratch` every step counts in full (the
 * estimate of the whole upgrade, recorded when it starts).
 */
export function walkPlan(
  model: DurationModel,
  u: PlannedUpgrade,
  target: Target,
  start: Date,
  now: Date,
  gate: StartGate | null,
  fromScratch = false,
): Timeline {
  const sources: Record<Source, number> = { learned: 0, learned_any_role: 0, nominal: 0, default: 0 };
  let samples = 0;
  let waitedMs = 0;
  let t = start.getTime();
  const price = (s: Step): number => {
    // a blue/green rollback window lasts what the upgrade set, not what earlier windows lasted
    // (a finalize ends some early): its own length is its price
    if (s.action === 'rollback_window' && typeof s.params.retentionSeconds === 'number') {
      sources.nominal++;
      return s.params.retentionSeconds * 1000;
    }
    // a lone upgrade's bake lasts the minutes it was given
    if (s.action === 'bake' && typeof s.params.bakeMinutes === 'number') {
      sources.nominal++;
      return s.params.bakeMinutes * 60_000;
    }
    const g = model.guess({ engine: target.engine, action: s.action as StepAction, role: roleOf(target, s.node) }, target.driver);
    sources[g.source]++;
    samples = Math.max(samples, g.samples);
    return g.seconds * 1000;
  };
  for (const stage of [...u.stages].sort((a, b) => a.index - b.index)) {
    const lanes = new Map<string, Step[]>();
    for (const s of stage.steps) {
      if (!fromScratch && DONE.has(s.state)) continue;
      const lane = lanes.get(s.lane) ?? [];
      lane.push(s);
      lanes.set(s.lane, lane);
    }
    let stageEnd = t;
    for (const steps of lanes.values()) {
      let lt = t;
      for (const s of steps.sort((a, b) => a.ord - b.ord)) {
        const ms = price(s);
        if (!fromScratch && s.state === 'running' && s.startedAt) {
          // already started: what is left of it, counted from now
          const elapsed = now.getTime() - Date.parse(s.startedAt);
          lt = Math.max(lt, now.getTime()) + Math.max(ms - elapsed, ms * OVERRUN_SHARE);
          continue;
        }
        if (gate) {
          const open = gate(new Date(lt)).getTime();
          waitedMs += open - lt;
          lt = open;
        }
        lt += ms;
      }
      stageEnd = Math.max(stageEnd, lt);
    }
    t = stageEnd;
  }
  return { end: new Date(t), sources, samples, waitedMs };
}

const SOURCE_TEXT: Record<Source, string> = {
  learned: 'learned',
  learned_any_role: 'learned for the action on any node role',
  nominal: 'the driver’s nominal durations',
  default: 'a default of 60 s (no history, no nominal duration)',
};

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One readable sentence: which steps were priced how, and what waits are included. */
export function describeBasis(engine: string, tl: Timeline, waits: string[]): string {
  const total = Object.values(tl.sources).reduce((a, b) => a + b, 0);
  const parts = (Object.keys(tl.sources) as Source[])
    .filter((k) => tl.sources[k] > 0)
    .map((k) =>
      k === 'learned'
        ? `${tl.sources[k]} from finished ${engine} steps (trimmed mean of up to ${tl.samples} per action and node role)`
        : `${tl.sources[k]} from ${SOURCE_TEXT[k]}`,
    );
  const steps = total === 0 ? 'no steps left' : `${total} remaining step${total === 1 ? '' : 's'}: ${parts.join('; ')}`;
  return [steps, ...waits].join('; ');
}

/** The estimate of a scheduled or running upgrade, or null when its end cannot be foreseen. */
export function estimateUpgrade(
  model: DurationModel,
  u: PlannedUpgrade,
  target: Target,
  now: Date,
  gate: StartGate | null,
  /** when the upgrade may start at the earliest (batch slot, wave, bake); default: now or notBefore */
  startAt?: { at: Date; why: string },
): Estimate | null {
  if (!ESTIMATED_STATES.has(u.state)) return null;
  const waits: string[] = [];
  let start = now;
  if (startAt && startAt.at > start) {
    start = startAt.at;
    waits.push(`${startAt.why} (${duration(start.getTime() - now.getTime())})`);
  } else if (u.state === 'scheduled' && u.notBefore && Date.parse(u.notBefore) > now.getTime()) {
    start = new Date(u.notBefore);
    waits.push(`waits until ${u.notBefore} to start (${duration(start.getTime() - now.getTime())})`);
  }
  const tl = walkPlan(model, u, target, start, now, gate);
  if (tl.waitedMs > 0) waits.push(`includes ${duration(tl.waitedMs)} waiting for maintenance windows`);
  const remainingSeconds = Math.max(0, Math.round((tl.end.getTime() - now.getTime()) / 1000));
  return {
    completesAt: new Date(now.getTime() + remainingSeconds * 1000).toISOString(),
    remainingSeconds,
    basis: describeBasis(target.engine, tl, waits),
  };
}
