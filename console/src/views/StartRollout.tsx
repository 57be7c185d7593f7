// Start a rollout: choose the targets (engine, version, labels), the version to go to, the waves
// (targets as a count or a share, concurrency, bake, approval), the failure threshold and the
// schedule; the server's preview (POST .../batches/preview: the same checks and planning as the
// create, nothing written) shows each wave with the targets it takes before anything starts. The
// server's refusals are shown at the field they name.
import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { compareVersions } from '../../../src/domain/versions.ts';
import { api, ApiError, enc, projectPath, type BatchPreview, type CatalogVersion, type Target } from '../api.ts';
import { ErrorBox, Loading, Section } from '../components.tsx';
import { duration } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { href, Link, navigate } from '../router.tsx';
import '../rollouts.css';

interface WaveDraft {
  key: number;
  name: string;
  targets: string;
  maxConcurrency: string;
  bakeMinutes: string;
  approval: boolean;
}

interface Draft {
  name: string;
  engine: string;
  version: string;
  labels: string[];
  toVersion: string;
  mode: 'rolling' | 'stop_service';
  waves: WaveDraft[];
  threshold: string;
  schedule: 'now' | 'at' | 'window';
  at: string;
}

let keys = 0;
const wave = (name: string, targets: string, maxConcurrency: string, bakeMinutes = '0', approval = false): WaveDraft => ({
  key: ++keys,
  name,
  targets,
  maxConcurrency,
  bakeMinutes,
  approval,
});

/** a field's text as the API's amount: a whole number, or the percentage as written */
const amount = (s: string): number | string => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s.trim());

function bodyOf(d: Draft): Record<string, unknown> {
  const labels = Object.fromEntries(d.labels.map((l) => l.split('=') as [string, string]));
  return {
    name: d.name.trim() || `${d.engine} ${d.toVersion}`.trim(),
    selector: {
      ...(d.engine ? { engine: d.engine } : {}),
      ...(d.version ? { version: d.version } : {}),
      ...(d.labels.length ? { labels } : {}),
    },
    toVersion: d.toVersion,
    mode: d.mode,
    schedule: d.schedule === 'at' ? { kind: 'at', at: d.at ? new Date(d.at).toISOString() : '' } : { kind: d.schedule },
    waves: d.waves.map((w) => ({
      name: w.name.trim(),
      targets: amount(w.targets),
      ...(w.maxConcurrency.trim() ? { maxConcurrency: amount(w.maxConcurrency) } : {}),
      ...(w.bakeMinutes.trim() ? { bakeMinutes: Number(w.bakeMinutes) } : {}),
      approval: w.approval,
    })),
    ...(d.threshold.trim() ? { failureThreshold: { targets: amount(d.threshold) } } : {}),
  };
}

/**
 * Where a refusal points: "waves.1.targets", "failureThreshold", "schedule", ... from the schema's
 * paths (body/waves/1/targets) or the planner's words (waves[1] (early).targets).
 */
export function fieldsOf(e: ApiError): { key: string; message: string }[] {
  const listed = (e.details.errors as { path?: string; message?: string }[] | undefined) ?? [];
  if (listed.length) {
    return listed.map((p) => ({
      key: (p.path ?? '').replace(/^body\/?/, '').replace(/\//g, '.'),
      message: `${(p.path ?? '').replace(/^body\/?/, '')} ${p.message ?? ''}`.trim(),
    }));
  }
  const m = e.message;
  const w = /waves\[(\d+)\](?: \([^)]*\))?(?:\.(\w+))?/.exec(m);
  if (w) return [{ key: `waves.${w[1]}${w[2] ? `.${w[2]}` : ''}`, message: m }];
  if (/^the waves cover/.test(m)) return [{ key: 'waves.last.targets', message: m }];
  if (/failureThreshold/.test(m)) return [{ key: 'failureThreshold', message: m }];
  if (/schedule/.test(m) || e.code === 'INVALID_SCHEDULE') return [{ key: 'schedule', message: m }];
  if (/selector|no maintenance window|in progress/.test(m) || e.code === 'TARGET_NOT_FOUND')
    return [{ key: 'selector', message: m }];
  if (e.code === 'VERSION_NOT_FOUND' || /toVersion|version/.test(m)) return [{ key: 'toVersion', message: m }];
  return [{ key: '', message: m }];
}

interface StartData {
  targets: Target[];
}

export function StartRolloutView({ project }: { project: string }) {
  const res = useResource(
    async (): Promise<StartData> => ({
      targets: (await api<{ items: Target[] }>(`${projectPath(project)}/targets?limit=500`)).items,
    }),
    [project],
  );
  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link href={href.rollouts(project)}>Rollouts</Link>
        <span aria-hidden="true">/</span>
        <span aria-current="page">Start a rollout</span>
      </nav>
      <div className="page-title">
        <h1>Start a rollout</h1>
        <span className="muted">the preview shows every wave and its targets before anything starts</span>
      </div>
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      {res.data ? <StartForm project={project} targets={res.data.targets} /> : res.error ? null : <Loading rows={6} />}
    </div>
  );
}

