// `liftgate target window show|set|clear` and `liftgate target exclusion list|add|remove`: a
// target's maintenance window (weekly in a time zone, or daily in UTC) and the periods excluded
// from it, in the API's shapes (maintenanceWindow, maintenanceExclusions of PATCH .../targets/{t};
// src/domain/window.ts says how they are read). The server checks every value; the CLI only
// turns what a person types ("sat,sun 02:00-04:00") into those shapes.
import type { Command } from 'commander';
import type { TargetDetailT } from '../../api/target-shapes.ts';
import { WEEK_DAYS } from '../../domain/types.ts';
import { minutesFromTo } from '../../domain/window.ts';
import type { Cli } from '../cli-context.ts';
import { CliError, EXIT } from '../errors.ts';
import { confirm, parseWindow } from '../input.ts';
import { fields, table, when } from '../output.ts';
import { resolveTarget } from '../resolve.ts';

type Day = (typeof WEEK_DAYS)[number];
type Window = NonNullable<TargetDetailT['maintenanceWindow']>;
type Exclusion = TargetDetailT['maintenanceExclusions'][number];

const WEEKLY_HINT = 'e.g. --weekly "sat 02:00-04:00", "sat,sun 23:00-01:00" or "mon-fri 01:00-03:00"';

/** "sat", "sat,sun", "mon-fri", "fri-mon" (wraps), "daily": the days a window opens on, in week order */
export function parseDays(spec: string): Day[] {
  if (spec === 'daily' || spec === 'every') return [...WEEK_DAYS];
  const days = new Set<Day>();
  const day = (d: string): number => {
    const i = WEEK_DAYS.indexOf(d.slice(0, 3).toLowerCase() as Day);
    if (i < 0 || d.length < 3)
      throw new CliError(`"${d}" is not a day`, EXIT.USAGE, `use ${WEEK_DAYS.join(', ')}; ${WEEKLY_HINT}`);
    return i;
  };
  for (const part of spec.split(',').filter(Boolean)) {
    const [a, b] = part.split('-');
    if (b === undefined) days.add(WEEK_DAYS[day(a)]);
    else
      for (let i = day(a); ; i = (i + 1) % 7) {
        days.add(WEEK_DAYS[i]);
        if (i === day(b)) break;
      }
  }
  return WEEK_DAYS.filter((d) => days.has(d));
}

/**
 * `--weekly "sat 02:00-04:00"` with `--zone Europe/Berlin`: the API's weekly window. The window
 * opens on each day given, at the start time in the zone, and lasts until the end time (the next
 * day's when the end is earlier: "sat 23:00-01:00" runs into Sunday).
 */
export function weeklyWindow(spec: string, zone: string): Window {
  const m = /^\s*(\S+)\s+(\d{2}:\d{2})-(\d{2}:\d{2})\s*$/.exec(spec);
  if (!m) throw new CliError(`weekly window "${spec}" is not "<days> HH:MM-HH:MM"`, EXIT.USAGE, WEEKLY_HINT);
  if (m[2] === m[3]) throw new CliError(`weekly window "${spec}" is empty (it starts when it ends)`, EXIT.USAGE, WEEKLY_HINT);
  return { days: parseDays(m[1]), start: m[2], durationMinutes: minutesFromTo(m[2], m[3]), timeZone: zone };
}

/** A window as a person reads it: "sat,sun 02:00-04:00 Europe/Berlin", "02:00-04:00 UTC daily". */
export function describeWindow(w: Window | null | undefined): string {
  if (!w) return '-';
  if (!('days' in w)) return `${w.start}-${w.end} UTC daily`;
  const [h, min] = w.start.split(':').map(Number);
  const endMinutes = h * 60 + min + w.durationMinutes;
  const days = w.days.length === 7 ? 'daily' : w.days.join(',');
  if (w.durationMinutes >= 24 * 60) return `${days} ${w.start} for ${w.durationMinutes} min ${w.timeZone}`;
  const end = `${String(Math.floor(endMinutes / 60) % 24).padStart(2, '0')}:${String(endMinutes % 60).padStart(2, '0')}`;
  return `${days} ${w.start}-${end} ${w.timeZone}`;
}

/** an ISO-8601 time with its zone, as the API takes it */
function instant(value: string, flag: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/([zZ]|[+-]\d\d:?\d\d)$/.test(value)) {
    throw new CliError(
      `${flag} "${value}" is not a time with its zone`,
      EXIT.USAGE,
      `give an ISO-8601 time with Z or an offset, e.g. ${flag} 2026-12-24T00:00:00+01:00`,
    );
  }
  return new Date(t).toISOString();
}

const getTarget = (cli: Cli, id: string) => cli.api.get<TargetDetailT>(cli.p(`/targets/${encodeURIComponent(id)}`));
const patchTarget = (cli: Cli, id: string, body: Record<string, unknown>) =>
  cli.api.patch<TargetDetailT>(cli.p(`/targets/${encodeURIComponent(id)}`), body);

function exclusionTable(cli: Cli, list: Exclusion[]): string {
  if (list.length === 0) return 'no exclusions';
  return table(
    ['#', 'FROM', 'TO', 'REASON'],
    list.map((x, i) => [String(i + 1), when(x.from), when(x.to), x.reason ?? '-']),
    cli.paint,
  );
}

