// Precheck findings for a postgres cluster: nodes up, replicas streaming with small lag, target
// binaries present and really the version they claim, enough disk for the backup and flighting copies.
import { execFileSync } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Hop, PrecheckItem } from '../../domain/types.ts';
import { majorOf, type BinaryCatalog } from './binaries.ts';
import * as cl from './cluster.ts';
import type { ClusterState } from './cluster.ts';
import * as pooler from './pooler.ts';
import * as server from './server.ts';

export interface CheckLimits {
  maxLagBytes: number;
}

export function binaryVersion(nativeDir: string): string {
  return execFileSync(path.join(nativeDir, 'bin', 'postgres'), ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
}

export async function clusterChecks(
  state: ClusterState,
  hops: Hop[],
  catalog: BinaryCatalog,
  limits: CheckLimits,
  /** blue_green: a major route is fine, and no backup or flighting copy is taken */
  blueGreen = false,
): Promise<PrecheckItem[]> {
  const items: PrecheckItem[] = [];
  for (const hop of hops) {
    if (!blueGreen && majorOf(hop.fromVersion) !== majorOf(hop.toVersion)) {
      items.push({
        name: 'version_path',
        status: 'fail',
        message: `${hop.fromVersion} -> ${hop.toVersion} crosses a major version: a rolling upgrade cannot (no pg_upgrade in the installed binaries); use mode blue_green`,
      });
    }
    if (!catalog.has(hop.toVersion)) {
      items.push({
        name: 'target_binaries',
        status: 'fail',
        message: `PostgreSQL ${hop.toVersion} binaries are not installed (have ${catalog.versions().join(', ')})`,
      });
      continue;
    }
    try {
      const v = binaryVersion(catalog.nativeDir(hop.toVersion));
      const ok = v.endsWith(` ${hop.toVersion}`);
      items.push({ name: 'target_binaries', status: ok ? 'pass' : 'fail', message: `${catalog.nativeDir(hop.toVersion)}: ${v}` });
    } catch (e) {
      items.push({
        name: 'target_binaries',
        status: 'fail',
        message: `postgres --version failed: ${(e as Error).message.split('\n')[0]}`,
      });
    }
  }

  const primary = await cl.findPrimary(state);
  const facts = await Promise.all(state.nodes.map((n) => cl.nodeFacts(n)));
  for (const f of facts) {
    const ok = f.running && !f.error;
    items.push({
      name: 'node_up',
      node: f.name,
      status: ok ? 'pass' : 'fail',
      message: ok ? `running ${f.version}, ${f.inRecovery ? 'in recovery' : 'primary'}` : (f.error ?? 'not running'),
    });
  }
  const primaryFacts = facts.find((f) => f.name === primary.name);
  if (!primaryFacts?.running || primaryFacts.inRecovery) {
    items.push({ name: 'primary', status: 'fail', message: `no writable primary (recorded ${state.primary})` });
  } else {
    const repl = await server.query<{ application_name: string; state: string; lag: string | null }>(
      primary.port,
      `SELECT application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text AS lag FROM pg_stat_replication`,
    );
    for (const n of state.nodes) {
      if (n.name === primary.name) continue;
      const r = repl.find((x) => x.application_name === n.name);
      if (!r || r.state !== 'streaming') {
        items.push({
          name: 'replica_streaming',
          node: n.name,
          status: 'fail',
          message: r ? `state ${r.state}` : 'not connected to the primary',
        });
        continue;
      }
      const lag = Number(r.lag ?? 0);
      items.push({ name: 'replica_streaming', node: n.name, status: 'pass', message: 'streaming' });
      items.push({
        name: 'replication_lag',
        node: n.name,
        status: lag <= limits.maxLagBytes ? 'pass' : 'fail',
        message: `${lag} bytes behind (bound ${limits.maxLagBytes})`,
      });
    }
  }

  if (blueGreen) return poolerCheck(state, items);
  const dataBytes = await server.dirSizeBytes(cl.dataDir(primary));
  const fs = await statfs(state.root);
  const free = fs.bavail * fs.bsize;
  // one backup copy kept through the upgrade and two flighting copies, plus headroom for WAL
  const need = 3 * dataBytes + 256 * 1048576;
  items.push({
    name: 'disk_space',
    status: free >= need ? 'pass' : 'fail',
    message: `${(free / 1073741824).toFixed(1)} GiB free, need ${(need / 1073741824).toFixed(2)} GiB`,
  });

  return poolerCheck(state, items);
}

function poolerCheck(state: ClusterState, items: PrecheckItem[]): PrecheckItem[] {
  if (state.pooler) {
    const up = pooler.poolerRunning(state.root);
    items.push({
      name: 'pooler',
      status: up ? 'pass' : 'fail',
      message: up ? `pgbouncer on :${state.pooler.port}` : 'pgbouncer is not running',
    });
  }
  return items;
}
