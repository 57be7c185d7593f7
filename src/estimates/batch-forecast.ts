// The forecast of one batch: its remaining waves played forward on a timeline, as the batch
// scheduler will run them. In a wave, at most maxConcurrency upgrades run at once: each held
// upgrade takes the first slot that frees (in release order), starts a release lag later (the
// scheduler's pass, then the executor's promotion) and runs as long as one upgrade of the wave
// takes; the wave ends with its last upgrade, then bakes, then the next wave starts. A wave
// behind an approval gate is assumed approved when it is due (said in the basis); a paused,
// halted or ended batch has no foreseeable end. Pure: the caller loads the waves and prices an
// upgrade; the held upgrades' start times come out too (each one's own estimate uses them).
import { duration, type Estimate, type StartGate } from './upgrade-estimate.ts';

/** the batch scheduler's pass (about every second) plus the promotion of what it released */
export const RELEASE_LAG_SECONDS = 1;

export interface WaveForecastInput {
  index: number;
  name: string;
  state: string;
  maxConcurrency: number;
  bakeSeconds: number;
  approval: boolean;
  bakeUntil: string | null;
  /** upgrades still held by the batch */
  held: number;
  /** seconds left of each released upgrade that has not ended, counted from now */
  activeRemaining: number[];
  /** how long one upgrade of this wave takes, release to end (seconds) */
  upgradeSeconds: number;
  /** for a "window" batch: the window gate of each held upgrade, in release order */
  gates?: (StartGate | null)[];
}

export interface BatchForecastInput {
  state: string;
  now: Date;
  /** the batch's start time (a scheduled batch) */
  notBefore: Date | null;
  currentWave: number | null;
  waves: WaveForecastInput[];
  /** what priced the upgrades (ends the basis) */
  pricing: string;
}

export interface BatchForecast {
  estimate: Estimate;
  /** per wave index: when each held upgrade is released, in release order (ms since the epoch) */
  heldStarts: Map<number, number[]>;
}

/** States whose end can be foreseen; awaiting_approval is forecast as if approved now. */
export const FORECAST_STATES: ReadonlySet<string> = new Set(['scheduled', 'running', 'baking', 'awaiting_approval']);

/** A binary min-heap of slot free times. */
class Slots {
  private readonly h: number[] = [];
  push(v: number): void {
    const h = this.h;
    h.push(v);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (h[p] <= h[i]) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }
  pop(): number {
    const h = this.h;
    const top = h[0];
    const last = h.pop() as number;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l] < h[m]) m = l;
        if (r < h.length && h[r] < h[m]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

export function forecastBatch(input: BatchForecastInput): BatchForecast | null {
  if (!FORECAST_STATES.has(input.state)) return null;
  const now = input.now.getTime();
  const lag = RELEASE_LAG_SECONDS * 1000;
  const waits: string[] = [];
  const heldStarts = new Map<number, number[]>();
  let t = now;
  const first = input.state === 'scheduled' ? 0 : (input.currentWave ?? 0);
  if (input.state === 'scheduled' && input.notBefore && input.notBefore.getTime() > now) {
    t = input.notBefore.getTime();
    waits.push(`starts at ${input.notBefore.toISOString()} (in ${duration(t - now)})`);
  }
  let slotWaitMs = 0;
  let bakeMs = 0;
  let windowWaitMs = 0;
  let approvals = 0;
  for (const w of input.waves.filter((x) => x.index >= first).sort((a, b) => a.index - b.index)) {
    const current = w.index === first && input.state !== 'scheduled';
    if (current && input.state === 'baking') {
      // its upgrades have ended: the bake runs out, then the next wave
      const until = w.bakeUntil ? Date.parse(w.bakeUntil) : t;
      bakeMs += Math.max(0, until - t);
      t = Math.max(t, until) + lag;
      continue;
    }
    if (w.approval && (!current || input.state === 'awaiting_approval')) approvals++;
    const slots = new Slots();
    let end = t;
    const active = current ? w.activeRemaining : [];
    for (const r of active) {
      const e = now + Math.max(0, r) * 1000;
      slots.push(e);
      end = Math.max(end, e);
    }
    for (let i = active.length; i < w.maxConcurrency; i++) slots.push(t);
    const starts: number[] = [];
    const ms = w.upgradeSeconds * 1000;
    for (let k = 0; k < w.held; k++) {
      const free = Math.max(slots.pop(), t);
      slotWaitMs += free - t;
      let start = free + lag;
      const gate = w.gates?.[k];
      if (gate) {
        const open = gate(new Date(start)).getTime();
        windowWaitMs += open - start;
        start = open;
      }
      starts.push(start);
      const e = start + ms;
      slots.push(e);
      end = Math.max(end, e);
    }
    heldStarts.set(w.index, starts);
    // the scheduler sees the wave done at its next pass; then the bake
    t = end + lag + w.bakeSeconds * 1000;
    bakeMs += w.bakeSeconds * 1000;
  }
  if (approvals > 0)
    waits.push(`assumes ${approvals === 1 ? 'the approval gate is' : `${approvals} approval gates are`} passed when due`);
  if (bakeMs > 0) waits.push(`includes ${duration(bakeMs)} of bakes`);
  if (windowWaitMs > 0) waits.push(`includes ${duration(windowWaitMs)} waiting for maintenance windows`);
  if (slotWaitMs > 0) waits.push('counts the waits for concurrency slots');
  const remainingSeconds = Math.max(0, Math.round((t - now) / 1000));
  return {
    estimate: {
      completesAt: new Date(now + remainingSeconds * 1000).toISOString(),
      remainingSeconds,
      basis: [`${input.waves.filter((x) => x.index >= first).length} wave(s) left`, ...waits, input.pricing].join('; '),
    },
    heldStarts,
  };
}
