// Following something until it ends: on a terminal the picture is redrawn in place; in a pipe
// or a log file each change is one line (or one JSON/YAML record with --output).
import type { Cli } from './cli-context.ts';
import { EXIT } from './errors.ts';
import { write, when } from './output.ts';
import { changes, renderTimeline, SETTLED, type WatchedUpgrade } from './timeline.ts';

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Redraws a block of lines in place on a terminal. */
export class LiveBlock {
  private drawn = 0;
  private readonly show = () => process.stdout.write('\x1b[?25h');

  constructor() {
    process.stdout.write('\x1b[?25l');
    process.once('exit', this.show);
  }

  draw(lines: string[]): void {
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    process.stdout.write(`${up}\x1b[J${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  done(): void {
    this.show();
    process.off('exit', this.show);
  }
}

export interface WatchLoop<T> {
  fetch(): Promise<T>;
  /** the redrawn picture on a terminal */
  picture(value: T, now: number): string[];
  /** one line per change otherwise (`before` is null the first time) */
  lines(before: T | null, after: T): string[];
  /** the machine-readable record of one look (printed when it differs from the last one) */
  record(value: T): unknown;
  /** null while it goes on; the exit code once it has ended */
  ended(value: T): number | null;
  summary(value: T): string;
}

/** Runs a watch to its end and returns the exit code. */
export async function runWatch<T>(cli: Cli, w: WatchLoop<T>): Promise<number> {
  const live = cli.format === 'table' && process.stdout.isTTY === true ? new LiveBlock() : null;
  let before: T | null = null;
  let lastRecord = '';
  try {
    for (;;) {
      const value = await w.fetch();
      if (live) live.draw(w.picture(value, Date.now()));
      else if (cli.format === 'table') {
        for (const line of w.lines(before, value)) write(line);
      } else {
        const rec = w.record(value);
        const key = JSON.stringify(rec);
        if (key !== lastRecord) await cli.printRecord(rec, () => '');
        lastRecord = key;
      }
      before = value;
      const code = w.ended(value);
      if (code !== null) {
        live?.done();
        if (cli.format === 'table') write(w.summary(value));
        return code;
      }
      await sleep(POLL_MS);
    }
  } finally {
    live?.done();
  }
}

/** `liftgate upgrade watch` and `upgrade start --watch`. */
export function watchUpgrade(cli: Cli, id: string): Promise<number> {
  return runWatch<WatchedUpgrade>(cli, {
    fetch: () => cli.api.get<WatchedUpgrade>(cli.p(`/upgrades/${id}`)),
    picture: (u, now) => renderTimeline(u, now, cli.paint, process.stdout.columns || 100),
    lines: (a, b) => changes(a, b, cli.paint),
    record: (u) => {
      const steps = u.stages.flatMap((s) => s.steps);
      const current = steps.find((s) => s.state === 'running' || s.state === 'rolling_back');
      return {
        id: u.id,
        state: u.state,
        stage: u.currentStage ?? null,
        done: steps.filter((s) => ['succeeded', 'skipped', 'rolled_back'].includes(s.state)).length,
        total: steps.length,
        current: current
          ? { name: current.name, node: current.node, state: current.state, progress: current.progress ?? null }
          : null,
        rollbackWindow: u.rollbackWindow ?? null,
        pendingReason: u.pendingReason ?? null,
        estimate: u.estimate ?? null,
        error: u.error,
      };
    },
    // a blue/green upgrade's watch ends when it has switched: the rollback window may last hours
    ended: (u) =>
      u.state === 'succeeded' || u.state === 'paused' || u.rollbackWindow?.state === 'open'
        ? EXIT.OK
        : SETTLED.has(u.state)
          ? EXIT.UNSUCCESSFUL
          : null,
    summary: (u) => {
      const label = u.ref ? `${u.ref} (${u.id})` : u.id;
      const ref = u.ref ?? u.id;
      return u.rollbackWindow?.state === 'open'
        ? `upgrade ${label}: switched to ${u.toVersion}; rollback window open${u.rollbackWindow.until ? ` until ${when(u.rollbackWindow.until)}` : ''} (liftgate upgrade rollback ${ref} | liftgate upgrade finalize ${ref})`
        : `upgrade ${label}: ${cli.paint.state(u.state)}${u.error ? ` (${u.error})` : ''}`;
    },
  });
}
