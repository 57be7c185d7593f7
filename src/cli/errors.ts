// Exit codes and the messages of failed CLI calls. The codes are part of the CLI's contract
// (docs/cli.md): scripts branch on them, so they never change meaning.
import { ApiError } from './client.ts';

export const EXIT = {
  /** done (also when the reader of the output closed the pipe early) */
  OK: 0,
  /** the server refused or failed the request: bad input, a conflict, a wrong state */
  REFUSED: 1,
  /** wrong use of the CLI: unknown command or option, bad value, unreadable file, ambiguous name or prefix */
  USAGE: 2,
  /** the server cannot be reached */
  UNREACHABLE: 3,
  /** the token is missing, not valid, or not allowed to do this */
  AUTH: 4,
  /** what was named does not exist (or is in another project) */
  NOT_FOUND: 5,
  /** what was watched ended without success: an upgrade or batch failed, was cancelled or rolled back; a precheck failed */
  UNSUCCESSFUL: 6,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** what to do next, printed after the message */
    readonly hint?: string,
    readonly code = 'CLI_ERROR',
    readonly body?: unknown,
  ) {
    super(message);
  }
}

/** Turns any failure into a message, a next step and an exit code. */
export function explain(err: unknown, url: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ApiError) {
    if (err.status === 0) {
      return new CliError(
        err.message,
        EXIT.UNREACHABLE,
        `is the server running? Start it with \`liftgate serve\` (or \`npm start\`), or point --url / LIFTGATE_URL at it (now ${url})`,
        err.code,
      );
    }
    if (err.status === 401) {
      return new CliError(
        `${err.code}: ${err.message}`,
        EXIT.AUTH,
        'set LIFTGATE_TOKEN (or --token) to the admin token the server printed at its first start, or to a token from `liftgate tokens create`',
        err.code,
        err.body,
      );
    }
    if (err.status === 403) {
      return new CliError(`${err.code}: ${err.message}`, EXIT.AUTH, 'use an admin token for this', err.code, err.body);
    }
    if (err.status === 404) {
      return new CliError(`${err.code}: ${err.message}`, EXIT.NOT_FOUND, hintFor(err.code), err.code, err.body);
    }
    // Only an unexpected failure (INTERNAL, or a bare status from something in front of the server)
    // leaves its reason to the server's log; a coded one, such as a driver that could not create a
    // cluster (PROVISION_FAILED), says why in its message.
    if (err.status >= 500 && (err.code === 'INTERNAL' || /^\d+$/.test(err.code))) {
      return new CliError(`${err.code}: ${err.message}`, EXIT.REFUSED, 'the server failed; its log says why', err.code, err.body);
    }
    return new CliError(`${err.code}: ${err.message}`, EXIT.REFUSED, hintFor(err.code, err.body), err.code, err.body);
  }
  if (err instanceof Error && 'code' in err && String(err.code).startsWith('commander.')) {
    return new CliError(err.message, EXIT.USAGE, undefined, String(err.code));
  }
  return new CliError(err instanceof Error ? err.message : String(err), EXIT.REFUSED);
}

const HINTS: Record<string, string> = {
  PROJECT_NOT_FOUND: 'list projects with `liftgate projects`; choose one with --project or LIFTGATE_PROJECT',
  TARGET_NOT_FOUND: 'list targets with `liftgate targets list`',
  UPGRADE_NOT_FOUND: 'list upgrades with `liftgate upgrade list`',
  BATCH_NOT_FOUND: 'list batches with `liftgate batch list`',
  VERSION_NOT_FOUND: 'see the known versions with `liftgate catalog list <engine>`',
  TARGET_EXISTS: 'choose another id, or change the existing target with `liftgate targets update`',
  VALIDATION_FAILED: 'check the values against `liftgate <command> --help`',
  TARGET_BUSY: 'watch or cancel the running upgrade first (`liftgate upgrade status --target <target>`)',
  TARGET_HAS_UPGRADES: 'cancel the upgrade first: `liftgate upgrade cancel <upgrade>`',
  INVALID_STATE: 'see its state with `liftgate upgrade status <upgrade>` (or `liftgate batch status <batch>`)',
  ROUTE_NOT_FOUND: 'the server may be older than this CLI; check --url',
  AZ_SOURCE_REQUIRED: 'name the zone to move with --source-az (`liftgate targets show <target>` lists the zones)',
  AZ_SOURCE_EMPTY: 'name a zone the target uses with --source-az (`liftgate targets show <target>` lists them)',
  AZ_SAME_ZONE: 'name the zone to move the nodes to with --target-az',
  AZ_ZONE_REDUCTION: 'name a --target-az the target does not use, or add --allow-zone-reduction to accept fewer zones',
  ADMIN_TOKEN_NOT_FOUND: 'list them with `liftgate admin-tokens list`',
  LAST_ADMIN_TOKEN:
    'mint another first (`liftgate admin-tokens create`) and move its users to it, or give this one a new secret (`liftgate admin-tokens rotate`)',
};

function hintFor(code: string, body?: unknown): string | undefined {
  // a busy target names the upgrade that holds it: the hint gives the commands for that one
  const ref = (body as { error?: { details?: { upgradeRef?: unknown } } } | undefined)?.error?.details?.upgradeRef;
  if (code === 'TARGET_BUSY' && typeof ref === 'string') {
    return `follow it with \`liftgate upgrade watch ${ref}\`, or cancel it with \`liftgate upgrade cancel ${ref}\``;
  }
  return HINTS[code];
}
