// Numbered migrations. Kysely's Migrator runs them in order under its own lock (a lock row on
// SQLite, an advisory-style lock table on PostgreSQL). Never edit a migration that has shipped:
// add the next number instead. The sim_* tables (migrations 001, 002, 004) belong to the sim
// driver, which declares their rows and prunes them (src/drivers/sim/tables.ts); their DDL stays
// here as it ran (comments aside), since existing databases ran it.
import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';
import type { DialectCapabilities } from './dialect.ts';

type Db = Kysely<unknown>;

function m001(caps: DialectCapabilities): Migration {
  return {
    async up(db: Db) {
      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('targets')
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('release', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('driver', 'text', (c) => c.notNull())
        .addColumn('driver_config', 'text', (c) => c.notNull())
        .addColumn('maintenance_window', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('targets_pk', ['project_id', 'id'])
        .execute();

      await db.schema
        .createTable('nodes')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('ord', 'integer', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('zone', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('health', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('port', 'integer')
        .addPrimaryKeyConstraint('nodes_pk', ['project_id', 'target_id', 'name'])
        .execute();

      await db.schema
        .createTable('catalog_versions')
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('release', 'text', (c) => c.notNull())
        .addColumn('image_id', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('upgradable_from', 'text', (c) => c.notNull())
        .addColumn('barrier', 'integer', (c) => c.notNull())
        .addColumn('deprecated', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('catalog_versions_pk', ['engine', 'version'])
        .execute();

      await db.schema
        .createTable('upgrades')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('num', caps.name === 'sqlite' ? 'integer' : 'bigserial', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('from_version', 'text', (c) => c.notNull())
        .addColumn('to_version', 'text', (c) => c.notNull())
        .addColumn('release', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('current_stage', 'integer', (c) => c.notNull())
        .addColumn('stage_count', 'integer', (c) => c.notNull())
        .addColumn('hops', 'text', (c) => c.notNull())
        .addColumn('force', 'integer', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('not_before', 'text')
        .addColumn('batch_id', 'text')
        .addColumn('precheck_report_id', 'text')
        .addColumn('error', 'text')
        .addColumn('error_code', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('retries', 'integer', (c) => c.notNull())
        .execute();
      // One target never has two active upgrades: the database enforces it, not just the code.
      await sql`CREATE UNIQUE INDEX upgrades_one_active ON upgrades (project_id, target_id)
        WHERE state IN ('scheduled','ready','prechecking','running','paused','failed','rolling_back')`.execute(db);
      await db.schema
        .createIndex('upgrades_project_target')
        .on('upgrades')
        .columns(['project_id', 'target_id', 'created_at'])
        .execute();
      await db.schema.createIndex('upgrades_state').on('upgrades').columns(['state', 'not_before']).execute();

      await db.schema
        .createTable('stages')
        .addColumn('upgrade_id', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addPrimaryKeyConstraint('stages_pk', ['upgrade_id', 'idx'])
        .execute();

      await db.schema
        .createTable('steps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('upgrade_id', 'text', (c) => c.notNull())
        .addColumn('stage_index', 'integer', (c) => c.notNull())
        .addColumn('lane', 'text', (c) => c.notNull())
        .addColumn('ord', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('node', 'text')
        .addColumn('hop', 'integer', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'text')
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('error', 'text')
        .addColumn('log', 'text', (c) => c.notNull())
        .addColumn('rollback_order', 'integer')
        .execute();
      await db.schema.createIndex('steps_upgrade').on('steps').columns(['upgrade_id', 'stage_index', 'lane', 'ord']).execute();
      await db.schema.createIndex('steps_state').on('steps').columns(['state', 'lease_expires_at']).execute();

      await db.schema
        .createTable('precheck_reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('upgrade_id', 'text')
        .addColumn('to_version', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('items', 'text', (c) => c.notNull())
        .addColumn('flighting', 'text')
        .addColumn('estimate', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await db.schema
        .createIndex('precheck_reports_target')
        .on('precheck_reports')
        .columns(['project_id', 'target_id', 'created_at'])
        .execute();

      await db.schema
        .createTable('batches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('events')
        .addColumn('id', caps.autoIncrementType, (c) =>
          caps.name === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text')
        .addColumn('upgrade_id', 'text')
        .addColumn('step_id', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('from_state', 'text')
        .addColumn('to_state', 'text')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_project').on('events').columns(['project_id', 'id']).execute();
      await db.schema.createIndex('events_upgrade').on('events').columns(['upgrade_id', 'id']).execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('access_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('target_credentials')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('target_credentials_pk', ['project_id', 'target_id', 'kind'])
        .execute();

      await db.schema
        .createTable('replay_nonces')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();

      // the sim driver's tables (src/drivers/sim/tables.ts), kept here as this migration ran
      await db.schema
        .createTable('sim_nodes')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('running', 'integer', (c) => c.notNull())
        .addColumn('health', 'text', (c) => c.notNull())
        .addColumn('zone', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('lag_ms', 'integer', (c) => c.notNull())
        .addColumn('disk_free_pct', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('sim_nodes_pk', ['project_id', 'target_id', 'node'])
        .execute();

      await db.schema
        .createTable('sim_effects')
        .addColumn('id', caps.autoIncrementType, (c) =>
          caps.name === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('step_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('node', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('effect', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sim_effects_step').on('sim_effects').columns(['step_id', 'effect']).execute();

      await db.schema
        .createTable('sim_faults')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('node', 'text')
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('times_left', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/** One entry per (step, effect) in the simulated fleet's log: the database enforces exactly-once. */
const m002: Migration = {
  async up(db: Db) {
    await db.schema.dropIndex('sim_effects_step').execute();
    await db.schema.createIndex('sim_effects_once').on('sim_effects').columns(['step_id', 'effect']).unique().execute();
  },
};

/** Steps keep what their driver reported (e.g. the write outage of a switchover). */
const m003: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('steps').addColumn('result', 'text').execute();
  },
};

/**
 * Fencing and recovery (migration 004): each claim of a step increments its `fence`, and every
 * later write of that step names the fence it holds, so a holder that lost the step (frozen,
 * partitioned, recovered) changes nothing. `recoveries` counts how often recovery re-queued or
 * reconciled a step, so a step that keeps killing its executor fails instead of looping.
 * `sim_invocations` records every call of the sim driver (no unique key: a second call of one
 * step is a second row), the oracle of the crash tests for "nothing ran twice".
 */
function m004(caps: DialectCapabilities): Migration {
  return {
    async up(db: Db) {
      await db.schema
        .alterTable('steps')
        .addColumn('fence', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('steps')
        .addColumn('recoveries', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // the sim driver's table (src/drivers/sim/tables.ts), kept here as this migration ran
      await db.schema
        .createTable('sim_invocations')
        .addColumn('id', caps.autoIncrementType, (c) =>
          caps.name === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('step_id', 'text', (c) => c.notNull())
        .addColumn('fence', 'integer', (c) => c.notNull())
        .addColumn('call', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('node', 'text')
        .addColumn('owner', 'text')
        /** what the call did: applied | already_applied | fenced | failed */
        .addColumn('outcome', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sim_invocations_step').on('sim_invocations').columns(['step_id', 'fence']).execute();
    },
  };
}

/**
 * Replicas (migration 005): every executor registers itself and heartbeats (`beats` grows with
 * each one, so others judge liveness by seeing it change on their own clock, not by comparing
 * clocks); `leader_leases` holds one row per housekeeping role, taken over only when its holder
 * stopped renewing it.
 */
const m005: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('executors')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('pid', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'text', (c) => c.notNull())
      .addColumn('beats', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .execute();
    await db.schema.createIndex('executors_state').on('executors').columns(['state']).execute();
    await db.schema.createIndex('steps_lease_owner').on('steps').columns(['lease_owner']).execute();
    await db.schema
      .createTable('leader_leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('term', 'integer', (c) => c.notNull())
      .addColumn('beats', 'integer', (c) => c.notNull())
      .addColumn('renewed_at', 'text', (c) => c.notNull())
      .execute();
  },
};

/**
 * Credentials with a lifecycle (issue 8): token and access-key roles, optional expiry, who made
 * them; OBShell passwords get a keyed lookup hash (HMAC under the master key) beside the scrypt
 * hash, unique per kind, so one password names at most one cluster and a lookup is one indexed
 * read. Rows from before this migration have no lookup hash until their first successful use.
 * Tokens and access keys that existed could do everything in their project: they become `admin`.
 */
const m006: Migration = {
  async up(db: Db) {
    for (const table of ['api_tokens', 'access_keys']) {
      await db.schema
        .alterTable(table)
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('admin'))
        .execute();
      await db.schema.alterTable(table).addColumn('expires_at', 'text').execute();
      await db.schema.alterTable(table).addColumn('created_by', 'text').execute();
    }
    await db.schema.alterTable('access_keys').addColumn('name', 'text').execute();
    await db.schema.createIndex('api_tokens_project').on('api_tokens').columns(['project_id', 'created_at']).execute();
    await db.schema.createIndex('access_keys_project').on('access_keys').columns(['project_id', 'created_at']).execute();
    await db.schema.alterTable('target_credentials').addColumn('lookup_hash', 'text').execute();
    await db.schema
      .createIndex('target_credentials_lookup')
      .on('target_credentials')
      .columns(['kind', 'lookup_hash'])
      .unique()
      .execute();
  },
};

/**
 * Event retention (migration 011): per project, the highest event id that retention deleted, so
 * a reader asking for events after an older id can be told that history is missing.
 */
const m011: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('event_retention')
      .addColumn('project_id', 'text', (c) => c.primaryKey())
      .addColumn('pruned_through', 'bigint', (c) => c.notNull())
      .addColumn('pruned_at', 'text', (c) => c.notNull())
      .execute();
  },
};

/** Rate-limit counters shared by every replica (src/store/rate-limit-store.ts). */
/**
 * Batch counts (migration 010): the batch scheduler and every status read count a batch's upgrades
 * per wave, state and hold, and release held ones in creation order; one index holding all of
 * those columns answers both from the index alone, where the 007 index had to visit every row.
 */
const m010: Migration = {
  async up(db: Db) {
    await db.schema
      .createIndex('upgrades_batch_counts')
      .on('upgrades')
      .columns(['batch_id', 'wave_index', 'state', 'hold', 'num'])
      .execute();
    await db.schema.dropIndex('upgrades_batch').execute();
  },
};

const m009: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('rate_limit_counters')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('hits', 'integer', (c) => c.notNull())
      .addColumn('window_ends_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};

/**
 * Estimates and webhooks (migration 008): durable cursors over the events table, the learned
 * step durations, each estimate's recorded error, webhooks and their delivery outbox.
 */
function m008(caps: DialectCapabilities): Migration {
  const autoId = (c: ColumnDefinitionBuilder) => (caps.name === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
  return {
    async up(db: Db) {
      await db.schema
        .createTable('event_cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_id', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('step_durations')
        .addColumn('id', caps.autoIncrementType, autoId)
        .addColumn('step_id', 'text', (c) => c.notNull().unique())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('driver', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('seconds', 'double precision', (c) => c.notNull())
        .addColumn('ended_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('step_durations_key')
        .on('step_durations')
        .columns(['engine', 'action', 'role', 'id'])
        .execute();

      await db.schema
        .createTable('estimate_records')
        .addColumn('subject_id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('predicted_seconds', 'double precision', (c) => c.notNull())
        .addColumn('basis', 'text', (c) => c.notNull())
        .addColumn('actual_seconds', 'double precision')
        .addColumn('abs_error_pct', 'double precision')
        .addColumn('outcome', 'text')
        .addColumn('ended_at', 'text')
        .execute();
      await db.schema.createIndex('estimate_records_engine').on('estimate_records').columns(['engine', 'ended_at']).execute();

      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhooks_project').on('webhooks').columns(['project_id']).execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'bigint', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('give_up_at', 'text', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'text')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('log', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .addUniqueConstraint('webhook_deliveries_once', ['webhook_id', 'event_id'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['state', 'next_attempt_at'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_log')
        .on('webhook_deliveries')
        .columns(['webhook_id', 'created_at'])
        .execute();
    },
  };
}

/**
 * Fleet rollouts: target labels (a table, so `?label=k=v` is an indexed look-up) and exclusions;
 * why an upgrade waits and until when it may run (windows); batches with waves.
 */
function m007(caps: DialectCapabilities): Migration {
  return {
    async up(db: Db) {
      await db.schema
        .alterTable('targets')
        .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
      await db.schema.alterTable('targets').addColumn('maintenance_exclusions', 'text').execute();
      await db.schema
        .createTable('target_labels')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('target_labels_pk', ['project_id', 'target_id', 'key'])
        .execute();
      await db.schema.createIndex('target_labels_kv').on('target_labels').columns(['project_id', 'key', 'value']).execute();

      for (const col of ['pending_reason', 'hold', 'run_until'])
        await db.schema.alterTable('upgrades').addColumn(col, 'text').execute();
      await db.schema.alterTable('upgrades').addColumn('wave_index', 'integer').execute();
      await db.schema.createIndex('upgrades_batch').on('upgrades').columns(['batch_id', 'wave_index', 'state']).execute();

      for (const col of [
        'name',
        'kind',
        'spec',
        'schedule',
        'not_before',
        'paused_from',
        'pending_reason',
        'updated_at',
        'ended_at',
      ])
        await db.schema.alterTable('batches').addColumn(col, 'text').execute();
      for (const col of ['current_wave', 'failure_limit', 'target_count'])
        await db.schema.alterTable('batches').addColumn(col, 'integer').execute();
      await db.schema
        .createTable('batch_waves')
        .addColumn('batch_id', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('target_count', 'integer', (c) => c.notNull())
        .addColumn('max_concurrency', 'integer', (c) => c.notNull())
        .addColumn('bake_seconds', caps.name === 'sqlite' ? 'real' : 'double precision', (c) => c.notNull())
        .addColumn('approval', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('bake_until', 'text')
        .addColumn('approved_by', 'text')
        .addColumn('health_failures', 'text', (c) => c.notNull().defaultTo('[]'))
        .addPrimaryKeyConstraint('batch_waves_pk', ['batch_id', 'idx'])
        .execute();
    },
  };
}

/**
 * OBShell agent addresses (migration 012): each OBShell cluster is served on its own port, as a
 * real OBShell agent is, so a request reaches one cluster by its address and its password is
 * checked against that cluster alone. Passwords no longer select a cluster, so two clusters may
 * share one: the unique lookup hash of 006 goes (docs/SECURITY.md).
 */
const m012: Migration = {
  async up(db: Db) {
    await db.schema
      .createTable('obshell_agents')
      .addColumn('project_id', 'text', (c) => c.notNull())
      .addColumn('target_id', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('obshell_agents_pk', ['project_id', 'target_id'])
      .execute();
    await db.schema.dropIndex('target_credentials_lookup').execute();
    await db.schema.alterTable('target_credentials').dropColumn('lookup_hash').execute();
  },
};

/**
 * A cancelled upgrade that brings its nodes back into service (state `cancelling`, migration
 * 013) still holds its target: no second upgrade may start on nodes being restored, so the
 * one-active-upgrade index counts that state too.
 */
const m013: Migration = {
  async up(db: Db) {
    await db.schema.dropIndex('upgrades_one_active').execute();
    await sql`CREATE UNIQUE INDEX upgrades_one_active ON upgrades (project_id, target_id)
      WHERE state IN ('scheduled','ready','prechecking','running','paused','failed','cancelling','rolling_back')`.execute(db);
  },
};

/**
 * The admin credential's lifecycle (migration 014): when an admin token's secret was last
 * replaced; the secrets admin tokens no longer have (revoked or rotated away), so a start with
 * LIFTGATE_ADMIN_TOKEN still set to one is refused rather than bringing it back; and when a
 * token's current secret was last used (by its hash, so a rotation starts afresh).
 */
const m014: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('api_tokens').addColumn('rotated_at', 'text').execute();
    await db.schema
      .createTable('retired_admin_tokens')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('token_id', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('retired_at', 'text', (c) => c.notNull())
      .addColumn('retired_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('token_uses')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('last_used_at', 'text', (c) => c.notNull())
      .execute();
  },
};

/**
 * A step's live progress (migration 015): what the driver reports while a long step runs (a
 * blue/green data copy's bytes done of total, its rate and estimate; a catch-up's lag), with the
 * log so far, so the API, the CLI and the console show it before the step ends.
 */
const m015: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('steps').addColumn('progress', 'text').execute();
  },
};

/**
 * The engines of an upgrade (migration 016): a route may change the engine (Redis 7.0 -> Valkey
 * 8.0), so an upgrade records the engine it starts from and the one it ends on; a rollback puts
 * the first back. Rows from before are null: their engine never changed. Nodes gain their own
 * engine and shard.
 */
const m016: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('upgrades').addColumn('from_engine', 'text').execute();
    await db.schema.alterTable('upgrades').addColumn('to_engine', 'text').execute();
    // a node's own engine (a group mid-way runs both) and its shard (a Redis Cluster)
    await db.schema.alterTable('nodes').addColumn('engine', 'text').execute();
    await db.schema.alterTable('nodes').addColumn('shard', 'text').execute();
  },
};

/**
 * Automatic retry of transient step failures (migration 017): a step that failed with a transient
 * error and has attempts left is pending again, not claimed before `not_before` (its backoff);
 * `auto_retries` counts those retries since an operator last started it (an operator's retry
 * starts the count afresh). A simulated fault may fail a step with a transient error.
 */
const m017: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('steps').addColumn('not_before', 'text').execute();
    await db.schema
      .alterTable('steps')
      .addColumn('auto_retries', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('sim_faults')
      .addColumn('transient', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

/**
 * Analysis checks (migration 018): a wave keeps its checks with each one's last sample, and the
 * targets they failed (docs/fleet.md "Analysis checks"); a simulated node keeps the SLI values a
 * `regress` fault set on it, and a fault its parameters.
 */
const m018: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable('batch_waves')
      .addColumn('analysis', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema
      .alterTable('batch_waves')
      .addColumn('analysis_failures', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema
      .alterTable('sim_nodes')
      .addColumn('slis', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute();
    await db.schema.alterTable('sim_faults').addColumn('params', 'text').execute();
  },
};

export function migrations(caps: DialectCapabilities): Record<string, Migration> {
  return {
    '001_initial': m001(caps),
    '002_sim_effects_once': m002,
    '003_step_result': m003,
    '004_fence_recoveries_invocations': m004(caps),
    '005_executors_leaders': m005,
    '006_credential_lifecycle': m006,
    '007_fleet': m007(caps),
    '008_estimates_webhooks': m008(caps),
    '009_rate_limit_counters': m009,
    '010_batch_counts_index': m010,
    '011_event_retention': m011,
    '012_obshell_agents': m012,
    '013_cancelling_holds_target': m013,
    '014_admin_token_lifecycle': m014,
    '015_step_progress': m015,
    '016_upgrade_engines': m016,
    '017_step_retry': m017,
    '018_wave_analysis': m018,
  };
}
