// A small history router: the console has five routes, so a routing library would be most of its
// weight. Paths hold only ids (project, target, upgrade), never a credential.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { view: 'login' }
  | { view: 'home' }
  | { view: 'fleet'; project: string }
  | { view: 'target'; project: string; target: string }
  | { view: 'upgrade'; project: string; upgrade: string }
  | { view: 'events'; project: string }
  | { view: 'rollouts'; project: string }
  | { view: 'new-rollout'; project: string }
  | { view: 'batch'; project: string; batch: string }
  | { view: 'admin'; project: string }
  | { view: 'missing'; path: string };

export function parse(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { view: 'home' };
  if (parts[0] === 'login' && parts.length === 1) return { view: 'login' };
  if (parts[0] === 'projects' && parts[1]) {
    const project = parts[1];
    if (parts.length === 2) return { view: 'fleet', project };
    if (parts[2] === 'events' && parts.length === 3) return { view: 'events', project };
    if (parts[2] === 'admin' && parts.length === 3) return { view: 'admin', project };
    if (parts[2] === 'targets' && parts[3] && parts.length === 4) return { view: 'target', project, target: parts[3] };
    if (parts[2] === 'upgrades' && parts[3] && parts.length === 4) return { view: 'upgrade', project, upgrade: parts[3] };
    if (parts[2] === 'rollouts' && parts.length === 3) return { view: 'rollouts', project };
    if (parts[2] === 'rollouts' && parts[3] === 'new' && parts.length === 4) return { view: 'new-rollout', project };
    if (parts[2] === 'rollouts' && parts[3] && parts.length === 4) return { view: 'batch', project, batch: parts[3] };
  }
  return { view: 'missing', path: pathname };
}

const e = encodeURIComponent;
export const href = {
  fleet: (p: string) => `/projects/${e(p)}`,
  events: (p: string) => `/projects/${e(p)}/events`,
  admin: (p: string) => `/projects/${e(p)}/admin`,
  target: (p: string, t: string) => `/projects/${e(p)}/targets/${e(t)}`,
  upgrade: (p: string, u: string) => `/projects/${e(p)}/upgrades/${e(u)}`,
  rollouts: (p: string) => `/projects/${e(p)}/rollouts`,
  newRollout: (p: string) => `/projects/${e(p)}/rollouts/new`,
  batch: (p: string, b: string) => `/projects/${e(p)}/rollouts/${e(b)}`,
};

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}

export function useLocation(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const l = () => setPath(location.pathname);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return path;
}

/** An anchor that navigates in place; modified clicks (new tab, ...) keep the browser's behaviour. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const onClick = (ev: MouseEvent<HTMLAnchorElement>) => {
    props.onClick?.(ev);
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(props.href);
  };
  return <a {...props} onClick={onClick} />;
}
