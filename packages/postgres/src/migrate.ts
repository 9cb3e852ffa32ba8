/**
 * Applies the shipped migrations (`migrations.ts`) to the store's schema, safe
 * from many processes at once: one session holds the schema's advisory lock
 * while it migrates, and the others poll for it.
 */
import pg from 'pg';
import { ClosedError, type Clock } from 'batchflight/core';
import type { PgConnection } from './connection.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import {
  CREATE_MIGRATIONS_TABLE,
  CREATE_SCHEMA,
  INDEX_VALID,
  RECORD_MIGRATION,
  SCHEMA_VERSION,
  TRY_MIGRATION_LOCK,
} from './sql/generated.js';

/** The statements of a migration (each ends with `;` at the end of a line). */
const statements = (sql: string): string[] =>
  sql
    .split(/;\s*\n/)
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
/** A `concurrently` migration as it runs inside the fresh-schema transaction. */
const withoutConcurrently = (sql: string): string => sql.replaceAll(' CONCURRENTLY', '');

/**
 * Migrates the schema of `conn` to the last shipped migration. One session for
 * the whole migration: the advisory lock is session-scoped (concurrent index
 * builds run outside any transaction). The store's own pool: a connection of
 * its own, without queryTimeoutMs (an index build may take long); a pool passed
 * in: one of its connections, destroyed afterwards. `closed` tells whether the
 * store was closed while this waits for the lock.
 */
export async function migrate(
  conn: PgConnection,
  clock: Clock,
  closed: () => boolean,
): Promise<void> {
  let client: pg.ClientBase;
  let done: () => Promise<void>;
  let open = (): Promise<void> => Promise.resolve();
  if (conn.ownsPool) {
    const own = new pg.Client(conn.clientConfig);
    own.on('error', () => undefined);
    client = own;
    open = async () => {
      await own.connect();
    };
    done = () => own.end().catch(() => undefined);
  } else {
    const borrowed = await conn.connect();
    client = borrowed;
    // Destroyed, not returned: the session's advisory lock must not go back to the pool.
    done = () => {
      borrowed.release(true);
      return Promise.resolve();
    };
  }
  try {
    await open();
    await lockMigrations(conn, client, closed);
    await applyMigrations(conn, client, clock);
  } catch (error) {
    throw conn.asTimeout(error);
  } finally {
    await done(); // ending the session releases the advisory lock
  }
}

/**
 * Takes the schema's migration lock, polling: a session blocked in `pg_advisory_lock` would
 * hold a snapshot that the holder's `CREATE INDEX CONCURRENTLY` waits for (a deadlock).
 */
async function lockMigrations(
  conn: PgConnection,
  c: pg.ClientBase,
  closed: () => boolean,
): Promise<void> {
  for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 200)) {
    const [row] = await conn.q<{ ok: boolean }>(
      TRY_MIGRATION_LOCK,
      [`batchflight:${conn.schema}`],
      c,
    );
    if (row?.ok === true) return;
    if (closed()) throw new ClosedError('PostgresJobStore is closed.');
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** The highest migration version applied (0: none). */
export async function schemaVersion(conn: PgConnection, on?: pg.ClientBase): Promise<number> {
  const [row] = await conn.q<{ v: number | null }>(SCHEMA_VERSION, [], on);
  return row?.v ?? 0;
}

/** Applies the pending migrations; the caller holds the migration lock. */
async function applyMigrations(conn: PgConnection, c: pg.ClientBase, clock: Clock): Promise<void> {
  // Plain queries (not prepared): they run once per session.
  await c.query(conn.text(CREATE_SCHEMA));
  await c.query(conn.text(CREATE_MIGRATIONS_TABLE));
  const current = await schemaVersion(conn, c);
  const pending = MIGRATIONS.filter((m) => m.version > current);
  const record = (m: Migration) =>
    c.query(conn.text(RECORD_MIGRATION), [m.version, m.name, clock.now()]);
  const inTransaction = async (ms: readonly Migration[]): Promise<void> => {
    await c.query('BEGIN');
    try {
      for (const m of ms) {
        await record(m);
        // CONCURRENTLY cannot run in a transaction; the plain build is the same index.
        await c.query(conn.text(m.concurrently === true ? withoutConcurrently(m.sql) : m.sql));
      }
      await c.query('COMMIT');
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  };
  // A fresh schema: its tables are new and empty, so one transaction and no lock matters.
  if (current === 0) {
    if (pending.length > 0) await inTransaction(pending);
    return;
  }
  for (const m of pending) {
    if (m.concurrently !== true) {
      await inTransaction([m]);
      continue;
    }
    for (const statement of statements(m.sql)) await concurrentStatement(conn, c, statement);
    await record(m); // last: after a crash the (re-runnable) statements run again
  }
}

/** One statement of a `concurrently` migration; an INVALID index a crashed build left is rebuilt. */
async function concurrentStatement(
  conn: PgConnection,
  c: pg.ClientBase,
  statement: string,
): Promise<void> {
  const created = /^CREATE INDEX CONCURRENTLY IF NOT EXISTS ([a-z_][a-z0-9_]*)/.exec(statement);
  if (created?.[1] !== undefined) {
    const { rows } = await c.query<{ valid: boolean }>(conn.text(INDEX_VALID), [
      conn.schema,
      created[1],
    ]);
    if (rows[0]?.valid === false) {
      // The index name comes from the shipped migration (matched above), not from input.
      await c.query(conn.text(`DROP INDEX CONCURRENTLY IF EXISTS {{schema}}.${created[1]}`));
    }
  }
  await c.query(conn.text(statement));
}
