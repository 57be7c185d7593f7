// The cutover watchdog (see cutover-watchdog-spawn.ts): node cutover-watchdog <root> <token> <at>.
// At `at` (ms since epoch) it reads the cluster's blue/green state; if the cutover `token` is still
// under way it is undone (clients resume on the side they used) and if it switched but the pooler
// may still hold clients, the pooler is resumed. Anything else: it has nothing to do.
import { setTimeout as sleep } from 'node:timers/promises';
import { loadBg, undoSwitch } from './blue-green.ts';
import * as pooler from './pooler.ts';

async function main(): Promise<void> {
  const [root, token, at] = process.argv.slice(2);
  if (!root || !token || !at) return;
  const wait = Number(at) - Date.now();
  if (wait > 0) await sleep(wait);
  const bg = await loadBg(root);
  if (!bg?.cutover || bg.cutover.token !== token) return;
  if (bg.cutover.phase === 'switched') {
    if (bg.blue.pooler) await pooler.resume(bg.blue.pooler.port).catch(() => undefined);
    return;
  }
  await undoSwitch(root, (l) => console.log(l));
}

main()
  .catch((e: unknown) => console.error(e))
  .finally(() => process.exit(0));
