// The codes a failed step (and so a failed upgrade's `errorCode`) can carry: what drivers report
// through DriverError and what the engine records itself. They are not HTTP errors, so they live
// beside the HTTP catalogue (errors.ts) rather than in it; a test keeps both tables and
// docs/errors.md in sync, in both directions.

export const FAILURE_CODES = {
  STEP_FAILED: 'The driver failed with an error that carried no code of its own.',
  STEP_TIMEOUT: 'The step did not finish within its timeout (options.timeouts / stepTimeoutSeconds).',
  STEP_OUTCOME_UNKNOWN: 'The step was running when its executor died and its driver cannot tell whether it took effect.',
  STEP_RECOVERY_LIMIT:
    'Recovery took the step back from a dead executor too often (LIFTGATE_STEP_RECOVERY_LIMIT); check why it kills its executor.',
  FENCED: 'The caller held an older claim of the step than one the driver has already seen; its effect was refused.',
  ANALYSIS_FAILED: 'An analysis check of the upgrade\u2019s bake (options.analysis) measured a value out of its bounds.',
  ANALYSIS_UNAVAILABLE: 'An analysis check of the upgrade\u2019s bake could not be evaluated and its onError is "fail".',
  PRECHECK_FAILED: 'The precheck found blocking problems and the upgrade was not forced.',
  POSTCHECK_FAILED: 'After the last stage, a node was not on the new version.',
  ROLLBACK_FAILED: 'A step could not be reversed during a rollback; asking for rollback again continues it.',
  RESTORE_FAILED:
    'A cancel could not bring a node it found out of service back into service; asking for cancel again retries it.',
  ABORTED: 'The driver call was aborted (the step was cancelled or timed out).',
  HEALTH_GATE_FAILED: 'A node was not healthy when the health gate checked it.',
  HEALTH_GATE_TIMEOUT: 'A node did not become healthy in time.',
  NODE_CRASHED: 'A node crashed while the step ran on it.',
  NODE_NOT_FOUND: 'The step names a node the target does not have.',
  NODE_REQUIRED: 'The step needs a node and was given none.',
  NODE_UNREACHABLE:
    'A node of the target (or its pooler) is not running or does not answer, so its service-level indicators cannot be measured.',
  NODE_RUNNING: 'The node must be stopped for this step (e.g. install).',
  SIM_FAULT: 'A failure injected into the simulated fleet.',
  NO_SWITCHOVER_CANDIDATE: 'No healthy, caught-up replica could take over the primary role.',
  SWITCHOVER_FAILED: 'The switchover did not complete.',
  CUTOVER_TIMEOUT:
    'A blue/green cutover did not finish within its switchover timeout; it was undone and clients resumed on the old cluster.',
  CUTOVER_FAILED: 'A blue/green cutover failed; it was undone and clients resumed on the old cluster.',
  SCHEMA_COPY_FAILED:
    'The schema could not be copied to the new cluster (an object the copy refuses, or a statement that failed).',
  SCHEMA_MISMATCH: 'After the schema copy, the catalogs of the old and the new cluster differ.',
  REPLICATION_FAILED: 'Logical replication between the old and the new cluster failed or did not catch up in time.',
  FLIGHTING_FAILED: 'A statement of the workload failed on the new cluster where it worked on the old one.',
  BLUE_GREEN_IN_PROGRESS: 'Another blue/green upgrade left its new cluster beside this one; finish or roll it back first.',
  PRIMARY_STOP_REFUSED: 'The driver refused to stop a node that is still the primary.',
  POOLER_NOT_INSTALLED: 'The target asks for a connection pooler that is not installed.',
  PROVISION_FAILED: 'The driver could not create the target\u2019s resources.',
  CLUSTER_EXISTS: 'A cluster of this name already exists on the host.',
  CLUSTER_NOT_FOUND: 'The cluster the target names does not exist on the host.',
  VERSION_NOT_INSTALLED: 'The binaries of the requested version are not installed.',
  FINALIZE_INCOMPLETE: 'The finalize step found nodes not on the new version.',
  START_FAILED: 'The node\u2019s service did not start.',
  VERIFY_FAILED: 'The node did not pass its post-start checks (e.g. replication did not catch up).',
  REJOIN_FAILED: 'The node could not rejoin the cluster.',
  UNSUPPORTED: 'The driver does not support this step or option.',
} as const satisfies Record<string, string>;

export type FailureCode = keyof typeof FAILURE_CODES;
