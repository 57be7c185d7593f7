// The driver interface: the only code that acts on real (or simulated) systems.
// The executor calls drivers; drivers never touch upgrade/stage/step state themselves.
import type { FailureCode } from '../domain/failure-codes.ts';
import type {
  FlightingStat,
  Hop,
  PhaseEstimate,
  PrecheckItem,
  SliName,
  Step,
  StepAction,
  Target,
  TargetNode,
  Upgrade,
  UpgradeMode,
} from '../domain/types.ts';

export interface DriverCapabilities {
  /** can hand the leader/primary role to an already-upgraded node before the leader is stopped */
  switchover: boolean;
  /** can move nodes to another availability zone */
  azMigration: boolean;
  /** supports fault injection through the native API */
  faults: boolean;
  /** creates the target's real resources when it is registered with driverConfig.provision */
  provision: boolean;
  /** can build a second cluster on the new version and switch traffic to it (mode blue_green) */
  blueGreen?: boolean;
  /** the engines it runs, when it can move a target from one to another (redis -> valkey) */
  engines?: string[];
}

/** How a step behaves when it may have to run again (after a crash, or on retry). */
export interface StepPolicy {
  /**
   * true: running the step again after a partial or complete run is safe and has no extra effect;
   * the executor re-runs a step whose lease expired. false: the executor asks reconcile() first and
   * never re-runs blindly.
   */
  idempotent: boolean;
  /** true: rollback() can reverse the step's effect; false blocks an upgrade rollback past it */
  reversible: boolean;
  /**
   * why the step cannot be reversed, in words for the operator (a refused rollback, the precheck
   * report and the upgrade's point of no return quote it)
   */
  irreversibleBecause?: string;
  /**
   * What a cancel does with the step while it runs. true: the step is cancelled at once, its
   * holder fenced out (its later writes are refused) and its call aborted through ctx.signal; a
   * partial run leaves nothing that the node's restore cannot repair. false: a partial run could
   * leave the node in a state only the step itself completes (a switchover half done), so the
   * cancel lets it finish (or time out) and restores the node after.
   */
  interruptible: boolean;
  /**
   * true: the step only waits (a blue/green rollback window). An operator's finalize ends it as
   * done; a rollback stops it at once (its holder fenced out) and reverses the steps before it.
   */
  waits?: boolean;
  /**
   * Whether the executor runs the step again by itself after a failure the driver marked
   * transient (`DriverError.transient`), and the action's default attempts and backoff (an
   * upgrade's options.retry overrides them, never the choice). Left out: an idempotent step is
   * retried with DEFAULT_STEP_RETRY, any other never; false: never, even if idempotent.
   */
  retry?: StepRetry | false;
}

/** Automatic retry of a step after a transient failure: attempts in all (1 = no retry), backoff doubling from backoffSeconds up to maxBackoffSeconds. */
export interface StepRetry {
  attempts: number;
  backoffSeconds: number;
  maxBackoffSeconds: number;
}

/** a retry-safe step's default: two retries, 5 s then 10 s after the failures */
export const DEFAULT_STEP_RETRY: StepRetry = { attempts: 3, backoffSeconds: 5, maxBackoffSeconds: 300 };

/** The retry a driver declares for a step: null when the step is never run again by itself. */
export function driverRetry(policy: StepPolicy): StepRetry | null {
  if (policy.retry === false) return null;
  if (policy.retry) return policy.retry;
  return policy.idempotent ? DEFAULT_STEP_RETRY : null;
}

export interface StepContext {
  upgrade: Upgrade;
  target: Target;
  step: Step;
  hop: Hop;
  /** appends a line to the step's log (what the driver ran and saw) */
  log(line: string): void;
  /** aborted when the executor shuts down; a driver should stop waiting and throw */
  signal: AbortSignal;
  /**
   * Reports how a long step is going (a data copy's bytes done of total, rate and estimate); the
   * latest report is written with the log so far at most about once a second, and the API, the
   * CLI and the console show it while the step runs.
   */
  progress?(data: Record<string, unknown>): void;
  /**
   * The fencing token of this claim of the step (it grows with every claim). A driver that can
   * should refuse an effect whose fence is lower than one it has already seen for the step: the
   * caller is a stale holder (frozen, partitioned) whose step was recovered and handed on.
   */
  fence: number;
  /** the executor holding the step */
  owner: string;
}