export function registerTargetWindows(targets: Command, cli: Cli): void {
  const window = targets.command('window').description('a target\u2019s maintenance window: when its upgrades may run');
  window
    .command('show <target>', { isDefault: true })
    .description('the window and the exclusions of a target (id or name)')
    .action(async (ref: string) => {
      const t = await getTarget(cli, await resolveTarget(cli, ref));
      const value = { maintenanceWindow: t.maintenanceWindow, maintenanceExclusions: t.maintenanceExclusions };
      await cli.print(value, () =>
        [
          fields(
            [['window', t.maintenanceWindow ? describeWindow(t.maintenanceWindow) : 'none: upgrades run at any time']],
            cli.paint,
          ),
          '',
          exclusionTable(cli, t.maintenanceExclusions),
        ].join('\n'),
      );
    });
  window
    .command('set <target>')
    .description('set the window of a target (id or name): weekly in a time zone, or daily in UTC')
    .option('--weekly <days HH:MM-HH:MM>', `the days and hours it is open (${WEEKLY_HINT})`)
    .option('--zone <zone>', 'the IANA time zone of --weekly, e.g. Europe/Berlin (default UTC)')
    .option('--daily <HH:MM-HH:MM>', 'every day between these UTC times')
    .action(async (ref: string, o: { weekly?: string; zone?: string; daily?: string }) => {
      if ((o.weekly === undefined) === (o.daily === undefined)) {
        throw new CliError(
          'give one of --weekly or --daily',
          EXIT.USAGE,
          `${WEEKLY_HINT} --zone Europe/Berlin, or --daily 02:00-04:00`,
        );
      }
      if (o.daily !== undefined && o.zone !== undefined) {
        throw new CliError(
          '--daily windows are in UTC; --zone goes with --weekly',
          EXIT.USAGE,
          `--weekly "daily 02:00-04:00" --zone ${o.zone}`,
        );
      }
      const w = o.weekly !== undefined ? weeklyWindow(o.weekly, o.zone ?? 'UTC') : parseWindow(o.daily ?? '');
      if (!w)
        throw new CliError('--daily none is not a window', EXIT.USAGE, 'remove it with `liftgate target window clear <target>`');
      const id = await resolveTarget(cli, ref);
      const t = await patchTarget(cli, id, { maintenanceWindow: w });
      await cli.print(t, () => `target ${t.id} window: ${describeWindow(t.maintenanceWindow)}`);
    });
  window
    .command('clear <target>')
    .description('remove the window of a target (id or name): its upgrades may run at any time (exclusions still hold)')
    .action(async (ref: string) => {
      const id = await resolveTarget(cli, ref);
      const t = await patchTarget(cli, id, { maintenanceWindow: null });
      await cli.print(t, () => `target ${t.id} has no window: upgrades run at any time outside its exclusions`);
    });

  const exclusion = targets
    .command('exclusion')
    .alias('exclusions')
    .description('periods in which no upgrade of a target starts or continues (a freeze)');
  exclusion
    .command('list <target>', { isDefault: true })
    .description('the exclusions of a target (id or name), numbered for `exclusion remove`')
    .action(async (ref: string) => {
      const t = await getTarget(cli, await resolveTarget(cli, ref));
      await cli.print({ items: t.maintenanceExclusions }, () => exclusionTable(cli, t.maintenanceExclusions));
    });
  exclusion
    .command('add <target>')
    .description('exclude a period: nothing of the target (id or name) starts or continues from --from to --to')
    .requiredOption('--from <time>', 'ISO-8601 time with Z or an offset')
    .requiredOption('--to <time>', 'ISO-8601 time with Z or an offset')
    .option('--reason <text>', 'why, shown where the upgrade waits (e.g. "year-end freeze")')
    .action(async (ref: string, o: { from: string; to: string; reason?: string }) => {
      const added: Exclusion = {
        from: instant(o.from, '--from'),
        to: instant(o.to, '--to'),
        ...(o.reason ? { reason: o.reason } : {}),
      };
      const id = await resolveTarget(cli, ref);
      const before = await getTarget(cli, id);
      const t = await patchTarget(cli, id, { maintenanceExclusions: [...before.maintenanceExclusions, added] });
      await cli.print({ items: t.maintenanceExclusions }, () =>
        [`target ${t.id}: excluded ${when(added.from)} to ${when(added.to)}`, exclusionTable(cli, t.maintenanceExclusions)].join(
          '\n',
        ),
      );
    });
  exclusion
    .command('remove <target> <number>')
    .alias('rm')
    .description('remove an exclusion of a target (id or name) by its number in `exclusion list`')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (ref: string, number: string, o: { yes?: boolean }) => {
      const id = await resolveTarget(cli, ref);
      const before = await getTarget(cli, id);
      const n = Number(number);
      const gone = Number.isInteger(n) ? before.maintenanceExclusions[n - 1] : undefined;
      if (!gone) {
        throw new CliError(
          `target ${id} has no exclusion ${number}`,
          EXIT.USAGE,
          before.maintenanceExclusions.length
            ? `give a number from 1 to ${before.maintenanceExclusions.length} (\`liftgate target exclusion list ${ref}\`)`
            : 'it has no exclusions',
        );
      }
      await confirm(`remove the exclusion ${when(gone.from)} to ${when(gone.to)} of target ${id}`, o.yes);
      const t = await patchTarget(cli, id, { maintenanceExclusions: before.maintenanceExclusions.filter((_, i) => i !== n - 1) });
      await cli.print({ items: t.maintenanceExclusions }, () =>
        [
          `target ${t.id}: exclusion ${when(gone.from)} to ${when(gone.to)} removed`,
          exclusionTable(cli, t.maintenanceExclusions),
        ].join('\n'),
      );
    });
}
