// One server per SQLite data folder, with real processes: a second server on a used folder exits
// at once naming the folder and the holder's pid; the lock is free again once the holder is
// SIGKILLed (the kernel releases it), and after a clean stop.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { lockDataFolder } from '../../src/store/folder-lock.ts';
import { freshStore, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';

const servers: Server[] = [];
const stores: StoreConfig[] = [];
after(async () => {
  killAll(servers);
  for (const s of stores) await s.cleanup();
});

test('a second server on the same SQLite folder is refused at once; SIGKILL of the holder frees it', async () => {
  const store = await freshStore('sqlite');
  stores.push(store);
  const first = await startServer(store);
  servers.push(first);
  await first.waitUp();

  const second = await startServer(store);
  servers.push(second);
  const how = await second.ended();
  assert.equal(how, 1, `the second server should exit with status 1; output:\n${second.output()}`);
  assert.match(second.output(), /DATA_DIR_LOCKED|in use by another Liftgate process/);
  assert.ok(second.output().includes(store.dataDir), `the message names the folder:\n${second.output()}`);
  assert.ok(second.output().includes(`pid ${first.pid}`), `the message names the holder's pid:\n${second.output()}`);
  assert.ok(first.alive(), 'the holder keeps running');
  assert.equal((await first.api('GET', '/healthz')).status, 200);

  first.child.kill('SIGKILL');
  assert.equal(await first.ended(), 'SIGKILL');
  const third = await startServer(store);
  servers.push(third);
  await third.waitUp();
  third.child.kill('SIGTERM');
  assert.equal(await third.ended(), 0);

  // a clean stop releases it too
  const lock = lockDataFolder(store.dataDir);
  lock.release();
});

test('in one process the folder lock is exclusive as well, and released by release()', async () => {
  const store = await freshStore('sqlite');
  stores.push(store);
  const a = lockDataFolder(store.dataDir);
  assert.throws(
    () => lockDataFolder(store.dataDir),
    (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'DATA_DIR_LOCKED');
      assert.ok(err.message.includes(`pid ${process.pid}`));
      return true;
    },
  );
  a.release();
  lockDataFolder(store.dataDir).release();
});
