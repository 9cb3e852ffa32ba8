/**
 * `@batchflight/sqlite`: the embedded durable `JobStore` (better-sqlite3,
 * WAL), safe with several worker processes on one machine. The default store.
 */
export {
  SqliteJobStore,
  type SqliteJobStoreOptions,
  type CompletedJob,
  type AcceptedCheckpoint,
} from './store.js';
export { MIGRATIONS, type Migration } from './migrations.js';
