// Small building blocks shared by the views: state badges, empty and error states, and the
// confirmation dialog every operator action goes through.
import { useEffect, useRef, type ReactNode } from 'react';
import { isoTitle, stateLabel, tone, when } from './format.ts';

export function Badge({ state, label }: { state: string; label?: string }) {
  return (
    <span className={`badge tone-${tone(state)}`} data-state={state}>
      {label ?? stateLabel(state)}
    </span>
  );
}

/** A time as the console shows times (24-hour, with its zone); the exact ISO instant on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>-</>;
  return (
    <time dateTime={iso} title={isoTitle(iso)}>
      {when(iso)}
    </time>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <strong>{title}</strong>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

export function ErrorBox({ error, retry }: { error: Error; retry?: () => void }) {
  const code = (error as { code?: string }).code;
  return (
    <div className="error-box" role="alert">
      <strong>{code && code !== 'UNREACHABLE' ? code : 'Something went wrong'}</strong>
      <span>{error.message}</span>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Placeholder rows with the height of real content, so the page does not jump when data arrives. */
export function Loading({ rows = 3 }: { rows?: number }) {
  return (
    <div className="loading" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="skeleton" />
      ))}
    </div>
  );
}

export function Section({
  title,
  actions,
  children,
  id,
}: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
  id?: string;
}) {
  return (
    <section className="card" aria-labelledby={id}>
      <header className="card-head">
        <h2 id={id}>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export interface Confirmation {
  title: string;
  body: ReactNode;
  confirm: string;
  danger?: boolean;
}

/** A modal dialog (the browser's own <dialog>: focus stays inside, Escape cancels). */
export function ConfirmDialog({
  ask,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  ask: Confirmation | null;
  busy: boolean;
  error: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (ask && !d.open) d.showModal();
    if (!ask && d.open) d.close();
  }, [ask]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
    >
      {ask ? (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            onConfirm();
          }}
        >
          <h2 id="confirm-title">{ask.title}</h2>
          <div className="dialog-body">{ask.body}</div>
          {error ? (
            <p className="dialog-error" role="alert">
              {error}
            </p>
          ) : null}
          <div className="dialog-actions">
            <button type="button" onClick={onCancel} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={ask.danger ? 'danger' : 'primary'} disabled={busy} autoFocus>
              {busy ? 'Working…' : ask.confirm}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
