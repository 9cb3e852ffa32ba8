/**
 * `@batchflight/postgres`: the PostgreSQL `JobStore` for batchflight —
 * `FOR UPDATE SKIP LOCKED` batch claims, one-statement batch completion,
 * LISTEN/NOTIFY wake-ups, append-only migrations shipped in the package and a
 * configurable schema.
 */
export {
  PostgresJobStore,
  type PostgresJobStoreOptions,
  type CompletedJob,
  type AcceptedCheckpoint,
} from './store.js';
export { MIGRATIONS, type Migration } from './migrations.js';
