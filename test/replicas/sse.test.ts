// The event stream works from any replica and shows changes made through any of them: a stream
// opened on replica A shows an upgrade created through replica B and the steps whichever
// replica ran them (real processes, one PostgreSQL).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { freshStore, type StoreConfig } from '../helpers/harness.ts';
import { killAll, SERVER_TOKEN, startServer, type Server } from '../helpers/servers.ts';

const servers: Server[] = [];
const stores: StoreConfig[] = [];
after(async () => {
  killAll(servers);
  for (const s of stores) await s.cleanup();
});

test('an SSE stream on one replica shows an upgrade created and run through the others', async () => {
  const store = await freshStore('postgres');
  stores.push(store);
  const [a, b] = await Promise.all([startServer(store), startServer(store)]);
  servers.push(a, b);
  await Promise.all([a.waitUp(), b.waitUp()]);
  assert.equal((await b.api('POST', '/v1/projects', { id: 'p1' })).status, 201);
  for (const v of ['1.0.0', '1.1.0']) await b.api('POST', '/v1/catalog/sim/versions', { version: v, release: `r${v}` });
  const tr = await b.api('POST', '/v1/projects/p1/targets', {
    id: 't1',
    kind: 'cluster',
    engine: 'sim',
    version: '1.0.0',
    nodes: [
      { name: 'n1', role: 'leader', zone: 'z1' },
      { name: 'n2', role: 'follower', zone: 'z2' },
    ],
  });
  assert.equal(tr.status, 201);

  const abort = new AbortController();
  const res = await fetch(`http://127.0.0.1:${a.port}/v1/projects/p1/events`, {
    headers: { authorization: `Bearer ${SERVER_TOKEN}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  const seen: { type: string; upgradeId: string | null }[] = [];
  let upgradeId = '';
  const reading = (async () => {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data) seen.push(JSON.parse(data.slice(6)) as { type: string; upgradeId: string | null });
        if (upgradeId && seen.some((e) => e.type === 'upgrade.succeeded' && e.upgradeId === upgradeId)) return;
      }
    }
  })();

  const ur = await b.api('POST', '/v1/projects/p1/upgrades', { targetId: 't1', toVersion: '1.1.0' });
  assert.equal(ur.status, 202);
  upgradeId = ur.json.id as string;
  const timer = setTimeout(() => abort.abort(), 60_000);
  await reading.catch(() => {});
  clearTimeout(timer);
  abort.abort();
  const mine = seen.filter((e) => e.upgradeId === upgradeId).map((e) => e.type);
  assert.ok(mine.includes('upgrade.created'), `the stream on A shows the upgrade created through B: ${mine.join(', ')}`);
  assert.ok(mine.includes('step.succeeded'), 'and its steps');
  assert.ok(mine.includes('upgrade.succeeded'), 'until it succeeded');
});
