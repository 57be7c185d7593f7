// Target: its nodes (role, zone, engine and version, shard, health), maintenance window, labels,
// upgrade history and precheck reports; a precheck or an upgrade starts here, to a version of its
// engine or along a route to another engine the catalog opens (redis -> valkey).
import { useEffect, useState, type ReactNode } from 'react';
import { engineVersion, upgradeVersions } from '../../../src/domain/engine-labels.ts';
import { crossEngineCandidates, planCrossEngineRoute, planRoute, upgradeCandidates } from '../../../src/domain/versions.ts';
import { FINAL_UPGRADE_STATES, UPGRADE_MODES, type CatalogVersion as DomainCatalogVersion } from '../../../src/domain/types.ts';
import {
  api,
  enc,
  projectPath,
  type CatalogVersion,
  type Report,
  type MaintenanceWindow,
  type Target,
  type Upgrade,
} from '../api.ts';
import { Badge, ConfirmDialog, Empty, ErrorBox, Loading, Section, type Confirmation } from '../components.tsx';
import { duration, fullTime, upgradeRef, when } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { useLiveReload } from '../live.tsx';
import { href, Link, navigate } from '../router.tsx';
import { acrossEngines, UpgradeTable } from './Fleet.tsx';
import { PrecheckReport } from './Precheck.tsx';
import { WindowSection } from './TargetWindow.tsx';

interface TargetData {
  target: Target;
  upgrades: Upgrade[];
  reports: Report[];
  catalog: CatalogVersion[];
  /** entries of other engines this target can move to (their upgradableFrom names its engine) */
  across: CatalogVersion[];
}

async function loadTarget(project: string, id: string): Promise<TargetData> {
  const base = projectPath(project);
  const target = await api<Target>(`${base}/targets/${enc(id)}`);
  const [upgrades, reports, catalog, across] = await Promise.all([
    api<{ items: Upgrade[] }>(`${base}/upgrades?target=${enc(id)}&limit=100`),
    api<{ items: Report[] }>(`${base}/targets/${enc(id)}/prechecks`),
    api<{ items: CatalogVersion[] }>(`/v1/catalog/${enc(target.engine)}/versions`),
    acrossEngines(target.engine),
  ]);
  return { target, upgrades: upgrades.items, reports: reports.items, catalog: catalog.items, across: across ?? [] };
}

