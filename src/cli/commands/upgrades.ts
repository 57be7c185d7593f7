// `liftgate precheck` and `liftgate upgrade start|list|status|watch|<action>`.
import { Option, type Command } from 'commander';
import { pointOfNoReturnLine, upgradeFrom, upgradeTo, upgradeVersions } from '../../domain/engine-labels.ts';
import { UPGRADE_ACTIONS, UPGRADE_MODES } from '../../domain/types.ts';
import type { ReportT, TargetT, ZoneLayoutT } from '../../api/target-shapes.ts';
import type { RestoreT, UpgradeDetailT, UpgradeT } from '../../api/upgrade-shapes.ts';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { confirm, integer } from '../input.ts';
import { duration, fields, shortId, stateStyle, table, when } from '../output.ts';
import { resolveTarget, resolveUpgrade } from '../resolve.ts';
import { watchUpgrade } from '../watch.ts';

interface AzFlags {
  mode: string;
  sourceAz?: string;
  targetAz?: string;
  allowZoneReduction?: boolean;
}

/** The az_migration options from the flags; a zone flag without --mode az_migration is a usage error. */
function azOptions(o: AzFlags): { sourceAz?: string; targetAz?: string; allowZoneReduction?: boolean } | undefined {
  const given = o.sourceAz !== undefined || o.targetAz !== undefined || o.allowZoneReduction !== undefined;
  if (o.mode !== 'az_migration') {
    if (given) {
      throw new CliError(
        '--source-az, --target-az and --allow-zone-reduction go with --mode az_migration',
        EXIT.USAGE,
        'add --mode az_migration to move the nodes of a zone, or leave the zone flags out',
      );
    }
    return undefined;
  }
  if (!o.targetAz) {
    throw new CliError(
      '--mode az_migration needs --target-az <zone>, the zone to move the nodes to',
      EXIT.USAGE,
      'and --source-az <zone>, the zone to move, when the target spans several zones (`liftgate targets show <target>` lists them)',
    );
  }
  return {
    ...(o.sourceAz !== undefined ? { sourceAz: o.sourceAz } : {}),
    targetAz: o.targetAz,
    ...(o.allowZoneReduction ? { allowZoneReduction: true } : {}),
  };
}

/** The zone layout of an az_migration precheck: each zone's nodes before and after the move. */
function zoneTable(cli: Cli, z: ZoneLayoutT): string {
  const zones = [...new Set([...Object.keys(z.before), ...Object.keys(z.after)])].sort();
  const names = (m: Record<string, string[]>, zone: string) => (m[zone]?.length ? (m[zone] ?? []).join(', ') : '-');
  return table(
    ['ZONE', 'BEFORE', 'AFTER'],
    zones.map((zone) => [zone, names(z.before, zone), names(z.after, zone)]),
    cli.paint,
  );
}

