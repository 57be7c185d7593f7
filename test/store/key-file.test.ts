// Key files created at the same moment by several processes on one data folder (replicas or
// first-start work starting together): every one of them reads the same whole key, never an
// empty or half-written file. Worker threads stand in for the processes, racing on fresh files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

const WORKERS = 6;
const FILES = 150;

// each worker creates-or-reads every file in turn, starting together on each one
const racer = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  // a worker starts without the parent's TypeScript loader
  (await import('tsx/esm/api')).register();
  const { readOrCreateKeyFile } = await import(workerData.module);
  const { randomBytes } = require('node:crypto');
  const seen = [];
  const flag = new Int32Array(workerData.barrier);
  for (let i = 0; i < workerData.files.length; i++) {
    Atomics.add(flag, i, 1);
    while (Atomics.load(flag, i) < workerData.workers) {}
    // a long key, so a write takes long enough to be caught halfway
    seen.push(readOrCreateKeyFile(workerData.files[i], () => randomBytes(64 * 1024).toString('hex')));
  }
  parentPort.postMessage(seen);
})();
`;

test('processes creating a key file at once all read the one whole key the first wrote', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-key-file-'));
  try {
    const files = Array.from({ length: FILES }, (_, i) => path.join(dir, `k${i}`, 'master.key'));
    const barrier = new SharedArrayBuffer(4 * FILES);
    const module = new URL('../../src/store/key-file.ts', import.meta.url).href;
    const results = await Promise.all(
      Array.from(
        { length: WORKERS },
        () =>
          new Promise<string[]>((resolve, reject) => {
            const w = new Worker(racer, { eval: true, workerData: { module, files, barrier, workers: WORKERS } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    for (let i = 0; i < FILES; i++) {
      const onDisk = fs.readFileSync(files[i], 'utf8');
      assert.equal(onDisk.length, 128 * 1024, `file ${i} is whole`);
      for (const r of results)
        assert.ok(r[i] === onDisk, `file ${i}: a reader got ${r[i].length} of ${onDisk.length} characters`);
      assert.equal((fs.statSync(files[i]).mode & 0o777).toString(8), '600');
      assert.deepEqual(fs.readdirSync(path.dirname(files[i])), ['master.key'], 'no temporary file is left');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
