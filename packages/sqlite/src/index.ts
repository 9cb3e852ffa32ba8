/**
 * `@batchflight/sqlite`: the embedded durable `JobStore` (better-sqlite3,
 * WAL), safe with several worker processes on one machine. The default store.
 */
export { SqliteJobStore, type SqliteJobStoreOptions } from './store.js';
export type { CompletedJob, AcceptedCheckpoint } from 'batchflight/jobs';
export { MIGRATIONS, type Migration } from './migrations.js';
