// `liftgate batch start|list|status|watch|approve|pause|resume|cancel|retry`: fleet rollouts in
// waves, against the batch API's fixed shapes (POST .../batches, GET .../batches/{id},
// POST .../batches/{id}/actions {"action"}).
import { Option, type Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { asObject, collect, collectPairs, confirm, readDocument } from '../input.ts';
import { duration, fields, shortId, table, when } from '../output.ts';
import { resolveBatch, resolveTarget } from '../resolve.ts';
import { runWatch } from '../watch.ts';
import { BATCH_ACTIONS, FINAL_BATCH_STATES, type BatchAction } from '../../domain/types.ts';
import type { BatchT } from '../../api/batch-shapes.ts';
import type { RestoreT } from '../../api/upgrade-shapes.ts';
import { restoreLines } from './upgrades.ts';

/** a batch as the API answers it (src/api/batch-shapes.ts) */
const FINAL = new Set<string>(FINAL_BATCH_STATES);
const EXPLAIN: Record<BatchAction, string> = {
  approve: 'let the wave waiting for approval start',
  pause: 'start nothing new; running upgrades finish',
  resume: 'carry on after a pause',
  cancel: 'cancel every upgrade that has not finished; each one brings back the nodes it left out of service (asks first)',
  retry: 'run the failed targets again',
};

/** `name=early,targets=10%,maxConcurrency=50%,bake=30,approval` (or the same keys as in the API) */
export function parseWave(spec: string): Record<string, unknown> {
  const wave: Record<string, unknown> = {};
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.includes('=') ? [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] : [part, 'true'];
    const amount = (x: string) => (/^\d+$/.test(x) ? Number(x) : x);
    if (k === 'name') wave.name = v;
    else if (k === 'targets') wave.targets = amount(v);
    else if (k === 'maxConcurrency' || k === 'concurrency') wave.maxConcurrency = amount(v);
    else if (k === 'bake' || k === 'bakeMinutes') wave.bakeMinutes = Number(v);
    else if (k === 'approval') wave.approval = v !== 'false';
    else
      throw new CliError(`wave "${spec}": unknown key ${k}`, EXIT.USAGE, 'keys: name, targets, maxConcurrency, bake, approval');
  }
  if (!wave.name || wave.targets === undefined) {
    throw new CliError(`wave "${spec}" needs a name and targets`, EXIT.USAGE, 'e.g. --wave name=canary,targets=1');
  }
  return wave;
}

function counts(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  return parts.length ? parts.join(', ') : '-';
}

function picture(cli: Cli, b: BatchT): string {
  const head = fields(
    [
      ['batch', `${b.id}  ${b.name}`],
      ['state', cli.paint.state(b.state) + (b.pendingReason ? ` (${b.pendingReason})` : '')],
      ['to', b.toVersions?.join(', ')],
      ['targets', String(b.targets)],
      ['failures', b.failureLimit !== undefined ? `${b.failures ?? 0} of ${b.failureLimit} allowed` : undefined],
      [
        'bake',
        b.bake
          ? `wave ${b.bake.wave + 1} until ${when(b.bake.until)} (${duration(b.bake.remainingSeconds * 1000)} left)`
          : undefined,
      ],
      [
        'estimate',
        b.estimate
          ? `${when(b.estimate.completesAt)} (${duration(b.estimate.remainingSeconds * 1000)} left; ${b.estimate.basis})`
          : undefined,
      ],
    ],
    cli.paint,
  );
  const waves = table(
    ['', 'WAVE', 'STATE', 'TARGETS', 'CONCURRENCY', 'BAKE', 'APPROVAL', 'UPGRADES'],
    b.waves.map((w) => [
      w.index === b.currentWave ? '>' : '',
      w.name,
      cli.paint.state(w.state),
      String(w.targets),
      String(w.maxConcurrency),
      w.bakeMinutes ? `${w.bakeMinutes} min` : '-',
      w.approval ? 'yes' : '-',
      counts(w.counts),
    ]),
    cli.paint,
  );
  const checks = b.waves.flatMap((w) => w.analysis.map((c) => ({ wave: w.name, c })));
  if (checks.length === 0) return `${head}\n\n${waves}`;
  // the analysis checks of the waves that bake, each with its last sample
  const bounds = (c: (typeof checks)[number]['c']) =>
    [c.min !== null ? `>= ${c.min}` : '', c.max !== null ? `<= ${c.max}` : ''].filter(Boolean).join(', ');
  const analysis = table(
    ['WAVE', 'CHECK', 'MEASURES', 'BOUNDS', 'ON ERROR', 'LAST', 'VALUE', 'REASON'],
    checks.map(({ wave, c }) => [
      wave,
      c.name,
      c.kind === 'sli' ? `sli ${c.sli}` : `prometheus ${c.query}`,
      bounds(c),
      c.onError,
      c.outcome,
      c.lastValue !== null ? String(c.lastValue) : '-',
      c.reason ?? '',
    ]),
    cli.paint,
  );
  return `${head}\n\n${waves}\n\n${analysis}`;
}

