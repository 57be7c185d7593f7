// Pieces the rollout pages share: a wave's upgrades grouped by what they are doing, the strip of
// waves that shows a batch's progress at a glance, and failures against the halting threshold.
import type { Batch, Wave } from '../api.ts';
import { stateLabel, tone, when } from '../format.ts';

/** A server's reason with its ISO times read as local times ("starts at 03:04:44 PM (in 20h)"). */
export const readable = (reason: string) =>
  reason.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)/g, (iso) => when(iso));

/** a wave's upgrades per state, in the groups a reader asks about (done, running, failed, ...) */
export interface Buckets {
  done: number;
  running: number;
  paused: number;
  failed: number;
  waiting: number;
  cancelled: number;
}

export function buckets(counts: Record<string, number>): Buckets {
  const n = (...states: string[]) => states.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
  return {
    done: n('succeeded'),
    running: n('prechecking', 'running', 'cancelling', 'rolling_back'),
    paused: n('paused'),
    // as the threshold counts them: failed and rolled back
    failed: n('failed', 'rolled_back'),
    waiting: n('scheduled', 'ready'),
    cancelled: n('cancelled'),
  };
}

const SEGMENTS: { key: keyof Buckets; tone: string; label: string }[] = [
  { key: 'done', tone: 'ok', label: 'upgraded' },
  { key: 'running', tone: 'run', label: 'running' },
  { key: 'paused', tone: 'warn', label: 'paused' },
  { key: 'failed', tone: 'bad', label: 'failed' },
  { key: 'cancelled', tone: 'idle', label: 'cancelled' },
];

/** A bar of a wave's upgrades: upgraded, running, paused, failed, cancelled, then the rest waiting. */
export function SegBar({ wave, tall }: { wave: Wave; tall?: boolean }) {
  const b = buckets(wave.counts ?? {});
  const total = Math.max(1, wave.targets);
  return (
    <div
      className={`segbar${tall ? ' tall' : ''}`}
      role="img"
      aria-label={`${wave.name}: ${SEGMENTS.map((s) => `${b[s.key]} ${s.label}`).join(', ')}, ${b.waiting} waiting, of ${wave.targets}`}
    >
      {SEGMENTS.map((s) =>
        b[s.key] > 0 ? <span key={s.key} className={`tone-${s.tone}`} style={{ width: `${(b[s.key] / total) * 100}%` }} /> : null,
      )}
    </div>
  );
}

export function Legend({ wave }: { wave: Wave }) {
  const b = buckets(wave.counts ?? {});
  return (
    <div className="legend" data-testid="wave-counts">
      {SEGMENTS.filter((s) => s.key === 'done' || b[s.key] > 0).map((s) => (
        <span key={s.key} className={`tone-${s.tone}`}>
          {b[s.key]} {s.label}
        </span>
      ))}
      {b.waiting > 0 ? <span className="tone-idle">{b.waiting} waiting</span> : null}
    </div>
  );
}

/** Every wave of a batch side by side, each as wide as its share of the targets. */
export function WaveStrip({ batch }: { batch: Batch }) {
  return (
    <div className="wave-strip" aria-label="Progress by wave">
      {batch.waves.map((w) => {
        const b = buckets(w.counts ?? {});
        return (
          <div
            key={w.index}
            className={`wave-seg tone-${tone(w.state)}${w.index === batch.currentWave ? ' wave-seg-current' : ''}`}
            // as wide as its share of the targets, but wide enough for its name (a canary of 1 in 500)
            style={{ flex: `${Math.max(w.targets, batch.targets / (batch.waves.length * 2), 1)} 1 0` }}
            title={`${w.name}: ${stateLabel(w.state)}, ${b.done} of ${w.targets} upgraded${b.failed ? `, ${b.failed} failed` : ''}`}
            data-wave={w.name}
            data-state={w.state}
          >
            <div className="wave-seg-label">
              <span>{w.name}</span>
              <span>
                {b.done}/{w.targets}
              </span>
            </div>
            <SegBar wave={w} />
          </div>
        );
      })}
    </div>
  );
}

/** "1 of 2 allowed": the failed targets, and the number that halts the batch, as pips when few. */
export function Threshold({ batch }: { batch: Batch }) {
  const { failures, failureLimit } = batch;
  const near = failures > 0 && failures >= failureLimit - 1;
  return (
    <span className="threshold" data-testid="failures">
      {failureLimit <= 10 ? (
        <span className="threshold-pips" aria-hidden="true">
          {Array.from({ length: failureLimit }, (_, i) => (
            <span key={i} className={i < failures ? 'hit' : undefined} />
          ))}
        </span>
      ) : null}
      <span className={failures >= failureLimit ? 'bad-text strong' : near ? 'warn-text' : undefined}>
        {failures} of {failureLimit} allowed
      </span>
    </span>
  );
}

/** The batch's upgrades done and in all, across waves. */
export function totals(batch: Batch): { done: number; failed: number; total: number } {
  let done = 0;
  let failed = 0;
  for (const w of batch.waves) {
    const b = buckets(w.counts ?? {});
    done += b.done;
    failed += b.failed;
  }
  return { done, failed, total: batch.targets };
}