export function TargetView({ project, target }: { project: string; target: string }) {
  const res = useResource(() => loadTarget(project, target), [project, target]);
  useLiveReload(res.reload, (e) => e.targetId === target, 500);
  const d = res.data;
  // A precheck records its findings without an event: look again while one is still running.
  const running = d?.reports.some((r) => r.state === 'running') ?? false;
  useEffect(() => {
    if (!running) return;
    const timer = setTimeout(res.reload, 1000);
    return () => clearTimeout(timer);
  }, [running, d, res.reload]);
  if (!d) {
    return (
      <div className="page">
        <Crumbs project={project} label={target} />
        {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : <Loading rows={6} />}
      </div>
    );
  }
  const t = d.target;
  // a Redis Cluster's nodes name their shard; a mixed group mid-upgrade names each node's engine
  const sharded = t.nodes.some((n) => n.shard !== undefined);
  const active = d.upgrades.find((u) => !FINAL_UPGRADE_STATES.includes(u.state));
  return (
    <div className="page">
      <Crumbs project={project} label={t.name || t.id} />
      <div className="page-title">
        <h1>{t.name || t.id}</h1>
        <span className="mono muted">{t.id}</span>
      </div>
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      <dl className="facts wide">
        <Fact
          k="Version"
          v={
            <span data-testid="target-version">
              {t.engine} <span className="mono">{t.version}</span>
            </span>
          }
        />
        <Fact k="Release" v={<span className="mono">{t.release || '-'}</span>} />
        <Fact k="Kind" v={t.kind} />
        <Fact k="Region" v={t.region || '-'} />
        <Fact k="Driver" v={t.driver} />
        {t.obshellAgent ? (
          <Fact
            k="OBShell agent"
            v={
              <span className="mono" title="point OBShell clients (the OBShell SDK) at this host and port">
                {t.obshellAgent.host}:{t.obshellAgent.port}
              </span>
            }
          />
        ) : null}
        {t.labels && Object.keys(t.labels).length > 0 ? (
          <Fact
            k="Labels"
            v={
              <span className="labels">
                {Object.entries(t.labels).map(([k, v]) => (
                  <span key={k} className="chip">
                    {k}={v}
                  </span>
                ))}
              </span>
            }
          />
        ) : null}
      </dl>

      <Section title="Nodes" id="nodes">
        {t.nodes.length === 0 ? (
          <Empty title="No nodes reported" />
        ) : (
          <div className="table-wrap">
            <table className="table" aria-label="Nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Role</th>
                  <th scope="col">Zone</th>
                  {sharded ? <th scope="col">Shard</th> : null}
                  <th scope="col">Version</th>
                  <th scope="col">Health</th>
                </tr>
              </thead>
              <tbody>
                {t.nodes.map((n) => (
                  <tr key={n.name} data-node={n.name} data-engine={n.engine}>
                    <td className="mono">{n.name}</td>
                    <td>{n.role}</td>
                    <td>{n.zone}</td>
                    {sharded ? <td className="mono">{n.shard ?? '-'}</td> : null}
                    <td>
                      {n.engine ? `${n.engine} ` : null}
                      <span className="mono">{n.version}</span>
                    </td>
                    <td>
                      <Badge state={n.health} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>

      <WindowSection project={project} target={t} onSaved={res.reload} />

      <StartUpgrade project={project} data={d} active={active ?? null} onChange={res.reload} />

      <Section title="Upgrade history" id="history">
        {d.upgrades.length === 0 ? (
          <Empty title="This target has not been upgraded yet" />
        ) : (
          <UpgradeTable project={project} upgrades={d.upgrades} />
        )}
      </Section>

      <Reports reports={d.reports} />
    </div>
  );
}

function Reports({ reports }: { reports: Report[] }) {
  const [open, setOpen] = useState<string | null>(null);
  const shown = reports.find((r) => r.id === open) ?? reports[0];
  return (
    <Section title="Precheck reports" id="reports">
      {!shown ? (
        <Empty title="No precheck has run for this target" />
      ) : (
        <>
          {reports.length > 1 ? (
            <label className="inline">
              Report{' '}
              <select value={shown.id} onChange={(e) => setOpen(e.target.value)}>
                {reports.map((r) => (
                  <option key={r.id} value={r.id}>
                    {fullTime(r.createdAt)} · to {r.toVersion} · {r.state}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <PrecheckReport report={shown} />
        </>
      )}
    </Section>
  );
}

function StartUpgrade({
  project,
  data,
  active,
  onChange,
}: {
  project: string;
  data: TargetData;
  active: Upgrade | null;
  onChange: () => void;
}) {
  const t = data.target;
  const cat = data.catalog as unknown as DomainCatalogVersion[];
  const across = data.across as unknown as DomainCatalogVersion[];
  // the versions of its own engine, then those of other engines the catalog opens a route to
  const candidates = [...upgradeCandidates(t.engine, t.version, cat), ...crossEngineCandidates(t.engine, t.version, across)];
  const zones = [...new Set(t.nodes.map((n) => n.zone))].sort();
  // A target on the newest version can still move the nodes of a zone.
  const modes: readonly string[] = candidates.length > 0 ? UPGRADE_MODES : ['az_migration'];
  const keyOf = (c: { engine: string; version: string }) => (c.engine === t.engine ? c.version : `${c.engine}:${c.version}`);
  const [choice, setChoice] = useState(candidates[0] ? keyOf(candidates[0]) : '');
  const [mode, setMode] = useState<string>(modes[0] ?? 'rolling');
  const [sourceAz, setSourceAz] = useState(zones.length === 1 ? (zones[0] ?? '') : '');
  const [targetAz, setTargetAz] = useState('');
  const [allowZoneReduction, setAllowZoneReduction] = useState(false);
  const [schedule, setSchedule] = useState<'now' | 'window'>('now');
  const [ask, setAsk] = useState<Confirmation | null>(null);
  const [pending, setPending] = useState<'precheck' | 'upgrade' | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!candidates.some((c) => keyOf(c) === choice)) setChoice(candidates[0] ? keyOf(candidates[0]) : '');
  }, [candidates, choice]);
  const chosen = candidates.find((c) => keyOf(c) === choice);
  const version = chosen?.version ?? '';
  const toEngine = chosen?.engine ?? t.engine;
  const crossing = toEngine !== t.engine;
  useEffect(() => {
    if (!modes.includes(mode)) setMode(modes[0] ?? 'rolling');
  }, [modes, mode]);

  const base = projectPath(project);
  const az = mode === 'az_migration';
  let route: string[] = [];
  try {
    if (version && !az && crossing) {
      const hops = planCrossEngineRoute({
        fromEngine: t.engine,
        from: t.version,
        toEngine,
        to: version,
        catalog: across.filter((v) => v.engine === toEngine),
      });
      route = [engineVersion(t.engine, t.version), ...hops.map((h) => engineVersion(h.toEngine, h.toVersion))];
    } else if (version && !az)
      route = [t.version, ...planRoute({ engine: t.engine, from: t.version, to: version, catalog: cat }).map((h) => h.toVersion)];
  } catch {
    route = [];
  }
  const hasWindow = !!t.maintenanceWindow;
  const access = useAccess();
  // The server decides (and refuses what would collapse zones); these fields are only what it needs.
  const body = az
    ? {
        mode,
        options: {
          ...(sourceAz ? { sourceAz } : {}),
          targetAz: targetAz.trim(),
          ...(allowZoneReduction ? { allowZoneReduction: true } : {}),
        },
      }
    : { toEngine, toVersion: version, mode };
  const label = crossing ? engineVersion(toEngine, version) : version;
  const subject = az ? `moving ${sourceAz || 'a zone'} to ${targetAz.trim() || '…'}` : label;

  const confirmUpgrade = () => {
    setError(null);
    setPending('upgrade');
    setAsk({
      title: az ? `Move the nodes of ${sourceAz || '…'} to ${targetAz.trim() || '…'}?` : `Upgrade ${t.name || t.id} to ${label}?`,
      body: (
        <>
          {az ? (
            <p>{zoneMoveText(t, sourceAz, targetAz.trim())}</p>
          ) : (
            <p>
              Route: <span className="mono">{route.join(' → ')}</span>
              {route.length > 2 ? ` (${route.length - 1} hops through barrier versions)` : ''}.
            </p>
          )}
          {crossing ? (
            <p>
              The engine changes from {t.engine} to {toEngine}. The upgrade page names its point of no return: once that step has
              run, the upgrade cannot be rolled back.
            </p>
          ) : null}
          <p>{modeText(mode, t.nodes.length)}</p>
          <p>
            {schedule === 'now'
              ? 'It starts now, with a precheck; a failing precheck stops it before any node is touched.'
              : 'It waits for the next maintenance window, then starts with a precheck.'}
          </p>
        </>
      ),
      confirm: az ? 'Start zone migration' : 'Start upgrade',
    });
  };
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      if (pending === 'upgrade') {
        const u = await api<Upgrade>(`${base}/upgrades`, {
          method: 'POST',
          body: { targetId: t.id, ...body, schedule: { kind: schedule } },
        });
        setAsk(null);
        navigate(href.upgrade(project, u.id));
      } else {
        await api<Report>(`${base}/targets/${enc(t.id)}/prechecks`, { method: 'POST', body });
        setAsk(null);
        onChange();
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Upgrade" id="start">
      {!access.canOperate ? (
        <p className="muted">Your token has the {access.role} role: it can read this target but not start an upgrade.</p>
      ) : active ? (
        <p>
          An upgrade is active on this target:{' '}
          <Link href={href.upgrade(project, active.id)}>
            {upgradeRef(active)} · {upgradeVersions(active, '→')}
          </Link>{' '}
          <Badge state={active.state} />
        </p>
      ) : (
        <>
          {candidates.length === 0 ? (
            <Empty title="Up to date">
              No newer version of {t.engine} in the catalog can be reached from {t.version}. The nodes of a zone can still be
              moved to another.
            </Empty>
          ) : null}
          <form
            className="form-row"
            onSubmit={(e) => {
              e.preventDefault();
              confirmUpgrade();
            }}
          >
            {az ? (
              <>
                <label>
                  From zone
                  <select name="sourceAz" value={sourceAz} onChange={(e) => setSourceAz(e.target.value)} required>
                    {zones.length > 1 ? <option value="">choose the zone to move</option> : null}
                    {zones.map((z) => (
                      <option key={z} value={z}>
                        {z} ({t.nodes.filter((n) => n.zone === z).length})
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  To zone
                  <input
                    name="targetAz"
                    value={targetAz}
                    onChange={(e) => setTargetAz(e.target.value)}
                    required
                    maxLength={64}
                    autoComplete="off"
                  />
                </label>
                <label className="check">
                  <input
                    type="checkbox"
                    name="allowZoneReduction"
                    checked={allowZoneReduction}
                    onChange={(e) => setAllowZoneReduction(e.target.checked)}
                  />
                  Allow fewer zones
                </label>
              </>
            ) : (
              <label>
                To version
                <select name="version" value={choice} onChange={(e) => setChoice(e.target.value)}>
                  {candidates.map((c) => (
                    <option key={keyOf(c)} value={keyOf(c)}>
                      {c.engine === t.engine ? c.version : engineVersion(c.engine, c.version)}
                      {c.barrier ? ' (barrier)' : ''}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <label>
              Mode
              <select name="mode" value={mode} onChange={(e) => setMode(e.target.value)}>
                {modes.map((m) => (
                  <option key={m} value={m}>
                    {MODE_LABELS[m] ?? m}
                  </option>
                ))}
              </select>
            </label>
            <label>
              When
              <select name="schedule" value={schedule} onChange={(e) => setSchedule(e.target.value as 'now' | 'window')}>
                <option value="now">now</option>
                {hasWindow ? <option value="window">in the maintenance window</option> : null}
              </select>
            </label>
            <div className="form-actions">
              <button
                type="button"
                onClick={(e) => {
                  if (!e.currentTarget.form?.reportValidity()) return;
                  setPending('precheck');
                  setError(null);
                  setAsk({
                    title: `Run a precheck for ${subject}?`,
                    body: az ? (
                      <p>
                        It inspects every node (health, replication lag, disk) and shows the zones before and after the move.
                        Nothing is changed.
                      </p>
                    ) : (
                      <p>It inspects every node (health, replication lag, disk) and the version route. Nothing is changed.</p>
                    ),
                    confirm: 'Run precheck',
                  });
                }}
              >
                Run precheck
              </button>
              <button type="submit" className="primary">
                {az ? 'Start zone migration…' : 'Start upgrade…'}
              </button>
            </div>
            {route.length > 0 ? (
              <p className="sub form-note">
                Route <span className="mono">{route.join(' → ')}</span>
              </p>
            ) : null}
          </form>
        </>
      )}
      <ConfirmDialog ask={ask} busy={busy} error={error} onConfirm={run} onCancel={() => setAsk(null)} />
    </Section>
  );
}

const MODE_LABELS: Record<string, string> = {
  rolling: 'rolling',
  stop_service: 'stop service',
  blue_green: 'blue/green (new cluster)',
  az_migration: 'zone migration',
};

/** What a zone move does to the target's zones, as the confirmation says it (the server checks it again). */
function zoneMoveText(t: Target, sourceAz: string, targetAz: string): string {
  const zones = [...new Set(t.nodes.map((n) => n.zone))];
  const moving = t.nodes.filter((n) => n.zone === sourceAz).map((n) => n.name);
  const after = new Set(t.nodes.map((n) => (n.zone === sourceAz ? targetAz : n.zone)));
  const count = (n: number) => `${n} zone${n === 1 ? '' : 's'}`;
  return `${moving.join(', ') || 'No node'} move${moving.length === 1 ? 's' : ''} from ${sourceAz} to ${targetAz}; the other zones are not touched. The target goes from ${count(zones.length)} to ${count(after.size)}.`;
}

function modeText(mode: string, nodes: number): string {
  switch (mode) {
    case 'rolling':
      return `Rolling: the ${nodes} nodes are upgraded one at a time (drain, stop, install, start, health gate, rejoin); the leader goes last, after a switchover.`;
    case 'stop_service':
      return `Stop service: all ${nodes} nodes stop, are upgraded and start together. The service is down meanwhile.`;
    case 'blue_green':
      return `Blue/green: a new cluster of ${nodes} nodes on the new version is built beside this one and kept in step by replication; clients are switched to it (held at the pooler for a moment), and the old cluster keeps every write for the rollback window, so a rollback loses nothing. A major version needs this mode.`;
    default:
      return 'Zone migration: the nodes of one zone are moved one by one; the version stays.';
  }
}

export function windowText(t: Target): string {
  const w = t.maintenanceWindow;
  const base = w ? windowOf(w) : 'none (upgrades run when started)';
  const ex = (t.maintenanceExclusions ?? []).filter((e) => Date.parse(e.to) > Date.now());
  return ex.length
    ? `${base}; except ${ex.map((e) => `${when(e.from)}–${when(e.to)}${e.reason ? ` (${e.reason})` : ''}`).join(', ')}`
    : base;
}

const cap = (d: string) => d.charAt(0).toUpperCase() + d.slice(1);

function windowOf(w: MaintenanceWindow): string {
  if (!('days' in w)) return `daily ${w.start}–${w.end} UTC`;
  const days = w.days.length === 7 ? 'daily' : w.days.map(cap).join(', ');
  return `${days} ${w.start} for ${duration(w.durationMinutes * 60)} (${w.timeZone})`;
}

function Fact({ k, v }: { k: string; v: ReactNode }) {
  return (
    <div>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </div>
  );
}

export function Crumbs({ project, label, parent }: { project: string; label: string; parent?: { href: string; label: string } }) {
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      <Link href={href.fleet(project)}>Fleet</Link>
      {parent ? (
        <>
          <span aria-hidden="true">/</span>
          <Link href={parent.href}>{parent.label}</Link>
        </>
      ) : null}
      <span aria-hidden="true">/</span>
      <span aria-current="page">{label}</span>
    </nav>
  );
}
