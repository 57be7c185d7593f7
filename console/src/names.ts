// Names of the credentials that act (tokens, access keys, admin tokens), so an actor reads as the
// name a person gave its token ("ci-pipeline") rather than "admin:e8cbcce7-...". Only an admin may
// list credentials: for other roles the map stays empty and actors show in their short form.
// Events and upgrades need none of this: the API names their actors itself (actorName,
// createdByName); the admin page and a wave's approver still read names from here.
import { useEffect, useState } from 'react';
import { api, hasEndpoint, projectPath } from './api.ts';
import { useAccess } from './identity.ts';

const cache = new Map<string, Promise<Map<string, string>>>();

async function load(project: string | null, global: boolean): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const lists: Promise<{ items: { id: string; name: string }[] }>[] = [];
  if (project) {
    lists.push(api(`${projectPath(project)}/tokens`), api(`${projectPath(project)}/access-keys`));
  }
  if (global && (await hasEndpoint('/v1/admin-tokens'))) lists.push(api('/v1/admin-tokens'));
  for (const r of await Promise.allSettled(lists)) {
    if (r.status === 'fulfilled') for (const c of r.value.items) names.set(c.id, c.name);
  }
  return names;
}

/** Forget what is known (a credential was created or renamed on the admin page). */
export const forgetNames = () => cache.clear();

export function useActorNames(project: string | null): ReadonlyMap<string, string> {
  const access = useAccess();
  const admin = access.role === 'admin';
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  useEffect(() => {
    if (!admin) return;
    const key = `${project ?? ''}|${access.global ? 'g' : ''}`;
    let p = cache.get(key);
    if (!p) {
      p = load(project, access.global ?? false);
      cache.set(key, p);
    }
    let live = true;
    void p.then((m) => live && setNames(m));
    return () => {
      live = false;
    };
  }, [project, admin, access.global]);
  return names;
}
