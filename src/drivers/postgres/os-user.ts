// PostgreSQL refuses to run as root, and Liftgate usually does: servers and PgBouncer run as an
// unprivileged system user that we create once and reuse. Files we write into their folders are
// handed over to that user, because the server checks ownership and modes of its data directory.
import { execFileSync } from 'node:child_process';
import { chown, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const SERVICE_USER = 'liftgate-pg';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

let cached: RunAs | null = null;

function lookup(name: string): RunAs | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid, gid, name };
  } catch {
    return null;
  }
}

/** The identity servers run under: the service user when we are root, else ourselves. */
export function serviceUser(): RunAs {
  if (cached) return cached;
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    cached = { uid, gid: process.getgid?.() ?? uid, name: 'self' };
    return cached;
  }
  let user = lookup(SERVICE_USER);
  if (!user) {
    try {
      execFileSync(
        'useradd',
        [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          SERVICE_USER,
        ],
        { stdio: 'ignore' },
      );
    } catch {
      // another process may have created it at the same moment; the lookup below decides
    }
    user = lookup(SERVICE_USER);
    if (!user) throw new Error(`cannot create or find system user ${SERVICE_USER}`);
  }
  cached = user;
  return user;
}

/** mkdir -p, then give the leaf to the service user with the given mode */
export async function makeOwnedDir(dir: string, mode = 0o700): Promise<void> {
  const u = serviceUser();
  await mkdir(dir, { recursive: true, mode });
  await chown(dir, u.uid, u.gid);
}

export async function writeOwnedFile(file: string, content: string, mode = 0o600): Promise<void> {
  const u = serviceUser();
  await writeFile(file, content, { mode });
  await chown(file, u.uid, u.gid);
}

export async function chownTree(root: string): Promise<void> {
  const u = serviceUser();
  const st = await lstat(root);
  await chown(root, u.uid, u.gid).catch(() => undefined);
  if (!st.isDirectory()) return;
  await Promise.all((await readdir(root)).map((e) => chownTree(path.join(root, e))));
}
