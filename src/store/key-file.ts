// Key files in the data folder (the master key, the OBShell family's RSA key), created on first
// start by whichever process gets there first. Replicas and first-start work may start at the
// same moment on one folder, so a key is never written in place: it is written whole to a
// private temporary file and linked into place in one step, which fails if another process was
// first. A reader finds either no file or the whole key, never an empty or half-written one
// (which would be read as another key, or refused as a broken one).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The content of `file`; when it does not exist yet, `create()` is written there (mode 0600) and answered. */
export function readOrCreateKeyFile(file: string, create: () => string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const content = create();
  const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return content;
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    return fs.readFileSync(file, 'utf8');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
