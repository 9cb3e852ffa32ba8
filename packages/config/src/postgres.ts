/**
 * Fleet distribution over PostgreSQL: the {@link FleetStore} of `ConfigChannel` in two
 * tables of one schema, with LISTEN/NOTIFY for the notification (a follower polls as
 * well, for a missed notification or while the listening connection is down).
 *
 * Tables, in a schema (default `batchflight_config`), created on first use:
 * - `revisions (revision int PRIMARY KEY, record jsonb)`: `{ text, format?, author, at, rollbackOf?, diff }`
 * - `processes (process_id text PRIMARY KEY, status jsonb, at bigint)`
 *
 * A revision's number is the last one plus one, taken under a transaction-scoped advisory
 * lock of the schema, so concurrent publishers queue instead of colliding; its NOTIFY is
 * sent in the same transaction and so reaches the listeners only once the row is visible.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  ConfigChannel,
  type ConfigChannelOptions,
  type ConfigRevision,
  type FleetStore,
  type FleetSubscription,
  type FollowerStatus,
  type RevisionRecord,
} from './revisions.js';

// The channel's types (ConfigRevision, FollowOptions, …) are exported by `@batchflight/config`.

/** Options of {@link PostgresConfigChannel} and {@link PostgresFleetStore}. */
export interface PostgresConfigChannelOptions extends ConfigChannelOptions {
  /** A pool of the caller's (not ended by `close()`); the listener holds one of its clients. */
  readonly pool?: pg.Pool;
  /** Or a connection string: the store opens (and closes) a small pool of its own. */
  readonly connectionString?: string;
  /** The schema of the tables. Default `'batchflight_config'`. */
  readonly schema?: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** The NOTIFY channel of a schema: a name of at most 63 bytes, as PostgreSQL allows. */
function channelOf(schema: string): string {
  const name = `batchflight_config.${schema}`;
  return name.length <= 63
    ? name
    : `batchflight_config.${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

/** The revisions and process reports of one schema in PostgreSQL. */
export class PostgresFleetStore implements FleetStore {
  readonly #pool: pg.Pool;
  readonly #ownPool: boolean;
  readonly #schema: string;
  readonly #channel: string;
  #init: Promise<void> | undefined;
  readonly label: string;

  constructor(options: Omit<PostgresConfigChannelOptions, 'clock'>) {
    const schema = options.schema ?? 'batchflight_config';
    if (!IDENTIFIER.test(schema)) {
      throw new TypeError(
        `PostgresFleetStore: schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters), got ${JSON.stringify(schema)}.`,
      );
    }
    if (options.pool === undefined && options.connectionString === undefined) {
      throw new TypeError('PostgresFleetStore: give a pool or a connectionString.');
    }
    this.#schema = schema;
    this.#channel = channelOf(schema);
    this.label = `postgres ${schema}`;
    this.#ownPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.connectionString,
        max: 3,
        connectionTimeoutMillis: 2_000,
      });
    // An idle client of our own pool that loses its connection must not crash the process;
    // the next query gets a fresh one (or fails, and the follower says unreachable).
    if (this.#ownPool) this.#pool.on('error', () => undefined);
  }

  /** Creates the schema and tables once (again after a failure). */
  #ready(): Promise<void> {
    this.#init ??= this.#transaction(async (client) => {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${this.#schema}".revisions (revision integer PRIMARY KEY, record jsonb NOT NULL)`,
      );
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${this.#schema}".processes (process_id text PRIMARY KEY, status jsonb NOT NULL, at bigint NOT NULL)`,
      );
    }).catch((error: unknown) => {
      this.#init = undefined;
      throw error;
    });
    return this.#init;
  }

  /** Runs `body` in a transaction holding the schema's advisory lock. */
  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      // Concurrent CREATE ... IF NOT EXISTS and concurrent numbering both need one at a time.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.#channel]);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    await this.#ready();
    return (await this.#pool.query<R>(sql, values)).rows;
  }

  async append(record: RevisionRecord): Promise<number> {
    await this.#ready();
    return this.#transaction(async (client) => {
      const { rows } = await client.query<{ revision: number }>(
        `INSERT INTO "${this.#schema}".revisions (revision, record)
           SELECT coalesce(max(revision), 0) + 1, $1::jsonb FROM "${this.#schema}".revisions
         RETURNING revision`,
        [JSON.stringify(record)],
      );
      const revision = rows[0]?.revision ?? 0;
      await client.query('SELECT pg_notify($1, $2)', [this.#channel, String(revision)]);
      return revision;
    });
  }

  async latest(): Promise<number> {
    const rows = await this.#query<{ n: number }>(
      `SELECT coalesce(max(revision), 0) AS n FROM "${this.#schema}".revisions`,
    );
    return rows[0]?.n ?? 0;
  }

  async read(revision: number): Promise<RevisionRecord | undefined> {
    const rows = await this.#query<{ record: RevisionRecord }>(
      `SELECT record FROM "${this.#schema}".revisions WHERE revision = $1`,
      [revision],
    );
    return rows[0]?.record;
  }

  async readAll(): Promise<ConfigRevision[]> {
    const rows = await this.#query<{ revision: number; record: RevisionRecord }>(
      `SELECT revision, record FROM "${this.#schema}".revisions ORDER BY revision`,
    );
    return rows.map((row) => ({ revision: row.revision, ...row.record }));
  }

  async report(processId: string, status: FollowerStatus): Promise<void> {
    // A report never replaces a newer one of the same process (two pool clients may commit
    // out of order).
    await this.#query(
      `INSERT INTO "${this.#schema}".processes (process_id, status, at) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (process_id) DO UPDATE SET status = EXCLUDED.status, at = EXCLUDED.at
         WHERE processes.at <= EXCLUDED.at`,
      [processId, JSON.stringify(status), status.at],
    );
  }

  async reports(): Promise<Record<string, FollowerStatus>> {
    const rows = await this.#query<{ process_id: string; status: FollowerStatus }>(
      `SELECT process_id, status FROM "${this.#schema}".processes`,
    );
    return Object.fromEntries(rows.map((row) => [row.process_id, row.status]));
  }

  listen(
    onPublished: (revision: number) => void,
    onError: (error: unknown) => void,
  ): FleetSubscription {
    let client: pg.PoolClient | undefined;
    let connecting: Promise<void> | undefined;
    let closed = false;
    const onNotification = (message: pg.Notification): void => {
      if (message.channel === this.#channel) onPublished(Number(message.payload));
    };
    // One held client of the pool, LISTENing; re-made on the next poll after it is lost.
    const connect = (): Promise<void> =>
      (connecting ??= (async () => {
        await this.#ready();
        const held = await this.#pool.connect();
        const release = (error?: Error): void => {
          held.off('notification', onNotification);
          held.off('error', lost);
          held.off('end', ended);
          if (client === held) client = undefined;
          held.release(error);
        };
        const lost = (error: unknown): void => {
          if (client !== held) return;
          const reason = error instanceof Error ? error : new Error(String(error));
          release(reason);
          onError(reason);
        };
        const ended = (): void => {
          lost(new Error(`${this.label}: the listening connection ended`));
        };
        // A client released with an error may still emit one as it goes: never unhandled.
        held.on('error', () => undefined);
        held.on('error', lost);
        held.on('end', ended);
        held.on('notification', onNotification);
        try {
          await held.query(`LISTEN "${this.#channel}"`);
        } catch (error) {
          release(error instanceof Error ? error : new Error(String(error)));
          throw error;
        }
        client = held;
        releaseHeld = release;
        if (closed) release();
      })().finally(() => {
        connecting = undefined;
      }));
    let releaseHeld: ((error?: Error) => void) | undefined;
    // Not listening now is not fatal: the follower polls, and ensure() retries on each poll.
    const listening = connect().catch(onError);
    return {
      listening,
      ensure: async () => {
        if (client === undefined && !closed) await connect();
      },
      close: async () => {
        closed = true;
        await connecting?.catch(() => undefined);
        const held = client;
        if (held !== undefined) {
          await held.query(`UNLISTEN "${this.#channel}"`).catch(() => undefined);
          releaseHeld?.();
        }
      },
    };
  }

  /** Ends the pool when the store opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#ownPool && !this.#pool.ended) await this.#pool.end();
  }
}

/**
 * `ConfigChannel` over PostgreSQL: `publish`, `rollback`, `history`, `status`,
 * `processes` on the coordinator, `follow` in every process.
 *
 * @example
 * ```ts
 * const fleet = new PostgresConfigChannel({ pool });
 * const follower = fleet.follow(registry);             // in every process
 * await fleet.publish(text, { author: 'ops@example' }); // on the coordinator
 * ```
 */
export class PostgresConfigChannel extends ConfigChannel {
  readonly #store: PostgresFleetStore;

  constructor(options: PostgresConfigChannelOptions) {
    const store = new PostgresFleetStore(options);
    super(store, options);
    this.#store = store;
  }

  /** Ends the pool the channel opened from a connection string (a given pool stays). */
  close(): Promise<void> {
    return this.#store.close();
  }
}