function StartForm({ project, targets }: { project: string; targets: Target[] }) {
  const access = useAccess();
  const engines = useMemo(() => [...new Set(targets.map((t) => t.engine))].sort(), [targets]);
  const [d, setD] = useState<Draft>(() => ({
    name: '',
    engine: engines[0] ?? '',
    version: '',
    labels: [],
    toVersion: '',
    mode: 'rolling',
    waves: [wave('canary', '1', '1', '0'), wave('rest', '100%', '50%', '0', true)],
    threshold: '1',
    schedule: 'now',
    at: '',
  }));
  const set = (patch: Partial<Draft>) => setD((x) => ({ ...x, ...patch }));
  const setWave = (key: number, patch: Partial<WaveDraft>) =>
    setD((x) => ({ ...x, waves: x.waves.map((w) => (w.key === key ? { ...w, ...patch } : w)) }));

  const ofEngine = targets.filter((t) => !d.engine || t.engine === d.engine);
  const versions = [...new Set(ofEngine.map((t) => t.version))].sort(compareVersions);
  const labels = [...new Set(ofEngine.flatMap((t) => Object.entries(t.labels ?? {}).map(([k, v]) => `${k}=${v}`)))].sort();
  const matching = ofEngine.filter(
    (t) =>
      (!d.version || t.version === d.version) &&
      d.labels.every((l) => {
        const [k, v] = l.split('=');
        return t.labels?.[k] === v;
      }),
  );
  const lowest = [...new Set(matching.map((t) => t.version))].sort(compareVersions)[0];

  const catalog = useResource(
    () => (d.engine ? api<{ items: CatalogVersion[] }>(`/v1/catalog/${enc(d.engine)}/versions`) : Promise.resolve({ items: [] })),
    [d.engine],
    { keep: true },
  );
  const toVersions = (catalog.data?.items ?? [])
    .filter((v) => !v.deprecated && (!lowest || compareVersions(v.version, lowest) > 0))
    .map((v) => v.version)
    .sort((a, b) => compareVersions(b, a));
  // the newest version the chosen targets can go to, until the operator picks one
  useEffect(() => {
    if (toVersions.length && !toVersions.includes(d.toVersion)) set({ toVersion: toVersions[0] });
  }, [toVersions.join(' ')]);

  const body = bodyOf(d);
  const key = JSON.stringify(body);
  const [preview, setPreview] = useState<{ key: string; ok?: BatchPreview; error?: ApiError } | null>(null);
  const [submitError, setSubmitError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);
  useEffect(() => {
    setSubmitError(null);
    if (!access.canOperate || !d.toVersion) return;
    const n = ++seq.current;
    // one request per pause in typing, and an older answer never replaces a newer one
    const t = setTimeout(() => {
      api<BatchPreview>(`${projectPath(project)}/batches/preview`, { method: 'POST', body }).then(
        (ok) => n === seq.current && setPreview({ key, ok }),
        (error: unknown) =>
          n === seq.current &&
          setPreview({ key, error: error instanceof ApiError ? error : new ApiError(0, 'ERROR', String(error)) }),
      );
    }, 300);
    return () => clearTimeout(t);
  }, [key, access.canOperate]);

  const refusal = submitError ?? (preview?.key === key ? preview.error : undefined) ?? null;
  // "the waves cover 3 of 5": the last wave is where to take the rest
  const problems = (refusal ? fieldsOf(refusal) : []).map((p) => ({
    ...p,
    key: p.key.replace(/^waves\.last\./, `waves.${d.waves.length - 1}.`),
  }));
  const problemAt = (k: string) => problems.find((p) => p.key === k || p.key.startsWith(`${k}.`))?.message;
  const unplaced = problems.filter(
    (p) =>
      !['waves', 'failureThreshold', 'schedule', 'selector', 'toVersion', 'name', 'mode'].some(
        (f) => p.key === f || p.key.startsWith(`${f}.`),
      ),
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setSubmitError(null);
    try {
      const b = await api<{ id: string }>(`${projectPath(project)}/batches`, { method: 'POST', body });
      navigate(href.batch(project, b.id));
    } catch (err) {
      setSubmitError(err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err)));
    } finally {
      setBusy(false);
    }
  };

  const waveField = (
    w: WaveDraft,
    i: number,
    field: 'name' | 'targets' | 'maxConcurrency' | 'bakeMinutes',
    label: string,
    extra = {},
  ) => {
    const err = problemAt(`waves.${i}.${field}`);
    return (
      <td>
        <input
          aria-label={`Wave ${i + 1} ${label}`}
          value={w[field]}
          onChange={(e) => setWave(w.key, { [field]: e.target.value })}
          aria-invalid={err ? true : undefined}
          title={err}
          {...extra}
        />
      </td>
    );
  };

  return (
    <form className="start-grid" onSubmit={submit} noValidate aria-label="Start a rollout">
      <div className="page" style={{ gap: '1rem' }}>
        <Section title="Targets" id="start-targets">
          <div className="fields">
            <Field label="Engine">
              <select value={d.engine} onChange={(e) => set({ engine: e.target.value, version: '', labels: [], toVersion: '' })}>
                {engines.map((e) => (
                  <option key={e} value={e}>
                    {e}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Now on version">
              <select value={d.version} onChange={(e) => set({ version: e.target.value })}>
                <option value="">any version</option>
                {versions.map((v) => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          {labels.length ? (
            <>
              <h3>Labels</h3>
              <div className="label-picks" role="group" aria-label="Labels">
                {labels.map((l) => (
                  <label key={l} className="label-pick">
                    <input
                      type="checkbox"
                      checked={d.labels.includes(l)}
                      onChange={(e) => {
                        const k = l.split('=')[0];
                        // one value per key: a selector's labels all must match
                        const rest = d.labels.filter((x) => x.split('=')[0] !== k);
                        set({ labels: e.target.checked ? [...rest, l] : rest });
                      }}
                    />
                    <span className="mono">{l}</span>
                  </label>
                ))}
              </div>
            </>
          ) : null}
          <p className="match-line" data-testid="matching">
            <strong>{matching.length}</strong> target{matching.length === 1 ? '' : 's'} match
            {matching.length ? <span className="muted">: {matching.map((t) => t.name || t.id).join(', ')}</span> : null}
          </p>
          <FieldError message={problemAt('selector')} />
        </Section>

        <Section title="Upgrade" id="start-upgrade">
          <div className="fields">
            <Field label="To version" error={problemAt('toVersion')}>
              <select
                value={d.toVersion}
                onChange={(e) => set({ toVersion: e.target.value })}
                aria-invalid={problemAt('toVersion') ? true : undefined}
              >
                {toVersions.length === 0 ? <option value="">no newer version in the catalog</option> : null}
                {toVersions.map((v) => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Mode">
              <select value={d.mode} onChange={(e) => set({ mode: e.target.value as Draft['mode'] })}>
                <option value="rolling">rolling (node by node)</option>
                <option value="stop_service">stop service (all nodes at once)</option>
              </select>
            </Field>
            <Field label="Rollout name" error={problemAt('name')}>
              <input value={d.name} placeholder={`${d.engine} ${d.toVersion}`} onChange={(e) => set({ name: e.target.value })} />
            </Field>
          </div>
        </Section>

        <Section
          title="Waves"
          id="start-waves"
          actions={
            <button type="button" onClick={() => set({ waves: [...d.waves, wave(`wave-${d.waves.length + 1}`, '100%', '1')] })}>
              Add wave
            </button>
          }
        >
          <div className="table-wrap">
            <table className="wave-editor" aria-label="Wave editor">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" title="a count, or a percentage of all targets; 100% takes the rest">
                    Targets
                  </th>
                  <th scope="col" title="a count, or a percentage of the wave's targets">
                    At once
                  </th>
                  <th scope="col" title="after the wave: wait, then health-check its targets">
                    Bake (min)
                  </th>
                  <th scope="col">Approval</th>
                  <th scope="col">
                    <span className="visually-hidden">Order</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.waves.map((w, i) => {
                  const err = problemAt(`waves.${i}`);
                  return (
                    <WaveRow key={w.key} error={err}>
                      {waveField(w, i, 'name', 'name')}
                      {waveField(w, i, 'targets', 'targets', { placeholder: '1 or 10%' })}
                      {waveField(w, i, 'maxConcurrency', 'at once', { placeholder: '1' })}
                      {waveField(w, i, 'bakeMinutes', 'bake minutes', { inputMode: 'decimal' })}
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`Wave ${i + 1} needs approval`}
                          checked={w.approval}
                          onChange={(e) => setWave(w.key, { approval: e.target.checked })}
                        />
                      </td>
                      <td className="row-actions">
                        <button
                          type="button"
                          aria-label={`Move wave ${i + 1} up`}
                          disabled={i === 0}
                          onClick={() => {
                            const ws = [...d.waves];
                            [ws[i - 1], ws[i]] = [ws[i], ws[i - 1]];
                            set({ waves: ws });
                          }}
                        >
                          ↑
                        </button>{' '}
                        <button
                          type="button"
                          aria-label={`Remove wave ${i + 1}`}
                          disabled={d.waves.length === 1}
                          onClick={() => set({ waves: d.waves.filter((x) => x.key !== w.key) })}
                        >
                          ×
                        </button>
                      </td>
                    </WaveRow>
                  );
                })}
              </tbody>
            </table>
          </div>
          <div className="fields" style={{ marginTop: '1rem' }}>
            <Field label="Halt after failed targets" error={problemAt('failureThreshold')}>
              <input
                value={d.threshold}
                placeholder="1 or 5%"
                onChange={(e) => set({ threshold: e.target.value })}
                aria-invalid={problemAt('failureThreshold') ? true : undefined}
              />
            </Field>
            <Field label="Start" error={problemAt('schedule')}>
              <select value={d.schedule} onChange={(e) => set({ schedule: e.target.value as Draft['schedule'] })}>
                <option value="now">now</option>
                <option value="at">at a time</option>
                <option value="window">in each target's maintenance window</option>
              </select>
            </Field>
            {d.schedule === 'at' ? (
              <Field label="Start at (your time)" error={problemAt('schedule')}>
                <input
                  type="datetime-local"
                  value={d.at}
                  onChange={(e) => set({ at: e.target.value })}
                  aria-invalid={problemAt('schedule') ? true : undefined}
                />
              </Field>
            ) : null}
          </div>
        </Section>
        {unplaced.length ? (
          <div className="error-box" role="alert" data-testid="form-error">
            <strong>{refusal?.code}</strong>
            <span>{unplaced.map((p) => p.message).join('; ')}</span>
          </div>
        ) : null}
        <div className="submit-row">
          {access.canOperate ? (
            <button type="submit" className="primary" disabled={busy || !d.toVersion || !preview?.ok || preview.key !== key}>
              {busy ? 'Starting…' : 'Start rollout'}
            </button>
          ) : (
            <span className="muted">Your token has the {access.role} role: it cannot start a rollout.</span>
          )}
          <Link href={href.rollouts(project)}>Back to rollouts</Link>
        </div>
      </div>
      <Preview preview={preview} current={key} refusal={refusal} canOperate={access.canOperate} />
    </form>
  );
}

function Preview({
  preview,
  current,
  refusal,
  canOperate,
}: {
  preview: { key: string; ok?: BatchPreview; error?: ApiError } | null;
  current: string;
  refusal: ApiError | null;
  canOperate: boolean;
}) {
  const p = preview?.ok;
  const stale = preview?.key !== current;
  return (
    <section className="card preview-card" aria-labelledby="preview" aria-busy={stale ? true : undefined}>
      <header className="card-head">
        <h2 id="preview">Preview</h2>
        {p ? (
          <span className="muted num" data-testid="preview-summary">
            {p.targets} target{p.targets === 1 ? '' : 's'} in {p.waves.length} wave{p.waves.length === 1 ? '' : 's'} · halts at{' '}
            {p.failureLimit} failed
          </span>
        ) : null}
      </header>
      {!canOperate ? (
        <p className="muted">A preview needs the operator role.</p>
      ) : refusal && !stale ? (
        <div className="error-box" role="alert" data-testid="preview-error">
          <strong>{refusal.code}</strong>
          <span>{refusal.message}</span>
        </div>
      ) : !p ? (
        <Loading rows={3} />
      ) : (
        <div className={`preview-waves${stale ? ' preview-stale' : ''}`} data-testid="preview-waves">
          {p.waves.map((w) => (
            <div key={w.index}>
              {w.approval ? <div className="preview-gate">approval before wave {w.name}</div> : null}
              <div className="preview-wave" data-wave={w.name}>
                <div className="preview-wave-head">
                  <strong>
                    {w.index + 1}. {w.name}
                  </strong>
                  <span className="sub">
                    {w.targets.length} target{w.targets.length === 1 ? '' : 's'} · {w.maxConcurrency} at once
                  </span>
                </div>
                <div className="preview-targets">
                  {w.targets.map((t) => (
                    <span key={t.id} className="chip" title={`${t.id} · ${t.engine} ${t.version}`} data-target={t.id}>
                      {t.name}
                    </span>
                  ))}
                </div>
              </div>
              {w.bakeMinutes > 0 ? (
                <div className="preview-gate">bake {duration(w.bakeMinutes * 60)}, then health checks</div>
              ) : null}
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function Field({ label, error, children }: { label: string; error?: string; children: ReactNode }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      <FieldError message={error} />
    </label>
  );
}

function FieldError({ message }: { message?: string }) {
  return message ? (
    <span className="form-error" role="alert">
      {message}
    </span>
  ) : null;
}

function WaveRow({ error, children }: { error?: string; children: ReactNode }) {
  return (
    <>
      <tr>{children}</tr>
      {error ? (
        <tr className="row-error">
          <td colSpan={6}>
            <FieldError message={error} />
          </td>
        </tr>
      ) : null}
    </>
  );
}