export interface StepResult {
  /** node facts the step changed (version, health, role, zone, host/port) */
  node?: Partial<TargetNode> & { name: string };
  /** nodes whose role changed (switchover) */
  nodes?: (Partial<TargetNode> & { name: string })[];
  /** the target's whole node list now (a blue/green cutover moves it onto other nodes) */
  replaceNodes?: TargetNode[];
  /** driverConfig keys that changed (merged into the target's driverConfig) */
  driverConfig?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

export type ReconcileResult = 'applied' | 'not_applied' | 'unknown';

export interface PrecheckInput {
  target: Target;
  toVersion: string;
  hops: Hop[];
  mode: UpgradeMode;
  options: Record<string, unknown>;
}

export interface PrecheckResult {
  items: PrecheckItem[];
  flighting: FlightingStat | null;
  estimate: PhaseEstimate | null;
}

/** A version a driver can run, for the catalog (e.g. installed PostgreSQL binaries). */
export interface DriverCatalogEntry {
  engine: string;
  version: string;
  release?: string;
  displayName?: string;
  description?: string;
  /** patterns of versions allowed to upgrade to this one ("16.*"); empty = any older version */
  upgradableFrom?: string[];
  /** an entry an older Liftgate added with this description is brought up to date (an operator's edit is kept) */
  supersedesDescription?: string;
}

export interface Topology {
  nodes: TargetNode[];
  version?: string;
}

/** A driver error carries a stable code and whether trying again may help. */
export class DriverError extends Error {
  constructor(
    /** one of the failure codes in src/domain/failure-codes.ts (documented in docs/errors.md) */
    readonly code: FailureCode,
    message: string,
    /**
     * true: the failure may pass by itself (a node still catching up, a health gate that timed
     * out, a connection refused while a server restarts), so running the step again later may
     * succeed. The executor retries such a failure of a retry-safe step (StepPolicy.retry);
     * anything else (a precheck finding, a step timeout, a refusal) fails the step at once.
     */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

/**
 * A driver whose clusters are processes on this host: `liftgate serve` starts the ones that are
 * down when it starts and stops the ones it started or created when it stops.
 */
export interface LocalClusters {
  /** what the log calls one ("postgres cluster", "redis group") */
  label: string;
  /** the target's folder */
  rootOf(target: Target): string;
  /** the cluster at root still exists (it was not deleted while Liftgate ran) */
  exists(root: string): boolean;
  /** starts what is not running; true when it started anything */
  bringUp(root: string, log: (line: string) => void): Promise<boolean>;
  bringDown(root: string, log: (line: string) => void): Promise<void>;
  /** the folders of the clusters this process created and has not destroyed */
  madeHere(): string[];
}

/** What event retention asks of a driver that keeps logs of its own (Driver.prune). */
export interface PruneRequest {
  /** rows created before this time (ISO-8601) may go */
  before: string;
  /** rows per delete statement */
  batchSize: number;
  /** awaited between statements, so other work on the store goes first */
  pause: () => Promise<void>;
}

export interface Driver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** set when its clusters are local processes that start and stop with Liftgate */
  readonly local?: LocalClusters;
  /** target lets a driver vary the policy per target (e.g. a configured irreversible step) */
  stepPolicy(action: StepAction, target?: Target): StepPolicy;
  /** create real resources for a new target (only when capabilities.provision) */
  provision?(target: Target): Promise<{ nodes: TargetNode[]; driverConfig?: Record<string, unknown> }>;
  /** release real resources when a target is deleted */
  destroy?(target: Target): Promise<void>;
  /** versions this driver can run on this machine; added to the catalog at start when missing */
  catalogEntries?(): DriverCatalogEntry[];
  /**
   * null when the driver can take this route in this mode; else why not, in words that name the
   * mode that can (the API answers UPGRADE_NO_ROUTE with it)
   */
  routeRefusal?(hops: Hop[], mode: UpgradeMode, target?: Target): string | null;
  /**
   * null when the target can take this route now; else why not (the API refuses the upgrade with
   * 409 PRECHECK_FAILED before storing it): binaries missing on this host, a cluster with slots
   * nobody serves
   */
  admission?(target: Target, hops: Hop[]): Promise<string | null>;
  /** read the target's real topology */
  inspect(target: Target): Promise<Topology>;
  /**
   * The target's service-level indicators now (analysis checks with `"sli"` judge them during a
   * bake). A name the driver does not measure is absent; a target it cannot reach throws. Rates
   * are per second over the interval since the previous call for the same target (the first call
   * measures over a short interval of its own).
   */
  slis?(target: Target): Promise<Partial<Record<SliName, number>>>;
  precheck(input: PrecheckInput): Promise<PrecheckResult>;
  /** how long a step of this action usually takes (s), for estimates before any step finished */
  nominalSeconds?(action: StepAction): number | undefined;
  /**
   * Runs a step. A `restore` step (added by a cancel, never planned) brings its node back into
   * service as it is: started on the version it has, a member of the cluster again, healthy. It
   * reads the node's real state and does only what is missing (a node in service is left alone),
   * so it is idempotent; its result's data.summary says in a few words what it did
   * ("started on 7.10.3; it was stopped"), and data.started whether it started the node.
   */
  execute(ctx: StepContext): Promise<StepResult>;
  /** reverses a step; for a `restore` step, what it did (a node it started is stopped again) */
  rollback(ctx: StepContext): Promise<StepResult>;
  /** after a crash: did a non-idempotent step that was running take effect? */
  reconcile?(ctx: StepContext): Promise<ReconcileResult>;
  /**
   * With an event retention set, the housekeeping leader's retention pass (src/engine/retention.ts)
   * calls this: delete the driver's own logs older than `before` that no active upgrade needs;
   * returns how many rows went. A driver without logs of its own has none.
   */
  prune?(req: PruneRequest): Promise<number>;
  close?(): Promise<void>;
}

/**
 * A driver's `precheck` step: its precheck for the step's hop, every finding in the step's log,
 * PRECHECK_FAILED naming each failure; the findings are the step's result.
 */
export async function precheckStep(driver: Pick<Driver, 'precheck'>, ctx: StepContext): Promise<StepResult> {
  const r = await driver.precheck({
    target: ctx.target,
    toVersion: ctx.upgrade.toVersion,
    hops: [ctx.hop],
    mode: ctx.upgrade.mode,
    options: ctx.upgrade.options,
  });
  const where = (i: PrecheckItem) => `${i.name}${i.node ? ` ${i.node}` : ''}`;
  for (const i of r.items) ctx.log(`${i.status.toUpperCase()} ${where(i)}: ${i.message}`);
  const failed = r.items.filter((i) => i.status === 'fail');
  if (failed.length > 0) throw new DriverError('PRECHECK_FAILED', failed.map((i) => `${where(i)}: ${i.message}`).join('; '));
  return { data: { items: r.items, flighting: r.flighting } };
}
