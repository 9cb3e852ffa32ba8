/**
 * The store's connections: the pool (its own or one passed in), the binding of
 * the schema placeholder, named prepared statements, transactions with retry
 * on deadlock, and the driver's timeouts as `PostgresTimeoutError`.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { InvalidOptionError } from 'batchflight/core';
import { describe, integerOption } from 'batchflight/kit';
import { PostgresTimeoutError } from './errors.js';
import { SCHEMA_PLACEHOLDER } from './sql/generated.js';

/** Where a statement runs: the pool, or one connection (inside a transaction). */
export type Queryable = pg.Pool | pg.ClientBase;

/** The connection options of `PostgresJobStoreOptions`. */
export interface ConnectionOptions {
  readonly pool?: pg.Pool | undefined;
  readonly connectionString?: string | undefined;
  readonly poolSize?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly queryTimeoutMs?: number | undefined;
  readonly preparedStatements?: boolean | undefined;
}

/** Options that configure the store's own pool, refused next to `pool`. */
const OWN_POOL_OPTIONS = [
  'connectionString',
  'poolSize',
  'connectTimeoutMs',
  'queryTimeoutMs',
] as const;
/** The largest timer Node arms as asked (longer ones fire at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** The driver's messages for its connect and read timeouts (pg and pg-pool 8 give no code). */
const CONNECT_TIMEOUT_RE =
  /timeout exceeded when trying to connect|Connection terminated due to connection timeout|timeout expired/;
const QUERY_TIMEOUT_RE = /Query read timeout/;
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Retried transparently: the transaction was rolled back as a whole. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * The pool of one store and how statements run on it. Statements are the
 * constants of `sql/generated.ts`: `{{schema}}` is bound to the quoted schema,
 * and with prepared statements each runs as a named statement (named by a hash
 * of its text), planned once per connection.
 */
export class PgConnection {
  /** The pool every statement runs on. */
  readonly pool: pg.Pool;
  /** Whether the store created the pool (and ends it, and configures its connections). */
  readonly ownsPool: boolean;
  /** The settings of a dedicated connection (LISTEN, migrations) to the same server. */
  readonly clientConfig: pg.ClientConfig;
  /** The schema name (unquoted). */
  readonly schema: string;
  /** Whether the statements run as named prepared statements. */
  readonly prepare: boolean;
  /** `connectTimeoutMs` of the store's own pool. */
  readonly connectTimeoutMs: number;
  /** `queryTimeoutMs` of the store's own pool. */
  readonly queryTimeoutMs: number;
  readonly #sql = new Map<string, { text: string; name: string | undefined }>();
  /** The connections of the store's own pool that have their session settings. */
  readonly #configured = new WeakSet<pg.PoolClient>();

