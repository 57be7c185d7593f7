// A rollout (batch) page: its waves as a timeline with the gates between them (an approval
// before a wave, a bake timer counting down after it, the failure threshold over all), why it
// waits, each target's upgrade linked, the wave's analysis checks when the server has them, and
// the operator actions its state allows, each behind a confirmation. Live through the event stream.
import { FINAL_UPGRADE_STATES } from '../../../src/domain/types.ts';
import { api, enc, projectPath, type Batch, type Target, type Upgrade, type Wave } from '../api.ts';
import { Badge, ConfirmDialog, ErrorBox, Loading, Section, type Confirmation } from '../components.tsx';
import { actorLabel, duration, elapsed, fullTime, stateLabel, tone, upgradeRef, when } from '../format.ts';
import { useActionRunner, useResource, useTick } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { useLiveReload } from '../live.tsx';
import { useActorNames } from '../names.ts';
import { href, Link } from '../router.tsx';
import '../rollouts.css';
import { buckets, Legend, readable, SegBar, Threshold, totals } from './RolloutParts.tsx';

interface BatchData {
  batch: Batch;
  /** when it was read: the bake counts down from the server's remainingSeconds, whatever this clock says */
  readAt: number;
  upgrades: Upgrade[];
  names: Map<string, string>;
}

/** the gates' marks, drawn (a font may lack the clock and check glyphs) */
function GateIcon({ kind }: { kind: 'approval' | 'bake' }) {
  return (
    <svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6">
      {kind === 'bake' ? (
        <>
          <circle cx="6" cy="6" r="4.6" />
          <path d="M6 3.4V6l1.8 1.2" strokeLinecap="round" />
        </>
      ) : (
        <path d="M2.4 6.3l2.3 2.2 4.9-5" strokeLinecap="round" strokeLinejoin="round" />
      )}
    </svg>
  );
}

async function loadBatch(project: string, id: string): Promise<BatchData> {
  const base = projectPath(project);
  const [batch, upgrades, targets] = await Promise.all([
    api<Batch>(`${base}/batches/${enc(id)}`),
    api<{ items: Upgrade[] }>(`${base}/batches/${enc(id)}/upgrades?limit=500`),
    api<{ items: Target[] }>(`${base}/targets?limit=500`).catch(() => ({ items: [] as Target[] })),
  ]);
  return {
    batch,
    readAt: Date.now(),
    upgrades: upgrades.items,
    names: new Map(targets.items.map((t) => [t.id, t.name || t.id])),
  };
}

export function BatchView({ project, id }: { project: string; id: string }) {
  const res = useResource(() => loadBatch(project, id), [project, id]);
  const mine = new Set(res.data?.upgrades.map((u) => u.id) ?? []);
  useLiveReload(res.reload, (e) => e.data?.batchId === id || (!!e.upgradeId && mine.has(e.upgradeId)), 250);
  const b = res.data?.batch;
  const actors = useActorNames(project);
  const now = useTick(!!b && (b.state === 'baking' || b.state === 'running'), 1000);

  if (!b || !res.data) {
    return (
      <div className="page">
        <Crumbs project={project} label="Rollout" />
        {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : <Loading rows={8} />}
      </div>
    );
  }
  const { upgrades, names, readAt } = res.data;
  const failed = upgrades.filter((u) => u.state === 'failed' || u.state === 'rolled_back');

  return (
    <div className="page" data-batch={b.id} data-state={b.state}>
      <Crumbs project={project} label={b.name} />
      <div className="batch-head">
        <h1>{b.name}</h1>
        <Badge state={b.state} />
        <span className="muted">
          {b.toVersions.length ? `to ${b.toVersions.join(', ')} · ` : ''}
          {b.targets} targets · {stateLabel(b.mode)}
        </span>
        <Actions project={project} b={b} failed={failed.length} onDone={res.reload} />
      </div>
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      {b.state === 'halted' ? (
        <div className="halt-box" role="alert" data-testid="halt-reason">
          <strong>{sentence(b.pendingReason ?? 'halted: failed targets reached the threshold')}</strong>
          <span>
            Nothing new starts; upgrades already running finish. Retry the failed targets to run it again, or cancel the rollout.
          </span>
          {failed.length ? (
            <span className="sub">
              Failed:{' '}
              {failed.map((u, i) => (
                <span key={u.id}>
                  {i > 0 ? '; ' : ''}
                  <Link href={href.upgrade(project, u.id)}>{names.get(u.targetId) ?? u.targetId}</Link>
                  {u.error ? ` (${u.error})` : ''}
                </span>
              ))}
            </span>
          ) : null}
        </div>
      ) : b.pendingReason ? (
        <p className="notice" role="status" data-testid="pending-reason">
          {sentence(readable(b.pendingReason))}
        </p>
      ) : null}
      <Summary b={b} now={now} />
      <Section title="Waves" id="waves">
        <ol className="wave-timeline" aria-label="Waves">
          {b.waves.map((w) => (
            <WaveItems
              key={w.index}
              project={project}
              b={b}
              w={w}
              upgrades={upgrades}
              names={names}
              now={now}
              readAt={readAt}
              actors={actors}
            />
          ))}
        </ol>
      </Section>
      {b.restores.length ? <Restores b={b} names={names} project={project} /> : null}
    </div>
  );
}

