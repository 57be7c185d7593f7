// Events: the audit trail (who did what, when, from which state to which), newest first, live,
// filterable by kind, target, upgrade and text; older pages load on demand. Step events (the most
// numerous by far) are folded under their upgrade, one row per upgrade that opens to show them.
import { Fragment, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, enc, projectPath, type LiftgateEvent, type Upgrade } from '../api.ts';
import { Empty, ErrorBox, Loading, Section, Time } from '../components.tsx';
import { actorLabel, stateLabel, upgradeRef } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useLiveEvents } from '../live.tsx';
import { href, Link } from '../router.tsx';

const PAGE = 100;

export function EventsView({ project }: { project: string }) {
  const [target, setTarget] = useState('');
  const [kind, setKind] = useState('');
  const [text, setText] = useState('');
  const [grouped, setGrouped] = useState(true);
  const [open, setOpen] = useState<Set<string>>(new Set());
  // upgrades by id, for their short reference (the events name only the id)
  const upgrades = useResource(
    () =>
      api<{ items: Upgrade[] }>(`${projectPath(project)}/upgrades?limit=200`).then((r) => new Map(r.items.map((u) => [u.id, u]))),
    [project],
  );
  const refOf = (id: string) => {
    const u = upgrades.data?.get(id);
    return u ? upgradeRef(u) : id.slice(0, 8);
  };
  const [older, setOlder] = useState<LiftgateEvent[]>([]);
  const [fresh, setFresh] = useState<LiftgateEvent[]>([]);
  const [end, setEnd] = useState(false);
  const [moreError, setMoreError] = useState<Error | null>(null);
  const base = projectPath(project);
  // Kind and target filter on the server, so older pages hold only matching events; text filters what is loaded.
  const typeParam = kind ? (kind.includes('.') ? kind : `${kind}.*`) : '';
  const query = (extra: string) =>
    `${base}/events?order=desc&limit=${PAGE}${target ? `&target=${enc(target)}` : ''}${typeParam ? `&type=${enc(typeParam)}` : ''}${extra}`;

  useEffect(() => {
    setOlder([]);
    setFresh([]);
    setEnd(false);
  }, [project, target, kind]);
  const first = useResource(
    async () => {
      const r = await api<{ items: LiftgateEvent[] }>(query(''));
      if (r.items.length < PAGE && older.length === 0) setEnd(true);
      return r.items;
      // The whole view remounts for another project, so what is kept is always this project's.
    },
    [project, target, kind],
    { keep: true },
  );

  useLiveEvents(
    (e) => setFresh((f) => (f.some((x) => x.id === e.id) ? f : [e, ...f])),
    (e) => (!target || e.targetId === target) && (!kind || e.type === kind || e.type.startsWith(`${kind}.`)),
    // Events from before the stream (re)connected: the first page again, merged by id below.
    () => first.reload(),
  );

  const all = useMemo(() => {
    const seen = new Set<number>();
    const out: LiftgateEvent[] = [];
    for (const e of [...fresh, ...(first.data ?? []), ...older]) if (!seen.has(e.id) && seen.add(e.id)) out.push(e);
    return out;
  }, [fresh, first.data, older]);
  // an upgrade started after the map was loaded (a live event): load the map again, once per change
  const unknown = !!upgrades.data && all.some((e) => e.upgradeId && !upgrades.data?.has(e.upgradeId));
  useEffect(() => {
    if (unknown) upgrades.reload();
  }, [unknown]);

  // The choices only grow: a filtered page must not take away the other choices.
  const [seenTypes, setSeenTypes] = useState<string[]>([]);
  const [seenTargets, setSeenTargets] = useState<string[]>([]);
  useEffect(() => {
    const grow = (prev: string[], next: string[]) => {
      const merged = [...new Set([...prev, ...next])].sort();
      return merged.length === prev.length ? prev : merged;
    };
    setSeenTypes((p) =>
      grow(
        p,
        all.map((e) => e.type),
      ),
    );
    setSeenTargets((p) =>
      grow(
        p,
        all.map((e) => e.targetId).filter((t): t is string => !!t),
      ),
    );
  }, [all]);
  const kinds = useMemo(() => [...new Set(seenTypes.map((t) => t.split('.')[0]))], [seenTypes]);
  const targets = seenTargets;
  const needle = text.trim().toLowerCase();
  const shown = all.filter(
    (e) =>
      (!kind || e.type === kind || e.type.startsWith(`${kind}.`)) &&
      (!target || e.targetId === target) &&
      (!needle ||
        `${e.type} ${e.message} ${e.actor} ${actorLabel(e.actor, undefined, e.actorName)} ${e.upgradeId ?? ''} ${e.upgradeId ? refOf(e.upgradeId) : ''}`
          .toLowerCase()
          .includes(needle)),
  );

  const loadMore = async () => {
    const last = all[all.length - 1];
    if (!last) return;
    setMoreError(null);
    try {
      const r = await api<{ items: LiftgateEvent[] }>(query(`&before=${last.id}`));
      setOlder((o) => [...o, ...r.items]);
      if (r.items.length < PAGE) setEnd(true);
    } catch (e) {
      setMoreError(e as Error);
    }
  };

  return (
    <div className="page">
      <div className="page-title">
        <h1>Events</h1>
        <span className="muted">audit trail of project {project}</span>
      </div>
      <Section
        title="Audit trail"
        id="events"
        actions={
          <div className="filters" role="search">
            <input
              type="search"
              placeholder="Filter text, actor, upgrade (up-3)"
              aria-label="Filter events by text"
              value={text}
              onChange={(e) => setText(e.target.value)}
            />
            <select aria-label="Event kind" value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">All kinds</option>
              {kinds.map((k) => (
                <option key={k} value={k}>
                  {FAMILY_LABELS[k] ?? `${k}.*`}
                </option>
              ))}
              {seenTypes.map((t) => (
                <option key={`t-${t}`} value={t}>
                  {t}
                </option>
              ))}
            </select>
            <label className="check">
              <input type="checkbox" checked={grouped} onChange={(e) => setGrouped(e.target.checked)} /> Fold step events
            </label>
            <select aria-label="Target" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">All targets</option>
              {(target && !targets.includes(target) ? [target, ...targets] : targets).map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </div>
        }
      >
        {first.error ? <ErrorBox error={first.error} retry={first.reload} /> : null}
        {!first.data && !first.error ? (
          <Loading rows={8} />
        ) : shown.length === 0 ? (
          <Empty title={all.length === 0 ? 'No events yet' : 'No event matches these filters'}>
            {all.length === 0 ? 'Every state change and operator action appears here as it happens.' : null}
          </Empty>
        ) : (
          <div className="table-wrap events">
            <table className="table compact" aria-label="Events">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Target / upgrade</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Change</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {rows(shown, grouped).map((r) =>
                  r.kind === 'event' ? (
                    <EventRow key={r.event.id} e={r.event} project={project} refOf={refOf} />
                  ) : (
                    <Fragment key={`g-${r.upgradeId}-${r.events[0]?.id}`}>
                      <tr className="event-group" data-group={r.upgradeId}>
                        <td className="num">
                          <Time iso={r.events[0]?.createdAt} />
                        </td>
                        <td colSpan={5}>
                          <button
                            type="button"
                            className="link"
                            aria-expanded={open.has(r.upgradeId)}
                            onClick={() =>
                              setOpen((o) => {
                                const n = new Set(o);
                                if (!n.delete(r.upgradeId)) n.add(r.upgradeId);
                                return n;
                              })
                            }
                          >
                            {open.has(r.upgradeId) ? '▾' : '▸'} {r.events.length} step event{r.events.length === 1 ? '' : 's'}{' '}
                            of{' '}
                          </button>{' '}
                          <Link href={href.upgrade(project, r.upgradeId)} className="mono">
                            {refOf(r.upgradeId)}
                          </Link>
                          {r.events[0]?.targetId ? <> on {r.events[0].targetId}</> : null}
                          <span className="muted"> · latest: {r.events[0]?.message}</span>
                        </td>
                      </tr>
                      {open.has(r.upgradeId)
                        ? r.events.map((e) => <EventRow key={e.id} e={e} project={project} refOf={refOf} nested />)
                        : null}
                    </Fragment>
                  ),
                )}
              </tbody>
            </table>
          </div>
        )}
        {moreError ? <ErrorBox error={moreError} retry={loadMore} /> : null}
        {first.data && !end ? (
          <div className="more">
            <button type="button" onClick={loadMore}>
              Load older events
            </button>
          </div>
        ) : null}
      </Section>
    </div>
  );
}

const FAMILY_LABELS: Record<string, string> = {
  upgrade: 'upgrades (upgrade.*)',
  stage: 'stages (stage.*)',
  step: 'steps (step.*)',
  batch: 'batches (batch.*)',
  wave: 'waves (wave.*)',
  target: 'targets (target.*)',
  credential: 'credentials (credential.*)',
};

type Row = { kind: 'event'; event: LiftgateEvent } | { kind: 'group'; upgradeId: string; events: LiftgateEvent[] };

/**
 * The rows of the list, newest first: with `grouped`, the step events of an upgrade are one row,
 * at the place of its newest step event, holding all of its step events that are loaded.
 */
function rows(events: LiftgateEvent[], grouped: boolean): Row[] {
  if (!grouped) return events.map((event) => ({ kind: 'event', event }));
  const out: Row[] = [];
  const groups = new Map<string, LiftgateEvent[]>();
  for (const e of events) {
    if (!e.type.startsWith('step.') || !e.upgradeId) {
      out.push({ kind: 'event', event: e });
      continue;
    }
    const g = groups.get(e.upgradeId);
    if (g) g.push(e);
    else {
      const list = [e];
      groups.set(e.upgradeId, list);
      out.push({ kind: 'group', upgradeId: e.upgradeId, events: list });
    }
  }
  return out;
}

function EventRow(props: { e: LiftgateEvent; project: string; refOf: (id: string) => string; nested?: boolean }): ReactNode {
  const { e, project } = props;
  return (
    <tr data-event={e.id} data-type={e.type} className={props.nested ? 'nested' : undefined}>
      <td className="num">
        <Time iso={e.createdAt} />
      </td>
      <td className="mono">{props.nested ? `  ${e.type}` : e.type}</td>
      <td>
        {e.targetId ? <Link href={href.target(project, e.targetId)}>{e.targetId}</Link> : '-'}
        {e.upgradeId ? (
          <div className="sub">
            <Link href={href.upgrade(project, e.upgradeId)} className="mono">
              {props.refOf(e.upgradeId)}
            </Link>
          </div>
        ) : null}
      </td>
      <td title={e.actor}>{actorLabel(e.actor, undefined, e.actorName)}</td>
      <td>{e.fromState || e.toState ? `${stateLabel(e.fromState ?? '-')} → ${stateLabel(e.toState ?? '-')}` : '-'}</td>
      <td className="msg">{e.message}</td>
    </tr>
  );
}
