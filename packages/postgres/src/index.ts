/**
 * `@batchflight/postgres`: the PostgreSQL `JobStore` for batchflight —
 * `FOR UPDATE SKIP LOCKED` batch claims, one-statement batch completion,
 * LISTEN/NOTIFY wake-ups, append-only migrations shipped in the package and a
 * configurable schema.
 */
export { PostgresJobStore, type PostgresJobStoreOptions } from './store.js';
export { PostgresTimeoutError, type PostgresTimeoutOperation } from './errors.js';
export type { CompletedJob, AcceptedCheckpoint } from 'batchflight/jobs';
export { MIGRATIONS, type Migration } from './migrations.js';
