// Numbered migrations. Kysely's Migrator runs them in order under its own lock (a lock row on
// SQLite, an advisory-style lock table on PostgreSQL). Never edit a migration that has shipped:
// add the next number instead.
import { sql, type Kysely, type Migration } from 'kysely';
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

export function migrations(caps: DialectCapabilities): Record<string, Migration> {
  return {
    '001_initial': m001(caps),
    '002_sim_effects_once': m002,
    '003_step_result': m003,
  };
}
