/**
 * `@batchflight/postgres`: the PostgreSQL `JobStore` for batchflight —
 * `FOR UPDATE SKIP LOCKED` batch claims, one-statement batch completion,
 * LISTEN/NOTIFY wake-ups, append-only migrations shipped in the package and a
 * configurable schema — and `postgresSink()`, an idempotent `writeMany` for
 * `batchflight/stream`.
 */
export { PostgresJobStore, type PostgresJobStoreOptions } from './store.js';
export { PostgresTimeoutError, type PostgresTimeoutOperation } from './errors.js';
export type { CompletedJob, AcceptedCheckpoint } from 'batchflight/jobs';
export { MIGRATIONS, type Migration } from './migrations.js';
export {
  postgresSink,
  type PostgresSinkOptions,
  type PostgresSink,
  type PostgresSinkRow,
  type PostgresSinkResult,
} from './sink.js';
export { isPostgresRetryable } from './sink-retryable.js';
