// A target's maintenance window and exclusions, shown to every role and edited by operators and
// admins: weekly in a time zone, daily in UTC, or none; exclusions as periods with a reason. The
// server checks the window (a real zone, a non-empty window, from before to) and its message is
// shown in the form as it says it.
import { useState, type FormEvent } from 'react';
import { WEEK_DAYS } from '../../../src/domain/types.ts';
import { api, enc, projectPath, type MaintenanceWindow, type Target } from '../api.ts';
import { Section, Time } from '../components.tsx';
import { useAccess } from '../identity.ts';
import { windowText } from './Target.tsx';

type Kind = 'none' | 'weekly' | 'daily';
type WeeklyDays = Extract<MaintenanceWindow, { days: unknown }>['days'];
interface Exclusion {
  from: string;
  to: string;
  reason?: string;
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const pad = (n: number) => String(n).padStart(2, '0');
/** An instant as "2026-12-24 18:00" in the browser's zone: 24-hour, like every time in the console. */
const toLocalText = (iso: string) => {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
/** "2026-12-24 18:00" in the browser's zone -> ISO; null when it is not such a time. */
const fromLocalText = (v: string): string | null => {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(v.trim());
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};
const zoneName = () =>
  new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName')
    ?.value ?? '';

export function WindowSection({ project, target, onSaved }: { project: string; target: Target; onSaved: () => void }) {
  const access = useAccess();
  const [editing, setEditing] = useState(false);
  return (
    <Section
      title="Maintenance window"
      id="window"
      actions={
        access.canOperate && !editing ? (
          <button type="button" onClick={() => setEditing(true)}>
            Edit window
          </button>
        ) : null
      }
    >
      <p data-testid="window-text">{windowText({ ...target, maintenanceExclusions: [] })}</p>
      {target.maintenanceExclusions.length > 0 ? (
        <ul className="exclusions" aria-label="Exclusions">
          {target.maintenanceExclusions.map((x, i) => (
            <li key={i}>
              no upgrade from <Time iso={x.from} /> to <Time iso={x.to} />
              {x.reason ? ` (${x.reason})` : ''}
            </li>
          ))}
        </ul>
      ) : null}
      {editing ? (
        <WindowEditor
          project={project}
          target={target}
          onDone={(saved) => {
            setEditing(false);
            if (saved) onSaved();
          }}
        />
      ) : null}
    </Section>
  );
}

function WindowEditor({ project, target, onDone }: { project: string; target: Target; onDone: (saved: boolean) => void }) {
  const w = target.maintenanceWindow;
  const weekly = w && 'days' in w ? w : null;
  const daily = w && !('days' in w) ? w : null;
  const [kind, setKind] = useState<Kind>(weekly ? 'weekly' : daily ? 'daily' : 'none');
  const [days, setDays] = useState<string[]>(weekly ? [...weekly.days] : ['sat', 'sun']);
  const [start, setStart] = useState(weekly?.start ?? daily?.start ?? '02:00');
  const [end, setEnd] = useState(daily?.end ?? '04:00');
  const [minutes, setMinutes] = useState(String(weekly?.durationMinutes ?? 120));
  const [zone, setZone] = useState(weekly?.timeZone ?? browserZone());
  // as typed ("2026-12-24 18:00", the browser's zone), turned into instants on save
  const [exclusions, setExclusions] = useState<Exclusion[]>(
    target.maintenanceExclusions.map((x) => ({ from: toLocalText(x.from), to: toLocalText(x.to), reason: x.reason })),
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const windowBody = (): MaintenanceWindow | null =>
    kind === 'none'
      ? null
      : kind === 'daily'
        ? { start, end }
        : // the server names a bad number; the form does not guess one
          { days: days as WeeklyDays, start, durationMinutes: Number(minutes), timeZone: zone.trim() };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const periods: Exclusion[] = [];
    for (const [i, x] of exclusions.entries()) {
      const from = fromLocalText(x.from);
      const to = fromLocalText(x.to);
      if (!from || !to) {
        setError(`exclusion ${i + 1}: write from and to as YYYY-MM-DD HH:MM (24-hour, ${zoneName() || 'your zone'})`);
        return;
      }
      periods.push({ from, to, ...(x.reason?.trim() ? { reason: x.reason.trim() } : {}) });
    }
    setBusy(true);
    try {
      await api(`${projectPath(project)}/targets/${enc(target.id)}`, {
        method: 'PATCH',
        body: {
          maintenanceWindow: windowBody(),
          maintenanceExclusions: periods,
        },
      });
      onDone(true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const setExclusion = (i: number, patch: Partial<Exclusion>) =>
    setExclusions((xs) => xs.map((x, j) => (j === i ? { ...x, ...patch } : x)));

  return (
    <form
      className="window-editor"
      onSubmit={save}
      onChange={() => setError(null)}
      noValidate
      aria-label="Edit maintenance window"
    >
      <div className="form-row">
        <label>
          Window
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="weekly">weekly, in a time zone</option>
            <option value="daily">daily (UTC)</option>
            <option value="none">none (upgrades run when started)</option>
          </select>
        </label>
        {kind === 'weekly' ? (
          <>
            <fieldset className="days">
              <legend>Days</legend>
              {WEEK_DAYS.map((d) => (
                <label key={d} className="check">
                  <input
                    type="checkbox"
                    name={`day-${d}`}
                    checked={days.includes(d)}
                    onChange={(e) => setDays((ds) => (e.target.checked ? [...ds, d] : ds.filter((x) => x !== d)))}
                  />
                  {d}
                </label>
              ))}
            </fieldset>
            <label>
              Opens at
              <input
                name="start"
                inputMode="numeric"
                placeholder="HH:MM"
                maxLength={5}
                value={start}
                onChange={(e) => setStart(e.target.value)}
              />
            </label>
            <label>
              For (minutes)
              <input name="durationMinutes" inputMode="numeric" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
            </label>
            <label>
              Time zone
              <input name="timeZone" value={zone} onChange={(e) => setZone(e.target.value)} autoComplete="off" />
            </label>
          </>
        ) : kind === 'daily' ? (
          <>
            <label>
              From (UTC)
              <input
                name="start"
                inputMode="numeric"
                placeholder="HH:MM"
                maxLength={5}
                value={start}
                onChange={(e) => setStart(e.target.value)}
              />
            </label>
            <label>
              To (UTC)
              <input
                name="end"
                inputMode="numeric"
                placeholder="HH:MM"
                maxLength={5}
                value={end}
                onChange={(e) => setEnd(e.target.value)}
              />
            </label>
          </>
        ) : null}
      </div>
      <fieldset className="exclusions">
        <legend>
          Exclusions: no upgrade starts or continues in these periods (24-hour times in your browser’s zone, {zoneName()})
        </legend>
        {exclusions.map((x, i) => (
          <div className="form-row" key={i} data-exclusion={i}>
            <label>
              From
              <input
                name={`exclusion-${i}-from`}
                placeholder="YYYY-MM-DD HH:MM"
                value={x.from}
                onChange={(e) => setExclusion(i, { from: e.target.value })}
              />
            </label>
            <label>
              To
              <input
                name={`exclusion-${i}-to`}
                placeholder="YYYY-MM-DD HH:MM"
                value={x.to}
                onChange={(e) => setExclusion(i, { to: e.target.value })}
              />
            </label>
            <label>
              Reason
              <input
                name={`exclusion-${i}-reason`}
                value={x.reason ?? ''}
                onChange={(e) => setExclusion(i, { reason: e.target.value })}
              />
            </label>
            <button type="button" onClick={() => setExclusions((xs) => xs.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() => {
            const from = new Date(Math.ceil(Date.now() / 3600_000) * 3600_000);
            setExclusions((xs) => [
              ...xs,
              { from: toLocalText(from.toISOString()), to: toLocalText(new Date(from.getTime() + 24 * 3600_000).toISOString()) },
            ]);
          }}
        >
          Add exclusion
        </button>
      </fieldset>
      {error ? (
        <p className="field-error" role="alert" id="window-error">
          {error}
        </p>
      ) : null}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save window'}
        </button>
        <button type="button" onClick={() => onDone(false)} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
