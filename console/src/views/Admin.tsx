// Admin: the project's credentials (API tokens, access keys of the vendor API families), the admin
// tokens of an admin token that reaches every project, and the project's webhooks with their last
// delivery. A secret is in the answer to a create only, so it is shown once, right there, with a
// way to copy it; the lists never hold one. What the API refuses is shown in the form, in its words.
import { useState, type FormEvent, type ReactNode } from 'react';
import { ROLES } from '../../../src/domain/types.ts';
import { api, enc, projectPath } from '../api.ts';
import { Badge, ConfirmDialog, Empty, ErrorBox, Loading, Section, Time, type Confirmation } from '../components.tsx';
import { actorLabel } from '../format.ts';
import { useResource } from '../hooks.ts';
import { useAccess } from '../identity.ts';
import { forgetNames, useActorNames } from '../names.ts';

interface Webhook {
  id: string;
  url: string;
  events: string[];
  createdBy: string;
  createdAt: string;
  secret?: string;
}
interface Delivery {
  eventType: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}
type Hooked = Webhook & { last: Delivery | null };

interface Credential {
  id: string;
  name: string;
  role?: string;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string | null;
  lastUsedAt?: string | null;
}

export function AdminView({ project }: { project: string }) {
  const access = useAccess();
  if (access.role !== 'admin') {
    return (
      <div className="page">
        <Empty title="Admins only">
          Your token has the {access.role ?? 'viewer'} role: credentials and webhooks need an admin token.
        </Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <div className="page-title">
        <h1>Admin</h1>
        <span className="muted">credentials and webhooks of project {project}</span>
      </div>
      <Credentials
        project={project}
        title="API tokens"
        id="tokens"
        noun="token"
        path={`${projectPath(project)}/tokens`}
        secretOf={(c) => [['Token', (c as { token: string }).token]]}
        withRole
      />
      <Credentials
        project={project}
        title="Access keys (vendor API families)"
        id="access-keys"
        noun="access key"
        path={`${projectPath(project)}/access-keys`}
        secretOf={(c) => {
          const k = c as { accessKeyId: string; accessKeySecret: string };
          return [
            ['AccessKey ID', k.accessKeyId],
            ['AccessKey secret', k.accessKeySecret],
          ];
        }}
        withRole
      />
      {access.global ? (
        <Credentials
          project={project}
          title="Admin tokens (every project)"
          id="admin-tokens"
          noun="admin token"
          path="/v1/admin-tokens"
          secretOf={(c) => [['Admin token', (c as { token: string }).token]]}
          withRole={false}
        />
      ) : null}
      <Webhooks project={project} />
    </div>
  );
}

/** A create form: the API's refusal stays next to the fields until the next try. */
function useSubmit(run: () => Promise<void>): {
  busy: boolean;
  error: string | null;
  submit: (e: FormEvent) => void;
  /** an edit of a field: the refusal was about what it held before */
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    run().then(
      () => setBusy(false),
      (err: Error) => {
        setError(err.message);
        setBusy(false);
      },
    );
  };
  return { busy, error, submit, clear: () => setError(null) };
}

