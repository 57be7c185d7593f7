// Names wherever ids go: a target by its id or its unique name, an upgrade by its short
// reference ("up-12") or a unique prefix of its id, like git, a batch by its name or id prefix. An ambiguous reference is refused with the candidates, so
// a command never acts on a thing the user did not mean.
import type { BatchT } from '../api/batch-shapes.ts';
import type { TargetT } from '../api/target-shapes.ts';
import type { UpgradeT } from '../api/upgrade-shapes.ts';
import type { Cli } from './cli-context.ts';
import { ApiError } from './client.ts';
import { CliError, EXIT } from './errors.ts';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_PREFIX = /^[0-9a-f][0-9a-f-]{0,35}$/i;

/** what a reference is matched on (the API's TargetOut, BatchOut) */
type Named = Pick<TargetT, 'id' | 'name'>;

function ambiguous(kind: string, ref: string, candidates: string[]): CliError {
  const shown = candidates.slice(0, 10).map((c) => `  ${c}`);
  if (candidates.length > 10) shown.push(`  ... and ${candidates.length - 10} more`);
  return new CliError(
    `${kind} "${ref}" is ambiguous: it matches ${candidates.length}:\n${shown.join('\n')}`,
    EXIT.USAGE,
    `give more of the id (or the full id)`,
    'AMBIGUOUS',
  );
}

async function exists(cli: Cli, path: string): Promise<boolean> {
  try {
    await cli.api.get(path);
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) return false;
    throw e;
  }
}

/** A target's id from its id or its unique name. */
export async function resolveTarget(cli: Cli, ref: string): Promise<string> {
  if (ID.test(ref) && (await exists(cli, cli.p(`/targets/${encodeURIComponent(ref)}`)))) return ref;
  const all = await cli.api.all<Named>(cli.p('/targets'));
  const byName = all.filter((t) => t.name === ref);
  if (byName.length === 1) return byName[0].id;
  if (byName.length > 1)
    throw ambiguous(
      'target name',
      ref,
      byName.map((t) => t.id),
    );
  throw new CliError(
    `no target with id or name "${ref}" in project ${cli.project}`,
    EXIT.NOT_FOUND,
    'list targets with `liftgate targets list`',
    'TARGET_NOT_FOUND',
  );
}

type UpgradeRef = Pick<UpgradeT, 'id' | 'ref' | 'targetId' | 'fromVersion' | 'toVersion' | 'state'>;
/** an upgrade's short reference, as the API gives it: "up-12" */
const SHORT_REF = /^up-([0-9]+)$/i;

/**
 * An upgrade's id from its short reference ("up-12"), its id, a unique prefix of it, or a
 * target (id or name): that target's newest upgrade.
 */
export async function resolveUpgrade(cli: Cli, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const short = SHORT_REF.exec(ref);
  if (short) {
    const wanted = `up-${Number(short[1])}`;
    const hit = (await cli.api.all<UpgradeRef>(cli.p('/upgrades'))).find((u) => u.ref === wanted);
    if (hit) return hit.id;
    throw new CliError(
      `no upgrade ${wanted} in project ${cli.project}`,
      EXIT.NOT_FOUND,
      'list upgrades with `liftgate upgrade list`',
      'UPGRADE_NOT_FOUND',
    );
  }
  if (HEX_PREFIX.test(ref)) {
    const all = await cli.api.all<UpgradeRef>(cli.p('/upgrades'));
    const hits = all.filter((u) => u.id.startsWith(ref.toLowerCase()));
    if (hits.length === 1) return hits[0].id;
    if (hits.length > 1)
      throw ambiguous(
        'upgrade id prefix',
        ref,
        hits.map((u) => `${u.id}  ${u.targetId}  ${u.fromVersion} -> ${u.toVersion}  ${u.state}`),
      );
  }
  const target = await resolveTarget(cli, ref).catch((e: unknown) => {
    if (e instanceof CliError && e.exitCode === EXIT.NOT_FOUND) return null;
    throw e;
  });
  if (target) {
    const newest = await cli.api.get<{ items: UpgradeRef[] }>(cli.p('/upgrades'), { target, limit: 1 });
    if (newest.items[0]) return newest.items[0].id;
    throw new CliError(
      `target ${target} has no upgrades`,
      EXIT.NOT_FOUND,
      `start one with \`liftgate upgrade start ${target} <version>\``,
      'UPGRADE_NOT_FOUND',
    );
  }
  throw new CliError(
    `no upgrade with an id starting "${ref}", and no target of that id or name, in project ${cli.project}`,
    EXIT.NOT_FOUND,
    'list upgrades with `liftgate upgrade list`',
    'UPGRADE_NOT_FOUND',
  );
}

/** A batch's id from its id, a unique prefix of it, or its unique name. */
export async function resolveBatch(cli: Cli, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const all = await cli.api.all<Pick<BatchT, 'id' | 'name' | 'state'>>(cli.p('/batches'));
  const exact = all.filter((b) => b.id === ref || b.name === ref);
  if (exact.length === 1) return exact[0].id;
  const hits = exact.length ? exact : all.filter((b) => HEX_PREFIX.test(ref) && b.id.startsWith(ref.toLowerCase()));
  if (hits.length === 1) return hits[0].id;
  if (hits.length > 1)
    throw ambiguous(
      'batch',
      ref,
      hits.map((b) => `${b.id}  ${b.name}  ${b.state}`),
    );
  throw new CliError(
    `no batch with an id starting "${ref}" or named "${ref}" in project ${cli.project}`,
    EXIT.NOT_FOUND,
    'list batches with `liftgate batch list`',
    'BATCH_NOT_FOUND',
  );
}