function changeLines(cli: Cli, a: BatchT | null, b: BatchT): string[] {
  const stamp = cli.paint.style(when(new Date(), 'clock'), 'dim');
  const out: string[] = [];
  if (!a || a.state !== b.state || a.pendingReason !== b.pendingReason) {
    out.push(`${stamp} batch ${shortId(b.id)} ${cli.paint.state(b.state)}${b.pendingReason ? ` (${b.pendingReason})` : ''}`);
  }
  for (const w of b.waves) {
    const was = a?.waves.find((x) => x.index === w.index);
    if (!was || was.state !== w.state || counts(was.counts) !== counts(w.counts)) {
      out.push(`${stamp} wave ${w.name}: ${cli.paint.state(w.state)}, ${counts(w.counts)}`);
    }
  }
  return out;
}

function watchBatch(cli: Cli, id: string): Promise<number> {
  return runWatch<BatchT>(cli, {
    fetch: () => cli.api.get<BatchT>(cli.p(`/batches/${id}`)),
    picture: (b) => picture(cli, b).split('\n'),
    lines: (a, b) => changeLines(cli, a, b),
    record: (b) => ({
      id: b.id,
      state: b.state,
      pendingReason: b.pendingReason ?? null,
      currentWave: b.currentWave ?? null,
      waves: b.waves.map((w) => ({ name: w.name, state: w.state, counts: w.counts })),
      failures: b.failures ?? 0,
      bake: b.bake ?? null,
      estimate: b.estimate ?? null,
    }),
    ended: (b) => (b.state === 'succeeded' ? EXIT.OK : FINAL.has(b.state) || b.state === 'halted' ? EXIT.UNSUCCESSFUL : null),
    summary: (b) => `batch ${b.id}: ${cli.paint.state(b.state)}${b.pendingReason ? ` (${b.pendingReason})` : ''}`,
  });
}

interface StartOptions {
  file?: string;
  to?: string;
  engine?: string;
  fromVersion?: string;
  label?: Record<string, string>;
  target?: string[];
  mode?: string;
  window?: boolean;
  at?: string;
  wave?: string[];
  failureThreshold?: string;
  onFailure?: string;
  analysis?: string;
  analysisWave?: string[];
  watch?: boolean;
}

/** what `--analysis` holds: checks judged while a wave bakes, in the API's fixed shape */
export type AnalysisCheck = Record<string, unknown> & { name: string };

/** The checks of an `--analysis` document: a list of objects, each with a name. */
export function analysisChecks(doc: unknown, source: string): AnalysisCheck[] {
  const example = '[{"name": "lag", "sli": "replication_lag_seconds", "max": 5}]';
  if (!Array.isArray(doc) || doc.length === 0) {
    throw new CliError(`--analysis ${source} is not a list of checks`, EXIT.USAGE, `e.g. ${example}`);
  }
  return doc.map((c, i) => {
    if (typeof c !== 'object' || c === null || Array.isArray(c) || typeof (c as { name?: unknown }).name !== 'string') {
      throw new CliError(`check ${i + 1} of --analysis ${source} needs a "name"`, EXIT.USAGE, `e.g. ${example}`);
    }
    return c as AnalysisCheck;
  });
}

/**
 * The body of POST .../batches from a file's fields and the flags (flags win). The analysis
 * checks go on the waves named by --analysis-wave, or else on every wave that bakes: the checks
 * are judged during a wave's bake, before the next wave may start.
 */
