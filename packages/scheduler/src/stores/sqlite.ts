/**
 * `SqliteScheduleStore`: schedules in the SQLite file of the job store
 * (`new SqliteScheduleStore({ db: jobStore.db })`), in a table of its own,
 * `batchflight_schedules_v1` (the version is in the name: a later shape gets
 * a new table, never an in-place migration). Every statement is one atomic
 * SQLite statement, so processes sharing the file agree on the cursor.
 *
 * The database is typed structurally (the few better-sqlite3 methods used),
 * so this package has no runtime dependency on the driver.
 */
import type { ScheduleDefinition, ScheduleInfo } from '../types.js';
import { COLUMNS, toInfo, type ScheduleRow } from './rows.js';
import type { ScheduleStore } from './store.js';

/** The better-sqlite3 `Database` methods this store uses. */
export interface SqliteDatabaseLike {
  exec(sql: string): unknown;
  prepare(sql: string): {
    run(...params: unknown[]): { changes: number };
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  };
}

/** Options of {@link SqliteScheduleStore}. */
export interface SqliteScheduleStoreOptions {
  /** The job store's database (`SqliteJobStore#db`). */
  readonly db: SqliteDatabaseLike;
}

const TABLE = 'batchflight_schedules_v1';

/** Schedules in SQLite. */
export class SqliteScheduleStore implements ScheduleStore {
  readonly #db: SqliteDatabaseLike;

  constructor(options: SqliteScheduleStoreOptions) {
    this.#db = options.db;
  }

  init(): Promise<void> {
    this.#db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (
      name TEXT PRIMARY KEY,
      definition TEXT NOT NULL,
      paused INTEGER NOT NULL DEFAULT 0,
      cursor INTEGER NOT NULL,
      last_fired INTEGER,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT`);
    return Promise.resolve();
  }

  async define(name: string, definition: ScheduleDefinition, now: number): Promise<ScheduleInfo> {
    const row = this.#db
      .prepare(
        `INSERT INTO ${TABLE} (name, definition, paused, cursor, created_at, updated_at)
         VALUES (?, ?, 0, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
         RETURNING ${COLUMNS}`,
      )
      .get(name, JSON.stringify(definition), now, now, now) as ScheduleRow;
    return Promise.resolve(toInfo(row));
  }

  get(name: string): Promise<ScheduleInfo | undefined> {
    const row = this.#db.prepare(`SELECT ${COLUMNS} FROM ${TABLE} WHERE name = ?`).get(name) as
      ScheduleRow | undefined;
    return Promise.resolve(row && toInfo(row));
  }

  list(): Promise<ScheduleInfo[]> {
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM ${TABLE} ORDER BY name`)
      .all() as ScheduleRow[];
    return Promise.resolve(rows.map(toInfo));
  }

  setPaused(name: string, paused: boolean, now: number): Promise<boolean> {
    const { changes } = this.#db
      .prepare(
        `UPDATE ${TABLE} SET paused = ?, cursor = CASE WHEN ? THEN cursor ELSE max(cursor, ?) END,
         updated_at = ? WHERE name = ?`,
      )
      .run(paused ? 1 : 0, paused ? 1 : 0, now, now, name);
    return Promise.resolve(changes === 1);
  }

  remove(name: string): Promise<boolean> {
    const { changes } = this.#db.prepare(`DELETE FROM ${TABLE} WHERE name = ?`).run(name);
    return Promise.resolve(changes === 1);
  }

  advance(name: string, to: number, firedSlot: number | null, now: number): Promise<boolean> {
    const { changes } = this.#db
      .prepare(
        `UPDATE ${TABLE} SET cursor = ?, last_fired = coalesce(?, last_fired), updated_at = ?
         WHERE name = ? AND cursor < ?`,
      )
      .run(to, firedSlot, now, name, to);
    return Promise.resolve(changes === 1);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
