/**
 * `PostgresScheduleStore`: schedules in the job store's database
 * (`new PostgresScheduleStore({ pool: jobStore.pool, schema: jobStore.schema })`),
 * in a table of its own, `<schema>.batchflight_schedules_v1` (the version is
 * in the name: a later shape gets a new table). `init()` creates it under a
 * transaction-scoped advisory lock, since concurrent `CREATE TABLE IF NOT
 * EXISTS` can still collide in PostgreSQL's catalog. The cursor moves with
 * one atomic `UPDATE … WHERE cursor < $to`, so concurrent processes agree.
 *
 * The pool is typed structurally (the pg methods used), so this package has
 * no runtime dependency on the driver.
 */
import { InvalidOptionError } from 'batchflight';
import type { ScheduleDefinition, ScheduleInfo } from '../types.js';
import { COLUMNS, toInfo, type ScheduleRow } from './rows.js';
import type { ScheduleStore } from './store.js';

interface QueryResultLike {
  readonly rows: unknown[];
  readonly rowCount: number | null;
}

/** The pg `Pool` methods this store uses. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<QueryResultLike>;
  connect(): Promise<{
    query(text: string, values?: unknown[]): Promise<QueryResultLike>;
    release(): void;
  }>;
}

/** Options of {@link PostgresScheduleStore}. */
export interface PostgresScheduleStoreOptions {
  /** The job store's pool (`PostgresJobStore#pool`); never ended by this store. */
  readonly pool: PgPoolLike;
  /** The schema, `[a-z_][a-z0-9_]{0,47}`. Default `'batchflight'` (the job store's default). */
  readonly schema?: string;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,47}$/;

/** Schedules in PostgreSQL. */
export class PostgresScheduleStore implements ScheduleStore {
  readonly #pool: PgPoolLike;
  readonly #schema: string;
  readonly #table: string;

  constructor(options: PostgresScheduleStoreOptions) {
    const schema = options.schema ?? 'batchflight';
    if (!SCHEMA_RE.test(schema)) {
      throw new InvalidOptionError(
        'schema',
        `new PostgresScheduleStore(): option schema must match [a-z_][a-z0-9_]{0,47}, got ${JSON.stringify(schema)}.`,
      );
    }
    this.#pool = options.pool;
    this.#schema = schema;
    this.#table = `"${schema}".batchflight_schedules_v1`;
  }

  async init(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.#table]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.#table} (
        name text PRIMARY KEY,
        definition text NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        cursor bigint NOT NULL,
        last_fired bigint,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async define(name: string, definition: ScheduleDefinition, now: number): Promise<ScheduleInfo> {
    const { rows } = await this.#pool.query(
      `INSERT INTO ${this.#table} (name, definition, paused, cursor, created_at, updated_at)
       VALUES ($1, $2, false, $3, $3, $3)
       ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
       RETURNING ${COLUMNS}`,
      [name, JSON.stringify(definition), now],
    );
    return toInfo(rows[0] as ScheduleRow);
  }

  async get(name: string): Promise<ScheduleInfo | undefined> {
    const { rows } = await this.#pool.query(
      `SELECT ${COLUMNS} FROM ${this.#table} WHERE name = $1`,
      [name],
    );
    const row = rows[0] as ScheduleRow | undefined;
    return row && toInfo(row);
  }

  async list(): Promise<ScheduleInfo[]> {
    const { rows } = await this.#pool.query(`SELECT ${COLUMNS} FROM ${this.#table} ORDER BY name`);
    return (rows as ScheduleRow[]).map(toInfo);
  }

  async setPaused(name: string, paused: boolean, now: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} SET paused = $2,
       cursor = CASE WHEN $2 THEN cursor ELSE greatest(cursor, $3) END, updated_at = $3
       WHERE name = $1`,
      [name, paused, now],
    );
    return rowCount === 1;
  }

  async remove(name: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`DELETE FROM ${this.#table} WHERE name = $1`, [
      name,
    ]);
    return rowCount === 1;
  }

  async advance(name: string, to: number, firedSlot: number | null, now: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} SET cursor = $2, last_fired = coalesce($3, last_fired), updated_at = $4
       WHERE name = $1 AND cursor < $2`,
      [name, to, firedSlot, now],
    );
    return rowCount === 1;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
