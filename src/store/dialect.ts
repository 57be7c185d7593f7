// Dialects as explicit capabilities: code asks `caps.supportsSkipLocked`, never `dialect === ...`.
import type { ColumnDataType } from 'kysely';

export interface DialectCapabilities {
  name: 'sqlite' | 'postgres';
  /** column type of an auto-incrementing integer key */
  autoIncrementType: ColumnDataType;
  /** SELECT ... FOR UPDATE SKIP LOCKED lets several executors claim work from one database */
  supportsSkipLocked: boolean;
  /** INSERT, UPDATE and DELETE inside WITH: several writes in one statement (one round trip) */
  supportsWritableCte: boolean;
  /** the database serialises all writers (one process owns the file) */
  singleWriter: boolean;
  /** transactions can commit out of the order their sequence ids were drawn (see event-horizon.ts) */
  commitsOutOfIdOrder: boolean;
  /** the state core may install and call server-side functions (one round trip per outcome) */
  serverFunctions: boolean;
}

export const sqliteCapabilities: DialectCapabilities = {
  name: 'sqlite',
  autoIncrementType: 'integer',
  supportsSkipLocked: false,
  supportsWritableCte: false,
  singleWriter: true,
  commitsOutOfIdOrder: false,
  serverFunctions: false,
};

export const postgresCapabilities: DialectCapabilities = {
  name: 'postgres',
  autoIncrementType: 'bigserial',
  supportsSkipLocked: true,
  supportsWritableCte: true,
  singleWriter: false,
  commitsOutOfIdOrder: true,
  serverFunctions: true,
};
