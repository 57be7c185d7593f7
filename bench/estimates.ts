// Estimate accuracy on the simulated fleet (not a test): the sim at a non-zero time scale (so
// steps take real, jittered time), ten upgrades of the engine first so the model has learned it,
// then batches in waves (a canary, a wave with a bake, the rest with a concurrency limit). For
// each batch: the forecast recorded at its start against its actual length, and the forecast read
// from GET .../batches/{id} every few seconds against the time that was actually left then; for
// the upgrades the batches ran, each one's estimate recorded at its start against its length.
// Every wait is bounded (a warm-up pair of upgrades, a batch: --max-secs each); one that runs out
// ends the benchmark with a message naming it.
// Usage: npm run bench:estimates [-- --dialect sqlite --scale 0.01 --batches 3 --targets 12 --max-secs 1800]
import { parseArgs } from 'node:util';
import { createBatch } from '../src/service/batch-actions.ts';
import { getBatch } from '../src/service/batch-view.ts';
import { createContext } from '../src/app/context.ts';
import type { AppContext } from '../src/service/app-context.ts';
import { createUpgrade } from '../src/service/upgrades.ts';
import { freshStore, type Dialect } from '../test/helpers/harness.ts';
import { machine, seedFleet } from './lib/fleet.ts';

const { values } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    scale: { type: 'string', default: '0.01' },
    batches: { type: 'string', default: '3' },
    targets: { type: 'string', default: '12' },
    'max-secs': { type: 'string', default: '1800' },
  },
});
const MAX_MS = Number(values['max-secs']) * 1000;
const SCALE = Number(values.scale);
const BATCHES = Number(values.batches);
const PER_BATCH = Number(values.targets);
const WARM = 10;
const P = 'bench';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (x: number) => `${x.toFixed(1)}%`;

async function upgradesDone(ctx: AppContext, ids: string[]): Promise<void> {
  const until = Date.now() + MAX_MS;
  for (;;) {
    const rows = await ctx.store.db.selectFrom('upgrades').select('state').where('id', 'in', ids).execute();
    if (rows.some((r) => r.state === 'failed')) throw new Error('a warm-up upgrade failed');
    if (rows.every((r) => r.state === 'succeeded')) return;
    if (Date.now() > until) {
      throw new Error(`warm-up upgrades still ${rows.map((r) => r.state).join(', ')} after ${MAX_MS / 1000} s (--max-secs)`);
    }
    await sleep(200);
  }
}

const store = await freshStore(values.dialect as Dialect);
const ctx = await createContext({ ...store.config, simTimeScale: SCALE, log: () => {} });
try {
  await seedFleet(ctx, WARM + BATCHES * PER_BATCH, { upgrades: false });
  console.log(`machine: ${machine()}; store ${values.dialect}; sim time scale ${SCALE}`);
  // 1. ten upgrades of the engine, two at a time, so every step has been learned
  for (let i = 0; i < WARM; i += 2) {
    const ids: string[] = [];
    for (const t of [`t${i}`, `t${i + 1}`]) {
      ids.push((await createUpgrade(ctx, P, { targetId: t, toVersion: '1.1.0', mode: 'rolling' }, 'bench')).id);
    }
    await upgradesDone(ctx, ids);
  }
  await ctx.estimates.settle();
  const warmIds = new Set((await ctx.store.db.selectFrom('upgrades').select('id').execute()).map((r) => r.id));
  console.log(`${WARM} upgrades of engine sim finished; the model knows ${ctx.estimates.model.entries().length} step kinds`);

  // 2. batches in waves, read while they run
  const live: number[] = [];
  const batchIds: string[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const targetIds = Array.from({ length: PER_BATCH }, (_, i) => `t${WARM + b * PER_BATCH + i}`);
    const batch = await createBatch(
      ctx,
      P,
      {
        name: `accuracy ${b + 1}`,
        targetIds,
        toVersion: '1.1.0',
        mode: 'rolling',
        waves: [
          { name: 'canary', targets: 1 },
          { name: 'early', targets: '25%', maxConcurrency: 2, bakeMinutes: 0.1 },
          { name: 'rest', targets: '100%', maxConcurrency: 3 },
        ],
      },
      'bench',
    );
    batchIds.push(batch.id);
    const reads: { at: number; completesAt: number }[] = [];
    let state = batch.state as string;
    const until = Date.now() + MAX_MS;
    while (!['succeeded', 'failed', 'cancelled', 'halted'].includes(state)) {
      if (Date.now() > until) throw new Error(`batch ${b + 1} still ${state} after ${MAX_MS / 1000} s (--max-secs)`);
      const v = await getBatch(ctx, P, batch.id);
      state = v.state;
      if (v.estimate) reads.push({ at: Date.now(), completesAt: Date.parse(v.estimate.completesAt) });
      await sleep(3000);
    }
    const ended = Date.parse((await getBatch(ctx, P, batch.id)).endedAt ?? new Date().toISOString());
    for (const r of reads) {
      const left = ended - r.at;
      if (left > 5000) live.push((Math.abs(r.completesAt - ended) / left) * 100);
    }
    console.log(`batch ${b + 1}: ${state}; ${reads.length} forecasts read while it ran`);
  }
  await ctx.estimates.settle();
  const recs = await ctx.store.db.selectFrom('estimate_records').selectAll().execute();
  console.log('\nforecast recorded at each batch start vs the batch\u2019s length:');
  for (const id of batchIds) {
    const r = recs.find((x) => x.subject_id === id);
    if (!r) continue;
    console.log(
      `  ${Number(r.predicted_seconds).toFixed(1)} s forecast, ${Number(r.actual_seconds).toFixed(1)} s actual: error ${pct(Number(r.abs_error_pct))}`,
    );
  }
  const ups = recs.filter((r) => r.kind === 'upgrade' && !warmIds.has(r.subject_id) && r.abs_error_pct !== null);
  const upErr = ups.map((r) => Number(r.abs_error_pct));
  const batchErr = recs.filter((r) => r.kind === 'batch' && r.abs_error_pct !== null).map((r) => Number(r.abs_error_pct));
  console.log(
    `\nbatches: median error of the forecast at start ${pct(median(batchErr))} (max ${pct(Math.max(...batchErr))}) over ${batchErr.length}; ` +
      `of the forecasts read while running ${pct(median(live))} (max ${pct(Math.max(...live))}, ${live.length} reads with more than 5 s left)`,
  );
  console.log(
    `upgrades run by the batches: median error of the estimate at start ${pct(median(upErr))} (max ${pct(Math.max(...upErr))}) over ${upErr.length}`,
  );
} finally {
  await ctx.close();
  await store.cleanup();
}
