// Upgrade: the DAG as a live timeline, the selected step's log and result, the precheck report,
// the estimate, the point of no return, and the operator actions the current state allows, each
// behind a confirmation that says what it will do.
import { useEffect, useState, type ReactNode } from 'react';
import { pointOfNoReturnLine, upgradeFrom, upgradeTo } from '../../../src/domain/engine-labels.ts';
import { FINAL_UPGRADE_STATES, MOVING_UPGRADE_STATES as MOVING } from '../../../src/domain/types.ts';
import { api, enc, projectPath, type Report, type Step, type Target, type UpgradeDetail } from '../api.ts';
import { Badge, ConfirmDialog, ErrorBox, Loading, Section, Time, type Confirmation } from '../components.tsx';
import { actorLabel, duration, elapsed, fullTime, relative, shortDuration, stateLabel, upgradeRef, when } from '../format.ts';
import { useActionRunner, useResource, useTick } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { useLiveReload } from '../live.tsx';
import { href, Link } from '../router.tsx';
import { PrecheckReport } from './Precheck.tsx';
import { Crumbs } from './Target.tsx';
import { Timeline } from './Timeline.tsx';

/** steps whose driver reports figures as they run (a copy's bytes, a catch-up's lag) */
const REPORTING = new Set(['initial_copy', 'catch_up']);

interface UpgradeData {
  upgrade: UpgradeDetail;
  target: Target | null;
}

async function loadUpgrade(project: string, id: string): Promise<UpgradeData> {
  const base = projectPath(project);
  const upgrade = await api<UpgradeDetail>(`${base}/upgrades/${enc(id)}`);
  const target = await api<Target>(`${base}/targets/${enc(upgrade.targetId)}`).catch(() => null);
  return { upgrade, target };
}

export function UpgradeView({ project, id }: { project: string; id: string }) {
  const res = useResource(() => loadUpgrade(project, id), [project, id]);
  useLiveReload(res.reload, (e) => e.upgradeId === id, 200);
  const u = res.data?.upgrade;
  const now = useTick(!!u && MOVING.includes(u.state), 500);
  const [picked, setPicked] = useState<string | null>(null);
  // A driver's progress report is written without an event: look again while such a step runs.
  const reporting = u?.stages.some((s) => s.steps.some((st) => st.state === 'running' && REPORTING.has(st.action))) ?? false;
  useEffect(() => {
    if (!reporting) return;
    const timer = setTimeout(res.reload, 1000);
    return () => clearTimeout(timer);
  }, [reporting, u, res.reload]);

  if (!u) {
    return (
      <div className="page">
        <Crumbs project={project} label="Upgrade" />
        {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : <Loading rows={8} />}
      </div>
    );
  }
  const steps = u.stages.flatMap((s) => s.steps);
  const auto =
    steps.find((s) => s.state === 'running' || s.state === 'rolling_back') ??
    steps.find((s) => s.state === 'failed') ??
    [...steps].reverse().find((s) => s.startedAt);
  const selected = steps.find((s) => s.id === picked) ?? auto ?? null;
  const targetName = res.data?.target?.name || u.targetId;

  return (
    <div className="page">
      <Crumbs
        project={project}
        parent={{ href: href.target(project, u.targetId), label: targetName }}
        label={`${upgradeRef(u)} of ${targetName}`}
      />
      <div className="page-title">
        <h1>
          <span className="mono">{upgradeFrom(u)}</span> → <span className="mono">{upgradeTo(u)}</span>
        </h1>
        <Badge state={u.state} />
        <span className="muted" data-testid="upgrade-ref">
          <span className="mono">{upgradeRef(u)}</span> · {targetName}
        </span>
      </div>
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      <Summary project={project} u={u} now={now} targetName={targetName} />
      {u.mode === 'blue_green' ? <BlueGreen u={u} now={now} /> : null}
      <NoReturn u={u} />
      <Actions project={project} u={u} onDone={res.reload} />

      <div className="split">
        <Section title="Timeline" id="timeline">
          <Timeline upgrade={u} now={now} selected={selected?.id ?? null} onSelect={setPicked} />
        </Section>
        <StepDetail step={selected} now={now} />
      </div>
      {u.restores?.length ? <Restores u={u} /> : null}
      {u.precheckReportId ? <Precheck project={project} id={u.precheckReportId} upgradeState={u.state} /> : null}
    </div>
  );
}

