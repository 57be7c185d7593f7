// The timeline of an upgrade as the console draws it, in text: one row per node with its steps
// as bars on a shared time axis (a Gantt chart), the step running now, elapsed time and the
// estimate when the server has one. `changes` gives the same story as one line per change, for
// pipes and log files.
import { duration, plain, shortId, type Paint, type Style } from './output.ts';

export interface WatchedStep {
  name: string;
  node: string | null;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
}

export interface WatchedUpgrade {
  id: string;
  targetId: string;
  fromVersion: string;
  toVersion: string;
  mode: string;
  state: string;
  error: string | null;
  currentStage?: number;
  stageCount?: number;
  startedAt?: string | null;
  endedAt?: string | null;
  createdAt?: string;
  pendingReason?: string | null;
  estimate?: { completesAt?: string; remainingSeconds?: number; basis?: string } | null;
  stages: { name: string; description?: string; state: string; steps: WatchedStep[] }[];
}

export const FINAL_UPGRADE_STATES = new Set(['succeeded', 'failed', 'cancelled', 'rolled_back']);
const DONE = new Set(['succeeded', 'skipped', 'rolled_back']);
const TARGET_ROW = '(target)';

/** what a cell of the time axis shows for a step state; characters differ so colour is optional */
const CELL: Record<string, { ch: string; style: Style }> = {
  succeeded: { ch: '█', style: 'green' },
  skipped: { ch: '▒', style: 'gray' },
  running: { ch: '▓', style: 'cyan' },
  rolling_back: { ch: '▓', style: 'magenta' },
  rolled_back: { ch: '▒', style: 'magenta' },
  failed: { ch: 'x', style: 'red' },
  cancelled: { ch: '-', style: 'gray' },
};
/** when two steps share a cell, the one that matters most to an operator shows */
const PRIORITY = ['failed', 'running', 'rolling_back', 'succeeded', 'rolled_back', 'skipped', 'cancelled'];

const ms = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

function rows(u: WatchedUpgrade): Map<string, WatchedStep[]> {
  const out = new Map<string, WatchedStep[]>();
  for (const st of u.stages.flatMap((s) => s.steps)) {
    const key = st.node ?? TARGET_ROW;
    out.set(key, [...(out.get(key) ?? []), st]);
  }
  return out;
}

function bar(steps: WatchedStep[], t0: number, t1: number, width: number, paint: Paint): string {
  const span = Math.max(t1 - t0, 1);
  const cells: (string | null)[] = [];
  for (let i = 0; i < width; i++) {
    const a = t0 + (span * i) / width;
    const b = i === width - 1 ? Infinity : t0 + (span * (i + 1)) / width;
    let best: string | null = null;
    for (const st of steps) {
      const s = ms(st.startedAt);
      if (s === null || !(st.state in CELL)) continue;
      const e = ms(st.endedAt) ?? t1;
      // a step shorter than a cell still gets its cell
      if (s < b && e >= a) {
        if (best === null || PRIORITY.indexOf(st.state) < PRIORITY.indexOf(best)) best = st.state;
      }
    }
    cells.push(best);
  }
  // one colour code per run of equal cells, not per cell
  let out = '';
  for (let i = 0; i < cells.length;) {
    let j = i;
    while (j < cells.length && cells[j] === cells[i]) j++;
    const c = cells[i];
    out += c ? paint.style(CELL[c].ch.repeat(j - i), CELL[c].style) : paint.style('·'.repeat(j - i), 'dim');
    i = j;
  }
  return out;
}

