// The bake of a lone upgrade (options.analysis with options.bakeMinutes): the last step of its
// plan, run by the executor itself, not by a driver. It waits bakeMinutes after the upgrade's own
// steps while each analysis check is sampled on the upgraded target every intervalSeconds, and
// all of them once more at the end (./analysis.ts samples). The bake's end is written to the
// step's progress before anything else, so a bake taken over after a crash or a pause ends when
// it would have, never restarts from zero (a failed bake that an operator retries bakes again).
// A check out of bounds fails the step (ANALYSIS_FAILED); one that cannot be evaluated fails it
// (ANALYSIS_UNAVAILABLE) or pauses the upgrade, as its onError says.
import type { AnalysisCheck } from '../domain/analysis.ts';
import { isoNow, type Clock } from '../domain/clock.ts';
import type { Step, Target } from '../domain/types.ts';
import { DriverError, type Driver } from '../drivers/driver.ts';
import { sampleCheck } from './analysis.ts';

/** What a bake step keeps in its progress: its end, and its checks with their last samples. */
export interface BakeProgress {
  until: string;
  secondsLeft: number;
  checks: AnalysisCheck[];
}

/** A check that could not be evaluated and whose onError is pause: the upgrade pauses. */
export class BakePause extends Error {}

export interface BakeRun {
  step: Step;
  target: Target;
  drivers: Map<string, Driver>;
  clock: Clock;
  signal: AbortSignal;
  /** writes the progress (guarded on the holder); false when the step is no longer ours */
  save(p: BakeProgress): Promise<boolean>;
  log(line: string): void;
}

/** how often a waiting bake looks at the clock (tests move a ManualClock) */
const TICK_MS = 200;

/** Runs a bake to its end; returns its checks' last samples, throws DriverError or BakePause. */
export async function runBake(r: BakeRun): Promise<{ checks: AnalysisCheck[] }> {
  const stored = r.step.progress as Partial<BakeProgress> | null;
  // a bake that ended failed (an operator retries it) bakes again in full; one taken over after a
  // crash or resumed after a pause keeps its end
  const ended = stored?.checks?.some((c) => c.last?.outcome === 'fail' || (c.last?.outcome === 'error' && c.onError === 'fail'));
  const prior = ended ? null : stored;
  const minutes = Number(r.step.params.bakeMinutes);
  let checks = prior?.checks ?? (r.step.params.checks as AnalysisCheck[]);
  const until = prior?.until ?? new Date(r.clock.now().getTime() + minutes * 60_000).toISOString();
  const end = Date.parse(until);
  const save = async () => {
    const secondsLeft = Math.max(0, Math.ceil((end - r.clock.now().getTime()) / 1000));
    if (!(await r.save({ until, secondsLeft, checks }))) throw new DriverError('FENCED', 'the bake is no longer held');
  };
  if (prior?.until) r.log(`bake resumed; it ends at ${until}`);
  else r.log(`bake of ${minutes} min; it ends at ${until}`);
  await save();
  for (;;) {
    const now = r.clock.now().getTime();
    const final = now >= end;
    // a check is due its interval after its last sample; all of them once more at the end
    const due = checks.filter((c) => final || !c.last || Date.parse(c.last.at) + c.intervalSeconds * 1000 <= now);
    if (due.length > 0) {
      const at = isoNow(r.clock);
      const samples = new Map(
        await Promise.all(due.map(async (c) => [c.name, await sampleCheck(c, [r.target], r.drivers)] as const)),
      );
      checks = checks.map((c) => {
        const s = samples.get(c.name);
        return s ? { ...c, last: { at, outcome: s.outcome, value: s.value, reason: s.reason } } : c;
      });
      await save();
      for (const c of due) {
        const s = samples.get(c.name);
        if (s?.outcome === 'fail') throw new DriverError('ANALYSIS_FAILED', s.reason ?? `analysis "${c.name}" failed`);
      }
      for (const c of due) {
        const s = samples.get(c.name);
        if (s?.outcome !== 'error') continue;
        const reason = s.reason ?? `analysis "${c.name}" could not be evaluated`;
        if (c.onError === 'fail') throw new DriverError('ANALYSIS_UNAVAILABLE', reason);
        throw new BakePause(reason);
      }
    }
    if (final) {
      r.log(`bake passed: ${checks.map((c) => `${c.name} ${c.last?.value ?? '-'}`).join(', ')}`);
      return { checks };
    }
    const next = Math.min(end, ...checks.map((c) => Date.parse(c.last?.at ?? until) + c.intervalSeconds * 1000));
    while (r.clock.now().getTime() < next) {
      if (r.signal.aborted) throw new DriverError('ABORTED', 'the bake was stopped');
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
  }
}
