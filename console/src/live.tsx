// Live updates: one Server-Sent Events stream per project, read with fetch() so the token travels
// in the Authorization header (EventSource cannot send headers, and a token in the URL would end
// up in logs and history). It resumes from the last event id after a drop, like EventSource does.
import { createParser } from 'eventsource-parser';
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, projectPath, session, type LiftgateEvent } from './api.ts';

export type LiveStatus = 'connecting' | 'live' | 'offline';
type Listener = (e: LiftgateEvent) => void;

interface Live {
  status: LiveStatus;
  subscribe(l: Listener): () => void;
  /** called whenever the stream (re)connects: what happened while it was not connected is not streamed */
  onResync(l: () => void): () => void;
}

const LiveContext = createContext<Live>({ status: 'offline', subscribe: () => () => {}, onResync: () => () => {} });

export function LiveProvider({ project, children }: { project: string; children: ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const resyncs = useRef(new Set<() => void>());
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [live] = useState(() => ({
    subscribe(l: Listener) {
      listeners.current.add(l);
      return () => listeners.current.delete(l);
    },
    onResync(l: () => void) {
      resyncs.current.add(l);
      return () => resyncs.current.delete(l);
    },
  }));

  useEffect(() => {
    const abort = new AbortController();
    let lastId: number | null = null;
    let delay = 1000;
    const run = async () => {
      while (!abort.signal.aborted) {
        setStatus('connecting');
        try {
          if (lastId === null) {
            // Start from now: the views load what happened before through the JSON API.
            const newest = await api<{ items: LiftgateEvent[] }>(`${projectPath(project)}/events?order=desc&limit=1`);
            lastId = newest.items[0]?.id ?? 0;
          }
          const res = await fetch(`${projectPath(project)}/events?after=${lastId}`, {
            headers: { accept: 'text/event-stream', authorization: `Bearer ${session.get() ?? ''}` },
            signal: abort.signal,
            cache: 'no-store',
          });
          if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`);
          setStatus('live');
          delay = 1000;
          // Views loaded before the stream started (or while it was down) reload once.
          for (const l of resyncs.current) l();
          const parser = createParser({
            onEvent(msg) {
              if (!msg.data) return;
              const e = JSON.parse(msg.data) as LiftgateEvent;
              lastId = e.id;
              for (const l of listeners.current) l(e);
            },
          });
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.feed(value);
          }
        } catch {
          if (abort.signal.aborted) return;
        }
        if (abort.signal.aborted) return;
        setStatus('offline');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    };
    void run();
    return () => abort.abort();
  }, [project]);

  return (
    <LiveContext.Provider value={{ status, subscribe: live.subscribe, onResync: live.onResync }}>{children}</LiveContext.Provider>
  );
}

export const useLiveStatus = () => useContext(LiveContext).status;

/**
 * Calls `fn` for each live event that `filter` accepts. The callback may change on every render;
 * the subscription does not.
 */
export function useLiveEvents(fn: Listener, filter: (e: LiftgateEvent) => boolean = () => true, resync?: () => void) {
  const { subscribe, onResync } = useContext(LiveContext);
  const ref = useRef({ fn, filter, resync });
  ref.current = { fn, filter, resync };
  useEffect(() => subscribe((e) => ref.current.filter(e) && ref.current.fn(e)), [subscribe]);
  useEffect(() => onResync(() => ref.current.resync?.()), [onResync]);
}

/**
 * Reloads when matching live events arrive, at most once per `everyMs`: a burst of step events
 * becomes one request, and the page keeps showing the previous data meanwhile (no flashing).
 */
export function useLiveReload(reload: () => void, filter: (e: LiftgateEvent) => boolean, everyMs = 250) {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  const soon = () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      reloadRef.current();
    }, everyMs);
  };
  useLiveEvents(soon, filter, soon);
}
