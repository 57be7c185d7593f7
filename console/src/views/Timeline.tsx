// The upgrade's DAG as a Gantt-like timeline: stages in order, one row per step (its node and
// action), a bar from the step's start to its end (to now while it runs) on a shared time axis.
// Rows never change height and the DAG's rows are fixed when the upgrade is planned, so live
// updates only move bars and colours, never the layout.
import type { CSSProperties, KeyboardEvent } from 'react';
import { MOVING_UPGRADE_STATES } from '../../../src/domain/types.ts';
import type { Stage, Step, UpgradeDetail } from '../api.ts';
import { Badge } from '../components.tsx';
import { elapsed, shortDuration, stateLabel, tone } from '../format.ts';

const ACTIVE_STEP = new Set(['running', 'rolling_back']);

export function timeRange(u: UpgradeDetail, now: number): { t0: number; t1: number } {
  const starts: number[] = [];
  const ends: number[] = [];
  for (const s of u.stages)
    for (const st of s.steps) {
      if (st.startedAt) starts.push(Date.parse(st.startedAt));
      if (st.endedAt) ends.push(Date.parse(st.endedAt));
      if (st.startedAt && !st.endedAt) ends.push(now);
    }
  const t0 = starts.length ? Math.min(...starts) : u.startedAt ? Date.parse(u.startedAt) : now;
  const running = !u.endedAt && MOVING_UPGRADE_STATES.includes(u.state);
  const t1 = Math.max(t0 + 1000, ...ends, running ? now : t0);
  return { t0, t1 };
}

function ticks(t0: number, t1: number): { every: number; marks: { at: number; label: string }[] } {
  const span = t1 - t0;
  const steps = [
    100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
  ];
  const every = steps.find((s) => span / s <= 6) ?? 7_200_000;
  const marks: { at: number; label: string }[] = [];
  for (let t = 0; t <= span; t += every) marks.push({ at: t / span, label: shortDuration(t) });
  return { every: every / span, marks };
}

export function Timeline({
  upgrade,
  now,
  selected,
  onSelect,
}: {
  upgrade: UpgradeDetail;
  now: number;
  selected: string | null;
  onSelect: (stepId: string) => void;
}) {
  const { t0, t1 } = timeRange(upgrade, now);
  const span = t1 - t0;
  const pos = (iso: string | null, fallback: number) => ((iso ? Date.parse(iso) : fallback) - t0) / span;
  const allSteps = upgrade.stages.flatMap((s) => s.steps);
  const axis = ticks(t0, t1);

  const onKey = (e: KeyboardEvent<HTMLDivElement>, st: Step) => {
    const i = allSteps.findIndex((x) => x.id === st.id);
    const next = e.key === 'ArrowDown' ? allSteps[i + 1] : e.key === 'ArrowUp' ? allSteps[i - 1] : undefined;
    if (next) {
      e.preventDefault();
      onSelect(next.id);
      document.getElementById(`step-${next.id}`)?.focus();
    }
  };

  return (
    <div
      className="timeline"
      role="grid"
      aria-label="Upgrade timeline"
      aria-rowcount={allSteps.length}
      // grid lines of every row fall on the axis' ticks
      style={{ '--tick': `${axis.every * 100}%` } as CSSProperties}
    >
      <div className="tl-axis" aria-hidden="true">
        <div className="tl-label" />
        <div className="tl-track">
          {axis.marks.map((t) => (
            <span key={t.at} className="tl-tick" style={{ left: `${t.at * 100}%` }}>
              {t.label}
            </span>
          ))}
        </div>
      </div>
      {upgrade.stages.map((stage) => (
        <StageRows
          key={stage.index}
          stage={stage}
          current={stage.index === upgrade.currentStage}
          pos={pos}
          now={now}
          selected={selected}
          onSelect={onSelect}
          onKey={onKey}
        />
      ))}
    </div>
  );
}

function StageRows(props: {
  stage: Stage;
  current: boolean;
  pos: (iso: string | null, fallback: number) => number;
  now: number;
  selected: string | null;
  onSelect: (id: string) => void;
  onKey: (e: KeyboardEvent<HTMLDivElement>, st: Step) => void;
}) {
  const { stage, pos, now } = props;
  return (
    <div className={`tl-stage${props.current ? ' tl-stage-current' : ''}`} role="rowgroup" data-stage={stage.index}>
      <div className="tl-stage-head" role="row">
        <span className="tl-stage-name" role="rowheader">
          <span className="tl-stage-index">{stage.index + 1}</span>
          {stage.name}
        </span>
        <span className="tl-stage-meta">
          <Badge state={stageState(stage)} />
          <span className="muted num">{elapsed(stage.startedAt, stage.endedAt, now)}</span>
        </span>
      </div>
      {stage.steps.map((st) => {
        const start = pos(st.startedAt, now);
        const end = pos(st.endedAt, now);
        const running = ACTIVE_STEP.has(st.state);
        const isSel = props.selected === st.id;
        return (
          <div
            key={st.id}
            id={`step-${st.id}`}
            role="row"
            tabIndex={isSel ? 0 : -1}
            aria-selected={isSel}
            data-step={st.id}
            data-state={st.state}
            className={`tl-row${running ? ' tl-running' : ''}${isSel ? ' tl-selected' : ''}`}
            onClick={() => props.onSelect(st.id)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                props.onSelect(st.id);
              } else props.onKey(e, st);
            }}
          >
            <div className="tl-label" role="rowheader">
              <span className="tl-node mono">{st.node ?? 'target'}</span>
              <span className="tl-action">{st.name}</span>
            </div>
            <div
              className="tl-track"
              role="gridcell"
              aria-label={`${st.name}${st.node ? ` on ${st.node}` : ''}: ${stateLabel(st.state)}`}
            >
              {st.startedAt ? (
                <span
                  className={`tl-bar tone-${tone(st.state)}`}
                  style={{ left: `${start * 100}%`, width: `max(4px, ${Math.max(0, end - start) * 100}%)` }}
                  title={`${stateLabel(st.state)} · ${elapsed(st.startedAt, st.endedAt, now)}${st.attempts > 1 ? ` · attempt ${st.attempts}` : ''}`}
                />
              ) : (
                <span className="tl-pending">{stateLabel(st.state)}</span>
              )}
            </div>
            <div className="tl-state">
              <span className={`tl-dot tone-${tone(st.state)}`} aria-hidden="true" />
              <span className="tl-state-text">{stateLabel(st.state)}</span>
            </div>
          </div>
        );
      })}
    </div>
  );
}

/**
 * The state a stage's badge shows: the state core moves stages to rolled_back only once the whole
 * upgrade is rolled back, so while its steps are being reversed a stage still says "succeeded";
 * the badge follows its steps instead (rolling back while any is reversed or left to reverse).
 */
export function stageState(stage: Stage): string {
  if (stage.state === 'rolled_back') return stage.state;
  const steps = stage.steps;
  if (steps.some((s) => s.state === 'rolling_back')) return 'rolling_back';
  if (!steps.some((s) => s.state === 'rolled_back')) return stage.state;
  return steps.some((s) => s.state === 'succeeded') ? 'rolling_back' : 'rolled_back';
}
