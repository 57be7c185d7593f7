// Rollouts: every batch of the project (fleet rollouts in waves) with its state, why it waits,
// its progress wave by wave, failures against the threshold and the forecast of its end; live.
import { api, projectPath, type Batch } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, Section } from '../components.tsx';
import { duration, fullTime, when } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { useLiveReload } from '../live.tsx';
import { href, Link } from '../router.tsx';
import '../rollouts.css';
import { readable, Threshold, totals, WaveStrip } from './RolloutParts.tsx';

export function RolloutsView({ project }: { project: string }) {
  const res = useResource(() => api<{ items: Batch[]; total: number }>(`${projectPath(project)}/batches?limit=200`), [project]);
  // a batch's own events, and its upgrades' (an upgrade that ends moves its wave's progress)
  useLiveReload(
    res.reload,
    (e) => e.type.startsWith('batch.') || e.type.startsWith('wave.') || !!e.data?.batchId || e.type.startsWith('upgrade.'),
    800,
  );
  const { canOperate } = useAccess();
  const items = res.data?.items;

  return (
    <div className="page">
      <div className="page-title">
        <h1>Rollouts</h1>
        <span className="muted">upgrades across the fleet in waves, with gates between them</span>
        {canOperate ? (
          <div className="title-actions">
            <Link className="button primary" href={href.newRollout(project)}>
              Start a rollout
            </Link>
          </div>
        ) : null}
      </div>
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      {!items ? (
        res.error ? null : (
          <Loading rows={5} />
        )
      ) : (
        <>
          <div className="tiles" role="list">
            <Tile label="Running" value={count(items, 'running', 'baking', 'creating')} tone="run" />
            <Tile label="Awaiting approval" value={count(items, 'awaiting_approval')} tone="warn" />
            <Tile label="Scheduled or paused" value={count(items, 'scheduled', 'paused')} tone="warn" />
            <Tile label="Halted" value={count(items, 'halted')} tone="bad" />
            <Tile label="All rollouts" value={res.data?.total ?? items.length} />
          </div>
          <Section title="Batches" id="rollouts">
            {items.length === 0 ? (
              <Empty title="No rollouts yet">
                A rollout upgrades many targets in waves: a canary first, then larger waves, with approvals, bake times and a
                failure threshold between them. {canOperate ? <Link href={href.newRollout(project)}>Start one</Link> : null}
              </Empty>
            ) : (
              <div className="table-wrap">
                <table className="table" aria-label="Rollouts">
                  <thead>
                    <tr>
                      <th scope="col">Rollout</th>
                      <th scope="col">State</th>
                      <th scope="col">Progress by wave</th>
                      <th scope="col">Failures</th>
                      <th scope="col">Estimate</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((b) => (
                      <Row key={b.id} project={project} b={b} />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Section>
        </>
      )}
    </div>
  );
}

function Row({ project, b }: { project: string; b: Batch }) {
  const t = totals(b);
  return (
    <tr data-batch={b.id} data-state={b.state}>
      <td>
        <Link className="strong" href={href.batch(project, b.id)}>
          {b.name}
        </Link>
        <div className="sub">
          {b.targets} target{b.targets === 1 ? '' : 's'}
          {b.toVersions.length ? ` → ${b.toVersions.join(', ')}` : ''} · {b.waves.length} wave{b.waves.length === 1 ? '' : 's'} ·{' '}
          <span title={fullTime(b.createdAt)}>{when(b.createdAt)}</span>
        </div>
      </td>
      <td style={{ maxWidth: '22rem' }}>
        <Badge state={b.state} />
        {b.pendingReason ? <div className="sub">{readable(b.pendingReason)}</div> : null}
      </td>
      <td>
        <WaveStrip batch={b} />
        <div className="sub num">
          {t.done} of {t.total} upgraded
        </div>
      </td>
      <td>
        <Threshold batch={b} />
      </td>
      <td className="num">
        {b.estimate ? (
          <span title={b.estimate.basis}>
            {when(b.estimate.completesAt)}
            <div className="sub">{duration(b.estimate.remainingSeconds)} left</div>
          </span>
        ) : b.endedAt ? (
          <span className="muted" title={fullTime(b.endedAt)}>
            ended {when(b.endedAt)}
          </span>
        ) : (
          <span className="muted">-</span>
        )}
      </td>
    </tr>
  );
}

const count = (items: Batch[], ...states: string[]) => items.filter((b) => states.includes(b.state)).length;

function Tile({ label, value, tone }: { label: string; value: number; tone?: string }) {
  return (
    <div className={`tile${tone && value > 0 ? ` tone-${tone}` : ''}`} role="listitem">
      <span className="tile-value">{value}</span>
      <span className="tile-label">{label}</span>
    </div>
  );
}
