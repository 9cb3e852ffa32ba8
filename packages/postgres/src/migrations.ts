/**
 * The schema of the PostgreSQL job store as append-only, numbered migrations:
 * `sql/migrations/NNNN.sql`, compiled into `sql/generated.ts` (no file is read
 * at run time, so bundlers and single-file deployments keep working). Each
 * file's header says what the migration does and why.
 *
 * Rules: never change a shipped migration, only append a new one
 * (`migrations.test.ts` holds the hash of each shipped text and fails on an
 * edit). `{{schema}}` is replaced by the quoted schema name. `PostgresJobStore.init()`
 * holds a session advisory lock derived from the schema name while it
 * migrates (the others poll for it, so none holds a snapshot a concurrent
 * index build would wait on), so concurrent workers starting together
 * serialise: the first applies, the others then see the recorded versions
 * and skip.
 *
 * A fresh schema gets every migration in one transaction (its tables are
 * new and empty: no lock matters). An existing schema gets each migration in
 * a transaction of its own, except the `concurrently` ones: index builds on
 * tables that may be large, run statement by statement outside a
 * transaction with `CREATE INDEX CONCURRENTLY` / `DROP INDEX CONCURRENTLY`,
 * so enqueues, claims and completions go on during the build. Each of their
 * statements is safe to re-run after a crash (`IF NOT EXISTS`, `IF EXISTS`;
 * an INVALID index a crashed build left behind is dropped and built again),
 * and the migration is recorded after its last statement. (Migrations 2, 3,
 * 5 and 7 shipped as plain transactional index builds; they build the same
 * indexes as before, now without locking an upgraded table. Migrations 1 and
 * 6 also alter or create tables and stay transactional.)
 *
 * Times are `bigint` epoch milliseconds from the store's injected clock (never
 * the server's `now()`), so tests drive leases with a fake clock.
 */

import {
  MIGRATIONS_0001,
  MIGRATIONS_0002,
  MIGRATIONS_0003,
  MIGRATIONS_0004,
  MIGRATIONS_0005,
  MIGRATIONS_0006,
  MIGRATIONS_0007,
  MIGRATIONS_0008,
  MIGRATIONS_0009,
} from './sql/generated.js';

/** One migration. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements separated by `;` at the end of a line. */
  readonly sql: string;
  /**
   * Index builds only, each `CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>`
   * or `DROP INDEX CONCURRENTLY IF EXISTS`: run outside a transaction on an
   * existing schema; inside the fresh-schema transaction without
   * `CONCURRENTLY`.
   */
  readonly concurrently?: boolean;
}

/** Every migration, in version order. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'jobs, ledger, attempt log, steps, runs and chunks', sql: MIGRATIONS_0001 },
  {
    version: 2,
    name: 'ready indexes without leased jobs; BRIN for the attempt log end times',
    sql: MIGRATIONS_0002,
    concurrently: true,
  },
  { version: 3, name: 'index of the unfinished runs', sql: MIGRATIONS_0003, concurrently: true },
  { version: 4, name: 'attempt payloads', sql: MIGRATIONS_0004 },
  { version: 5, name: 'dependents index', sql: MIGRATIONS_0005, concurrently: true },
  { version: 6, name: 'failed chunk attempts', sql: MIGRATIONS_0006 },
  {
    version: 7,
    name: 'lease index keyed on the lease expiry only',
    sql: MIGRATIONS_0007,
    concurrently: true,
  },
  { version: 8, name: 'retry delay of the last failed attempt', sql: MIGRATIONS_0008 },
  { version: 9, name: 'chunks issued on demand', sql: MIGRATIONS_0009 },
];
