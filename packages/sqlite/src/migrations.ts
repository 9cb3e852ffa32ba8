/**
 * The schema of the SQLite job store as append-only, numbered migrations:
 * the SQL of each is `sql/migrations/NNNN.sql`, compiled into
 * `sql/generated.ts` (no file is read at run time, so bundlers and
 * single-file deployments keep working).
 *
 * Rules: never edit a shipped migration, only append a new one
 * (`migrations.test.ts` holds the hash of each released one). `{{schema}}.`
 * is replaced by the table prefix. Every migration runs inside the same
 * `BEGIN IMMEDIATE` transaction that records it in `<prefix>migrations`, so
 * concurrent processes serialise on the database write lock: the first one
 * applies, the others wait (busy timeout), see the recorded version and skip.
 */
import {
  MIGRATIONS_0001,
  MIGRATIONS_0002,
  MIGRATIONS_0003,
  MIGRATIONS_0004,
  MIGRATIONS_0005,
  MIGRATIONS_0006,
} from './sql/generated.js';

/** One migration. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Its statements; `{{schema}}.` stands for the table prefix. */
  readonly sql: string;
}

/** Every migration, in version order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, ledger, attempt log, steps, runs and chunks',
    sql: MIGRATIONS_0001,
  },
  {
    version: 2,
    name: 'attempt payloads (recorded only with attemptPayloads: true)',
    sql: MIGRATIONS_0002,
  },
  {
    version: 3,
    name: 'dependents index; chunk attempts, retry time and errors; run maxChunkAttempts and last error',
    sql: MIGRATIONS_0003,
  },
  {
    version: 4,
    name: 'job counts kept by triggers; ready jobs by run_at',
    // counts() grouped the whole jobs table on every depth sample (~75-125 ms on 100k jobs,
    // blocking the event loop). The triggers keep one row per (queue, partition, state) in the
    // writing transaction itself, whichever statement changes a job; partition -1 is none.
    sql: MIGRATIONS_0004,
  },
  {
    version: 5,
    name: 'retry delay of the last failed attempt',
    // The worker's backoff gets it as previousDelayMs, so a growing backoff grows across
    // attempts whichever worker runs the retry (FailInput.delayMs; 0 after requeue / replay).
    sql: MIGRATIONS_0005,
  },
  {
    version: 6,
    name: 'chunks issued on demand',
    // createRun wrote every chunk row up front (a run of 1e12 items / chunk 1 would never end);
    // now a claim writes the next rows when it first leases them. Runs created before this
    // migration have all their rows: issued = chunks.
    sql: MIGRATIONS_0006,
  },
];
