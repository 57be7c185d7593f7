// The timeline of an upgrade as the console draws it, in text: one row per node with its steps
// as bars on a shared time axis (a Gantt chart), the step running now, elapsed time and the
// estimate when the server has one. `changes` gives the same story as one line per change, for
// pipes and log files.
import { pointOfNoReturnLine, upgradeFrom, upgradeTo, upgradeVersions } from '../domain/engine-labels.ts';
import { SETTLED_UPGRADE_STATES } from '../domain/types.ts';
import type { StageT, StepT, UpgradeDetailT } from '../api/upgrade-shapes.ts';
import { duration, plain, shortId, when, type Paint, type Style } from './output.ts';

/** the fields of a step (the API's StepOut) the timeline reads */
export type WatchedStep = Pick<StepT, 'name' | 'node' | 'state' | 'startedAt' | 'endedAt' | 'error'> &
  Partial<Pick<StepT, 'action' | 'progress'>>;

/** the fields of an upgrade (the API's UpgradeDetailOut) the timeline reads */
export type WatchedUpgrade = Pick<UpgradeDetailT, 'id' | 'targetId' | 'fromVersion' | 'toVersion' | 'mode' | 'state' | 'error'> &
  Partial<
    Pick<
      UpgradeDetailT,
      | 'ref'
      | 'fromEngine'
      | 'toEngine'
      | 'pointOfNoReturn'
      | 'currentStage'
      | 'stageCount'
      | 'startedAt'
      | 'endedAt'
      | 'createdAt'
      | 'pendingReason'
      | 'estimate'
      | 'rollbackWindow'
    >
  > & { stages: (Pick<StageT, 'name' | 'state'> & Partial<Pick<StageT, 'description'>> & { steps: WatchedStep[] })[] };

/** an upgrade in one of these does nothing more by itself: a watch of it ends */
export const SETTLED = new Set<string>(SETTLED_UPGRADE_STATES);
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