/** A cancelled rollout: what its cancel did on each node its upgrades had left out of service. */
function Restores({ b, names, project }: { b: Batch; names: Map<string, string>; project: string }) {
  return (
    <Section title="Nodes brought back by the cancel" id="restores">
      <div className="table-wrap">
        <table className="table" aria-label="Restored nodes" data-testid="restores">
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Node</th>
              <th scope="col">State</th>
              <th scope="col">Why</th>
              <th scope="col">What was done</th>
            </tr>
          </thead>
          <tbody>
            {b.restores.map((r) => (
              <tr key={`${r.upgradeId}/${r.node}`} data-node={r.node}>
                <td>
                  <Link href={href.upgrade(project, r.upgradeId)}>{names.get(r.targetId) ?? r.targetId}</Link>
                </td>
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

function Crumbs({ project, label }: { project: string; label: string }) {
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      <Link href={href.rollouts(project)}>Rollouts</Link>
      <span aria-hidden="true">/</span>
      <span aria-current="page">{label}</span>
    </nav>
  );
}

function Summary({ b, now }: { b: Batch; now: number }) {
  const t = totals(b);
  const cur = b.currentWave !== null ? b.waves[b.currentWave] : undefined;
  return (
    <dl className="facts wide summary">
      <div>
        <dt>Upgraded</dt>
        <dd className="num" data-testid="upgraded">
          {t.done} of {t.total}
        </dd>
      </div>
      <div className="wide-fact">
        <dt>Failures</dt>
        <dd>
          <Threshold batch={b} />
        </dd>
      </div>
      <div>
        <dt>Wave</dt>
        <dd className="num" data-testid="current-wave">
          {cur ? `${cur.index + 1} of ${b.waves.length} · ${cur.name}` : `- of ${b.waves.length}`}
        </dd>
      </div>
      <div className="wide-fact">
        <dt>Estimate</dt>
        <dd className="num">
          {b.estimate ? (
            <span title={b.estimate.basis}>
              done {when(b.estimate.completesAt)} · {duration(b.estimate.remainingSeconds)} left
            </span>
          ) : b.endedAt ? (
            '-'
          ) : (
            <span className="muted">{b.state === 'paused' || b.state === 'halted' ? 'none while stopped' : 'not yet known'}</span>
          )}
        </dd>
      </div>
      <div>
        <dt>Schedule</dt>
        <dd title={b.notBefore ? fullTime(b.notBefore) : undefined}>
          {b.schedule.kind === 'at' && b.notBefore
            ? `at ${when(b.notBefore)}`
            : b.schedule.kind === 'window'
              ? 'in windows'
              : 'now'}
        </dd>
      </div>
      <div>
        <dt>{b.endedAt ? 'Took' : 'Elapsed'}</dt>
        <dd className="num">{elapsed(b.createdAt, b.endedAt, now)}</dd>
      </div>
    </dl>
  );
}

/** A wave and its gates, as timeline rows: approval before it, the wave, its bake after it. */
function WaveItems(props: {
  project: string;
  b: Batch;
  w: Wave;
  upgrades: Upgrade[];
  names: Map<string, string>;
  now: number;
  readAt: number;
  /** credential names, so an approver reads as the token's name */
  actors: ReadonlyMap<string, string>;
}) {
  const { b, w, now, readAt, actors, names } = props;
  const cur = b.currentWave ?? -1;
  const passed = w.startedAt !== null;
  const baking = b.state === 'baking' && b.bake?.wave === w.index;
  const bakeDone = w.endedAt !== null && w.bakeMinutes > 0 && !baking;
  const bakeFailed = bakeDone && (w.analysisFailures.length > 0 || w.healthFailures.length > 0);
  return (
    <>
      {w.approval ? (
        <li className={`wt-item wt-gate${passed ? ' done' : ''}`} data-gate="approval" data-wave={w.name}>
          <span
            className={`wt-marker tone-${w.approvedBy || passed ? 'ok' : w.state === 'awaiting_approval' ? 'warn' : 'idle'}`}
            aria-hidden="true"
          >
            <GateIcon kind="approval" />
          </span>
          <div className="wt-body">
            <span className="gate-title">Approval</span>
            <span className="gate-detail" data-testid="approval">
              {w.approvedBy
                ? `approved by ${actorLabel(w.approvedBy, actors)}${w.startedAt ? `, started ${when(w.startedAt)}` : ''}`
                : w.state === 'awaiting_approval'
                  ? `wave ${w.name} waits for an operator to approve it`
                  : passed
                    ? 'approved'
                    : `wave ${w.name} will wait for approval`}
            </span>
            {w.state === 'awaiting_approval' ? <Badge state="awaiting_approval" /> : null}
          </div>
        </li>
      ) : null}
      <li className={`wt-item${w.endedAt ? ' done' : ''}`} data-wave={w.name} data-state={w.state}>
        <span className={`wt-marker tone-${tone(w.state)}`} aria-hidden="true">
          {w.index + 1}
        </span>
        <div className="wt-body">
          <WaveCard {...props} current={w.index === cur} />
        </div>
      </li>
      {w.bakeMinutes > 0 ? (
        <li className={`wt-item wt-gate${bakeDone ? ' done' : ''}`} data-gate="bake" data-wave={w.name}>
          <span
            className={`wt-marker tone-${baking ? 'warn' : bakeFailed ? 'bad' : bakeDone ? 'ok' : 'idle'}`}
            aria-hidden="true"
          >
            <GateIcon kind="bake" />
          </span>
          <div className="wt-body">
            <span className="gate-title">Bake {duration(w.bakeMinutes * 60)}</span>
            {baking && b.bake ? (
              <>
                <span className="countdown" data-testid="bake-countdown" aria-live="off">
                  {duration(Math.max(0, b.bake.remainingSeconds - (now - readAt) / 1000))}
                </span>
                <span className="gate-detail">left, until {when(b.bake.until)}; then its targets are health-checked</span>
              </>
            ) : (
              <span className="gate-detail">
                {bakeDone
                  ? w.analysisFailures.length
                    ? `stopped by analysis: ${w.analysisFailures.map((f) => `${names.get(f.target) ?? f.target} (${f.check})`).join(', ')}`
                    : w.healthFailures.length
                      ? `baked; unhealthy after it: ${w.healthFailures.map((t) => names.get(t) ?? t).join(', ')}`
                      : w.analysis.length
                        ? 'baked; every check held and every target healthy after it'
                        : 'baked; every target healthy after it'
                  : w.analysis.length
                    ? 'after the wave: wait while its analysis checks are sampled, then health-check its targets'
                    : 'after the wave: wait, then health-check its targets before the next wave'}
              </span>
            )}
          </div>
        </li>
      ) : null}
    </>
  );
}

function WaveCard({
  project,
  b,
  w,
  upgrades,
  names,
  now,
  current,
}: {
  project: string;
  b: Batch;
  w: Wave;
  upgrades: Upgrade[];
  names: Map<string, string>;
  now: number;
  current: boolean;
}) {
  // in the order the plan took them (their numbers follow it)
  const mine = upgrades.filter((u) => u.waveIndex === w.index).sort((x, y) => (x.number ?? 0) - (y.number ?? 0));
  const bk = buckets(w.counts ?? {});
  const analysis = w.analysis;
  // a target an analysis check failed: its reason names the check, the value and the bound
  const judged = new Map(w.analysisFailures.map((f) => [f.target, f.reason]));
  return (
    <div className={`wave-card tone-${tone(w.state)}${current ? ' current' : ''}`}>
      <div className="wave-card-head">
        <h3>{w.name}</h3>
        <Badge state={w.state} />
        <span className="facts-inline">
          {w.targets} target{w.targets === 1 ? '' : 's'} · up to {w.maxConcurrency} at once
          {w.startedAt ? ` · started ${when(w.startedAt)}` : ''}
          {w.startedAt ? ` · ${w.endedAt ? 'took' : 'for'} ${elapsed(w.startedAt, w.endedAt, now)}` : ''}
        </span>
      </div>
      <SegBar wave={w} tall />
      <Legend wave={w} />
      {analysis && analysis.length ? (
        <div className="analysis" aria-label={`Analysis of wave ${w.name}`}>
          <span className="sub">Analysis</span>
          {analysis.map((c) => (
            <span
              key={c.name}
              className={`analysis-check tone-${tone(c.outcome)}`}
              title={c.reason ?? `${c.kind === 'sli' ? c.sli : c.query}${bounds(c)}`}
              data-check={c.name}
            >
              {c.name}: {stateLabel(c.outcome)}
              {c.lastValue !== null ? ` (${c.lastValue})` : ''}
            </span>
          ))}
        </div>
      ) : null}
      {mine.length ? (
        <div className="table-wrap">
          <table className="table compact wave-targets" aria-label={`Targets of wave ${w.name}`}>
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Upgrade</th>
                <th scope="col">State</th>
                <th scope="col">Stage</th>
                <th scope="col">Why / error</th>
              </tr>
            </thead>
            <tbody>
              {mine.map((u) => (
                <tr key={u.id} data-upgrade={u.id} data-target={u.targetId} data-state={u.state}>
                  <td>
                    <Link href={href.target(project, u.targetId)}>{names.get(u.targetId) ?? u.targetId}</Link>
                  </td>
                  <td>
                    <Link href={href.upgrade(project, u.id)} className="ref" title={`${u.fromVersion} → ${u.toVersion}`}>
                      {upgradeRef(u)}
                    </Link>
                  </td>
                  <td>
                    <Badge state={u.state} />
                  </td>
                  <td className="num">
                    {FINAL_UPGRADE_STATES.includes(u.state) || u.state === 'scheduled'
                      ? '-'
                      : `${Math.min(u.currentStage + 1, u.stageCount)} of ${u.stageCount}`}
                  </td>
                  <td className="reason">
                    {u.error ? (
                      <span className="bad-text">{u.error}</span>
                    ) : judged.has(u.targetId) ? (
                      <span className="bad-text">{judged.get(u.targetId)}</span>
                    ) : (
                      readable(u.pendingReason ?? '')
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : bk.waiting === 0 && w.targets > 0 ? null : (
        <p className="sub">{b.state === 'creating' ? 'Its upgrades are being created.' : ''}</p>
      )}
    </div>
  );
}

/** a check's bounds in words: " at most 0.01", " between 1 and 5" */
function bounds(c: Wave['analysis'][number]): string {
  if (c.min !== null && c.max !== null) return ` between ${c.min} and ${c.max}`;
  if (c.max !== null) return ` at most ${c.max}`;
  return c.min !== null ? ` at least ${c.min}` : '';
}

const ACTION_LABEL: Record<string, string> = {
  approve: 'Approve wave',
  pause: 'Pause',
  resume: 'Resume',
  retry: 'Retry failed',
  cancel: 'Cancel rollout',
};

function explain(action: string, b: Batch, failed: number): Confirmation {
  const cur = b.currentWave !== null ? b.waves[b.currentWave] : undefined;
  switch (action) {
    case 'approve':
      return {
        title: `Approve wave ${cur?.name ?? ''}?`,
        body: (
          <p>
            Wave <strong>{cur?.name}</strong> starts now: {cur?.targets} target{cur?.targets === 1 ? '' : 's'}, up to{' '}
            {cur?.maxConcurrency} at once. Your name is recorded as the approver.
          </p>
        ),
        confirm: 'Approve',
      };
    case 'pause':
      return {
        title: 'Pause the rollout?',
        body: (
          <p>
            Nothing new starts. Upgrades released but not started are held again; running ones pause once their running steps
            finish. Resume continues where it stopped.
          </p>
        ),
        confirm: 'Pause',
      };
    case 'resume':
      return {
        title: 'Resume the rollout?',
        body: <p>It goes back to the state it was paused in, and the upgrades it paused continue.</p>,
        confirm: 'Resume',
      };
    case 'retry':
      return {
        title: 'Retry the failed targets?',
        body: (
          <p>
            {failed} failed upgrade{failed === 1 ? ' is' : 's are'} retried from the failed step
            {b.state === 'halted' || b.state === 'failed' ? ', and the rollout runs again' : ''}. Targets found unhealthy after a
            bake are checked again at the next bake.
          </p>
        ),
        confirm: 'Retry',
      };
    default:
      return {
        title: 'Cancel the rollout?',
        body: (
          <p>
            Nothing new starts and every unfinished upgrade is cancelled. A node an upgrade left out of service is brought back
            first. Upgraded targets stay upgraded. This cannot be undone.
          </p>
        ),
        confirm: 'Cancel rollout',
        danger: true,
      };
  }
}

function Actions({ project, b, failed, onDone }: { project: string; b: Batch; failed: number; onDone: () => void }) {
  const { action, setAction, busy, error, run } = useActionRunner(`${projectPath(project)}/batches/${enc(b.id)}/actions`, onDone);
  const access = useAccess();
  if (!access.canOperate) {
    return (
      <span className="actions muted" data-testid="read-only">
        Your token has the {access.role} role: it can watch this rollout but not act on it.
      </span>
    );
  }
  // approve first: at a gate it is what the page asks for; cancel last, apart
  const order = ['approve', 'resume', 'retry', 'pause', 'cancel'];
  const allowed = [...(b.allowedActions ?? [])].sort((x, y) => order.indexOf(x) - order.indexOf(y));
  return (
    <div className="actions" role="toolbar" aria-label="Rollout actions">
      {allowed.length === 0 ? (
        <span className="muted">No action applies to a {stateLabel(b.state)} rollout.</span>
      ) : (
        allowed.map((a) => (
          <button
            key={a}
            type="button"
            data-action={a}
            className={a === 'cancel' ? 'danger-outline' : a === 'approve' || a === 'resume' || a === 'retry' ? 'primary' : ''}
            onClick={() => setAction(a)}
          >
            {ACTION_LABEL[a] ?? a}
          </button>
        ))
      )}
      <ConfirmDialog
        ask={action ? explain(action, b, failed) : null}
        busy={busy}
        error={error}
        onConfirm={run}
        onCancel={() => setAction(null)}
      />
    </div>
  );
}

/** the server's reason (a clause in lower case) as a sentence */
const sentence = (m: string) => `${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?)]$/.test(m) ? '' : '.'}`;