/** A secret from a create: shown once, until dismissed. */
function SecretOnce({ title, fields, onDone }: { title: string; fields: [string, string][]; onDone: () => void }) {
  return (
    <div className="secret-once" role="status" data-testid="secret-once">
      <strong>{title}</strong>
      <p className="sub">Copy it now: it is not shown again (only its hash is kept).</p>
      {fields.map(([k, v]) => (
        <label key={k} className="secret-field">
          <span>{k}</span>
          <input readOnly value={v} className="mono" onFocus={(e) => e.currentTarget.select()} aria-label={k} />
          <button type="button" onClick={() => void navigator.clipboard?.writeText(v)}>
            Copy
          </button>
        </label>
      ))}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function FormError({ id, error }: { id: string; error: string | null }) {
  return error ? (
    <p className="field-error form-note" id={id} role="alert">
      {error}
    </p>
  ) : null;
}

function Credentials(props: {
  project: string;
  title: string;
  id: string;
  noun: string;
  path: string;
  withRole: boolean;
  secretOf: (created: unknown) => [string, string][];
}) {
  const names = useActorNames(props.project);
  const res = useResource(() => api<{ items: Credential[] }>(props.path).then((r) => r.items), [props.path], { keep: true });
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('viewer');
  const [created, setCreated] = useState<{ name: string; fields: [string, string][] } | null>(null);
  const [ask, setAsk] = useState<(Confirmation & { id: string }) | null>(null);
  const [busy, setBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<string | null>(null);
  const form = useSubmit(async () => {
    const body: Record<string, string> = {};
    if (name.trim()) body.name = name.trim();
    if (props.withRole) body.role = role;
    const c = await api<{ name: string }>(props.path, { method: 'POST', body });
    setCreated({ name: c.name, fields: props.secretOf(c) });
    setName('');
    forgetNames();
    res.reload();
  });
  const revoke = async () => {
    if (!ask) return;
    setBusy(true);
    setRevokeError(null);
    try {
      await api(`${props.path}/${enc(ask.id)}`, { method: 'DELETE' });
      setAsk(null);
      res.reload();
    } catch (e) {
      setRevokeError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const errId = `${props.id}-error`;
  return (
    <Section title={props.title} id={props.id}>
      <form className="form-row" onSubmit={form.submit} noValidate aria-label={`New ${props.noun}`}>
        <label>
          Name
          <input
            name="name"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              form.clear();
            }}
            placeholder={`e.g. ci-pipeline`}
            autoComplete="off"
            aria-invalid={form.error ? true : undefined}
            aria-describedby={form.error ? errId : undefined}
          />
        </label>
        {props.withRole ? (
          <label>
            Role
            <select name="role" value={role} onChange={(e) => setRole(e.target.value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <div className="form-actions">
          <button type="submit" className="primary" disabled={form.busy}>
            {form.busy ? 'Creating…' : `Create ${props.noun}`}
          </button>
        </div>
        <FormError id={errId} error={form.error} />
      </form>
      {created ? (
        <SecretOnce title={`New ${props.noun} “${created.name}”`} fields={created.fields} onDone={() => setCreated(null)} />
      ) : null}
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      {!res.data ? (
        res.error ? null : (
          <Loading rows={2} />
        )
      ) : res.data.length === 0 ? (
        <Empty title={`No ${props.noun}s yet`} />
      ) : (
        <div className="table-wrap">
          <table className="table compact" aria-label={props.title}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                {props.withRole ? <th scope="col">Role</th> : null}
                <th scope="col">Id</th>
                <th scope="col">Created</th>
                <th scope="col">By</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {res.data.map((c) => (
                <tr key={c.id} data-credential={c.id} data-name={c.name}>
                  <td className="strong">{c.name}</td>
                  {props.withRole ? <td>{c.role}</td> : null}
                  <td className="mono" title={c.id}>
                    {c.id.slice(0, 8)}
                  </td>
                  <td>
                    <Time iso={c.createdAt} />
                  </td>
                  <td title={c.createdBy ?? undefined}>{actorLabel(c.createdBy, names)}</td>
                  <td>{c.expiresAt ? <Time iso={c.expiresAt} /> : 'never'}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => {
                        setRevokeError(null);
                        setAsk({
                          id: c.id,
                          title: `Revoke ${props.noun} “${c.name}”?`,
                          body: <p>Requests made with it are refused from now on. This cannot be undone.</p>,
                          confirm: 'Revoke',
                          danger: true,
                        });
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog ask={ask} busy={busy} error={revokeError} onConfirm={revoke} onCancel={() => setAsk(null)} />
    </Section>
  );
}

async function loadHooks(project: string): Promise<Hooked[]> {
  const base = `${projectPath(project)}/webhooks`;
  const hooks = await api<{ items: Webhook[] }>(base);
  return Promise.all(
    hooks.items.map(async (h) => {
      const d = await api<{ items: Delivery[] }>(`${base}/${enc(h.id)}/deliveries?limit=1`).catch(() => ({ items: [] }));
      return { ...h, last: d.items[0] ?? null };
    }),
  );
}

function Webhooks({ project }: { project: string }) {
  const names = useActorNames(project);
  const res = useResource(() => loadHooks(project), [project], { keep: true });
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('upgrade.*');
  const [created, setCreated] = useState<Webhook | null>(null);
  const [ask, setAsk] = useState<(Confirmation & { id: string }) | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const base = `${projectPath(project)}/webhooks`;
  const form = useSubmit(async () => {
    const list = events
      .split(/[\s,]+/)
      .map((e) => e.trim())
      .filter(Boolean);
    const h = await api<Webhook>(base, { method: 'POST', body: { url: url.trim(), events: list } });
    setCreated(h);
    setUrl('');
    res.reload();
  });
  const remove = async () => {
    if (!ask) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await api(`${base}/${enc(ask.id)}`, { method: 'DELETE' });
      setAsk(null);
      res.reload();
    } catch (e) {
      setDeleteError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section
      title="Webhooks"
      id="webhooks"
      actions={
        <button type="button" onClick={res.reload} disabled={res.loading}>
          Refresh
        </button>
      }
    >
      <form className="form-row" onSubmit={form.submit} noValidate aria-label="New webhook">
        <label className="grow">
          URL
          <input
            name="url"
            type="url"
            value={url}
            onChange={(e) => {
              setUrl(e.target.value);
              form.clear();
            }}
            placeholder="https://hooks.example.com/liftgate"
            autoComplete="off"
            aria-invalid={form.error ? true : undefined}
            aria-describedby={form.error ? 'webhook-error' : 'webhook-events-help'}
          />
        </label>
        <label>
          Events
          <input
            name="events"
            value={events}
            onChange={(e) => {
              setEvents(e.target.value);
              form.clear();
            }}
            autoComplete="off"
            aria-describedby="webhook-events-help"
          />
        </label>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={form.busy}>
            {form.busy ? 'Creating…' : 'Create webhook'}
          </button>
        </div>
        <p className="sub form-note" id="webhook-events-help">
          Event types or families, separated by commas: <span className="mono">upgrade.*</span>,{' '}
          <span className="mono">batch.*</span>, <span className="mono">upgrade.succeeded</span>, <span className="mono">*</span>.
        </p>
        <FormError id="webhook-error" error={form.error} />
      </form>
      {created?.secret ? (
        <SecretOnce
          title={`New webhook to ${created.url}`}
          fields={[['Signing secret', created.secret]]}
          onDone={() => setCreated(null)}
        />
      ) : null}
      {res.error ? <ErrorBox error={res.error} retry={res.reload} /> : null}
      {!res.data ? (
        res.error ? null : (
          <Loading rows={2} />
        )
      ) : res.data.length === 0 ? (
        <Empty title="No webhooks yet">Each event the webhook subscribes to is POSTed to its URL, signed with its secret.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table compact" aria-label="Webhooks">
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Events</th>
                <th scope="col">Last delivery</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {res.data.map((h) => (
                <tr key={h.id} data-webhook={h.id}>
                  <td className="mono msg">{h.url}</td>
                  <td className="mono">{h.events.join(', ')}</td>
                  <td data-testid="last-delivery" data-state={h.last?.state ?? 'none'}>
                    {h.last ? <LastDelivery d={h.last} /> : <span className="muted">none yet</span>}
                  </td>
                  <td>
                    <Time iso={h.createdAt} />
                    <div className="sub" title={h.createdBy}>
                      {actorLabel(h.createdBy, names)}
                    </div>
                  </td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => {
                        setDeleteError(null);
                        setAsk({
                          id: h.id,
                          title: `Delete the webhook to ${h.url}?`,
                          body: <p>No more events are sent to it; deliveries still waiting are dropped.</p>,
                          confirm: 'Delete',
                          danger: true,
                        });
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog ask={ask} busy={busy} error={deleteError} onConfirm={remove} onCancel={() => setAsk(null)} />
    </Section>
  );
}

function LastDelivery({ d }: { d: Delivery }): ReactNode {
  const status = d.lastStatus !== null ? `HTTP ${d.lastStatus}` : (d.lastError ?? 'not tried yet');
  return (
    <>
      <Badge state={d.state === 'delivered' ? 'succeeded' : d.state} label={d.state} /> <span className="num">{status}</span>
      <div className="sub">
        <span className="mono">{d.eventType}</span> · <Time iso={d.deliveredAt ?? d.createdAt} />
        {d.attempts > 1 ? ` · ${d.attempts} attempts` : ''}
      </div>
    </>
  );
}
