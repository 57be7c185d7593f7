// The console's shell: login, the header (views, project switcher, live status, theme), and the
// view for the current path.
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, onUnauthorized, optional, session, type Project, type Whoami } from './api.ts';
import { ErrorBox, Loading } from './components.tsx';
import { AccessContext } from './identity.ts';
import { LiveProvider, useLiveStatus } from './live.tsx';
import { href, Link, navigate, parse, useLocation, type Route } from './router.tsx';
import { AdminView } from './views/Admin.tsx';
import { EventsView } from './views/Events.tsx';
import { FleetView } from './views/Fleet.tsx';
import { BatchView } from './views/Batch.tsx';
import { RolloutsView } from './views/Rollouts.tsx';
import { StartRolloutView } from './views/StartRollout.tsx';
import { TargetView } from './views/Target.tsx';
import { UpgradeView } from './views/Upgrade.tsx';

type Theme = 'light' | 'dark';
const THEME_KEY = 'liftgate.theme';

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [
    theme,
    () =>
      setTheme((t) => {
        const next = t === 'dark' ? 'light' : 'dark';
        localStorage.setItem(THEME_KEY, next);
        return next;
      }),
  ];
}

interface Identity {
  projects: Project[];
  whoami: Whoami | null;
}

async function identify(token?: string): Promise<Identity> {
  const projects = await api<{ items: Project[] }>('/v1/projects', { token });
  let whoami: Whoami | null = null;
  if (!token) whoami = await optional<Whoami>('/v1/whoami', '/v1/whoami');
  return { projects: projects.items, whoami };
}

export function App() {
  const path = useLocation();
  const route = parse(path);
  const [theme, toggleTheme] = useTheme();
  const [identity, setIdentity] = useState<Identity | null>(null);
  const [idError, setIdError] = useState<Error | null>(null);
  const [authed, setAuthed] = useState(() => session.get() !== null);

  useEffect(
    () =>
      onUnauthorized(() => {
        session.clear();
        setAuthed(false);
        setIdentity(null);
      }),
    [],
  );

  useEffect(() => {
    if (!authed) return;
    setIdError(null);
    identify().then(setIdentity, (e: Error) => setIdError(e));
  }, [authed]);

  useEffect(() => {
    if (!authed && route.view !== 'login') {
      sessionStorage.setItem('liftgate.next', path);
      navigate('/login', { replace: true });
    }
  }, [authed, route.view, path]);

  if (!authed || route.view === 'login') {
    return (
      <Login
        theme={theme}
        toggleTheme={toggleTheme}
        signedIn={authed}
        onLogin={() => {
          setAuthed(true);
          const next = sessionStorage.getItem('liftgate.next');
          sessionStorage.removeItem('liftgate.next');
          navigate(next && next !== '/login' ? next : '/', { replace: true });
        }}
      />
    );
  }

  const project = 'project' in route ? route.project : null;
  const logout = () => {
    session.clear();
    setIdentity(null);
    setAuthed(false);
  };

  const shell = (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Header route={route} identity={identity} theme={theme} toggleTheme={toggleTheme} logout={logout} live={project !== null} />
      <main id="main" tabIndex={-1}>
        {idError ? (
          <ErrorBox error={idError} retry={() => identify().then(setIdentity, setIdError)} />
        ) : !identity ? (
          <Loading />
        ) : (
          <AccessContext.Provider
            value={{
              canOperate: identity.whoami?.role !== 'viewer',
              role: identity.whoami?.role ?? null,
              global: identity.whoami ? identity.whoami.projectId === null : false,
            }}
          >
            <Body route={route} identity={identity} />
          </AccessContext.Provider>
        )}
      </main>
    </div>
  );
  return project ? (
    <LiveProvider key={project} project={project}>
      {shell}
    </LiveProvider>
  ) : (
    shell
  );
}