/** one row per node; a blue/green upgrade (whole clusters, no node steps) gets one row per stage */
function rows(u: WatchedUpgrade): Map<string, WatchedStep[]> {
  const out = new Map<string, WatchedStep[]>();
  for (const s of u.stages) {
    for (const st of s.steps) {
      const key = u.mode === 'blue_green' ? s.name : (st.node ?? TARGET_ROW);
      out.set(key, [...(out.get(key) ?? []), st]);
    }
  }
  return out;
}

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** what a running step reports, in words: a copy's bytes done of total, rate and time left; a lag */
export function progressText(st: WatchedStep): string | null {
  const p = st.progress;
  if (!p) return null;
  const done = num(p.bytesDone);
  const total = num(p.bytesTotal);
  if (done !== null && total !== null) {
    // the nearest whole percent, but 100 only when all is done (166.4 MiB of 256.0 MiB is 65%, not 64%)
    const pct = done >= total ? 100 : Math.min(99, Math.round((done / total) * 100));
    const rate = num(p.rateBytesPerSecond);
    const eta = num(p.etaSeconds);
    return [
      `copied ${mib(done)} of ${mib(total)} (${pct}%)`,
      num(p.tablesTotal) !== null ? `${String(p.tablesDone)}/${String(p.tablesTotal)} tables` : null,
      rate ? `${mib(rate)}/s` : null,
      eta !== null ? `about ${duration(eta * 1000)} left` : null,
    ]
      .filter(Boolean)
      .join(', ');
  }
  const lag = num(p.lagBytes);
  if (lag !== null) return `behind by ${lag} bytes (bound ${String(p.boundBytes)})`;
  // the rollback window's own step: shown after its name ("Rollback window: 59m left (until ...)")
  const left = num(p.secondsLeft);
  if (left !== null) return `${duration(left * 1000)} left${typeof p.until === 'string' ? ` (until ${when(p.until)})` : ''}`;
  return null;
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
    paint.style(`upgrade ${u.ref ?? shortId(u.id)}`, 'bold'),
    u.targetId,
    upgradeVersions(u),
    u.mode,
    paint.state(u.state),
    `elapsed ${duration(end - start)}`,
  ];
  const lines = [head.join('  ')];
  if (u.estimate?.completesAt && !SETTLED.has(u.state)) {
    const left = u.estimate.remainingSeconds ?? (Date.parse(u.estimate.completesAt) - now) / 1000;
    lines.push(
      `estimate: completes ${when(u.estimate.completesAt)} (${duration(left * 1000)} left${u.estimate.basis ? `; ${u.estimate.basis}` : ''})`,
    );
  }
  if (u.pendingReason) lines.push(paint.style(`waiting: ${u.pendingReason}`, 'yellow'));
  const noReturn = pointOfNoReturnLine(u);
  if (noReturn) lines.push(u.pointOfNoReturn?.passed ? paint.style(noReturn, 'yellow') : noReturn);
  const stage = u.stages[u.currentStage ?? 0];
  if (stage && !SETTLED.has(u.state)) {
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
  const win = u.rollbackWindow?.state === 'open' ? u.rollbackWindow : null;
  const running = u.stages
    .flatMap((s) => s.steps)
    .find((s) => s.state === 'running' && s.progress && !(win && s.action === 'rollback_window'));
  const text = running ? progressText(running) : null;
  if (text) lines.push(`  ${running!.name}: ${text}`);
  if (win) {
    // the two commands on lines of their own, so a narrow terminal does not cut them off
    const left = win.until ? Math.max(0, Date.parse(win.until) - now) : win.secondsLeft !== null ? win.secondsLeft * 1000 : null;
    lines.push(
      paint.style(
        `rollback window open${left !== null ? `, ${duration(left)} left` : ''}${win.until ? ` (until ${when(win.until)})` : ''}`,
        'yellow',
      ),
      `  liftgate upgrade rollback ${u.ref ?? shortId(u.id)}  returns to ${upgradeFrom(u)}`,
      `  liftgate upgrade finalize ${u.ref ?? shortId(u.id)}  keeps ${upgradeTo(u)}`,
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
  const stamp = paint.style(when(new Date(), 'clock'), 'dim');
  const moved = !before || before.state !== after.state;
  const upgradeLine = `${stamp} upgrade ${after.ref ?? shortId(after.id)} ${paint.state(after.state)}${after.pendingReason ? ` (${after.pendingReason})` : ''}`;
  // an upgrade that ended is told after the steps that ended it, one that moved on before them
  const ended = SETTLED.has(after.state);
  if (moved && !ended) out.push(upgradeLine);
  const old = new Map<string, string>();
  before?.stages.forEach((s, i) => s.steps.forEach((st, j) => old.set(`${i}/${j}`, st.state)));
  after.stages.forEach((s, i) =>
    s.steps.forEach((st, j) => {
      const was = old.get(`${i}/${j}`) ?? 'pending';
      if (st.state !== was && st.state !== 'pending') {
        out.push(`${stamp} ${st.node ?? TARGET_ROW}: ${st.name} ${paint.state(st.state)}${st.error ? `: ${st.error}` : ''}`);
      }
      // a running step's progress, when its words change (a copy: every tenth of it); the
      // rollback window has a line of its own below
      const text = st.state === 'running' && st.action !== 'rollback_window' ? progressText(st) : null;
      const prev = before?.stages[i]?.steps[j];
      const prevText = prev && prev.state === 'running' ? progressText(prev) : null;
      if (text && coarse(text) !== (prevText ? coarse(prevText) : null)) out.push(`${stamp} ${st.name}: ${text}`);
    }),
  );
  // the point of no return, once: the rollback it ends is no longer offered
  const noReturn = after.pointOfNoReturn?.passed && !before?.pointOfNoReturn?.passed ? pointOfNoReturnLine(after) : null;
  if (noReturn) out.push(`${stamp} ${noReturn}`);
  if (moved && ended) out.push(upgradeLine);
  if (after.rollbackWindow?.state === 'open' && before?.rollbackWindow?.state !== 'open') {
    out.push(
      `${stamp} rollback window open${after.rollbackWindow.until ? ` until ${when(after.rollbackWindow.until)}` : ''}: rollback returns to ${upgradeFrom(after)}, finalize keeps ${upgradeTo(after)}`,
    );
  }
  return out;
}

/** a copy's words without the parts that change every second, so a pipe gets a line per tenth */
function coarse(text: string): string {
  const m = /\((\d+)%\)/.exec(text);
  if (m) return `copy ${Math.floor(Number(m[1]) / 10)}`;
  if (/^\S+ left\b/.test(text)) return 'window';
  if (text.startsWith('behind')) return 'lag';
  return text;
}