/** The whole picture, one string per line. */
export function renderTimeline(u: WatchedUpgrade, now: number, paint: Paint, columns = 100): string[] {
  const start = ms(u.startedAt) ?? ms(u.createdAt) ?? now;
  const end = ms(u.endedAt) ?? now;
  const head = [
    paint.style(`upgrade ${shortId(u.id)}`, 'bold'),
    u.targetId,
    `${u.fromVersion} -> ${u.toVersion}`,
    u.mode,
    paint.state(u.state),
    `elapsed ${duration(end - start)}`,
  ];
  const lines = [head.join('  ')];
  if (u.estimate?.completesAt && !FINAL_UPGRADE_STATES.has(u.state)) {
    const left = u.estimate.remainingSeconds ?? (Date.parse(u.estimate.completesAt) - now) / 1000;
    lines.push(
      `estimate: completes ${new Date(u.estimate.completesAt).toLocaleTimeString()} (${duration(left * 1000)} left${u.estimate.basis ? `; ${u.estimate.basis}` : ''})`,
    );
  }
  if (u.pendingReason) lines.push(paint.style(`waiting: ${u.pendingReason}`, 'yellow'));
  const stage = u.stages[u.currentStage ?? 0];
  if (stage && !FINAL_UPGRADE_STATES.has(u.state)) {
    lines.push(`stage ${(u.currentStage ?? 0) + 1}/${u.stageCount ?? u.stages.length}: ${stage.name}`);
  }
  const groups = rows(u);
  const nameWidth = Math.max(...[...groups.keys()].map((k) => k.length), 4);
  const total = Math.max(...[...groups.values()].map((l) => l.length), 1);
  const countWidth = String(total).length * 2 + 1;
  const barWidth = Math.max(10, Math.min(48, columns - nameWidth - countWidth - 36));
  for (const [node, list] of groups) {
    const done = list.filter((s) => DONE.has(s.state)).length;
    const current = list.find((s) => ['running', 'rolling_back', 'failed'].includes(s.state));
    const label = current
      ? `${current.name} ${paint.state(current.state)}${current.startedAt ? ` ${duration((ms(current.endedAt) ?? now) - (ms(current.startedAt) ?? now))}` : ''}`
      : done === list.length
        ? paint.style('done', 'green')
        : paint.style('waiting', 'dim');
    lines.push(
      `  ${node.padEnd(nameWidth)}  ${bar(list, start, end, barWidth, paint)}  ${`${done}/${list.length}`.padStart(countWidth)}  ${label}`,
    );
  }
  if (u.error) lines.push(paint.style(`error: ${u.error}`, 'red'));
  return lines.map((l) => fit(l, columns));
}

/** Cuts a line to the terminal's width (so redrawing never wraps); drops colour when it must cut. */
function fit(line: string, columns: number): string {
  const p = plain(line);
  return p.length <= columns ? line : `${p.slice(0, Math.max(columns - 1, 1))}…`;
}

/** Lines for what changed between two looks at an upgrade (all of it when `before` is null). */
export function changes(before: WatchedUpgrade | null, after: WatchedUpgrade, paint: Paint): string[] {
  const out: string[] = [];
  const stamp = paint.style(new Date().toISOString().slice(11, 19), 'dim');
  const moved = !before || before.state !== after.state;
  const upgradeLine = `${stamp} upgrade ${shortId(after.id)} ${paint.state(after.state)}${after.pendingReason ? ` (${after.pendingReason})` : ''}`;
  // an upgrade that ended is told after the steps that ended it, one that moved on before them
  const ended = FINAL_UPGRADE_STATES.has(after.state);
  if (moved && !ended) out.push(upgradeLine);
  const old = new Map<string, string>();
  before?.stages.forEach((s, i) => s.steps.forEach((st, j) => old.set(`${i}/${j}`, st.state)));
  after.stages.forEach((s, i) =>
    s.steps.forEach((st, j) => {
      const was = old.get(`${i}/${j}`) ?? 'pending';
      if (st.state !== was && st.state !== 'pending') {
        out.push(`${stamp} ${st.node ?? TARGET_ROW}: ${st.name} ${paint.state(st.state)}${st.error ? `: ${st.error}` : ''}`);
      }
    }),
  );
  if (moved && ended) out.push(upgradeLine);
  return out;
}