/** One line per node a cancel brings back: what it did, or where it stands. */
export function restoreLines(cli: Cli, restores: RestoreT[], indent = '  '): string[] {
  return restores.map((r) => {
    const what =
      r.state === 'succeeded'
        ? (r.summary ?? 'back in service')
        : r.state === 'failed'
          ? `${cli.paint.state('failed')}: ${r.error ?? 'not brought back'}`
          : `${cli.paint.state(r.state)} (${r.reason ?? 'out of service'})`;
    return `${indent}${r.node}: ${what}`;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `upgrade cancel`: asks first (on a terminal; --yes otherwise), then waits while the cancel
 * brings back the nodes it found out of service (--no-wait returns at once) and says per node
 * what it did. A restore that failed exits 6 with what to do next.
 */
async function cancelUpgrade(cli: Cli, ref: string, o: { yes?: boolean; wait: boolean }): Promise<void> {
  const id = await resolveUpgrade(cli, ref);
  if (!o.yes) {
    const u = await cli.api.get<UpgradeT>(cli.p(`/upgrades/${id}`));
    await confirm(`cancel upgrade ${id} of target ${u.targetId} (${u.state})`, o.yes);
  }
  let u = await cli.api.post<UpgradeDetailT>(cli.p(`/upgrades/${id}/actions`), {
    action: 'cancel',
  });
  if (o.wait && u.state === 'cancelling') {
    if (cli.format === 'table' && process.stderr.isTTY) {
      process.stderr.write(`bringing back ${(u.restores ?? []).map((r) => r.node).join(', ')} ...
`);
    }
    while (u.state === 'cancelling') {
      await sleep(500);
      u = await cli.api.get(cli.p(`/upgrades/${id}`));
    }
  }
  const restores = u.restores ?? [];
  await cli.print(u, () => {
    const head =
      u.state === 'failed'
        ? `upgrade ${u.id} ${cli.paint.state(u.state)}: ${u.error ?? ''}`
        : `upgrade ${u.id} ${cli.paint.state(u.state)}${restores.length === 0 ? '; no node was out of service' : ''}`;
    return [head, ...restoreLines(cli, restores)].join('\n');
  });
  if (u.state === 'failed') {
    throw new CliError(
      'the cancel could not bring every node back into service',
      EXIT.UNSUCCESSFUL,
      `fix what keeps the node down, then \`liftgate upgrade cancel ${id} --yes\` again (or roll back)`,
    );
  }
}

/** Target names by id, for the lines that show an upgrade's target (its name, then its id). */
export async function targetNames(cli: Cli): Promise<Map<string, string>> {
  const all = await cli.api.all<Pick<TargetT, 'id' | 'name'>>(cli.p('/targets'));
  return new Map(all.map((t) => [t.id, t.name]));
}

/** "orders-db (t-42)", or the id alone when the target has no other name (or is gone) */
export function targetLabel(id: string, names: Map<string, string>): string {
  const name = names.get(id);
  return name && name !== id ? `${name} (${id})` : id;
}

/** "up-12", or the short id of an upgrade the API gave no reference */
export const upgradeLabel = (u: Pick<UpgradeT, 'id' | 'ref'>): string => u.ref ?? shortId(u.id);

/** when a scheduled upgrade starts: "2026-12-08 02:00:00 UTC", "in its next window (from ...)" */
function scheduleLine(u: Pick<UpgradeT, 'schedule' | 'notBefore'>): string {
  if (u.schedule.kind === 'window') return `in the target's next window${u.notBefore ? ` (from ${when(u.notBefore)})` : ''}`;
  return when(u.schedule.at ?? u.notBefore);
}

/** `--at`, `--window` or `--now` of `upgrade reschedule`: exactly one */
export function rescheduleBody(o: { at?: string; window?: boolean; now?: boolean }): {
  action: 'reschedule';
  schedule: { kind: 'now' | 'window' | 'at'; at?: string };
} {
  const given = [o.at !== undefined, Boolean(o.window), Boolean(o.now)].filter(Boolean).length;
  if (given !== 1) {
    throw new CliError(
      'reschedule needs exactly one of --at <time>, --window or --now',
      EXIT.USAGE,
      'e.g. liftgate upgrade reschedule up-12 --at 2026-12-08T02:00:00Z',
    );
  }
  if (o.at !== undefined) {
    const t = Date.parse(o.at);
    if (Number.isNaN(t) || !/[zZ]|[+-]\d\d:?\d\d$/.test(o.at)) {
      throw new CliError(
        `--at "${o.at}" is not a time with its zone`,
        EXIT.USAGE,
        'give an ISO-8601 time with Z or an offset, e.g. 2026-12-08T02:00:00Z or 2026-12-08T03:00:00+01:00',
      );
    }
    return { action: 'reschedule', schedule: { kind: 'at', at: new Date(t).toISOString() } };
  }
  return { action: 'reschedule', schedule: { kind: o.window ? 'window' : 'now' } };
}

const took = (u: { startedAt?: string | null; endedAt?: string | null }) =>
  u.startedAt ? duration((u.endedAt ? Date.parse(u.endedAt) : Date.now()) - Date.parse(u.startedAt)) : '-';

async function list(cli: Cli, o: { target?: string; state?: string; limit?: number }): Promise<void> {
  const target = o.target ? await resolveTarget(cli, o.target) : undefined;
  const [res, names] = await Promise.all([
    cli.api.get<{ items: UpgradeT[]; total: number }>(cli.p('/upgrades'), {
      target,
      state: o.state,
      limit: o.limit ?? 50,
    }),
    cli.format === 'table' ? targetNames(cli) : new Map<string, string>(),
  ]);
  await cli.print(
    res,
    () =>
      table(
        ['REF', 'UPGRADE', 'TARGET', 'FROM', 'TO', 'MODE', 'STATE', 'CREATED', 'TOOK'],
        res.items.map((u) => [
          u.ref ?? '-',
          shortId(u.id),
          targetLabel(u.targetId, names),
          upgradeFrom(u),
          upgradeTo(u),
          u.mode,
          cli.paint.state(u.state) + (u.pendingReason ? ` (${u.pendingReason})` : ''),
          when(u.createdAt),
          took(u),
        ]),
        cli.paint,
      ) + (res.total > res.items.length ? `\n(${res.items.length} of ${res.total}; --limit shows more)` : ''),
  );
}

/** step results worth a glance: a switchover's measured outage, for one */
function resultNote(r: Record<string, unknown> | null | undefined): string {
  if (!r) return '';
  if (typeof r.outageMs === 'number') return `outage ${Math.round(r.outageMs)} ms`;
  return '';
}

async function status(cli: Cli, ref: string): Promise<void> {
  const id = await resolveUpgrade(cli, ref);
  const u = await cli.api.get<UpgradeDetailT>(cli.p(`/upgrades/${id}`));
  const names = cli.format === 'table' ? await targetNames(cli) : new Map<string, string>();
  await cli.print(u, () => {
    const head = fields(
      [
        ['upgrade', u.ref ? `${u.ref}  ${u.id}` : u.id],
        ['target', targetLabel(u.targetId, names)],
        ['versions', upgradeVersions(u)],
        ['mode', u.mode],
        ['state', cli.paint.state(u.state)],
        ['waiting', u.pendingReason ?? undefined],
        ['batch', u.batchId ?? undefined],
        ['starts', u.state === 'scheduled' ? scheduleLine(u) : undefined],
        ['estimate', u.estimate?.completesAt ? `${when(u.estimate.completesAt)} (${u.estimate.basis ?? ''})` : undefined],
        ['created', `${when(u.createdAt)} by ${u.createdByName ?? u.createdBy}`],
        ['took', took(u)],
        ['error', u.error ?? undefined],
      ],
      cli.paint,
    );
    const steps = table(
      ['STAGE', 'STEP', 'NODE', 'STATE', 'ATTEMPTS', 'TOOK', 'NOTE'],
      u.stages.flatMap((s) =>
        s.steps.map((st) => [
          s.name,
          st.name,
          st.node ?? '-',
          cli.paint.state(st.state),
          String(st.attempts),
          took(st),
          st.error ?? resultNote(st.result),
        ]),
      ),
      cli.paint,
    );
    // the first step that cannot be reversed: rollback is possible until it runs
    const noReturn = pointOfNoReturnLine(u);
    const line = noReturn ? `\n${u.pointOfNoReturn?.passed ? cli.paint.style(noReturn, 'yellow') : noReturn}` : '';
    return `${head}${line}\n\n${steps}`;
  });
}

export function registerUpgrades(program: Command, cli: Cli): void {
  program
    .command('precheck <target> [version]')
    .description('check a target (id or name) before upgrading it to a version, or before moving a zone')
    .addOption(new Option('--mode <mode>', 'upgrade mode').choices([...UPGRADE_MODES]).default('rolling'))
    .option('--source-az <zone>', 'az_migration: the zone whose nodes move (required when the target spans several)')
    .option('--target-az <zone>', 'az_migration: the zone the nodes move to')
    .option('--allow-zone-reduction', 'az_migration: accept a move that leaves the target in fewer zones')
    .option('--to-engine <engine>', 'the engine to end on, when the catalog opens a route to it (e.g. redis -> valkey)')
    .action(async (ref: string, version: string | undefined, o: { mode: string; toEngine?: string } & AzFlags) => {
      const options = azOptions(o);
      if (!version && o.mode !== 'az_migration') {
        throw new CliError('a precheck needs the version to upgrade to', EXIT.USAGE, 'liftgate precheck <target> <version>');
      }
      const target = await resolveTarget(cli, ref);
      const report = await cli.api.post<ReportT>(cli.p(`/targets/${encodeURIComponent(target)}/prechecks`), {
        ...(version ? { toVersion: version } : {}),
        ...(o.toEngine ? { toEngine: o.toEngine } : {}),
        mode: o.mode,
        wait: true,
        ...(options ? { options } : {}),
      });
      await cli.print(report, () =>
        [
          `precheck ${report.id}: ${cli.paint.state(report.state)}`,
          table(
            ['STATUS', 'CHECK', 'MESSAGE'],
            report.items.map((i) => [cli.paint.style(i.status.toUpperCase(), stateStyle(i.status)), i.name, i.message]),
            cli.paint,
          ),
          ...report.items.filter((i) => i.zones).map((i) => `\n${zoneTable(cli, i.zones as ZoneLayoutT)}`),
        ].join('\n'),
      );
      if (report.state === 'failed') process.exitCode = EXIT.UNSUCCESSFUL;
    });

  const upgrade = program.command('upgrade').alias('upgrades').description('start, follow and control upgrades');
  upgrade
    .command('start <target> [version]')
    .description('start an upgrade of a target (id or name); rolling by default')
    .addOption(new Option('--mode <mode>', 'upgrade mode').choices([...UPGRADE_MODES]).default('rolling'))
    .option('--source-az <zone>', 'az_migration: the zone whose nodes move (required when the target spans several)')
    .option('--target-az <zone>', 'az_migration: the zone the nodes move to')
    .option('--allow-zone-reduction', 'az_migration: accept a move that leaves the target in fewer zones')
    .option('--to-engine <engine>', 'the engine to end on, when the catalog opens a route to it (e.g. redis -> valkey)')
    .option('--release <release>', 'the release to go to (when a version has several)')
    .option('--force', 'run even if the precheck finds blocking problems')
    .option('--parallelism <n>', 'nodes upgraded at once in rolling mode', integer('--parallelism'))
    .option('--step-timeout <seconds>', 'fail a step that runs longer than this', integer('--step-timeout'))
    .option(
      '--retries <n>',
      'automatic retries of a retry-safe step after a transient failure (default 2; 0 turns them off)',
      integer('--retries'),
    )
    .option(
      '--retention <seconds>',
      'blue_green: how long the old cluster is kept for a rollback after the switch (default 3600)',
      integer('--retention'),
    )
    .option(
      '--switchover-timeout <seconds>',
      'blue_green: the longest clients are held at cutover (default 30)',
      integer('--switchover-timeout'),
    )
    .addOption(
      new Option(
        '--on-failure <policy>',
        'stop: a failed upgrade waits for you (the default); rollback: it rolls itself back when every completed step can be reversed',
      ).choices(['stop', 'rollback']),
    )
    .option('--window', 'wait for the target\u2019s maintenance window')
    .option('--at <time>', 'start at an ISO-8601 time')
    .option('-w, --watch', 'follow it until it ends')
    .action(
      async (
        ref: string,
        version: string | undefined,
        o: {
          mode: string;
          toEngine?: string;
          release?: string;
          force?: boolean;
          parallelism?: number;
          stepTimeout?: number;
          retries?: number;
          retention?: number;
          switchoverTimeout?: number;
          onFailure?: string;
          window?: boolean;
          at?: string;
          watch?: boolean;
        } & AzFlags,
      ) => {
        const az = azOptions(o);
        const targetId = await resolveTarget(cli, ref);
        const options = {
          ...(o.parallelism ? { parallelism: o.parallelism } : {}),
          ...(o.stepTimeout ? { stepTimeoutSeconds: o.stepTimeout } : {}),
          ...(o.retries !== undefined ? { retry: { attempts: o.retries + 1 } } : {}),
          ...(o.retention !== undefined ? { retentionSeconds: o.retention } : {}),
          ...(o.switchoverTimeout !== undefined ? { switchoverTimeoutSeconds: o.switchoverTimeout } : {}),
          ...(o.onFailure ? { onFailure: o.onFailure } : {}),
          ...az,
        };
        const body = {
          targetId,
          ...(o.toEngine ? { toEngine: o.toEngine } : {}),
          ...(version ? { toVersion: version } : {}),
          ...(o.release ? { release: o.release } : {}),
          mode: o.mode,
          force: Boolean(o.force),
          ...(o.window ? { schedule: { kind: 'window' } } : o.at ? { schedule: { kind: 'at', at: o.at } } : {}),
          ...(Object.keys(options).length ? { options } : {}),
        };
        const u = await cli.api.post<UpgradeT>(cli.p('/upgrades'), body);
        if (!o.watch || cli.format === 'table') {
          const what = u.azMigration
            ? `moves the nodes of ${u.azMigration.sourceAz} to ${u.azMigration.targetAz}`
            : upgradeVersions(u);
          const names = cli.format === 'table' ? await targetNames(cli) : new Map<string, string>();
          await cli.print(
            u,
            () =>
              `upgrade ${upgradeLabel(u)} (${u.id}) ${cli.paint.state(u.state)}: ${targetLabel(u.targetId, names)} ${what}` +
              (u.state === 'scheduled' ? `, starts ${scheduleLine(u)}` : ''),
          );
        }
        if (o.watch) process.exitCode = await watchUpgrade(cli, u.id);
      },
    );
  upgrade
    .command('list')
    .description('recent upgrades, newest first')
    .option('--target <target>', 'only this target (id or name)')
    .option('--state <states>', 'comma-separated states')
    .option('--limit <n>', 'how many (default 50, at most 500)', integer('--limit'))
    .action((o: { target?: string; state?: string; limit?: number }) => list(cli, o));
  upgrade
    .command('status [upgrade]')
    .description('an upgrade (up-N, id, id prefix or target) with its steps; without one, the recent upgrades')
    .option('--target <target>', 'list only this target\u2019s upgrades')
    .option('--state <states>', 'list only these states (comma-separated)')
    .action((ref: string | undefined, o: { target?: string; state?: string }) => (ref ? status(cli, ref) : list(cli, o)));
  upgrade
    .command('watch <upgrade>')
    .description('follow an upgrade (up-N, id, id prefix or target) until it ends: a live timeline on a terminal')
    .action(async (ref: string) => {
      process.exitCode = await watchUpgrade(cli, await resolveUpgrade(cli, ref));
    });
  upgrade
    .command('reschedule <upgrade>')
    .description('move a waiting upgrade (up-N, id, id prefix or target) to a time, to its target\u2019s next window, or to now')
    .option('--at <time>', 'start at this ISO-8601 time (with Z or an offset)')
    .option('--window', 'start in the target\u2019s next maintenance window')
    .option('--now', 'start now')
    .action(async (ref: string, o: { at?: string; window?: boolean; now?: boolean }) => {
      const body = rescheduleBody(o);
      const id = await resolveUpgrade(cli, ref);
      const u = await cli.api.post<UpgradeT>(cli.p(`/upgrades/${id}/actions`), body);
      await cli.print(
        u,
        () =>
          `upgrade ${upgradeLabel(u)} ${cli.paint.state(u.state)}${u.state === 'scheduled' ? `: starts ${scheduleLine(u)}` : ''}`,
      );
    });
  const explain: Record<string, string> = {
    pause: 'the running step finishes, nothing new starts',
    resume: 'continue a paused upgrade',
    cancel:
      'stop it; completed steps stay done, and every node it left out of service is started again on the version it has (asks first)',
    retry: 'run the failed steps again; succeeded ones are kept',
    rollback: 'reverse the completed steps, newest first (asks first)',
    skip: 'mark the failed step skipped and go on',
    finalize: 'blue_green: end the rollback window now and decommission the old cluster (no rollback after it)',
  };
  for (const action of UPGRADE_ACTIONS) {
    if (action === 'cancel') {
      upgrade
        .command('cancel <upgrade>')
        .description(`cancel an upgrade (up-N, id, id prefix or target): ${explain.cancel}`)
        .option('-y, --yes', 'do not ask for confirmation')
        .option('--no-wait', 'return once the cancel is accepted, without waiting for the nodes to be back')
        .action((ref: string, o: { yes?: boolean; wait: boolean }) => cancelUpgrade(cli, ref, o));
      continue;
    }
    const cmd = upgrade
      .command(`${action} <upgrade>`)
      .description(`${action} an upgrade (up-N, id, id prefix or target): ${explain[action] ?? ''}`);
    if (action === 'rollback') cmd.option('-y, --yes', 'do not ask for confirmation');
    cmd.action(async (ref: string, o: { yes?: boolean }) => {
      const id = await resolveUpgrade(cli, ref);
      if (action === 'rollback' && !o.yes) {
        const u = await cli.api.get<UpgradeT>(cli.p(`/upgrades/${id}`));
        await confirm(`roll back upgrade ${id} of target ${u.targetId} to ${upgradeFrom(u)}`, o.yes);
      }
      const u = await cli.api.post<UpgradeT>(cli.p(`/upgrades/${id}/actions`), { action });
      await cli.print(u, () => `upgrade ${upgradeLabel(u)} (${u.id}) ${cli.paint.state(u.state)}`);
    });
  }
}
