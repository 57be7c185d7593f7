// Data loading for the views: the last good data stays on screen while a reload runs, so live
// updates never blank a table or move the layout; an error is shown next to it instead.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api.ts';

export interface Resource<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** `keep`: show the previous data while a change of deps reloads (a filter change), instead of placeholders. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], opts: { keep?: boolean } = {}): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => {
    const n = ++seq.current;
    setLoading(true);
    loadRef.current().then(
      (d) => {
        // A slower, older request must not overwrite a newer answer.
        if (n !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (n !== seq.current) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
  }, []);

  const keep = opts.keep ?? false;
  useEffect(() => {
    if (!keep) setData(undefined);
    reload();
  }, deps);

  return { data, error, loading, reload };
}

/** Re-renders every `ms` while `on` (elapsed times and the timeline's "now" line move on). */
export function useTick(on: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [on, ms]);
  // A render caused by new data must not use a tick older than that data (no negative durations).
  return Math.max(now, Date.now());
}

export interface ActionRunner {
  /** the action waiting for the operator's confirmation, if any */
  action: string | null;
  /** asks for an action (or none), clearing the last error */
  setAction: (a: string | null) => void;
  busy: boolean;
  error: string | null;
  /** POSTs {action} to `url`; on success closes the confirmation and calls onDone */
  run: () => Promise<void>;
}

/** An operator action (an upgrade's or a rollout's) asked for, confirmed, then sent. */
export function useActionRunner(url: string, onDone: () => void): ActionRunner {
  const [action, setAction] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    if (!action) return;
    setBusy(true);
    setError(null);
    try {
      await api(url, { method: 'POST', body: { action } });
      setAction(null);
      onDone();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const choose = (a: string | null) => {
    setError(null);
    setAction(a);
  };
  return { action, setAction: choose, busy, error, run };
}