export function batchBody(
  fromFile: Record<string, unknown>,
  name: string | undefined,
  o: StartOptions,
  targetIds: string[] | undefined,
  checks: AnalysisCheck[] | undefined,
): Record<string, unknown> {
  const selector = {
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.fromVersion ? { version: o.fromVersion } : {}),
    ...(o.label ? { labels: o.label } : {}),
  };
  const threshold = o.failureThreshold;
  const fileOptions = (fromFile.upgradeOptions ?? {}) as Record<string, unknown>;
  const body: Record<string, unknown> = {
    ...fromFile,
    ...(name ? { name } : {}),
    ...(o.to ? { toVersion: o.to } : {}),
    ...(Object.keys(selector).length ? { selector } : {}),
    ...(targetIds ? { targetIds } : {}),
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.window ? { schedule: { kind: 'window' } } : o.at ? { schedule: { kind: 'at', at: o.at } } : {}),
    ...(o.wave?.length ? { waves: o.wave.map(parseWave) } : {}),
    ...(threshold ? { failureThreshold: { targets: /^\d+$/.test(threshold) ? Number(threshold) : threshold } } : {}),
    ...(o.onFailure ? { upgradeOptions: { ...fileOptions, onFailure: o.onFailure } } : {}),
  };
  body.waves ??= [{ name: 'all', targets: '100%' }];
  if (o.analysisWave?.length && !checks) {
    throw new CliError('--analysis-wave goes with --analysis', EXIT.USAGE, 'give the checks with --analysis <file.json|->');
  }
  if (checks) {
    const waves = body.waves as Record<string, unknown>[];
    const chosen = o.analysisWave?.length
      ? waves.filter((w) => o.analysisWave?.includes(String(w.name)))
      : waves.filter((w) => Number(w.bakeMinutes ?? 0) > 0);
    const unknown = (o.analysisWave ?? []).filter((n) => !waves.some((w) => w.name === n));
    if (unknown.length) {
      throw new CliError(
        `--analysis-wave ${unknown.join(', ')}: no such wave`,
        EXIT.USAGE,
        `the waves are ${waves.map((w) => String(w.name)).join(', ')}`,
      );
    }
    if (chosen.length === 0) {
      throw new CliError(
        'no wave to judge the --analysis checks in: no wave bakes',
        EXIT.USAGE,
        'give a wave a bake (--wave name=canary,targets=1,bake=30) or name the waves with --analysis-wave <name>',
      );
    }
    body.waves = waves.map((w) => (chosen.includes(w) ? { ...w, analysis: checks } : w));
  }
  return body;
}

