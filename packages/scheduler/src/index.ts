/**
 * @packageDocumentation
 * `@batchflight/scheduler`: recurring schedules for batchflight jobs. Cron
 * (croner, timezone-aware) or interval slots, each enqueued exactly once per
 * slot across every process on the store (the slot's UTC instant is in the
 * job's idempotency key), with a backfill policy after downtime, pause,
 * resume and remove; schedules live in a `ScheduleStore` beside the jobs
 * (memory, SQLite, PostgreSQL).
 */
export { scheduler, schedulerChannels, scheduledSlot, slotKey } from './scheduler.js';
export type {
  Backfill,
  EveryOptions,
  ScheduleDefinition,
  ScheduleFiredEvent,
  ScheduleInfo,
  ScheduleSkippedEvent,
  ScheduleSpec,
  ScheduleStateEvent,
  Scheduler,
  SchedulerErrorEvent,
  SchedulerOptions,
  SchedulerStats,
} from './types.js';
export { MemoryScheduleStore, type ScheduleStore } from './stores/store.js';
export {
  SqliteScheduleStore,
  type SqliteScheduleStoreOptions,
  type SqliteDatabaseLike,
} from './stores/sqlite.js';
export {
  PostgresScheduleStore,
  type PostgresScheduleStoreOptions,
  type PgPoolLike,
} from './stores/postgres.js';
