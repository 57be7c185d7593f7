// Dialects as explicit capabilities: code asks `caps.supportsSkipLocked`, never `dialect === ...`.
import type { ColumnDataType } from 'kysely';

export interface DialectCapabilities {
  name: 'sqlite' | 'postgres';
  /** column type of an auto-incrementing integer key */
  autoIncrementType: ColumnDataType;
  /** SELECT ... FOR UPDATE SKIP LOCKED lets several executors claim work from one database */
  supportsSkipLocked: boolean;
  /** the database serialises all writers (one process owns the file) */
  singleWriter: boolean;
}

export const sqliteCapabilities: DialectCapabilities = {
  name: 'sqlite',
  autoIncrementType: 'integer',
  supportsSkipLocked: false,
  singleWriter: true,
};

export const postgresCapabilities: DialectCapabilities = {
  name: 'postgres',
  autoIncrementType: 'bigserial',
  supportsSkipLocked: true,
  singleWriter: false,
};