function Summary({ project, u, now, targetName }: { project: string; u: UpgradeDetail; now: number; targetName: string }) {
  const steps = u.stages.flatMap((s) => s.steps);
  const done = steps.filter((s) => s.state === 'succeeded' || s.state === 'skipped').length;
  const stage = u.stages[u.currentStage];
  return (
    <>
      {u.state === 'failed' || u.error ? (
        <div className="error-box" role="alert">
          <strong>{u.errorCode ?? 'Failed'}</strong>
          <span>{u.error}</span>
        </div>
      ) : null}
      {u.pendingReason ? (
        <p className="notice" role="status">
          {u.pendingReason}
        </p>
      ) : u.state === 'scheduled' && u.notBefore ? (
        <p className="notice" role="status">
          Waiting to start: not before {fullTime(u.notBefore)} ({relative(u.notBefore)}).
        </p>
      ) : null}
      <dl className="facts wide summary">
        <div>
          <dt>Target</dt>
          <dd>
            <Link href={href.target(project, u.targetId)}>{targetName}</Link>
          </dd>
        </div>
        <div>
          <dt>Mode</dt>
          <dd>{stateLabel(u.mode)}</dd>
        </div>
        <div className="wide-fact">
          <dt>Stage</dt>
          <dd className="num" data-testid="stage">
            {Math.min(u.currentStage + 1, u.stageCount)} of {u.stageCount}
            {stage && !FINAL_UPGRADE_STATES.includes(u.state) ? ` · ${stage.name}` : ''}
          </dd>
        </div>
        <div>
          <dt>Steps done</dt>
          <dd className="num" data-testid="steps-done">
            {done} of {steps.length}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>
            <Time iso={u.startedAt} />
          </dd>
        </div>
        <div>
          <dt>{u.endedAt ? 'Took' : 'Elapsed'}</dt>
          <dd className="num">{elapsed(u.startedAt, u.endedAt, now)}</dd>
        </div>
        <div className="wide-fact">
          <dt title="from the learned step durations, with the waits and windows ahead; a precheck report's estimate is the driver's guess per phase">
            Live estimate
          </dt>
          <dd className="num" data-testid="estimate">
            {u.estimate ? (
              <span title={u.estimate.basis}>
                done <Time iso={u.estimate.completesAt} /> · {duration(u.estimate.remainingSeconds)} left
              </span>
            ) : u.endedAt ? (
              '-'
            ) : (
              <span className="muted">not yet known</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Retries</dt>
          <dd className="num">{u.retries ?? 0}</dd>
        </div>
        <div className="wide-fact">
          <dt>Started by</dt>
          <dd data-testid="started-by" title={u.createdBy ?? undefined}>
            {actorLabel(u.createdBy, undefined, u.createdByName)}
          </dd>
        </div>
      </dl>
    </>
  );
}

/**
 * The first step its driver cannot reverse: until it runs, a rollback is possible; once it has
 * started, the server no longer offers one (allowedActions), and the page says why. A warning
 * when passed or when the driver says why (a route across engines); a quiet line otherwise (a
 * last step that only records the new version).
 */
function NoReturn({ u }: { u: UpgradeDetail }) {
  const line = pointOfNoReturnLine(u);
  const p = u.pointOfNoReturn;
  if (!line || !p) return null;
  return (
    <p
      className={p.passed || p.reason ? 'notice' : 'muted no-return'}
      role="status"
      data-testid="point-of-no-return"
      data-passed={u.pointOfNoReturn?.passed ? 'true' : 'false'}
    >
      {line}
    </p>
  );
}

/** the server's message (a clause in lower case) as a sentence of its own */
const sentence = (m: string) => `${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? '' : '.'}`;
/** the nearest whole percent, but 100 only when all is done (166.4 MiB of 256.0 MiB is 65%, not 64%) */
const percent = (done: number, total: number) => (done >= total ? 100 : Math.min(99, Math.round((done / total) * 100)));
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/**
 * A blue/green upgrade: the stage that runs now with what its driver reports (the initial copy's
 * bytes done of total, rate and time left; the catch-up's lag), and the rollback window.
 */
function BlueGreen({ u, now }: { u: UpgradeDetail; now: number }) {
  const running = u.stages.flatMap((s) => s.steps).find((s) => s.state === 'running' && s.progress);
  const p = running?.progress ?? null;
  const done = num(p?.bytesDone);
  const total = num(p?.bytesTotal);
  const rate = num(p?.rateBytesPerSecond);
  const eta = num(p?.etaSeconds);
  const lag = num(p?.lagBytes);
  const w = u.rollbackWindow;
  const left = w?.state === 'open' && w.until ? Math.max(0, Math.round((Date.parse(w.until) - now) / 1000)) : null;
  return (
    <Section title="Blue/green" id="blue-green">
      <div className="blue-green">
        {running && done !== null && total !== null ? (
          <div className="bg-progress" data-testid="copy-progress">
            <div>
              <strong>{running.name}</strong>: {mib(done)} of {mib(total)} ({percent(done, total)}%)
              {num(p?.tablesTotal) !== null ? ` · ${String(p?.tablesDone)}/${String(p?.tablesTotal)} tables` : ''}
              {rate ? ` · ${mib(rate)}/s` : ''}
              {eta !== null ? ` · about ${duration(eta)} left` : ''}
            </div>
            <progress max={Math.max(total, 1)} value={done} aria-label={`${running.name}: bytes copied`} />
          </div>
        ) : running && lag !== null ? (
          <p data-testid="catch-up-lag">
            <strong>{running.name}</strong>: green is {lag} bytes behind (bound {String(p?.boundBytes)})
          </p>
        ) : null}
        {w ? (
          <p className={w.state === 'open' ? 'notice' : 'muted'} role="status" data-testid="rollback-window">
            <strong>Rollback window</strong>:{' '}
            {w.state === 'open'
              ? `open, ${duration(left ?? w.secondsLeft ?? 0)} left (until ${when(w.until)}).`
              : `${stateLabel(w.state)}.`}
            {w.message ? ` ${sentence(w.message)}` : ''}
          </p>
        ) : null}
      </div>
    </Section>
  );
}

/** The nodes the cancel found out of service, and what it did (or does) on each. */
function Restores({ u }: { u: UpgradeDetail }) {
  return (
    <Section title="Nodes brought back by the cancel" id="restores">
      <div className="table-wrap">
        <table className="table" aria-label="Restored nodes" data-testid="restores">
          <thead>
            <tr>
              <th>Node</th>
              <th>State</th>
              <th>Why</th>
              <th>What was done</th>
            </tr>
          </thead>
          <tbody>
            {(u.restores ?? []).map((r) => (
              <tr key={r.node} data-node={r.node}>
                <td className="mono">{r.node}</td>
                <td>
                  <Badge state={r.state} />
                </td>
                <td>{r.reason ?? '-'}</td>
                <td>{r.summary ?? r.error ?? '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

const stepName = (s: Step) => `${s.name}${s.node ? ` on ${s.node}` : ''}`;

function list(items: string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

/** What an action will do to this upgrade, in words, from its current steps. */
function explain(action: string, u: UpgradeDetail): Confirmation {
  const steps = u.stages.flatMap((s) => s.steps);
  const running = steps.filter((s) => s.state === 'running');
  const failed = steps.filter((s) => s.state === 'failed');
  const pending = steps.filter((s) => s.state === 'pending');
  const succeeded = steps.filter((s) => s.state === 'succeeded');
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  const body = (...ps: ReactNode[]) => (
    <>
      {ps.map((p, i) => (
        <p key={i}>{p}</p>
      ))}
    </>
  );
  switch (action) {
    case 'pause':
      return {
        title: 'Pause this upgrade?',
        body: body(
          running.length
            ? `The running step (${list(running.map(stepName))}) finishes; no new step starts until you resume.`
            : 'No new step starts until you resume.',
        ),
        confirm: 'Pause',
      };
    case 'resume':
      return {
        title: 'Resume this upgrade?',
        body: body(`It continues with stage ${u.currentStage + 1} of ${u.stageCount}: ${n(pending.length, 'step')} to go.`),
        confirm: 'Resume',
      };
    case 'cancel':
      return {
        title: 'Cancel this upgrade?',
        body: body(
          `${n(pending.length, 'pending step')} ${pending.length === 1 ? 'is' : 'are'} cancelled.` +
            (running.length
              ? ` The running step (${list(running.map(stepName))}) is stopped, or finishes first if it cannot be stopped halfway.`
              : ''),
          'Every node the upgrade took out of service is started again on the version it has, before the upgrade ends cancelled and the target is freed.',
          `The ${n(succeeded.length, 'completed step')} stay as they are; roll back afterwards to reverse them.`,
        ),
        confirm: 'Cancel upgrade',
        danger: true,
      };
    case 'retry':
      return {
        title: 'Retry the failed step?',
        body: body(
          `Retry runs ${list(failed.map(stepName))} again; the ${n(succeeded.length, 'succeeded step')} ${succeeded.length === 1 ? 'is' : 'are'} kept.`,
        ),
        confirm: 'Retry',
      };
    case 'skip':
      return {
        title: 'Skip the failed step?',
        body: body(
          `Skip marks ${list(failed.map(stepName))} as skipped and carries on with the next step.`,
          'Do this only after fixing or checking it by hand: the upgrade will not run it again.',
        ),
        confirm: 'Skip step',
        danger: true,
      };
    case 'rollback': {
      const newestFirst = [...succeeded].sort((a, b) => Date.parse(b.endedAt ?? '') - Date.parse(a.endedAt ?? ''));
      return {
        title: 'Roll back this upgrade?',
        body: body(
          <>
            Rollback reverses <strong data-testid="rollback-count">{n(succeeded.length, 'completed step')}</strong>, newest first
            {newestFirst.length ? `: ${list(newestFirst.map(stepName), 4)}` : ''}.
          </>,
          `The target returns to ${upgradeFrom(u)}. A step that cannot be reversed stops the rollback before anything changes.`,
        ),
        confirm: 'Roll back',
        danger: true,
      };
    }
    case 'finalize':
      return {
        title: 'Finalize this upgrade?',
        body: body(
          `The rollback window ends now: the old cluster (${upgradeFrom(u)}) stops receiving the writes made on ${upgradeTo(u)} and is decommissioned.`,
          'After this the upgrade cannot be rolled back.',
        ),
        confirm: 'Finalize',
        danger: true,
      };
    default:
      return { title: `${action}?`, body: null, confirm: action };
  }
}

const ACTION_LABEL: Record<string, string> = {
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  retry: 'Retry',
  skip: 'Skip',
  rollback: 'Roll back',
  finalize: 'Finalize',
};

function Actions({ project, u, onDone }: { project: string; u: UpgradeDetail; onDone: () => void }) {
  const { action, setAction, busy, error, run } = useActionRunner(
    `${projectPath(project)}/upgrades/${enc(u.id)}/actions`,
    onDone,
  );
  const access = useAccess();
  const allowed = access.canOperate ? (u.allowedActions ?? []) : [];
  return (
    <div className="actions" role="toolbar" aria-label="Upgrade actions">
      {!access.canOperate ? (
        <span className="muted">Your token has the {access.role} role: it can watch this upgrade but not act on it.</span>
      ) : allowed.length === 0 ? (
        <span className="muted">No operator action applies to a {stateLabel(u.state)} upgrade.</span>
      ) : (
        allowed.map((a) => (
          <button
            key={a}
            type="button"
            data-action={a}
            className={
              a === 'rollback' || a === 'cancel' || a === 'skip'
                ? 'danger-outline'
                : a === 'resume' || a === 'retry'
                  ? 'primary'
                  : ''
            }
            onClick={() => setAction(a)}
          >
            {ACTION_LABEL[a] ?? a}
          </button>
        ))
      )}
      <ConfirmDialog
        ask={action ? explain(action, u) : null}
        busy={busy}
        error={error}
        onConfirm={run}
        onCancel={() => setAction(null)}
      />
    </div>
  );
}

function StepDetail({ step, now }: { step: Step | null; now: number }) {
  return (
    <Section title="Step" id="step">
      {!step ? (
        <p className="muted">Select a step in the timeline to see its log.</p>
      ) : (
        <div className="step-detail" data-step-detail={step.id}>
          <div className="step-head">
            <strong>{step.name}</strong>
            <Badge state={step.state} />
          </div>
          <p className="muted">{step.description}</p>
          <dl className="facts">
            <div>
              <dt>Node</dt>
              <dd className="mono">{step.node ?? 'whole target'}</dd>
            </div>
            <div>
              <dt>Action</dt>
              <dd>{step.action}</dd>
            </div>
            <div>
              <dt>Attempts</dt>
              <dd className="num">{step.attempts}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd className="num">{elapsed(step.startedAt, step.endedAt, now)}</dd>
            </div>
          </dl>
          {step.error ? (
            <p className="bad-text" role="alert">
              {step.error}
            </p>
          ) : null}
          {step.result && Object.keys(step.result).length > 0 ? <Result result={step.result} /> : null}
          <h3>Log</h3>
          <pre className="log" tabIndex={0} aria-label="Step log">
            {step.log && step.log.length > 0 ? step.log.join('\n') : step.startedAt ? '(no log lines)' : '(not started)'}
          </pre>
        </div>
      )}
    </Section>
  );
}

/** A step's reported result; keys ending in Ms are durations (a switchover's outageMs). */
function Result({ result }: { result: Record<string, unknown> }) {
  return (
    <>
      <h3>Result</h3>
      <dl className="facts result">
        {Object.entries(result).map(([k, v]) => (
          <div key={k}>
            <dt>
              {k
                .replace(/Ms$/, '')
                .replace(/([a-z])([A-Z])/g, '$1 $2')
                .toLowerCase()}
            </dt>
            <dd className="num">
              {typeof v === 'number' && /Ms$/.test(k) ? shortDuration(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}
            </dd>
          </div>
        ))}
      </dl>
    </>
  );
}

function Precheck({ project, id, upgradeState }: { project: string; id: string; upgradeState: string }) {
  const res = useResource(() => api<Report>(`${projectPath(project)}/prechecks/${enc(id)}`), [project, id]);
  const { reload } = res;
  // The report fills in while the precheck stage runs; reload it (keeping what is shown) as the state moves.
  useEffect(() => reload(), [reload, upgradeState]);
  return (
    <Section title="Precheck report" id="precheck">
      {res.data ? (
        <PrecheckReport report={res.data} />
      ) : res.error ? (
        <ErrorBox error={res.error} retry={res.reload} />
      ) : (
        <Loading />
      )}
    </Section>
  );
}
