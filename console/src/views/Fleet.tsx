// Fleet: every target of the project by engine, the version distribution per engine, what can be
// upgraded, and the upgrades (and batches) that are running, failed or waiting, with why they wait.
import { useMemo, useState } from 'react';
import { engineVersion, upgradeVersions } from '../../../src/domain/engine-labels.ts';
import { ACTIVE_UPGRADE_STATES, MOVING_UPGRADE_STATES } from '../../../src/domain/types.ts';
import { compareVersions, crossEngineCandidates, upgradeCandidates } from '../../../src/domain/versions.ts';
import type { CatalogVersion as DomainCatalogVersion } from '../../../src/domain/types.ts';
import { api, enc, optional, projectPath, type Batch, type CatalogVersion, type Target, type Upgrade } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, Section, Time } from '../components.tsx';
import { relative, stateLabel, tone, upgradeRef, when } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useLiveReload } from '../live.tsx';
import { href, Link } from '../router.tsx';
import { VersionChart } from './VersionChart.tsx';

interface FleetData {
  targets: Target[];
  upgrades: Upgrade[];
  catalogs: Map<string, CatalogVersion[]>;
  /** per engine of the fleet, the entries of other engines its targets can move to (redis -> valkey) */
  across: Map<string, CatalogVersion[]>;
  batches: Batch[] | null;
}

const ACTIVE = ACTIVE_UPGRADE_STATES;

async function loadFleet(project: string): Promise<FleetData> {
  const base = projectPath(project);
  const [targets, upgrades, batches] = await Promise.all([
    api<{ items: Target[] }>(`${base}/targets?limit=500`),
    api<{ items: Upgrade[] }>(`${base}/upgrades?limit=500`),
    optional<{ items: Batch[] }>(`${base}/batches`, '/v1/projects/{project}/batches'),
  ]);
  const engines = [...new Set(targets.items.map((t) => t.engine))].sort();
  const catalogs = new Map<string, CatalogVersion[]>();
  const across = new Map<string, CatalogVersion[]>();
  await Promise.all(
    engines.flatMap((e) => [
      (async () => catalogs.set(e, (await api<{ items: CatalogVersion[] }>(`/v1/catalog/${enc(e)}/versions`)).items))(),
      (async () => across.set(e, (await acrossEngines(e)) ?? []))(),
    ]),
  );
  return { targets: targets.items, upgrades: upgrades.items, catalogs, across, batches: batches?.items ?? null };
}

/** the catalog entries of other engines a target of `engine` can move to; null on a server without the query */
export async function acrossEngines(engine: string): Promise<CatalogVersion[] | null> {
  const res = await optional<{ items: CatalogVersion[] }>(
    `/v1/catalog/versions?fromEngine=${enc(engine)}`,
    '/v1/catalog/versions',
  );
  return res?.items ?? null;
}

type StateFilter = '' | 'available' | 'active' | 'failed' | 'scheduled' | 'idle';