  /** Checks the connection options (`where` names the constructor in errors) and opens no connection yet. */
  constructor(where: string, schema: string, options: ConnectionOptions) {
    if (options.pool !== undefined) {
      for (const name of OWN_POOL_OPTIONS) {
        if (options[name] !== undefined) {
          throw new InvalidOptionError(
            name,
            `${where}: option ${name} configures the store's own pool and cannot be combined with option pool (configure the pool you pass instead), got both.`,
          );
        }
      }
    }
    const timeout = (name: 'connectTimeoutMs' | 'queryTimeoutMs', def: number) =>
      Math.min(integerOption(where, name, options[name] ?? def, { min: 1 }), MAX_TIMER_MS);
    this.connectTimeoutMs = timeout('connectTimeoutMs', 10_000);
    this.queryTimeoutMs = timeout('queryTimeoutMs', 30_000);
    this.schema = schema;
    const poolSize = options.poolSize ?? 10;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) {
      throw new InvalidOptionError(
        'poolSize',
        `${where}: option poolSize must be an integer >= 1, got ${describe(poolSize)}.`,
      );
    }
    const prepare = options.preparedStatements ?? true;
    if (typeof prepare !== 'boolean') {
      throw new InvalidOptionError(
        'preparedStatements',
        `${where}: option preparedStatements must be a boolean, got ${describe(prepare)}.`,
      );
    }
    this.prepare = prepare;
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.ownsPool = false;
      // The pool's own connection settings, for the dedicated LISTEN client.
      this.clientConfig = { ...(options.pool.options as pg.ClientConfig) };
      return;
    }
    const connectionString = options.connectionString ?? DEFAULT_URL;
    if (typeof connectionString !== 'string' || connectionString.length === 0) {
      throw new InvalidOptionError(
        'connectionString',
        `${where}: option connectionString must be a non-empty string, got ${describe(connectionString)}.`,
      );
    }
    this.clientConfig = { connectionString, connectionTimeoutMillis: this.connectTimeoutMs };
    this.pool = new pg.Pool({
      connectionString,
      max: poolSize,
      connectionTimeoutMillis: this.connectTimeoutMs,
      query_timeout: this.queryTimeoutMs,
    });
    this.ownsPool = true;
    // An idle client dying (server restart) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  /** `sql` with the schema placeholder bound to the quoted schema. */
  text(sql: string): string {
    return this.#statement(sql).text;
  }

  /** The statement of a SQL template, named by a hash of its text when prepared statements are on. */
  #statement(sql: string): { text: string; name: string | undefined } {
    let st = this.#sql.get(sql);
    if (st === undefined) {
      const text = sql.replaceAll(SCHEMA_PLACEHOLDER, `"${this.schema}"`);
      const name = this.prepare
        ? `bf_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
        : undefined;
      st = { text, name };
      this.#sql.set(sql, st);
    }
    return st;
  }

  /** Runs one statement (on the pool unless `on` is given) and returns its rows. */
  async q<R>(sql: string, values: unknown[] = [], on: Queryable = this.pool): Promise<R[]> {
    const { text, name } = this.#statement(sql);
    const query = name === undefined ? { text, values } : { name, text, values };
    if (on !== this.pool || !this.ownsPool) {
      try {
        return (await on.query<R & pg.QueryResultRow>(query)).rows;
      } catch (error) {
        throw this.asTimeout(error);
      }
    }
    // What `pool.query` does, on a connection of ours that has its settings.
    const client = await this.connect();
    try {
      const res = await client.query<R & pg.QueryResultRow>(query);
      client.release();
      return res.rows;
    } catch (error) {
      client.release(error as Error);
      throw this.asTimeout(error);
    }
  }

  /**
   * The driver's connect and read timeouts as a `PostgresTimeoutError` (the
   * driver's error as `cause`); any other error as it is.
   */
  asTimeout(error: unknown): unknown {
    if (!(error instanceof Error) || PostgresTimeoutError.is(error)) return error;
    const own = this.ownsPool;
    const poolOptions = this.pool.options as {
      connectionTimeoutMillis?: number;
      query_timeout?: number;
    };
    if (CONNECT_TIMEOUT_RE.test(error.message)) {
      const ms = own ? this.connectTimeoutMs : (poolOptions.connectionTimeoutMillis ?? 0);
      return new PostgresTimeoutError(
        'connect',
        ms,
        `PostgresJobStore: no connection to PostgreSQL within ${own ? 'connectTimeoutMs' : "the pool's connectionTimeoutMillis"} (${String(ms)} ms): the server is unreachable or does not answer (${error.message}).`,
        { cause: error },
      );
    }
    if (QUERY_TIMEOUT_RE.test(error.message)) {
      const ms = own ? this.queryTimeoutMs : (poolOptions.query_timeout ?? 0);
      return new PostgresTimeoutError(
        'query',
        ms,
        `PostgresJobStore: PostgreSQL did not answer a statement within ${own ? 'queryTimeoutMs' : "the pool's query_timeout"} (${String(ms)} ms); the connection was discarded and the statement may or may not have committed (${error.message}).`,
        { cause: error },
      );
    }
    return error;
  }

  /**
   * A connection of the pool. One the store created gets, on its first use,
   * `jit = off`: once the jobs table has statistics, the planner's cost of the
   * claim statement passes `jit_above_cost` and compiling it takes ~1 s per
   * claim, for a statement that runs in ~5 ms. With prepared statements also
   * `plan_cache_mode = force_generic_plan` (see the claim).
   */
  async connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.asTimeout(error);
    }
    if (this.ownsPool && !this.#configured.has(client)) {
      try {
        // One round trip (simple protocol, two commands). With prepared statements every
        // statement of this pool runs its generic plan (see `claim`), so a claim is one
        // statement instead of BEGIN / SET LOCAL / claim / COMMIT.
        await client.query(
          this.prepare
            ? 'SET jit = off; SET plan_cache_mode = force_generic_plan'
            : 'SET jit = off',
        );
      } catch (error) {
        client.release(error as Error);
        throw this.asTimeout(error);
      }
      this.#configured.add(client);
    }
    return client;
  }

  /** Runs `fn` in one transaction; retried on deadlock / serialization failure. */
  async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        const code = (error as { code?: unknown }).code;
        if (attempt < 5 && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw this.asTimeout(error);
      } finally {
        client.release(broken);
      }
    }
  }
}