export function registerBatches(program: Command, cli: Cli): void {
  const batch = program.command('batch').alias('batches').description('upgrade many targets in waves');
  batch
    .command('start [name]')
    .description('start a batch: from a JSON or YAML file with the API\u2019s shape, or from flags')
    .option(
      '-f, --file <file>',
      'the batch as JSON or YAML (name, selector, targetIds, toVersion, mode, schedule, waves, failureThreshold)',
    )
    .option('--to <version>', 'the version to upgrade to')
    .option('--engine <engine>', 'select targets of this engine')
    .option('--from-version <version>', 'select targets on this version')
    .option('--label <key=value>', 'select targets with this label (repeatable)', collectPairs)
    .option('--target <target>', 'this target (id or name; repeatable) instead of a selector', collect)
    .addOption(new Option('--mode <mode>', 'upgrade mode').choices(['rolling', 'stop_service']))
    .option('--window', 'each target in its maintenance window')
    .option('--at <time>', 'start at an ISO-8601 time')
    .option(
      '--wave <spec>',
      'a wave: name=canary,targets=1[,maxConcurrency=50%][,bake=30][,approval] (repeatable, in order)',
      collect,
    )
    .option('--failure-threshold <n|n%>', 'halt when this many targets (or this share) failed')
    .addOption(
      new Option(
        '--on-failure <policy>',
        'each upgrade of the batch: stop (wait for you, the default) or rollback (roll itself back when it can)',
      ).choices(['stop', 'rollback']),
    )
    .option(
      '--analysis <file|->',
      'checks judged while a wave bakes, as JSON or YAML: [{"name", "prometheus": {"url", "query", "max"}} or {"name", "sli", "max"}]',
    )
    .option(
      '--analysis-wave <name>',
      'the wave the --analysis checks apply to (repeatable; default: every wave with a bake)',
      collect,
    )
    .option('-w, --watch', 'follow it until it ends')
    .action(async (name: string | undefined, o: StartOptions) => {
      const fromFile = o.file ? asObject(await readDocument(o.file), o.file) : {};
      const checks = o.analysis !== undefined ? analysisChecks(await readDocument(o.analysis), o.analysis) : undefined;
      const targetIds = o.target ? await Promise.all(o.target.map((t) => resolveTarget(cli, t))) : undefined;
      const body = batchBody(fromFile, name, o, targetIds, checks);
      if (!body.name || !body.toVersion) {
        throw new CliError(
          'a batch needs a name and a version',
          EXIT.USAGE,
          'liftgate batch start <name> --to <version> --engine <engine>',
        );
      }
      if (!body.selector && !body.targetIds) {
        throw new CliError(
          'a batch needs targets',
          EXIT.USAGE,
          'select them with --engine/--from-version/--label, or name them with --target',
        );
      }
      const b = await cli.api.post<BatchT>(cli.p('/batches'), body);
      if (!o.watch || cli.format === 'table') {
        await cli.print(b, () => `batch ${b.id} ${cli.paint.state(b.state)}: ${b.targets} targets in ${b.waves.length} waves`);
      }
      if (o.watch) process.exitCode = await watchBatch(cli, b.id);
    });
  batch
    .command('list', { isDefault: true })
    .description('the project\u2019s batches, newest first')
    .action(async () => {
      const res = await cli.api.get<{ items: BatchT[] }>(cli.p('/batches'));
      await cli.print(res, () =>
        table(
          ['BATCH', 'NAME', 'STATE', 'TARGETS', 'WAVE', 'CREATED'],
          res.items.map((b) => [
            shortId(b.id),
            b.name,
            cli.paint.state(b.state) + (b.pendingReason ? ` (${b.pendingReason})` : ''),
            String(b.targets),
            b.currentWave !== null && b.currentWave !== undefined ? `${b.currentWave + 1}/${b.waves.length}` : '-',
            when(b.createdAt),
          ]),
          cli.paint,
        ),
      );
    });
  batch
    .command('status <batch>')
    .description('a batch (id, id prefix or name): its waves with counts per state, the bake timer, failures')
    .action(async (ref: string) => {
      const b = await cli.api.get<BatchT>(cli.p(`/batches/${await resolveBatch(cli, ref)}`));
      await cli.print(b, () => picture(cli, b));
    });
  batch
    .command('watch <batch>')
    .description('follow a batch until it ends')
    .action(async (ref: string) => {
      process.exitCode = await watchBatch(cli, await resolveBatch(cli, ref));
    });
  batch
    .command('cancel <batch>')
    .description(`cancel a batch (id, id prefix or name): ${EXPLAIN.cancel}`)
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--no-wait', 'return once the cancel is accepted, without waiting for the nodes to be back')
    .action((ref: string, o: { yes?: boolean; wait: boolean }) => cancelBatch(cli, ref, o));
  for (const action of BATCH_ACTIONS) {
    if (action === 'cancel') continue;
    batch
      .command(`${action} <batch>`)
      .description(`${action} a batch (id, id prefix or name): ${EXPLAIN[action]}`)
      .action(async (ref: string) => {
        const id = await resolveBatch(cli, ref);
        const b = await cli.api.post<BatchT>(cli.p(`/batches/${id}/actions`), { action });
        await cli.print(b, () => `batch ${b.id} ${cli.paint.state(b.state)}${b.pendingReason ? ` (${b.pendingReason})` : ''}`);
      });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `batch cancel`: asks first (on a terminal; --yes otherwise), then waits until every upgrade of
 * the batch has ended (those that had nodes out of service bring them back first; --no-wait
 * returns at once) and says per node what was done. A node that could not be brought back exits 6.
 */
async function cancelBatch(cli: Cli, ref: string, o: { yes?: boolean; wait: boolean }): Promise<void> {
  const id = await resolveBatch(cli, ref);
  if (!o.yes) {
    const b = await cli.api.get<BatchT>(cli.p(`/batches/${id}`));
    await confirm(`cancel batch ${b.name} (${id}, ${b.state}, ${b.targets} targets)`, o.yes);
  }
  let b = await cli.api.post<BatchT>(cli.p(`/batches/${id}/actions`), { action: 'cancel' });
  if (o.wait) {
    while (!b.endedAt) {
      await sleep(500);
      b = await cli.api.get<BatchT>(cli.p(`/batches/${id}`));
    }
  }
  const restores = b.restores ?? [];
  const failed = restores.filter((r) => r.state === 'failed');
  await cli.print(b, () => {
    const head = `batch ${b.id} ${cli.paint.state(b.state)}${b.pendingReason ? ` (${b.pendingReason})` : ''}`;
    if (restores.length === 0) return b.endedAt ? `${head}; no node was out of service` : head;
    const byTarget = new Map<string, RestoreT[]>();
    for (const r of restores) byTarget.set(r.targetId, [...(byTarget.get(r.targetId) ?? []), r]);
    return [head, ...[...byTarget].flatMap(([target, rs]) => [`  ${target}:`, ...restoreLines(cli, rs, '    ')])].join('\n');
  });
  if (failed.length > 0) {
    throw new CliError(
      `the cancel could not bring ${failed.map((r) => `${r.targetId} ${r.node}`).join(', ')} back into service`,
      EXIT.UNSUCCESSFUL,
      'fix what keeps the node down, then `liftgate upgrade cancel <upgrade> --yes` for each (or roll it back)',
    );
  }
}