export function FleetView({ project }: { project: string }) {
  const res = useResource(() => loadFleet(project), [project]);
  useLiveReload(
    res.reload,
    (e) => e.type.startsWith('upgrade.') || e.type.startsWith('target.') || e.type.startsWith('batch.'),
    800,
  );
  const [query, setQuery] = useState('');
  const [engine, setEngine] = useState('');
  const [label, setLabel] = useState('');
  const [state, setState] = useState<StateFilter>('');

  const d = res.data;
  const derived = useMemo(() => (d ? derive(d) : null), [d]);

  if (!d || !derived) {
    return (
      <div className="page">
        <PageTitle project={project} />
        {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : <Loading rows={6} />}
      </div>
    );
  }

  const q = query.trim().toLowerCase();
  const rows = d.targets.filter((t) => {
    if (engine && t.engine !== engine) return false;
    if (label && !Object.entries(t.labels ?? {}).some(([k, v]) => `${k}=${v}` === label)) return false;
    if (q && !t.id.toLowerCase().includes(q) && !t.name.toLowerCase().includes(q)) return false;
    const latest = derived.latest.get(t.id);
    const active = latest && ACTIVE.includes(latest.state);
    switch (state) {
      case 'available':
        return (derived.candidates.get(t.id)?.length ?? 0) > 0;
      case 'active':
        return !!active && latest.state !== 'failed' && latest.state !== 'scheduled';
      case 'failed':
        return latest?.state === 'failed';
      case 'scheduled':
        return latest?.state === 'scheduled' || latest?.state === 'ready';
      case 'idle':
        return !active;
      default:
        return true;
    }
  });
  const attention = d.upgrades.filter((u) => ACTIVE.includes(u.state));
  const labels = [...new Set(d.targets.flatMap((t) => Object.entries(t.labels ?? {}).map(([k, v]) => `${k}=${v}`)))].sort();

  return (
    <div className="page">
      <PageTitle project={project} />
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      <div className="tiles" role="list">
        <Tile label="Targets" value={d.targets.length} />
        <Tile label="Upgrade available" value={derived.availableCount} />
        <Tile
          label="Running"
          value={attention.filter((u) => u.state === 'paused' || MOVING_UPGRADE_STATES.includes(u.state)).length}
          tone="run"
        />
        <Tile label="Failed" value={attention.filter((u) => u.state === 'failed').length} tone="bad" />
        <Tile
          label="Waiting"
          value={attention.filter((u) => u.state === 'scheduled' || u.state === 'ready').length}
          tone="warn"
        />
      </div>

      <Section title="Versions by engine" id="versions">
        {derived.engines.length === 0 ? (
          <Empty title="No targets yet">
            Add one with <code>POST {projectPath(project)}/targets</code> or <code>liftgate targets add</code>.
          </Empty>
        ) : (
          <div className="charts">
            {derived.engines.map((e) => (
              <VersionChart
                key={e}
                engine={e}
                counts={derived.byEngine.get(e) ?? new Map()}
                newest={derived.newest.get(e) ?? null}
              />
            ))}
          </div>
        )}
      </Section>

      <Section title="Upgrades needing attention" id="attention">
        {attention.length === 0 ? (
          <Empty title="Nothing running, failed or waiting">Start an upgrade from a target&apos;s page.</Empty>
        ) : (
          <UpgradeTable project={project} upgrades={attention} targets={d.targets} />
        )}
      </Section>

      {d.batches !== null ? <Batches project={project} batches={d.batches} /> : null}

      <Section
        title="Targets"
        id="targets"
        actions={
          <div className="filters" role="search">
            <input
              type="search"
              placeholder="Search id or name"
              aria-label="Search targets by id or name"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
            <select aria-label="Engine" value={engine} onChange={(e) => setEngine(e.target.value)}>
              <option value="">All engines</option>
              {derived.engines.map((e) => (
                <option key={e}>{e}</option>
              ))}
            </select>
            {labels.length > 0 ? (
              <select aria-label="Label" value={label} onChange={(e) => setLabel(e.target.value)}>
                <option value="">All labels</option>
                {labels.map((l) => (
                  <option key={l}>{l}</option>
                ))}
              </select>
            ) : null}
            <select aria-label="State" value={state} onChange={(e) => setState(e.target.value as StateFilter)}>
              <option value="">Any state</option>
              <option value="available">Upgrade available</option>
              <option value="active">Upgrading</option>
              <option value="failed">Failed</option>
              <option value="scheduled">Scheduled</option>
              <option value="idle">No active upgrade</option>
            </select>
          </div>
        }
      >
        {rows.length === 0 ? (
          <Empty title={d.targets.length === 0 ? 'No targets yet' : 'No target matches these filters'} />
        ) : (
          <div className="table-wrap">
            <table className="table" aria-label="Targets">
              <thead>
                <tr>
                  <th scope="col">Target</th>
                  <th scope="col">Version</th>
                  <th scope="col">Nodes</th>
                  <th scope="col">Latest upgrade</th>
                  <th scope="col">Available</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((t) => {
                  const latest = derived.latest.get(t.id);
                  const cands = derived.candidates.get(t.id) ?? [];
                  const unhealthy = t.nodes.filter((n) => n.health !== 'healthy').length;
                  return (
                    <tr key={t.id} data-target={t.id}>
                      <td>
                        <Link href={href.target(project, t.id)} className="strong">
                          {t.name || t.id}
                        </Link>
                        <div className="sub mono">{t.id}</div>
                        {t.labels && Object.keys(t.labels).length > 0 ? (
                          <div className="labels">
                            {Object.entries(t.labels).map(([k, v]) => (
                              <span key={k} className="chip">
                                {k}={v}
                              </span>
                            ))}
                          </div>
                        ) : null}
                      </td>
                      <td>
                        {t.engine} <span className="mono">{t.version}</span>
                      </td>
                      <td>
                        {t.nodes.length}
                        {unhealthy > 0 ? <span className="sub warn-text"> · {unhealthy} not healthy</span> : null}
                      </td>
                      <td>
                        {latest ? (
                          <Link href={href.upgrade(project, latest.id)}>
                            <Badge state={latest.state} />
                          </Link>
                        ) : (
                          <span className="muted">none</span>
                        )}
                      </td>
                      <td className="mono">
                        {cands[0] ? (
                          cands[0].engine === t.engine ? (
                            cands[0].version
                          ) : (
                            engineVersion(cands[0].engine, cands[0].version)
                          )
                        ) : (
                          <span className="muted">up to date</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}

function derive(d: FleetData) {
  const byEngine = new Map<string, Map<string, number>>();
  for (const t of d.targets) {
    const m = byEngine.get(t.engine) ?? new Map<string, number>();
    m.set(t.version, (m.get(t.version) ?? 0) + 1);
    byEngine.set(t.engine, m);
  }
  const newest = new Map<string, string>();
  for (const [e, cat] of d.catalogs) {
    const top = cat.filter((v) => !v.deprecated).sort((a, b) => compareVersions(b.version, a.version))[0];
    if (top) newest.set(e, top.version);
  }
  const candidates = new Map<string, CatalogVersion[]>();
  for (const t of d.targets) {
    const cat = d.catalogs.get(t.engine) ?? [];
    const own = upgradeCandidates(t.engine, t.version, cat as unknown as DomainCatalogVersion[]);
    const other = crossEngineCandidates(t.engine, t.version, (d.across.get(t.engine) ?? []) as unknown as DomainCatalogVersion[]);
    candidates.set(t.id, [...own, ...other] as unknown as CatalogVersion[]);
  }
  // The list comes newest first: the first upgrade seen for a target is its latest.
  const latest = new Map<string, Upgrade>();
  for (const u of d.upgrades) if (!latest.has(u.targetId)) latest.set(u.targetId, u);
  return {
    engines: [...byEngine.keys()].sort(),
    byEngine,
    newest,
    candidates,
    latest,
    availableCount: [...candidates.values()].filter((c) => c.length > 0).length,
  };
}

function PageTitle({ project }: { project: string }) {
  return (
    <div className="page-title">
      <h1>Fleet</h1>
      <span className="muted">project {project}</span>
    </div>
  );
}

function Tile({ label, value, tone }: { label: string; value: number; tone?: string }) {
  return (
    <div className={`tile${tone && value > 0 ? ` tone-${tone}` : ''}`} role="listitem">
      <span className="tile-value">{value}</span>
      <span className="tile-label">{label}</span>
    </div>
  );
}

export function UpgradeTable({ project, upgrades, targets }: { project: string; upgrades: Upgrade[]; targets?: Target[] }) {
  const names = new Map((targets ?? []).map((t) => [t.id, t.name]));
  return (
    <div className="table-wrap">
      <table className="table" aria-label="Upgrades">
        <thead>
          <tr>
            <th scope="col">Upgrade</th>
            {targets ? <th scope="col">Target</th> : null}
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col">Progress</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {upgrades.map((u) => (
            <tr key={u.id} data-upgrade={u.id}>
              <td>
                <Link href={href.upgrade(project, u.id)} className="mono">
                  {upgradeRef(u)}
                </Link>
                <div className="sub">{u.mode.replace(/_/g, ' ')}</div>
              </td>
              {targets ? (
                <td>
                  <Link href={href.target(project, u.targetId)}>{names.get(u.targetId) || u.targetId}</Link>
                </td>
              ) : null}
              <td className="mono">{upgradeVersions(u, '→')}</td>
              <td>
                <Badge state={u.state} />
                {u.pendingReason ? <div className="sub">{u.pendingReason}</div> : null}
                {!u.pendingReason && u.state === 'scheduled' && u.notBefore ? (
                  <div className="sub">starts {relative(u.notBefore)}</div>
                ) : null}
                {u.state === 'failed' && u.errorCode ? <div className="sub bad-text">{u.errorCode}</div> : null}
              </td>
              <td>
                <Progress u={u} />
              </td>
              <td>
                <Time iso={u.startedAt ?? u.createdAt} />
                {u.estimate ? (
                  <div className="sub" title={u.estimate.basis}>
                    done ~<Time iso={u.estimate.completesAt} />
                  </div>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Progress({ u }: { u: Upgrade }) {
  const done = u.state === 'succeeded' ? u.stageCount : Math.min(u.currentStage, u.stageCount);
  const pct = u.stageCount > 0 ? (done / u.stageCount) * 100 : 0;
  return (
    <div className="progress" title={`stage ${Math.min(u.currentStage + 1, u.stageCount)} of ${u.stageCount}`}>
      <div className={`progress-bar tone-${u.state === 'failed' ? 'bad' : 'run'}`} style={{ width: `${pct}%` }} />
      <span className="progress-label">
        {done}/{u.stageCount}
      </span>
    </div>
  );
}

function Batches({ project, batches }: { project: string; batches: Batch[] }) {
  return (
    <Section title="Batches" id="batches" actions={<Link href={href.rollouts(project)}>All rollouts</Link>}>
      {batches.length === 0 ? (
        <Empty title="No batches">
          A batch upgrades many targets in waves: <code>POST {projectPath(project)}/batches</code> or <code>liftgate batch</code>.
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Batches">
            <thead>
              <tr>
                <th scope="col">Batch</th>
                <th scope="col">State</th>
                <th scope="col">Waves</th>
                <th scope="col">Failures</th>
                <th scope="col">Estimate</th>
              </tr>
            </thead>
            <tbody>
              {batches.map((b) => (
                <tr key={b.id} data-batch={b.id}>
                  <td>
                    <Link className="strong" href={href.batch(project, b.id)}>
                      {b.name || b.id.slice(0, 8)}
                    </Link>
                    <div className="sub">
                      {b.targets ?? 0} targets{b.toVersions?.length ? ` → ${b.toVersions.join(', ')}` : ''}
                    </div>
                  </td>
                  <td>
                    <Badge state={b.state} />
                    {b.pendingReason ? <div className="sub">{b.pendingReason}</div> : null}
                  </td>
                  <td>
                    <div className="waves">
                      {(b.waves ?? []).map((w) => {
                        const done = (w.counts?.succeeded ?? 0) + (w.counts?.skipped ?? 0);
                        // each analysis check's last sample, in the wave's tooltip
                        const checks = (w.analysis ?? [])
                          .map((c) => `; ${c.name}: ${c.outcome}${c.lastValue !== null ? ` (${c.lastValue})` : ''}`)
                          .join('');
                        return (
                          <span
                            key={w.index}
                            className={`wave tone-${tone(w.state)}${w.index === b.currentWave ? ' wave-current' : ''}`}
                            title={`${w.name}: ${stateLabel(w.state)}, ${done} of ${w.targets} upgraded${checks}`}
                          >
                            {w.name} {done}/{w.targets}
                          </span>
                        );
                      })}
                    </div>
                  </td>
                  <td className="num">
                    {b.failures ?? 0}
                    {b.failureLimit !== undefined ? ` of ${b.failureLimit} allowed` : ''}
                  </td>
                  <td>
                    {b.estimate ? (
                      <span title={b.estimate.basis}>{when(b.estimate.completesAt)}</span>
                    ) : (
                      <span className="muted">-</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