function Body({ route, identity }: { route: Route; identity: Identity }) {
  useEffect(() => {
    if (route.view !== 'home') return;
    const last = sessionStorage.getItem('liftgate.project');
    const own = identity.whoami?.projectId;
    const pick =
      identity.projects.find((p) => p.id === own) ?? identity.projects.find((p) => p.id === last) ?? identity.projects[0];
    if (pick) navigate(href.fleet(pick.id), { replace: true });
  }, [route, identity]);

  if ('project' in route) sessionStorage.setItem('liftgate.project', route.project);
  switch (route.view) {
    case 'home':
      return identity.projects.length === 0 ? (
        <div className="empty">
          <strong>No projects yet</strong>
          <div>
            Create one with <code>POST /v1/projects</code> (an admin token), then reload.
          </div>
        </div>
      ) : (
        <Loading />
      );
    case 'fleet':
      return <FleetView project={route.project} />;
    case 'target':
      return <TargetView project={route.project} target={route.target} />;
    case 'upgrade':
      return <UpgradeView project={route.project} id={route.upgrade} />;
    case 'events':
      return <EventsView project={route.project} />;
    case 'rollouts':
      return <RolloutsView project={route.project} />;
    case 'new-rollout':
      return <StartRolloutView project={route.project} />;
    case 'batch':
      return <BatchView project={route.project} id={route.batch} />;
    case 'admin':
      return <AdminView project={route.project} />;
    default:
      return (
        <div className="empty">
          <strong>No such page</strong>
          <div>
            <Link href="/">Go to the fleet</Link>
          </div>
        </div>
      );
  }
}

function Header(props: {
  route: Route;
  identity: Identity | null;
  theme: Theme;
  toggleTheme: () => void;
  logout: () => void;
  live: boolean;
}) {
  const { route, identity } = props;
  const project = 'project' in route ? route.project : null;
  const projects = identity?.projects ?? [];
  // The admin token reaches every project (whoami says projectId null); older servers: more than one project.
  const admin = identity?.whoami ? identity.whoami.projectId === null : projects.length > 1;
  const nav = (view: 'fleet' | 'events', label: string) =>
    project ? (
      <Link
        href={view === 'fleet' ? href.fleet(project) : href.events(project)}
        aria-current={
          route.view === view || (view === 'fleet' && (route.view === 'target' || route.view === 'upgrade')) ? 'page' : undefined
        }
      >
        {label}
      </Link>
    ) : null;
  return (
    <header className="topbar">
      <Link href="/" className="brand" aria-label="Liftgate home">
        <img src="/favicon.svg" alt="" width="24" height="24" />
        <span>Liftgate</span>
      </Link>
      <nav aria-label="Views" className="views">
        {nav('fleet', 'Fleet')}
        {project ? (
          <Link
            href={href.rollouts(project)}
            aria-current={
              route.view === 'rollouts' || route.view === 'new-rollout' || route.view === 'batch' ? 'page' : undefined
            }
          >
            Rollouts
          </Link>
        ) : null}
        {nav('events', 'Events')}
        {project && identity?.whoami?.role === 'admin' ? (
          <Link href={href.admin(project)} aria-current={route.view === 'admin' ? 'page' : undefined}>
            Admin
          </Link>
        ) : null}
      </nav>
      <div className="topbar-end">
        {project && props.live ? <LiveIndicator /> : null}
        {projects.length > 0 && (admin || projects.length > 1) ? (
          <label className="project-switch">
            <span className="visually-hidden">Project</span>
            <select aria-label="Project" value={project ?? ''} onChange={(e) => navigate(href.fleet(e.target.value))}>
              {project === null ? <option value="">Choose a project</option> : null}
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id}
                </option>
              ))}
            </select>
          </label>
        ) : project ? (
          <span className="project-name">{project}</span>
        ) : null}
        <button
          type="button"
          className="icon"
          onClick={props.toggleTheme}
          aria-label={`Switch to ${props.theme === 'dark' ? 'light' : 'dark'} theme`}
        >
          {props.theme === 'dark' ? '☀' : '☾'}
        </button>
        <button type="button" onClick={props.logout}>
          Sign out
        </button>
      </div>
    </header>
  );
}

function LiveIndicator() {
  const status = useLiveStatus();
  return (
    <span className={`live live-${status}`} role="status" aria-live="polite" title="Live updates through the event stream">
      <span className="dot" aria-hidden="true" />
      {status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting' : 'Reconnecting'}
    </span>
  );
}

function Login(props: { theme: Theme; toggleTheme: () => void; signedIn: boolean; onLogin: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError('Paste a Liftgate API token: the admin token the server printed at first start, or a project token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await identify(t);
      session.set(t);
      props.onLogin();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The server did not accept this token. Check that you copied all of it, or ask for a new one.'
          : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (props.signedIn) props.onLogin();
  }, [props]);
  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate>
        <div className="login-brand">
          <img src="/favicon.svg" alt="" width="40" height="40" />
          <h1>Liftgate</h1>
        </div>
        <p className="muted">Sign in with an API token. It is kept for this browser tab only and sent only to this server.</p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'token-error' : undefined}
        />
        {error ? (
          <p className="field-error" id="token-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <button type="button" className="link" onClick={props.toggleTheme}>
          {props.theme === 'dark' ? 'Light theme' : 'Dark theme'}
        </button>
      </form>
    </main>
  );
}
