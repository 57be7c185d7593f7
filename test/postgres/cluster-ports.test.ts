// A port picked as free can be taken by another process before postgres binds it (tests and
// other servers share the machine). A node the driver is creating then moves to another free port,
// recorded in the cluster's state before it starts again; the oracle holds the first port open, so
// a start that did not move could not succeed, and reaches the server with a client of its own.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { BinaryCatalog } from '../../src/drivers/postgres/binaries.ts';
import {
  createCluster,
  dataDir,
  destroyCluster,
  loadCluster,
  startNewNode,
  stopNode,
} from '../../src/drivers/postgres/cluster.ts';
import { writeNodeConfig } from '../../src/drivers/postgres/server.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-ports-'));
chmodSync(dir, 0o755);
const root = path.join(dir, 'c');

after(async () => {
  await destroyCluster(root).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a new node whose port another process took meanwhile starts on another port, recorded in the state', async () => {
  const state = await createCluster(root, '16.13', 0, new BinaryCatalog(), ['n1']);
  const node = state.nodes[0]!;
  const taken = node.port;
  await stopNode(node);
  // another process binds the node's port before postgres does
  const squatter = net.createServer();
  await new Promise<void>((resolve, reject) => {
    squatter.once('error', reject);
    squatter.listen(taken, '127.0.0.1', () => resolve());
  });
  try {
    let configured = 0;
    await startNewNode(state, node, async () => {
      configured++;
      await writeNodeConfig(dataDir(node), node.port);
    });
    assert.notEqual(node.port, taken, 'the node moved off the taken port');
    assert.equal(configured, 2, 'configured for the taken port, then once more for the new one');
    assert.equal((await loadCluster(root)).nodes[0]!.port, node.port, 'the new port is recorded');
    const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      const { rows } = await client.query<{ port: string }>('SHOW port');
      assert.equal(Number(rows[0]!.port), node.port);
    } finally {
      await client.end();
    }
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});
