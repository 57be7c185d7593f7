// Terminal output: tables and the live progress bars of `upgrade watch`.
import cliProgress from 'cli-progress';
import type { ApiClient } from './client.ts';

export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

interface WatchedUpgrade {
  state: string;
  error: string | null;
  toVersion: string;
  stages: { steps: { node: string | null; state: string; name: string }[] }[];
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'rolled_back']);
const DONE = new Set(['succeeded', 'skipped', 'rolled_back']);

/** Draws one bar per node (and one for target-level steps); returns an exit code. */
export async function watchUpgrade(client: ApiClient, project: string, id: string, json: boolean): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const bars =
    json || !tty
      ? null
      : new cliProgress.MultiBar(
          {
            format: ' {name} |{bar}| {value}/{total} {step}',
            hideCursor: true,
            clearOnComplete: false,
            stopOnComplete: false,
            barsize: 30,
          },
          cliProgress.Presets.shades_classic,
        );
  const byNode = new Map<string, cliProgress.SingleBar>();
  let last: WatchedUpgrade | null = null;
  const seen = new Map<string, string>();
  for (;;) {
    const u = await client.get<WatchedUpgrade>(`/v1/projects/${project}/upgrades/${id}`);
    last = u;
    const steps = u.stages.flatMap((s) => s.steps);
    const groups = new Map<string, typeof steps>();
    for (const st of steps) {
      const key = st.node ?? '(cluster)';
      groups.set(key, [...(groups.get(key) ?? []), st]);
    }
    if (json) {
      console.log(JSON.stringify({ state: u.state, done: steps.filter((s) => DONE.has(s.state)).length, total: steps.length }));
    } else if (!bars) {
      // Not a terminal (a pipe or a log file): one line per step state change instead of bars.
      steps.forEach((st, i) => {
        const key = `${i}`;
        if (seen.get(key) !== st.state && st.state !== 'pending')
          console.log(`${st.node ?? '(cluster)'}: ${st.name} ${st.state}`);
        seen.set(key, st.state);
      });
    } else {
      const width = Math.max(...[...groups.keys()].map((k) => k.length));
      for (const [node, list] of groups) {
        const done = list.filter((s) => DONE.has(s.state)).length;
        const current = list.find((s) => s.state === 'running' || s.state === 'failed' || s.state === 'rolling_back');
        const label = current ? `${current.name} (${current.state})` : done === list.length ? 'done' : 'waiting';
        let bar = byNode.get(node);
        if (!bar) {
          bar = bars.create(list.length, 0, { name: node.padEnd(width), step: label });
          byNode.set(node, bar);
        }
        bar.update(done, { step: label });
      }
    }
    if (FINAL.has(u.state) || u.state === 'paused') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  bars?.stop();
  if (!json && last) console.log(`upgrade ${id}: ${last.state}${last.error ? ` (${last.error})` : ''}`);
  return last?.state === 'succeeded' ? 0 : last?.state === 'paused' ? 0 : 1;
}
