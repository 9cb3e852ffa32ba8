/**
 * `PostgresJobStore`: the `JobStore` contract on PostgreSQL (pg).
 *
 * Design:
 * - Claims are ONE statement: a CTE that walks the open fairness keys, takes
 *   up to `limit` ready candidates per key `FOR UPDATE SKIP LOCKED`, ranks them
 *   by weighted fair share and aged priority, leases the best `limit` (epoch +
 *   1, lease expiry), logs reclaimed expired leases and dead-letters exhausted
 *   ones — so concurrent workers never wait on each other and never share a job.
 * - `complete`, `fail` and `heartbeat` of many jobs are ONE statement each:
 *   a compare-and-set on `(seq, epoch, state = 'leased')` over `unnest()`ed
 *   arrays that also appends the attempt log and updates the ledger, and
 *   returns the refused ones with the reason.
 * - Every timestamp is a `bigint` of epoch ms from the injected `Clock`, passed
 *   as a parameter; the server's `now()` is never read, so `TestClock` drives
 *   leases, retries and aging in tests exactly as in the memory store. Workers
 *   on several machines must therefore have reasonably synchronised clocks (NTP):
 *   a skew of `s` ms shortens or lengthens a lease by `s`.
 * - Wake-ups: every statement that makes jobs claimable sends
 *   `pg_notify('<schema>:jobs', …)` (delivered at commit); `onEnqueued`
 *   listeners are served by one dedicated LISTEN connection that reconnects
 *   with backoff, and by a direct in-process emit for this instance's own
 *   enqueues. Polling by the worker stays the fallback.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  ClosedError,
  InvalidOptionError,
  Listeners,
  booleanOption,
  describe,
  integerOption,
  knownOptions,
  systemClock,
  type Clock,
  type Subscription,
} from 'batchflight/core';
import {
  DEPENDENCY_FAILED_STATES,
  JobConflictError,
  JobDependencyError,
  checkClaim,
  checkId,
  dependencyEndedError,
  checkPurge,
  checkReplay,
  normalizeRun,
  runFingerprint,
  storableText,
  normalizeEnqueue,
  enqueuedEvents,
  zeroCounts,
  type AttemptOutcome,
  type AttemptQuery,
  type AttemptRecord,
  type BackoffSpec,
  type AcceptedCheckpoint,
  type CheckpointInput,
  type ChunkLease,
  type ChunkRef,
  type ClaimChunksOptions,
  type ClaimOptions,
  type FailChunkInput,
  type CompleteInput,
  type CompletedJob,
  type CreateRunSpec,
  type EnqueueResult,
  type EnqueueSpec,
  type EnqueuedEvent,
  type FailInput,
  type FailResult,
  type JobCounts,
  type JobQuery,
  type JobRecord,
  type JobState,
  type JobStore,
  type JobStoreOptions,
  type LeaseRef,
  type NormalizedEnqueue,
  type PurgeOptions,
  type PutStepInput,
  type Refusal,
  type ReplayOptions,
  type RequeueOptions,
  type RunRecord,
  type RunState,
  type SettleResult,
  type StepValue,
} from 'batchflight/jobs';
import { PostgresTimeoutError } from './errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** Options of {@link PostgresJobStore}. */
export interface PostgresJobStoreOptions extends JobStoreOptions {
  /**
   * A pool to use; the store never ends it. Not with `connectionString`,
   * `poolSize`, `connectTimeoutMs` or `queryTimeoutMs` (they configure the
   * store's own pool).
   */
  readonly pool?: pg.Pool;
  /**
   * Creates (and on `close()` ends) a pool of `poolSize` connections. They run
   * with `jit = off` (set once per connection, not as a startup parameter, which
   * connection poolers may refuse): once the jobs table has statistics, the
   * planner's cost of the claim statement passes `jit_above_cost` and compiling
   * it takes ~1 s per claim, for a statement that runs in ~5 ms. With
   * `preparedStatements` they also run with `plan_cache_mode = force_generic_plan`
   * (see the claim). (A pool passed as `pool` keeps its own settings: set
   * `options: '-c jit=off'` on it.)
   */
  readonly connectionString?: string;
  /** Connections of the pool the store creates. Default 10. */
  readonly poolSize?: number;
  /**
   * How long opening a connection of the store's own pool (and its LISTEN
   * connection) may take, ms, before the call fails with a
   * `PostgresTimeoutError` (`operation: 'connect'`). Default 10 000. Not with
   * `pool` (set `connectionTimeoutMillis` on it).
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long one statement of the store's own pool may wait for the server's
   * answer, ms (client side: also bounds a server that stopped answering),
   * before it fails with a `PostgresTimeoutError` (`operation: 'query'`) and
   * its connection is discarded. Migrations (`init()`) are not bounded by it:
   * an index build on a large table may take long. Default 30 000. Not with
   * `pool` (set `query_timeout` on it).
   */
  readonly queryTimeoutMs?: number;
  /**
   * How long `close()` waits for connections to end, ms, before it rejects
   * with a `PostgresTimeoutError` (`operation: 'close'`); the store is closed
   * either way. Default 5 000.
   */
  readonly closeTimeoutMs?: number;
  /**
   * The schema holding every table, `[a-z_][a-z0-9_]{0,47}` (quoted in SQL).
   * Created by `init()`. Default `'batchflight'`.
   */
  readonly schema?: string;
  /**
   * Runs inside the completion transaction, after the compare-and-set, with
   * only the accepted completions. Write a job's effects with `client` here and
   * they commit atomically with its success: exactly once, even when a worker
   * is killed at any instant. Throwing (rejecting) rolls the completion back.
   */
  readonly onComplete?: (
    client: pg.PoolClient,
    completed: readonly CompletedJob[],
  ) => Promise<void> | void;
  /** Like `onComplete`, for an accepted chunk checkpoint (effects of items `[from, to)`). */
  readonly onCheckpoint?: (
    client: pg.PoolClient,
    checkpoint: AcceptedCheckpoint,
  ) => Promise<void> | void;
  /** First delay before reconnecting the LISTEN connection, ms (doubles up to 5 s). Default 100. */
  readonly reconnectDelayMs?: number;
  /**
   * Run the hot statements as named prepared statements (planned once per
   * connection; planning the claim CTE costs more than running it). Turn off
   * behind a transaction-pooling proxy without prepared-statement support.
   * Default true.
   */
  readonly preparedStatements?: boolean;
}

type Queryable = pg.Pool | pg.ClientBase;

interface JobRow {
  seq: string;
  queue: string;
  name: string;
  payload: unknown;
  state: JobState;
  idempotency_key: string | null;
  partition_key: string | null;
  partition: number | null;
  ordered: boolean;
  priority: string;
  run_at: string;
  has_deps: boolean;
  deps: string[] | null;
  attempts: number;
  max_attempts: number;
  backoff: BackoffSpec | null;
  epoch: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  started_at: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  result: unknown;
  last_error: string | null;
  retry_delay_ms: string;
}

interface SettleRow {
  ord: string;
  seq: string;
  epoch: string;
  ok: boolean;
  state: JobState | null;
  cur: string | null;
}

const WHERE = 'new PostgresJobStore()';
const OPTIONS = [
  'pool',
  'connectionString',
  'poolSize',
  'connectTimeoutMs',
  'queryTimeoutMs',
  'closeTimeoutMs',
  'schema',
  'onComplete',
  'onCheckpoint',
  'reconnectDelayMs',
  'preparedStatements',
  'clock',
  'attemptPayloads',
] as const;
/** Options that configure the store's own pool, refused next to `pool`. */
const OWN_POOL_OPTIONS = [
  'connectionString',
  'poolSize',
  'connectTimeoutMs',
  'queryTimeoutMs',
] as const;
/** The largest timer Node arms as asked (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The driver's messages for its connect and read timeouts (pg and pg-pool 8 give no code). */
const CONNECT_TIMEOUT_RE =
  /timeout exceeded when trying to connect|Connection terminated due to connection timeout|timeout expired/;
const QUERY_TIMEOUT_RE = /Query read timeout/;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,47}$/;
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
const toSeq = (id: string): string => (/^[1-9][0-9]{0,17}$/.test(id) ? id : '-1');
const num = (v: string | number | null): number | null => (v === null ? null : Number(v));
const json = (v: unknown): string => JSON.stringify(v ?? null);
/** The statements of a migration (each ends with `;` at the end of a line). */
const statements = (sql: string): string[] =>
  sql
    .split(/;\s*\n/)
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
/** A `concurrently` migration as it runs inside the fresh-schema transaction. */
const withoutConcurrently = (sql: string): string => sql.replaceAll(' CONCURRENTLY', '');
/** `FailInput.delayMs` as kept (`retryDelayMs`): an integer >= 0, 0 when absent or not one. */
const retryDelay = (ms: unknown): number =>
  typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : 0;
/** Retried transparently: the transaction was rolled back as a whole. */
const RETRYABLE = new Set(['40P01', '40001']);

/** The columns a `JobRecord` is read from, but `deps` (`j` is the row alias). */
const RECORD_COLUMNS = `j.seq, j.queue, j.name, j.payload, j.state, j.idempotency_key, j.partition_key,
  j.partition, j.ordered, j.priority, j.run_at, j.attempts, j.max_attempts, j.backoff, j.epoch,
  j.lease_owner, j.lease_expires_at, j.started_at, j.created_at, j.updated_at, j.finished_at,
  j.result, j.last_error, j.retry_delay_ms`;

/** The columns of a job with its dependencies (`j` is the row alias). */
const DEPS = `CASE WHEN j.has_deps THEN ARRAY(SELECT d.depends_on::text FROM {s}.job_deps d
  WHERE d.job_seq = j.seq ORDER BY d.depends_on) END AS deps`;

/**
 * The current state and epoch of each input row `i` that the statement's `upd` did not
 * accept (`j`), for the refusal reasons; a lateral index lookup per refused row only, where a
 * plain join made the planner hash the whole jobs table for a batch of 500 (`LIMIT 1` keeps
 * the planner from flattening the subquery back into that join).
 */
const REFUSED_JOB = `LEFT JOIN LATERAL (SELECT state, epoch FROM {s}.jobs
  WHERE seq = i.seq AND u.ord IS NULL LIMIT 1) j ON true`;

/**
 * A column `leased` of the input rows `i` of a compare-and-set, compared as `j.state =
 * i.leased`: a join clause instead of the restriction `j.state = 'leased'`, which the
 * statistics (taken while jobs wait) estimate at about one row. With that estimate the planner
 * scanned the jobs table once and nested every input row under each leased job it found
 * (quadratic: ~50 ms for a complete of 500 on a table of 20,000); without it, the input
 * drives primary-key lookups (or a hash join on a small table).
 */
const LEASED = `'leased'::text AS leased`;

/**
 * Ends a settle statement that returns the refused input rows only (`u.ord IS NULL`): a batch
 * that is all accepted sends no row back (500 rows less to write and to parse). The counts are
 * a one-time filter: when every input row was accepted (`upd` has one row per distinct `ord`),
 * the anti-join and its two sorts of the batch are not run at all (complete: ~3% less server CPU).
 */
const ONLY_REFUSED = `WHERE u.ord IS NULL
  AND (SELECT count(*) FROM upd) < (SELECT count(*) FROM i) ORDER BY i.ord`;

/** The settle rows of every input from the refused ones: the inputs not among them were accepted. */
function withAccepted(refused: readonly SettleRow[], refs: readonly LeaseRef[]): SettleRow[] {
  const byOrd = new Map(refused.map((r) => [Number(r.ord), r]));
  return refs.map(
    (ref, k) =>
      byOrd.get(k + 1) ?? {
        ord: String(k + 1),
        seq: ref.id,
        epoch: String(ref.epoch),
        ok: true,
        state: null,
        cur: null,
      },
  );
}

/**
 * Finishes the running or paused runs matching `where` (`r` is the run) whose chunks are all
 * done, at `now` (a parameter). Matches no row (and writes nothing) while a chunk is open.
 */
const FINISH_RUNS = (where: string, now: string): string => `UPDATE {s}.runs r
  SET state = 'succeeded', finished_at = ${now}, updated_at = ${now}
  WHERE ${where} AND r.state IN ('running', 'paused')
    AND r.issued >= r.chunks
    AND NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.run_seq = r.seq AND c.state <> 'done')`;

/** Job `j` has a dependency that went dead or cancelled (it must not go back to pending). */
const ENDED_DEP = `(j.has_deps AND EXISTS (SELECT 1 FROM {s}.job_deps d JOIN {s}.jobs dj
  ON dj.seq = d.depends_on WHERE d.job_seq = j.seq AND dj.state IN ('dead', 'cancelled')))`;

/** Job `j` waits on nothing: every dependency succeeded, and it heads its ordered partition. */
const UNBLOCKED = `(NOT j.has_deps OR NOT EXISTS (
    SELECT 1 FROM {s}.job_deps d JOIN {s}.jobs dj ON dj.seq = d.depends_on
    WHERE d.job_seq = j.seq AND dj.state <> 'succeeded'))
  AND (NOT j.ordered OR NOT EXISTS (
    SELECT 1 FROM {s}.jobs o WHERE o.ordered AND o.queue = j.queue
      AND o.partition_key = j.partition_key AND o.seq < j.seq
      AND o.state IN ('pending', 'leased', 'failed')))`;

/** Keeps the ledger entry of each job in `upd` in step with the job's state. */
const LEDGER_SYNC = (src: string): string => `UPDATE {s}.ledger g
  SET state = u.state, result = CASE WHEN u.state = 'succeeded' THEN u.result END
  FROM ${src} u WHERE u.idempotency_key IS NOT NULL AND g.queue = u.queue
    AND g.key = u.idempotency_key AND g.job_seq = u.seq`;

/**
 * The PostgreSQL store.
 *
 * @example
 * ```ts
 * await using store = new PostgresJobStore({ connectionString: process.env.DATABASE_URL, schema: 'jobs' });
 * await store.init(); // applies the shipped migrations (safe from many workers at once)
 * const queue = new Queue(store);
 * await queue.add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42' });
 * ```
 */
export class PostgresJobStore implements JobStore {
  /** The pool every statement runs on (for effect tables in the same database). */
  readonly pool: pg.Pool;
  /** The schema name (unquoted). */
  readonly schema: string;
  /** The NOTIFY channel of this schema. */
  readonly channel: string;
  readonly #clock: Clock;
  readonly #ownsPool: boolean;
  readonly #connection: pg.ClientConfig;
  readonly #onComplete: PostgresJobStoreOptions['onComplete'];
  readonly #onCheckpoint: PostgresJobStoreOptions['onCheckpoint'];
  readonly #reconnectDelayMs: number;
  readonly #connectTimeoutMs: number;
  readonly #queryTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #instance = randomBytes(8).toString('hex');
  readonly #enqueued = new Listeners<EnqueuedEvent>();
  readonly #sql = new Map<string, { text: string; name: string | undefined }>();
  readonly #prepare: boolean;
  /** `payload` when attempts copy the job's payload (`attemptPayloads`), else `NULL`. */
  readonly #payloadColumn: string;
  /** The connections of the store's own pool that have their session settings. */
  readonly #configured = new WeakSet<pg.PoolClient>();
  #init: Promise<void> | undefined;
  #closed = false;
  #listening = false;
  #listenClient: pg.Client | undefined;
  #listenRetry: NodeJS.Timeout | undefined;

  constructor(options: PostgresJobStoreOptions = {}) {
    knownOptions(WHERE, options, OPTIONS);
    if (options.pool !== undefined) {
      for (const name of OWN_POOL_OPTIONS) {
        if (options[name] !== undefined) {
          throw new InvalidOptionError(
            name,
            `${WHERE}: option ${name} configures the store's own pool and cannot be combined with option pool (configure the pool you pass instead), got both.`,
          );
        }
      }
    }
    const timeout = (name: 'connectTimeoutMs' | 'queryTimeoutMs' | 'closeTimeoutMs', def: number) =>
      integerOption(WHERE, name, options[name] ?? def, { min: 1 });
    this.#connectTimeoutMs = Math.min(timeout('connectTimeoutMs', 10_000), MAX_TIMER_MS);
    this.#queryTimeoutMs = Math.min(timeout('queryTimeoutMs', 30_000), MAX_TIMER_MS);
    this.#closeTimeoutMs = Math.min(timeout('closeTimeoutMs', 5_000), MAX_TIMER_MS);
    if (options.attemptPayloads !== undefined) {
      booleanOption(WHERE, 'attemptPayloads', options.attemptPayloads);
    }
    this.#clock = options.clock ?? systemClock;
    const schema = options.schema ?? 'batchflight';
    if (typeof schema !== 'string' || !SCHEMA_RE.test(schema)) {
      throw new InvalidOptionError(
        'schema',
        `${WHERE}: option schema must match [a-z_][a-z0-9_]{0,47} (it is also the NOTIFY channel prefix), got ${describe(schema)}.`,
      );
    }
    this.schema = schema;
    this.channel = `${schema}:jobs`;
    const poolSize = options.poolSize ?? 10;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) {
      throw new InvalidOptionError(
        'poolSize',
        `${WHERE}: option poolSize must be an integer >= 1, got ${describe(poolSize)}.`,
      );
    }
    const delay = options.reconnectDelayMs ?? 100;
    if (!(delay > 0) || !Number.isFinite(delay)) {
      throw new InvalidOptionError(
        'reconnectDelayMs',
        `${WHERE}: option reconnectDelayMs must be a finite number > 0, got ${describe(delay)}.`,
      );
    }
    this.#reconnectDelayMs = delay;
    const prepare = options.preparedStatements ?? true;
    if (typeof prepare !== 'boolean') {
      throw new InvalidOptionError(
        'preparedStatements',
        `${WHERE}: option preparedStatements must be a boolean, got ${describe(prepare)}.`,
      );
    }
    this.#prepare = prepare;
    this.#payloadColumn = options.attemptPayloads === true ? 'payload' : 'NULL::jsonb';
    for (const hook of ['onComplete', 'onCheckpoint'] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') {
        throw new InvalidOptionError(
          hook,
          `${WHERE}: option ${hook} must be a function, got ${describe(options[hook])}.`,
        );
      }
    }
    this.#onComplete = options.onComplete;
    this.#onCheckpoint = options.onCheckpoint;
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.#ownsPool = false;
      // The pool's own connection settings, for the dedicated LISTEN client.
      this.#connection = { ...(options.pool.options as pg.ClientConfig) };
    } else {
      const connectionString = options.connectionString ?? DEFAULT_URL;
      if (typeof connectionString !== 'string' || connectionString.length === 0) {
        throw new InvalidOptionError(
          'connectionString',
          `${WHERE}: option connectionString must be a non-empty string, got ${describe(connectionString)}.`,
        );
      }
      this.#connection = { connectionString, connectionTimeoutMillis: this.#connectTimeoutMs };
      this.pool = new pg.Pool({
        connectionString,
        max: poolSize,
        connectionTimeoutMillis: this.#connectTimeoutMs,
        query_timeout: this.#queryTimeoutMs,
      });
      this.#ownsPool = true;
      // An idle client dying (server restart) must not crash the process; the pool replaces it.
      this.pool.on('error', () => undefined);
    }
  }

  // ---------------------------------------------------------------- plumbing

  /** `{s}` → the quoted schema. */
  #text(sql: string): string {
    return this.#statement(sql).text;
  }

  /** The statement of a SQL template, named by a hash of its text when prepared statements are on. */
  #statement(sql: string): { text: string; name: string | undefined } {
    let st = this.#sql.get(sql);
    if (st === undefined) {
      const text = sql.replaceAll('{s}', `"${this.schema}"`);
      const name = this.#prepare
        ? `bf_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
        : undefined;
      st = { text, name };
      this.#sql.set(sql, st);
    }
    return st;
  }

  async #q<R>(sql: string, values: unknown[] = [], on: Queryable = this.pool): Promise<R[]> {
    const { text, name } = this.#statement(sql);
    const query = name === undefined ? { text, values } : { name, text, values };
    if (on !== this.pool || !this.#ownsPool) {
      try {
        return (await on.query<R & pg.QueryResultRow>(query)).rows;
      } catch (error) {
        throw this.#asTimeout(error);
      }
    }
    // What `pool.query` does, on a connection of ours that has its settings.
    const client = await this.#connect();
    try {
      const res = await client.query<R & pg.QueryResultRow>(query);
      client.release();
      return res.rows;
    } catch (error) {
      client.release(error as Error);
      throw this.#asTimeout(error);
    }
  }

  /**
   * The driver's connect and read timeouts as a `PostgresTimeoutError` (the
   * driver's error as `cause`); any other error as it is.
   */
  #asTimeout(error: unknown): unknown {
    if (!(error instanceof Error) || PostgresTimeoutError.is(error)) return error;
    const own = this.#ownsPool;
    const poolOptions = this.pool.options as {
      connectionTimeoutMillis?: number;
      query_timeout?: number;
    };
    if (CONNECT_TIMEOUT_RE.test(error.message)) {
      const ms = own ? this.#connectTimeoutMs : (poolOptions.connectionTimeoutMillis ?? 0);
      return new PostgresTimeoutError(
        'connect',
        ms,
        `PostgresJobStore: no connection to PostgreSQL within ${own ? 'connectTimeoutMs' : "the pool's connectionTimeoutMillis"} (${String(ms)} ms): the server is unreachable or does not answer (${error.message}).`,
        { cause: error },
      );
    }
    if (QUERY_TIMEOUT_RE.test(error.message)) {
      const ms = own ? this.#queryTimeoutMs : (poolOptions.query_timeout ?? 0);
      return new PostgresTimeoutError(
        'query',
        ms,
        `PostgresJobStore: PostgreSQL did not answer a statement within ${own ? 'queryTimeoutMs' : "the pool's query_timeout"} (${String(ms)} ms); the connection was discarded and the statement may or may not have committed (${error.message}).`,
        { cause: error },
      );
    }
    return error;
  }

  /** A connection of the pool; one the store created gets `jit = off` on its first use. */
  async #connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.#asTimeout(error);
    }
    if (this.#ownsPool && !this.#configured.has(client)) {
      try {
        // One round trip (simple protocol, two commands). With prepared statements every
        // statement of this pool runs its generic plan (see `claim`), so a claim is one
        // statement instead of BEGIN / SET LOCAL / claim / COMMIT.
        await client.query(
          this.#prepare
            ? 'SET jit = off; SET plan_cache_mode = force_generic_plan'
            : 'SET jit = off',
        );
      } catch (error) {
        client.release(error as Error);
        throw this.#asTimeout(error);
      }
      this.#configured.add(client);
    }
    return client;
  }

  async #ready(): Promise<void> {
    if (this.#closed) throw new ClosedError('PostgresJobStore is closed.');
    this.#init ??= this.#migrate().catch((error: unknown) => {
      this.#init = undefined; // let a later call retry (the server may come back)
      throw error;
    });
    await this.#init;
  }

  /** Runs `fn` in one transaction; retried on deadlock / serialization failure. */
  async #tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect();
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
        throw this.#asTimeout(error);
      } finally {
        client.release(broken);
      }
    }
  }

  async #migrate(): Promise<void> {
    // One session for the whole migration: the advisory lock is session-scoped (concurrent index
    // builds run outside any transaction). The store's own pool: a connection of its own,
    // without queryTimeoutMs (an index build may take long); a pool passed in: one of its own.
    let client: pg.ClientBase;
    let done: () => Promise<void>;
    let open = (): Promise<void> => Promise.resolve();
    if (this.#ownsPool) {
      const own = new pg.Client(this.#connection);
      own.on('error', () => undefined);
      client = own;
      open = async () => {
        await own.connect();
      };
      done = () => own.end().catch(() => undefined);
    } else {
      const borrowed = await this.#connect();
      client = borrowed;
      // Destroyed, not returned: the session's advisory lock must not go back to the pool.
      done = () => {
        borrowed.release(true);
        return Promise.resolve();
      };
    }
    try {
      await open();
      await this.#lockMigrations(client);
      await this.#applyMigrations(client);
    } catch (error) {
      throw this.#asTimeout(error);
    } finally {
      await done(); // ending the session releases the advisory lock
    }
  }

  /**
   * Takes the schema's migration lock, polling: a session blocked in `pg_advisory_lock` would
   * hold a snapshot that the holder's `CREATE INDEX CONCURRENTLY` waits for (a deadlock).
   */
  async #lockMigrations(c: pg.ClientBase): Promise<void> {
    for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 200)) {
      const { rows } = await c.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
        [`batchflight:${this.schema}`],
      );
      if (rows[0]?.ok === true) return;
      if (this.#closed) throw new ClosedError('PostgresJobStore is closed.');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** Applies the pending migrations; the caller holds the migration lock. */
  async #applyMigrations(c: pg.ClientBase): Promise<void> {
    await c.query(this.#text('CREATE SCHEMA IF NOT EXISTS {s}'));
    await c.query(
      this.#text(`CREATE TABLE IF NOT EXISTS {s}.migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`),
    );
    const [row] = await this.#q<{ v: number | null }>(
      'SELECT max(version) AS v FROM {s}.migrations',
      [],
      c,
    );
    const current = row?.v ?? 0;
    const pending = MIGRATIONS.filter((m) => m.version > current);
    const record = (m: Migration) =>
      c.query(
        this.#text('INSERT INTO {s}.migrations (version, name, applied_at) VALUES ($1, $2, $3)'),
        [m.version, m.name, this.#clock.now()],
      );
    const inTransaction = async (ms: readonly Migration[]): Promise<void> => {
      await c.query('BEGIN');
      try {
        for (const m of ms) {
          await record(m);
          // CONCURRENTLY cannot run in a transaction; the plain build is the same index.
          await c.query(this.#text(m.concurrently === true ? withoutConcurrently(m.sql) : m.sql));
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
      for (const statement of statements(m.sql)) await this.#concurrentStatement(c, statement);
      await record(m); // last: after a crash the (re-runnable) statements run again
    }
  }

  /** One statement of a `concurrently` migration; an INVALID index a crashed build left is rebuilt. */
  async #concurrentStatement(c: pg.ClientBase, statement: string): Promise<void> {
    const created = /^CREATE INDEX CONCURRENTLY IF NOT EXISTS ([a-z_][a-z0-9_]*)/.exec(statement);
    if (created?.[1] !== undefined) {
      const { rows } = await c.query<{ valid: boolean }>(
        `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = $1 AND x.relname = $2`,
        [this.schema, created[1]],
      );
      if (rows[0]?.valid === false) {
        await c.query(this.#text(`DROP INDEX CONCURRENTLY IF EXISTS {s}.${created[1]}`));
      }
    }
    await c.query(this.#text(statement));
  }

  /** Applies the pending migrations (safe from concurrent processes). */
  async init(): Promise<void> {
    await this.#ready();
  }

  /** The highest migration version applied. */
  async schemaVersion(): Promise<number> {
    await this.#ready();
    const [row] = await this.#q<{ v: number | null }>(
      'SELECT max(version) AS v FROM {s}.migrations',
    );
    return row?.v ?? 0;
  }

  /** Ends the LISTEN connection and, when the store created it, the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#enqueued.clear();
    if (this.#listenRetry !== undefined) clearTimeout(this.#listenRetry);
    const listener = this.#listenClient;
    this.#listenClient = undefined;
    const ending = (async () => {
      await Promise.all([
        listener?.end().catch(() => undefined),
        this.#init?.catch(() => undefined),
      ]);
      if (this.#ownsPool) await this.pool.end();
    })();
    // Bounded: a server that stopped answering must not hold close() (and the process) for ever.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => {
        resolve('expired');
      }, this.#closeTimeoutMs);
    });
    try {
      const outcome = await Promise.race([ending, expired]);
      if (outcome === 'expired') {
        ending.catch(() => undefined);
        throw new PostgresTimeoutError(
          'close',
          this.#closeTimeoutMs,
          `PostgresJobStore: close() did not finish within closeTimeoutMs (${String(this.#closeTimeoutMs)} ms): a connection or a migration is still waiting for the server; the store is closed.`,
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------- wake-ups

  /**
   * Wake-ups after enqueue, requeue and replay, from this instance (at once)
   * and from every other process (through LISTEN/NOTIFY on {@link channel}).
   * The first subscription opens the dedicated LISTEN connection; after it
   * reconnects (notifications may have been missed) one event with queue
   * `'*'` and count 0 is emitted so listeners claim once.
   */
  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    const sub = this.#enqueued.add(listener);
    if (!this.#listening && !this.#closed) {
      this.#listening = true;
      this.#connectListener(this.#reconnectDelayMs, false);
    }
    return sub;
  }

  #connectListener(delayMs: number, reconnect: boolean): void {
    if (this.#closed) return;
    const client = new pg.Client(this.#connection);
    let failed = false;
    const retry = (): void => {
      if (failed || this.#closed) return;
      failed = true;
      if (this.#listenClient === client) this.#listenClient = undefined;
      client.end().catch(() => undefined);
      this.#listenRetry = setTimeout(() => {
        this.#connectListener(Math.min(delayMs * 2, 5_000), true);
      }, delayMs);
      this.#listenRetry.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || msg.payload === undefined) return;
      try {
        const note = JSON.parse(msg.payload) as { s: string; q: string; n: number; r: number };
        if (note.s === this.#instance) return; // already emitted in-process
        this.#enqueued.emit({ queue: note.q, count: note.n, runAt: note.r });
      } catch {
        // A foreign payload on our channel: ignore it.
      }
    });
    this.#listenClient = client;
    client
      .connect()
      .then(() => client.query(`LISTEN "${this.channel}"`))
      .then(() => {
        if (this.#closed) {
          failed = true;
          return client.end();
        }
        if (reconnect) this.#enqueued.emit({ queue: '*', count: 0, runAt: this.#clock.now() });
        return undefined;
      })
      .catch(retry);
  }

  /** A CTE sending one notification per queue of the rows of `src` (delivered at commit). */
  #noteCte(src: string): string {
    return `note AS (SELECT pg_notify('${this.channel}', json_build_object('s', '${this.#instance}',
      'q', queue, 'n', count(*), 'r', min(run_at))::text) FROM ${src} GROUP BY queue)`;
  }

  /**
   * CTEs (of a `WITH RECURSIVE`) that cancel, transitively, the pending and failed dependents
   * of the jobs of `src` (columns `seq`, `state`) that went dead or cancelled, with lastError
   * `dependency <id> <state>` and a `cancelled` attempt: the contract's "no job waits forever
   * on a dependency that will not run". `now` is a parameter; one index lookup per ended job.
   */
  #cascadeCtes(src: string, now: string): string {
    return `cascade_walk (seq, parent, parent_state) AS (
         SELECT d.job_seq, e.seq, e.state FROM ${src} e
         JOIN {s}.job_deps d ON d.depends_on = e.seq
         JOIN {s}.jobs dj ON dj.seq = d.job_seq AND dj.state IN ('pending', 'failed')
         WHERE e.state IN ('dead', 'cancelled')
         UNION
         SELECT d.job_seq, w.seq, 'cancelled' FROM cascade_walk w
         JOIN {s}.job_deps d ON d.depends_on = w.seq
         JOIN {s}.jobs dj ON dj.seq = d.job_seq AND dj.state IN ('pending', 'failed')
       ), cascade_pick AS (
         SELECT DISTINCT ON (seq) seq, parent, parent_state FROM cascade_walk
         WHERE seq NOT IN (SELECT seq FROM ${src}) ORDER BY seq, parent
       ), cascade_upd AS (
         UPDATE {s}.jobs j SET state = 'cancelled',
           last_error = 'dependency ' || p.parent || ' ' || p.parent_state,
           finished_at = ${now}, updated_at = ${now}
         FROM cascade_pick p WHERE j.seq = p.seq AND j.state IN ('pending', 'failed')
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state,
           j.result, j.payload, j.last_error, COALESCE(j.started_at, j.updated_at) AS started
       ), cascade_log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch, '', started, ${now}, 'cancelled', last_error,
           ${this.#payloadColumn} FROM cascade_upd
       ), cascade_led AS (${LEDGER_SYNC('cascade_upd')})`;
  }

  #emitLocal(rows: readonly { queue: string; run_at: string | number }[]): void {
    if (!this.#enqueued.active || rows.length === 0) return;
    for (const e of enqueuedEvents(rows, (r) => r.run_at)) this.#enqueued.emit(e);
  }

  // ----------------------------------------------------------------- jobs

  #toRecord(row: JobRow): JobRecord {
    return Object.freeze({
      id: row.seq,
      queue: row.queue,
      name: row.name,
      payload: row.payload,
      state: row.state,
      seq: Number(row.seq),
      idempotencyKey: row.idempotency_key,
      partitionKey: row.partition_key,
      partition: row.partition,
      ordered: row.ordered,
      priority: Number(row.priority),
      runAt: Number(row.run_at),
      dependsOn: row.deps ?? [],
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      backoff: row.backoff,
      epoch: Number(row.epoch),
      // A succeeded row keeps its last lease holder (see complete): shown only while leased.
      leaseOwner: row.state === 'leased' ? row.lease_owner : null,
      leaseExpiresAt: num(row.lease_expires_at),
      startedAt: num(row.started_at),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
      finishedAt: num(row.finished_at),
      // SQL NULL and JSON null both read as null: only a succeeded job has a result.
      result: row.state === 'succeeded' ? row.result : undefined,
      lastError: row.last_error,
      retryDelayMs: Number(row.retry_delay_ms),
    });
  }

  async enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    await this.#ready();
    const now = this.#clock.now();
    const normalized = specs.map((s) => normalizeEnqueue(s, now));
    if (normalized.length === 0) return [];
    // Keys repeated within the call: the first one stands for the others.
    const firstOf = new Map<string, number>();
    const alias: (number | undefined)[] = [];
    normalized.forEach((n, i) => {
      if (n.idempotencyKey === null) return;
      const key = `${n.queue}\0${n.idempotencyKey}`;
      const first = firstOf.get(key);
      if (first === undefined) {
        firstOf.set(key, i);
        return;
      }
      if (normalized[first]?.fingerprint !== n.fingerprint) {
        throw new JobConflictError(n.queue, n.idempotencyKey, `(input ${String(first)})`);
      }
      alias[i] = first;
    });
    const simple = firstOf.size === 0 && normalized.every((n) => n.dependsOn.length === 0);
    if (simple) {
      const rows = await this.#insertJobs(this.pool, normalized, null, now);
      this.#emitLocal(rows);
      return rows.map((row) => ({
        id: row.seq,
        created: true,
        job: this.#toRecord(row),
        state: 'pending',
        result: undefined,
      }));
    }
    const { results, created } = await this.#tx((c) => this.#enqueueTx(c, normalized, alias, now));
    this.#emitLocal(created);
    return results;
  }

  async #enqueueTx(
    c: pg.PoolClient,
    normalized: readonly NormalizedEnqueue[],
    alias: readonly (number | undefined)[],
    now: number,
  ): Promise<{ results: EnqueueResult[]; created: JobRow[] }> {
    const deps = [...new Set(normalized.flatMap((n) => n.dependsOn))];
    // Dependencies that went dead or cancelled: a job enqueued on one is created cancelled.
    const ended = new Map<string, JobState>();
    if (deps.length > 0) {
      const found = await this.#q<{ seq: string; state: JobState }>(
        'SELECT seq::text AS seq, state FROM {s}.jobs WHERE seq = ANY($1::bigint[])',
        [deps.map(toSeq)],
        c,
      );
      const have = new Set(found.map((r) => r.seq));
      const missing = deps.filter((d) => !have.has(d));
      if (missing.length > 0) throw new JobDependencyError(missing);
      for (const r of found)
        if (DEPENDENCY_FAILED_STATES.includes(r.state)) ended.set(r.seq, r.state);
    }
    const fresh = normalized.flatMap((n, i) => (alias[i] === undefined ? [i] : []));
    const seqRows = await this.#q<{ seq: string }>(
      `SELECT nextval(pg_get_serial_sequence('{s}.jobs', 'seq'))::text AS seq FROM generate_series(1, $1)`,
      [fresh.length],
      c,
    );
    const seqs = seqRows.map((r) => r.seq).sort((a, b) => Number(a) - Number(b));
    const seqOf = new Map<number, string>();
    fresh.forEach((i, k) => seqOf.set(i, seqs[k] ?? ''));

    // Insert-first into the ledger, in key order (no deadlock between racing callers): a key
    // being inserted by a concurrent transaction makes us wait for it, then lose to it.
    const keyed = fresh
      .filter((i) => normalized[i]?.idempotencyKey !== null)
      .sort((a, b) => {
        const x = normalized[a] as NormalizedEnqueue;
        const y = normalized[b] as NormalizedEnqueue;
        return x.queue === y.queue
          ? (x.idempotencyKey ?? '') < (y.idempotencyKey ?? '')
            ? -1
            : 1
          : x.queue < y.queue
            ? -1
            : 1;
      });
    const existing = new Map<number, EnqueueResult>();
    if (keyed.length > 0) {
      const won = await this.#q<{ job_seq: string }>(
        `INSERT INTO {s}.ledger (queue, key, job_seq, fingerprint, state)
         SELECT t.queue, t.key, t.job_seq, t.fingerprint, 'pending'
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY
           AS t(queue, key, job_seq, fingerprint, ord)
         ORDER BY t.ord
         ON CONFLICT (queue, key) DO NOTHING RETURNING job_seq::text AS job_seq`,
        [
          keyed.map((i) => normalized[i]?.queue),
          keyed.map((i) => normalized[i]?.idempotencyKey),
          keyed.map((i) => seqOf.get(i)),
          keyed.map((i) => normalized[i]?.fingerprint),
        ],
        c,
      );
      const wonSeqs = new Set(won.map((r) => r.job_seq));
      const lost = keyed.filter((i) => !wonSeqs.has(seqOf.get(i) ?? ''));
      if (lost.length > 0) {
        const rows = await this.#q<{
          queue: string;
          key: string;
          job_seq: string;
          fingerprint: string;
          state: JobState;
          result: unknown;
        }>(
          `SELECT g.queue, g.key, g.job_seq::text AS job_seq, g.fingerprint, g.state, g.result
           FROM {s}.ledger g JOIN unnest($1::text[], $2::text[]) AS t(queue, key)
             ON g.queue = t.queue AND g.key = t.key`,
          [lost.map((i) => normalized[i]?.queue), lost.map((i) => normalized[i]?.idempotencyKey)],
          c,
        );
        const byKey = new Map(rows.map((r) => [`${r.queue}\0${r.key}`, r]));
        const jobs = await this.#jobsBySeq(
          rows.map((r) => r.job_seq),
          c,
        );
        for (const i of lost) {
          const n = normalized[i] as NormalizedEnqueue;
          const entry = byKey.get(`${n.queue}\0${n.idempotencyKey ?? ''}`);
          if (entry === undefined) throw new Error('ledger entry vanished during enqueue');
          if (entry.fingerprint !== n.fingerprint) {
            throw new JobConflictError(n.queue, n.idempotencyKey ?? '', entry.job_seq);
          }
          const job = jobs.get(entry.job_seq);
          existing.set(i, {
            id: entry.job_seq,
            created: false,
            job: job ?? null,
            state: job?.state ?? entry.state,
            result:
              job !== undefined
                ? job.result
                : entry.state === 'succeeded'
                  ? entry.result
                  : undefined,
          });
        }
      }
    }
    const toCreate = fresh.filter((i) => !existing.has(i));
    const rows =
      toCreate.length === 0
        ? []
        : await this.#insertJobs(
            c,
            toCreate.map((i) => normalized[i] as NormalizedEnqueue),
            toCreate.map((i) => seqOf.get(i) ?? ''),
            now,
          );
    const depPairs = toCreate.flatMap((i) =>
      (normalized[i]?.dependsOn ?? []).map((d) => [seqOf.get(i) ?? '', d] as const),
    );
    if (depPairs.length > 0) {
      await this.#q(
        `INSERT INTO {s}.job_deps (job_seq, depends_on)
         SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`,
        [depPairs.map((p) => p[0]), depPairs.map((p) => p[1])],
        c,
      );
    }
    if (ended.size > 0)
      await this.#cancelOnEnqueue(c, toCreate, normalized, seqOf, rows, ended, now);
    const bySeq = new Map(rows.map((r) => [r.seq, r]));
    const results: EnqueueResult[] = [];
    normalized.forEach((_, i) => {
      const target = alias[i] ?? i;
      const known = existing.get(target);
      if (known !== undefined) {
        results.push(known);
        return;
      }
      const row = bySeq.get(seqOf.get(target) ?? '');
      if (row === undefined) throw new Error('inserted job missing from RETURNING');
      results.push({
        id: row.seq,
        created: target === i,
        job: this.#toRecord(row),
        state: row.state,
        result: undefined,
      });
    });
    return { results, created: rows };
  }

  /**
   * Cancels the jobs just created (rows of `toCreate`, updated in place) that depend on a dead
   * or cancelled job, as the contract's cascade would have (lastError, a `cancelled` attempt).
   */
  async #cancelOnEnqueue(
    c: pg.PoolClient,
    toCreate: readonly number[],
    normalized: readonly NormalizedEnqueue[],
    seqOf: ReadonlyMap<number, string>,
    rows: JobRow[],
    ended: ReadonlyMap<string, JobState>,
    now: number,
  ): Promise<void> {
    const cancel = new Map<string, string>();
    for (const i of toCreate) {
      const dep = normalized[i]?.dependsOn.find((d) => ended.has(d));
      const seq = seqOf.get(i);
      if (dep !== undefined && seq !== undefined) {
        cancel.set(seq, dependencyEndedError(dep, ended.get(dep) ?? 'cancelled'));
      }
    }
    if (cancel.size === 0) return;
    await this.#q(
      `WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS t(seq, error)),
       upd AS (
         UPDATE {s}.jobs j SET state = 'cancelled', last_error = i.error, finished_at = $3,
           updated_at = $3
         FROM i WHERE j.seq = i.seq
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state,
           j.result, j.payload, j.last_error
       ), log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch, '', $3, $3, 'cancelled', last_error,
           ${this.#payloadColumn} FROM upd
       )
       ${LEDGER_SYNC('upd')}`,
      [[...cancel.keys()], [...cancel.values()], now],
      c,
    );
    for (const row of rows) {
      const error = cancel.get(row.seq);
      if (error === undefined) continue;
      row.state = 'cancelled';
      row.last_error = error;
      row.finished_at = String(now);
    }
  }

  /** One INSERT of many jobs (with their NOTIFY); rows in input order. */
  async #insertJobs(
    on: Queryable,
    ns: readonly NormalizedEnqueue[],
    seqs: readonly string[] | null,
    now: number,
  ): Promise<JobRow[]> {
    // One JSON array of tuples: far cheaper to build and to parse than a dozen text[] literals
    // (payloads are spliced in as already-serialised JSON).
    const tuples = ns.map(
      (n, i) =>
        `[${JSON.stringify(n.queue)},${JSON.stringify(n.name)},${n.payloadJson},${json(n.idempotencyKey)},${json(n.partitionKey)},${json(n.partition)},${String(n.ordered)},${String(n.priority)},${String(n.runAt)},${String(n.dependsOn.length > 0)},${String(n.maxAttempts)},${json(n.backoff)},${seqs === null ? 'null' : (seqs[i] ?? 'null')}]`,
    );
    // RETURNING only the seq (and run_at for the NOTIFY): the rest is known here, which spares
    // the server serialising and us parsing every payload again.
    const rows = await this.#q<{ seq: string }>(
      `WITH ins AS (
         INSERT INTO {s}.jobs (${seqs === null ? '' : 'seq, '}queue, name, payload, state, idempotency_key,
           partition_key, fair_key, partition, ordered, priority, run_at, has_deps, attempts,
           max_attempts, backoff, epoch, created_at, updated_at)
         SELECT ${seqs === null ? '' : '(x->>12)::bigint, '}x->>0, x->>1, x->2, 'pending', x->>3, x->>4,
           COALESCE(x->>4, ''), (x->>5)::int, (x->>6)::boolean, (x->>7)::bigint, (x->>8)::bigint,
           (x->>9)::boolean, 0, (x->>10)::int, NULLIF(x->11, 'null'::jsonb), 0, $2, $2
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, ord)
         ORDER BY e.ord
         RETURNING seq, queue, run_at
       ), ${this.#noteCte('ins')}
       SELECT ins.seq::text AS seq, (SELECT count(*) FROM note) AS notes FROM ins ORDER BY ins.seq`,
      [`[${tuples.join(',')}]`, now],
      on,
    );
    if (rows.length !== ns.length) throw new Error('insert returned fewer jobs than given');
    // Without explicit seqs the identity values follow the ORDER BY: seq order is input order.
    const created = String(now);
    return ns.map((n, i) => ({
      seq: seqs === null ? (rows[i]?.seq ?? '') : (seqs[i] ?? ''),
      queue: n.queue,
      name: n.name,
      payload: n.payload,
      state: 'pending',
      idempotency_key: n.idempotencyKey,
      partition_key: n.partitionKey,
      partition: n.partition,
      ordered: n.ordered,
      priority: String(n.priority),
      run_at: String(n.runAt),
      has_deps: n.dependsOn.length > 0,
      deps: n.dependsOn.length > 0 ? [...n.dependsOn].sort((a, b) => Number(a) - Number(b)) : null,
      attempts: 0,
      max_attempts: n.maxAttempts,
      backoff: n.backoff,
      epoch: '0',
      lease_owner: null,
      lease_expires_at: null,
      started_at: null,
      created_at: created,
      updated_at: created,
      finished_at: null,
      result: null,
      last_error: null,
      retry_delay_ms: '0',
    }));
  }

  async #jobsBySeq(
    seqs: readonly string[],
    on: Queryable = this.pool,
  ): Promise<Map<string, JobRecord>> {
    if (seqs.length === 0) return new Map();
    const rows = await this.#q<JobRow>(
      `SELECT j.*, ${DEPS} FROM {s}.jobs j WHERE j.seq = ANY($1::bigint[])`,
      [seqs],
      on,
    );
    return new Map(rows.map((r) => [r.seq, this.#toRecord(r)]));
  }

  async claim(options: ClaimOptions): Promise<JobRecord[]> {
    const agingMs = checkClaim(options);
    await this.#ready();
    const now = this.#clock.now();
    const weights: Record<string, number> = {};
    for (const [k, w] of Object.entries(options.weights ?? {})) {
      weights[k] = w > 0 && Number.isFinite(w) ? w : 1;
    }
    const aging = Number.isFinite(agingMs) ? Math.max(1, Math.floor(agingMs)) : 0;
    const P = this.#payloadColumn;
    // Per fairness key, the claimable jobs first in one order, locked as they are found: the
    // ready ones (pending, failed and due) from the ready indexes, the expired leases from
    // the lease index. Since migration 2 a leased job has no entry in the ready indexes, so a
    // claim adds two index entries per job instead of four.
    // The oldest-first order only finds jobs that waited one aging step or more: a job
    // younger than that has its plain priority, and every job ranked above it by priority is
    // ranked above it by effective priority too, so the priority order already finds it.
    // (With fresh jobs the second scan is then empty instead of locking the same rows twice.)
    const AGED = `$2::bigint > 0 AND j.run_at <= $1::bigint - $2::bigint`;
    // The oldest-first scans skip the jobs the priority scan of the same kind already took
    // (a hashed subplan, only built when an aged job is found), so the four lists are disjoint
    // and their union needs no sort to remove duplicates.
    const candidates = (order: string, ready: boolean, aged = false, not?: string): string => `
         SELECT c.* FROM keys k CROSS JOIN LATERAL (
           SELECT j.seq, j.ctid AS tid, j.fair_key, j.state AS old_state, j.lease_owner AS old_owner,
             COALESCE(j.started_at, j.updated_at) AS old_started,
             j.priority + CASE WHEN $2::bigint > 0
               THEN greatest(0, $1::bigint - j.run_at) / $2::bigint ELSE 0 END AS eff
           FROM {s}.jobs j
           WHERE j.fair_key = k.fair_key AND ${
             ready
               ? `j.state IN ('pending', 'failed') AND j.run_at <= $1`
               : `j.state = 'leased' AND j.lease_expires_at <= $1 AND j.attempts < j.max_attempts`
           }${aged ? ` AND ${AGED}` : ''}${
             not === undefined ? '' : ` AND j.seq NOT IN (SELECT seq FROM ${not})`
           }
             AND (NOT j.has_deps OR NOT EXISTS (
               SELECT 1 FROM {s}.job_deps d JOIN {s}.jobs dj ON dj.seq = d.depends_on
               WHERE d.job_seq = j.seq AND dj.state <> 'succeeded'))
             AND (NOT j.ordered OR NOT EXISTS (
               SELECT 1 FROM {s}.jobs o WHERE o.ordered AND o.queue = j.queue
                 AND o.partition_key = j.partition_key AND o.seq < j.seq
                 AND o.state IN ('pending', 'leased', 'failed')))
             AND ($6::text[] IS NULL OR j.queue = ANY($6))
             AND ($7::text[] IS NULL OR j.name = ANY($7))
           ORDER BY ${order}
           LIMIT $3
           FOR UPDATE OF j SKIP LOCKED
         ) c`;
    // The candidates carry their row's ctid, which cannot change while this statement holds
    // the row lock: the lease UPDATE fetches the picked rows by a TID scan instead of walking
    // the primary key again for each of them (claim of 500: ~4% less server CPU per job).
    const sql = `WITH RECURSIVE walk AS (
         (SELECT fair_key FROM {s}.jobs WHERE state IN ('pending', 'failed')
          ORDER BY fair_key LIMIT 1)
         UNION ALL
         SELECT (SELECT j.fair_key FROM {s}.jobs j
                 WHERE j.state IN ('pending', 'failed') AND j.fair_key > w.fair_key
                 ORDER BY j.fair_key LIMIT 1)
         FROM walk w WHERE w.fair_key IS NOT NULL
       ), keys AS (
         SELECT fair_key FROM walk WHERE fair_key IS NOT NULL
         UNION
         SELECT fair_key FROM {s}.jobs
         WHERE state = 'leased' AND lease_expires_at <= $1 AND attempts < max_attempts
       ), exhausted AS (
         SELECT seq, lease_owner, COALESCE(started_at, updated_at) AS started FROM {s}.jobs
         WHERE state = 'leased' AND lease_expires_at <= $1 AND attempts >= max_attempts
           AND ($6::text[] IS NULL OR queue = ANY($6)) AND ($7::text[] IS NULL OR name = ANY($7))
         FOR UPDATE SKIP LOCKED
       ), dead AS (
         UPDATE {s}.jobs j SET state = 'dead', last_error = 'lease expired after the last attempt',
           lease_owner = NULL, lease_expires_at = NULL, finished_at = $1, updated_at = $1
         FROM exhausted x WHERE j.seq = x.seq
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
           j.payload,
           x.lease_owner AS old_owner, x.started
       ), dead_log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch, COALESCE(old_owner, ''), started, $1, 'expired',
           'lease expired', ${P} FROM dead
       ), dead_ledger AS (${LEDGER_SYNC('dead')}
       ), ${this.#cascadeCtes('dead', '$1::bigint')}
       , by_priority AS (${candidates('j.priority DESC, j.seq', true)}
       ), by_age AS (${candidates('j.run_at, j.seq', true, true, 'by_priority')}
       ), expired_by_priority AS (${candidates('j.priority DESC, j.seq', false)}
       ), expired_by_age AS (${candidates('j.run_at, j.seq', false, true, 'expired_by_priority')}
       ), cand AS (
         SELECT * FROM by_priority UNION ALL SELECT * FROM by_age
         UNION ALL SELECT * FROM expired_by_priority UNION ALL SELECT * FROM expired_by_age
       ), ranked AS (
         SELECT c.*, row_number() OVER (PARTITION BY c.fair_key ORDER BY c.eff DESC, c.seq) AS rn
         FROM cand c
       ), pick AS (
         SELECT r.*, (r.rn - 1)::float8 / COALESCE(($8::jsonb ->> r.fair_key)::float8, 1) AS rank
         FROM ranked r ORDER BY rank, r.eff DESC, r.seq LIMIT $3
       ), upd AS (
         UPDATE {s}.jobs j SET state = 'leased', attempts = j.attempts + 1, epoch = j.epoch + 1,
           lease_owner = $4, lease_expires_at = $1::bigint + $5::bigint, started_at = $1,
           updated_at = $1
         FROM pick p WHERE j.seq = p.seq AND j.ctid = ANY(ARRAY(SELECT tid FROM pick))
         RETURNING j.*, p.old_state, p.old_owner, p.old_started, p.rank, p.eff
       ), log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts - 1, epoch - 1, COALESCE(old_owner, ''), old_started, $1,
           'expired', 'lease expired', ${P} FROM upd WHERE old_state = 'leased'
       )
       SELECT ${RECORD_COLUMNS}, ${DEPS} FROM upd j ORDER BY j.rank, j.eff DESC, j.seq`;
    const values = [
      now,
      aging,
      options.limit,
      options.workerId,
      Math.ceil(options.leaseMs),
      options.queues ?? null,
      options.names ?? null,
      JSON.stringify(weights),
    ];
    // The server would plan this statement afresh at every claim (~2 ms of CPU, more than
    // running it for 500 jobs): the plan cache keeps a custom plan while the generic plan's
    // estimated cost (LIMIT $3 guessed at a tenth of the table) is higher, which it always is.
    // The generic plan has the same shape (per fairness key an index scan in the order of
    // the claim), so it is forced: on the store's own pool by the connection's setting (one
    // statement, one round trip); on a pool passed in, for this statement only, by SET LOCAL
    // in a transaction around it (four round trips, three more commands for the server).
    const rows =
      this.#prepare && !this.#ownsPool
        ? await this.#tx(async (c) => {
            await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
            return this.#q<JobRow>(sql, values, c);
          })
        : await this.#q<JobRow>(sql, values);
    return rows.map((r) => this.#toRecord(r));
  }

  /** Splits a batch CAS result into accepted ids and refusals (re-reading contradictory ones). */
  async #settle(rows: readonly SettleRow[]): Promise<SettleResult> {
    const accepted: string[] = [];
    const refused: Refusal[] = [];
    const acceptedSeqs = new Set(rows.filter((r) => r.ok).map((r) => r.seq));
    // The statement's snapshot can predate a concurrent change (or an earlier copy of the
    // same id in this batch): re-read those after the fact.
    const unclear = rows.filter(
      (r) =>
        !r.ok &&
        r.state !== null &&
        (acceptedSeqs.has(r.seq) || (r.state === 'leased' && r.cur === r.epoch)),
    );
    const now = new Map<string, { state: JobState; epoch: string }>();
    if (unclear.length > 0) {
      const fresh = await this.#q<{ seq: string; state: JobState; epoch: string }>(
        'SELECT seq::text AS seq, state, epoch::text AS epoch FROM {s}.jobs WHERE seq = ANY($1::bigint[])',
        [unclear.map((r) => r.seq)],
      );
      for (const f of fresh) now.set(f.seq, f);
    }
    for (const r of rows) {
      const id = r.seq;
      if (r.ok) {
        accepted.push(id);
        continue;
      }
      const epoch = Number(r.epoch);
      const current =
        now.get(r.seq) ?? (r.state === null ? undefined : { state: r.state, epoch: r.cur ?? '0' });
      if (current === undefined) {
        refused.push({ id, epoch, reason: 'not-found' });
        continue;
      }
      const currentEpoch = Number(current.epoch);
      refused.push({
        id,
        epoch,
        reason: currentEpoch !== epoch ? 'stale-epoch' : 'not-leased',
        state: current.state,
        currentEpoch,
      });
    }
    return { accepted, refused };
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    await this.#ready();
    if (leases.length === 0) return { accepted: [], refused: [] };
    const now = this.#clock.now();
    const rows = await this.#q<SettleRow>(
      `WITH i AS (
         SELECT *, ${LEASED} FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY
           AS t(seq, epoch, ord)
       ), upd AS (
         UPDATE {s}.jobs j SET lease_expires_at = $3, updated_at = $4
         FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
         RETURNING i.ord
       )
       SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
         j.state, j.epoch::text AS cur
       FROM i LEFT JOIN upd u ON u.ord = i.ord ${REFUSED_JOB} ${ONLY_REFUSED}`,
      [leases.map((l) => toSeq(l.id)), leases.map((l) => l.epoch), now + Math.ceil(leaseMs), now],
    );
    return this.#settle(this.#withIds(withAccepted(rows, leases), leases));
  }

  async release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    await this.#ready();
    if (leases.length === 0) return { accepted: [], refused: [] };
    const now = this.#clock.now();
    const rows = await this.#q<SettleRow & { queue: string | null; run_at: string | null }>(
      `WITH i AS (
         SELECT *, ${LEASED} FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY
           AS t(seq, epoch, ord)
       ), upd AS (
         UPDATE {s}.jobs j SET state = 'pending', attempts = greatest(0, j.attempts - 1),
           lease_owner = NULL, lease_expires_at = NULL, run_at = least(j.run_at, $3), updated_at = $3
         FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
         RETURNING i.ord, j.queue, j.run_at
       ), ${this.#noteCte('upd')}
       SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
         j.state, j.epoch::text AS cur, u.queue, u.run_at::text AS run_at,
         (SELECT count(*) FROM note) AS notes
       FROM i LEFT JOIN upd u ON u.ord = i.ord ${REFUSED_JOB}
       ORDER BY i.ord`,
      [leases.map((l) => toSeq(l.id)), leases.map((l) => l.epoch), now],
    );
    this.#emitLocal(
      rows.flatMap((r) =>
        r.ok && r.queue !== null ? [{ queue: r.queue, run_at: r.run_at ?? now }] : [],
      ),
    );
    return this.#settle(this.#withIds(rows, leases));
  }

  /** Puts back the caller's id strings (a malformed id was sent as -1). */
  #withIds<R extends SettleRow>(rows: readonly R[], refs: readonly LeaseRef[]): R[] {
    return rows.map((r) => ({ ...r, seq: refs[Number(r.ord) - 1]?.id ?? r.seq }));
  }

  async complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    await this.#ready();
    if (completions.length === 0) return { accepted: [], refused: [] };
    const now = this.#clock.now();
    // No separate FOR UPDATE pass: the UPDATE locks the rows itself. The row keeps its
    // lease_owner (the record shows it only while leased), so RETURNING gives the lease holder
    // for the attempt log without a second primary-key lookup of the row as it was.
    const sql = `WITH i AS (
         SELECT *, ${LEASED} FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY
           AS t(seq, epoch, result, ord)
       ), upd AS (
         UPDATE {s}.jobs j SET state = 'succeeded', result = i.result::jsonb,
           lease_expires_at = NULL, finished_at = $4, updated_at = $4
         FROM i WHERE j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
           j.payload, i.ord, j.lease_owner AS old_owner, j.started_at AS started
       ), log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch, COALESCE(old_owner, ''), started, $4, 'succeeded',
           NULL, ${this.#payloadColumn} FROM upd ORDER BY ord
       ), led AS (${LEDGER_SYNC('upd')})
       SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
         j.state, j.epoch::text AS cur, u.queue, u.name, u.result AS res
       FROM i LEFT JOIN upd u ON u.ord = i.ord ${REFUSED_JOB}`;
    const values = [
      completions.map((c) => toSeq(c.id)),
      completions.map((c) => c.epoch),
      completions.map((c) => json(c.result)),
      now,
    ];
    type Row = SettleRow & { queue: string | null; name: string | null; res: unknown };
    const hook = this.#onComplete;
    if (hook === undefined) {
      const refused = await this.#q<Row>(`${sql} ${ONLY_REFUSED}`, values);
      return this.#settle(this.#withIds(withAccepted(refused, completions), completions));
    }
    const rows = await this.#tx(async (c) => {
      const out = this.#withIds(
        await this.#q<Row>(`${sql} ORDER BY i.ord`, values, c),
        completions,
      );
      const done: CompletedJob[] = out
        .filter((r) => r.ok)
        .map((r) => ({
          id: r.seq,
          epoch: Number(r.epoch),
          queue: r.queue ?? '',
          name: r.name ?? '',
          result: r.res,
        }));
      if (done.length > 0) await hook(c, done);
      return out;
    });
    return this.#settle(rows);
  }

  async fail(failures: readonly FailInput[]): Promise<FailResult> {
    await this.#ready();
    if (failures.length === 0) return { accepted: [], refused: [], retrying: [], dead: [] };
    const now = this.#clock.now();
    type Row = SettleRow & { new_state: JobState | null };
    const rows = this.#withIds(
      await this.#q<Row>(
        `WITH RECURSIVE i AS (
           SELECT *, ${LEASED}
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::boolean[],
             $7::bigint[]) WITH ORDINALITY AS t(seq, epoch, error, retry_at, dead, delay, ord)
         ), l AS (
           SELECT j.seq, i.ord, i.error, i.retry_at, i.delay,
             (i.dead OR j.attempts >= j.max_attempts) AS to_dead,
             j.lease_owner, COALESCE(j.started_at, j.updated_at) AS started, i.leased
           FROM i JOIN {s}.jobs j ON j.seq = i.seq AND j.epoch = i.epoch AND j.state = i.leased
           FOR UPDATE OF j
         ), upd AS (
           UPDATE {s}.jobs j SET state = CASE WHEN l.to_dead THEN 'dead' ELSE 'failed' END,
             last_error = l.error, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6,
             finished_at = CASE WHEN l.to_dead THEN $6 ELSE j.finished_at END,
             run_at = CASE WHEN l.to_dead THEN j.run_at ELSE l.retry_at END,
             retry_delay_ms = CASE WHEN l.to_dead THEN j.retry_delay_ms ELSE l.delay END
           FROM l WHERE j.seq = l.seq AND j.state = l.leased
           RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
           j.payload,
             l.ord, l.lease_owner AS old_owner, l.started, l.error
         ), log AS (
           INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
             ended_at, outcome, error, payload)
           SELECT seq, queue, name, attempts, epoch, COALESCE(old_owner, ''), started, $6,
             CASE WHEN state = 'dead' THEN 'dead' ELSE 'failed' END, error, ${this.#payloadColumn}
           FROM upd ORDER BY ord
         ), led AS (${LEDGER_SYNC('upd')}), ${this.#cascadeCtes('upd', '$6')}
         SELECT i.ord, i.seq::text AS seq, i.epoch::text AS epoch, (u.ord IS NOT NULL) AS ok,
           j.state, j.epoch::text AS cur, u.state AS new_state
         FROM i LEFT JOIN upd u ON u.ord = i.ord ${REFUSED_JOB}
         ORDER BY i.ord`,
        [
          failures.map((f) => toSeq(f.id)),
          failures.map((f) => f.epoch),
          // Error texts are kept, not refused: U+0000 (which PostgreSQL refuses) becomes U+FFFD.
          failures.map((f) => storableText(f.error)),
          failures.map((f) => Math.floor(f.retryAt ?? now)),
          failures.map((f) => f.dead === true),
          now,
          failures.map((f) => retryDelay(f.delayMs)),
        ],
      ),
      failures,
    );
    const settled = await this.#settle(rows);
    return {
      ...settled,
      retrying: rows.filter((r) => r.ok && r.new_state === 'failed').map((r) => r.seq),
      dead: rows.filter((r) => r.ok && r.new_state === 'dead').map((r) => r.seq),
    };
  }

  async #terminate(
    ids: readonly string[],
    to: 'dead' | 'cancelled',
    reason: string | null,
  ): Promise<string[]> {
    await this.#ready();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const now = this.#clock.now();
    const rows = await this.#q<{ seq: string }>(
      `WITH RECURSIVE l AS (
         SELECT seq, state AS old_state, lease_owner, COALESCE(started_at, updated_at) AS started
         FROM {s}.jobs WHERE seq = ANY($1::bigint[]) AND state NOT IN ('succeeded', 'dead', 'cancelled')
         ORDER BY seq FOR UPDATE
       ), upd AS (
         UPDATE {s}.jobs j SET state = $2, last_error = COALESCE($3, j.last_error),
           epoch = j.epoch + CASE WHEN l.old_state = 'leased' THEN 1 ELSE 0 END,
           lease_owner = NULL, lease_expires_at = NULL, finished_at = $4, updated_at = $4
         FROM l WHERE j.seq = l.seq
         RETURNING j.seq, j.queue, j.name, j.attempts, j.epoch, j.idempotency_key, j.state, j.result,
           j.payload,
           l.old_state, l.lease_owner AS old_owner, l.started
       ), log AS (
         INSERT INTO {s}.attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at,
           ended_at, outcome, error, payload)
         SELECT seq, queue, name, attempts, epoch - 1, COALESCE(old_owner, ''), started, $4, $2, $3,
           ${this.#payloadColumn}
         FROM upd WHERE old_state = 'leased'
       ), led AS (${LEDGER_SYNC('upd')}), ${this.#cascadeCtes('upd', '$4')}
       SELECT seq::text AS seq FROM upd`,
      [unique.map(toSeq), to, reason, now],
    );
    const moved = new Set(rows.map((r) => r.seq));
    return unique.filter((id) => moved.has(id));
  }

  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#terminate(ids, 'dead', storableText(reason));
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#terminate(ids, 'cancelled', null);
  }

  async requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    await this.#ready();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const now = this.#clock.now();
    const runAt = Math.floor(options.runAt ?? now);
    const rows = await this.#q<{ seq: string; queue: string; run_at: string }>(
      `WITH upd AS (
         UPDATE {s}.jobs j SET state = 'pending', run_at = $2,
           attempts = CASE WHEN $3 THEN 0 ELSE j.attempts END, result = NULL, finished_at = NULL,
           updated_at = $4, retry_delay_ms = 0
         WHERE j.seq = ANY($1::bigint[]) AND j.state IN ('dead', 'failed', 'cancelled')
           AND NOT ${ENDED_DEP}
         RETURNING j.seq, j.queue, j.run_at, j.idempotency_key, j.state, j.result
       ), led AS (${LEDGER_SYNC('upd')}), ${this.#noteCte('upd')}
       SELECT seq::text AS seq, queue, run_at::text AS run_at, (SELECT count(*) FROM note) AS notes
       FROM upd`,
      [unique.map(toSeq), runAt, options.resetAttempts ?? true, now],
    );
    this.#emitLocal(rows);
    const moved = new Set(rows.map((r) => r.seq));
    return unique.filter((id) => moved.has(id));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    checkId('get', id);
    await this.#ready();
    const [row] = await this.#q<JobRow>(`SELECT j.*, ${DEPS} FROM {s}.jobs j WHERE j.seq = $1`, [
      toSeq(id),
    ]);
    return row === undefined ? undefined : this.#toRecord(row);
  }

  async query(filter: JobQuery = {}): Promise<JobRecord[]> {
    await this.#ready();
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      if (value === undefined) return;
      values.push(value);
      where.push(sql.replace('?', `$${String(values.length)}`));
    };
    add('j.queue = ?', filter.queue);
    add('j.name = ?', filter.name);
    add(
      'j.state = ANY(?::text[])',
      filter.state === undefined
        ? undefined
        : typeof filter.state === 'string'
          ? [filter.state]
          : filter.state,
    );
    add('j.partition_key = ?', filter.partitionKey);
    add('j.partition = ?', filter.partition);
    add('j.seq > ?', filter.afterSeq);
    values.push(filter.limit ?? 100);
    const rows = await this.#q<JobRow>(
      `SELECT j.*, ${DEPS} FROM {s}.jobs j ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY j.seq LIMIT $${String(values.length)}`,
      values,
    );
    return rows.map((r) => this.#toRecord(r));
  }

  async counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    await this.#ready();
    const now = this.#clock.now();
    const queue = filter.queue ?? null;
    const [rows, oldest] = await Promise.all([
      this.#q<{ queue: string; partition: number | null; state: JobState; n: number }>(
        `SELECT queue, partition, state, count(*)::int AS n FROM {s}.jobs
         WHERE ($1::text IS NULL OR queue = $1) GROUP BY queue, partition, state`,
        [queue],
      ),
      this.#q<{ t: string | null }>(
        `SELECT min(j.run_at)::text AS t FROM {s}.jobs j WHERE j.state IN ('pending', 'failed')
         AND j.run_at <= $1 AND ($2::text IS NULL OR j.queue = $2) AND ${UNBLOCKED}`,
        [now, queue],
      ),
    ]);
    const byState = zeroCounts();
    const byQueue: Record<string, Record<JobState, number>> = {};
    const byPartition: Record<string, Record<JobState, number>> = {};
    for (const r of rows) {
      byState[r.state] += r.n;
      (byQueue[r.queue] ??= zeroCounts())[r.state] += r.n;
      (byPartition[r.partition === null ? 'none' : String(r.partition)] ??= zeroCounts())[
        r.state
      ] += r.n;
    }
    const t = oldest[0]?.t ?? null;
    return { byState, byQueue, byPartition, oldestReadyAgeMs: t === null ? 0 : now - Number(t) };
  }

  async attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    await this.#ready();
    const rows = await this.#q<{
      job_seq: string;
      queue: string;
      name: string;
      attempt: number;
      epoch: string;
      worker_id: string;
      started_at: string;
      ended_at: string;
      outcome: AttemptOutcome;
      error: string | null;
      payload: unknown;
      recorded: boolean;
    }>(
      `SELECT *, payload IS NOT NULL AS recorded FROM {s}.attempts
       WHERE ($1::bigint IS NULL OR job_seq = $1)
         AND ($2::bigint IS NULL OR ended_at >= $2) ORDER BY id LIMIT $3`,
      [
        filter.jobId === undefined ? null : toSeq(filter.jobId),
        filter.since ?? null,
        filter.limit ?? 1000,
      ],
    );
    return rows.map((r) =>
      Object.freeze({
        jobId: r.job_seq,
        queue: r.queue,
        name: r.name,
        attempt: r.attempt,
        epoch: Number(r.epoch),
        workerId: r.worker_id,
        startedAt: Number(r.started_at),
        endedAt: Number(r.ended_at),
        outcome: r.outcome,
        error: r.error,
        // SQL NULL: not recorded (a recorded JSON null payload is the jsonb 'null').
        ...(r.recorded ? { payload: r.payload } : {}),
      }),
    );
  }

  async replay(options: ReplayOptions): Promise<JobRecord[]> {
    checkReplay(options);
    await this.#ready();
    const now = this.#clock.now();
    const scope = `(($1::text IS NULL OR j.queue = $1) AND ($2::int IS NULL OR j.partition = $2)
      AND ($3::text IS NULL OR j.partition_key = $3) AND j.created_at >= $4)`;
    const values = [
      options.queue ?? null,
      options.partition ?? null,
      options.partitionKey ?? null,
      options.since,
    ];
    const select = `SELECT j.*, ${DEPS} FROM {s}.jobs j WHERE ${scope} ORDER BY j.seq`;
    if (options.dryRun === true) {
      return (await this.#q<JobRow>(select, values)).map((r) => this.#toRecord(r));
    }
    const { rows, reset } = await this.#tx(async (c) => {
      const reset = await this.#q<{ queue: string; run_at: string }>(
        `WITH upd AS (
           UPDATE {s}.jobs j SET state = 'pending', run_at = $5, attempts = 0, result = NULL,
             finished_at = NULL, updated_at = $5, retry_delay_ms = 0
           WHERE ${scope} AND j.state IN ('succeeded', 'dead', 'cancelled', 'failed')
             AND NOT ${ENDED_DEP}
           RETURNING j.seq, j.queue, j.run_at, j.idempotency_key, j.state, j.result
         ), led AS (${LEDGER_SYNC('upd')}),
         -- A replay does the work again: its memoized steps go (a requeue keeps them).
         st AS (DELETE FROM {s}.steps WHERE job_seq IN (SELECT seq FROM upd)),
         ${this.#noteCte('upd')}
         SELECT queue, run_at::text AS run_at, (SELECT count(*) FROM note) AS notes FROM upd`,
        [...values, now],
        c,
      );
      return { rows: await this.#q<JobRow>(select, values, c), reset };
    });
    this.#emitLocal(reset);
    return rows.map((r) => this.#toRecord(r));
  }

  async purge(options: PurgeOptions): Promise<number> {
    const states = checkPurge(options);
    await this.#ready();
    const [row] = await this.#q<{ n: number }>(
      `WITH v AS (
         DELETE FROM {s}.jobs WHERE state = ANY($1::text[]) AND finished_at < $2 RETURNING seq
       ), st AS (DELETE FROM {s}.steps WHERE job_seq IN (SELECT seq FROM v)),
       dp AS (DELETE FROM {s}.job_deps WHERE job_seq IN (SELECT seq FROM v))
       SELECT count(*)::int AS n FROM v`,
      [states, options.finishedBefore],
    );
    return row?.n ?? 0;
  }

  // ---------------------------------------------------------------- steps

  async getStep(jobId: string, step: string): Promise<StepValue> {
    await this.#ready();
    const [row] = await this.#q<{ value: unknown }>(
      'SELECT value FROM {s}.steps WHERE job_seq = $1 AND step = $2',
      [toSeq(jobId), step],
    );
    return row === undefined
      ? { found: false, value: undefined }
      : { found: true, value: row.value };
  }

  async putStep(input: PutStepInput): Promise<boolean> {
    await this.#ready();
    // FOR SHARE: a concurrent claim (epoch bump) waits for us, or we see its new epoch.
    const rows = await this.#q(
      `INSERT INTO {s}.steps (job_seq, step, value)
       SELECT seq, $2, $3::jsonb FROM {s}.jobs WHERE seq = $1 AND epoch = $4 AND state = 'leased'
       FOR SHARE
       ON CONFLICT (job_seq, step) DO UPDATE SET value = EXCLUDED.value
       RETURNING 1 AS ok`,
      [toSeq(input.id), input.step, json(input.value), input.epoch],
    );
    return rows.length === 1;
  }

  // ----------------------------------------------------------------- runs

  async #runRecord(seq: string, on: Queryable = this.pool): Promise<RunRecord | undefined> {
    const [r] = await this.#q<{
      seq: string;
      name: string;
      input: unknown;
      state: RunState;
      total: string;
      chunk_size: string;
      chunks: string;
      created_at: string;
      updated_at: string;
      finished_at: string | null;
      processed: string;
      done: number;
      last_error: string | null;
    }>(
      `SELECT r.seq::text AS seq, r.name, r.input, r.state, r.total, r.chunk_size, r.chunks,
         r.created_at, r.updated_at, r.finished_at, r.last_error,
         (SELECT COALESCE(sum(c.offset_at - c.start), 0) FROM {s}.chunks c WHERE c.run_seq = r.seq)::text AS processed,
         (SELECT count(*) FROM {s}.chunks c WHERE c.run_seq = r.seq AND c.state = 'done')::int AS done
       FROM {s}.runs r WHERE r.seq = $1`,
      [seq],
      on,
    );
    if (r === undefined) return undefined;
    return Object.freeze({
      id: r.seq,
      name: r.name,
      input: r.input,
      state: r.state,
      total: Number(r.total),
      chunkSize: Number(r.chunk_size),
      chunks: Number(r.chunks),
      chunksDone: r.done,
      processed: Number(r.processed),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      finishedAt: num(r.finished_at),
      ...(r.last_error === null ? {} : { lastError: r.last_error }),
    });
  }

  async createRun(spec: CreateRunSpec): Promise<RunRecord> {
    const run = normalizeRun(spec);
    const n = run.chunks;
    await this.#ready();
    const now = this.#clock.now();
    return this.#tx(async (c) => {
      const [inserted] = await this.#q<{ seq: string }>(
        `INSERT INTO {s}.runs (name, input, state, total, chunk_size, chunks, idempotency_key,
           created_at, updated_at, finished_at, max_chunk_attempts)
         VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $8, $9, $10)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq::text AS seq`,
        [
          run.name,
          run.inputJson,
          n === 0 ? 'succeeded' : 'running',
          run.total,
          run.chunkSize,
          n,
          run.idempotencyKey,
          now,
          n === 0 ? now : null,
          run.maxChunkAttempts,
        ],
        c,
      );
      let seq = inserted?.seq;
      if (seq === undefined) {
        const [existing] = await this.#q<{ seq: string }>(
          'SELECT seq::text AS seq FROM {s}.runs WHERE idempotency_key = $1',
          [run.idempotencyKey],
          c,
        );
        seq = existing?.seq;
        if (seq === undefined) throw new Error('run idempotency key vanished during createRun');
        const found = (await this.#runRecord(seq, c)) as RunRecord;
        if (runFingerprint(found) !== runFingerprint(run)) {
          throw new JobConflictError('', run.idempotencyKey ?? '', seq, { kind: 'run' });
        }
        return found;
      }
      // No chunk rows yet: claims issue them on demand (runs.issued, migration 9).
      return (await this.#runRecord(seq, c)) as RunRecord;
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    checkId('getRun', id);
    await this.#ready();
    return this.#runRecord(toSeq(id));
  }

  async claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    checkClaim(options);
    await this.#ready();
    const now = this.#clock.now();
    const leaseUntil = now + Math.ceil(options.leaseMs);
    const rows = await this.#q<{
      run_seq: string;
      idx: string;
      name: string;
      start: string;
      end_at: string;
      offset_at: string;
      epoch: string;
    }>(
      `WITH finished AS (${FINISH_RUNS(
        `($1::bigint IS NULL OR r.seq = $1) AND ($2::text[] IS NULL OR r.name = ANY($2))`,
        '$3',
      )}
       ), exhausted AS (
         -- An expired lease is a failed attempt; at the run's maxChunkAttempts the chunk and
         -- the run fail (with their other leased chunks handed back).
         SELECT c.run_seq, c.idx FROM {s}.chunks c JOIN {s}.runs r ON r.seq = c.run_seq
         WHERE r.state = 'running' AND ($1::bigint IS NULL OR r.seq = $1)
           AND ($2::text[] IS NULL OR r.name = ANY($2))
           AND c.state = 'leased' AND c.lease_expires_at <= $3
           AND c.attempts + 1 >= r.max_chunk_attempts
         FOR UPDATE OF c SKIP LOCKED
       ), exhausted_upd AS (
         UPDATE {s}.chunks x SET state = 'failed', attempts = x.attempts + 1, epoch = x.epoch + 1,
           lease_owner = NULL, lease_expires_at = NULL
         FROM exhausted e WHERE x.run_seq = e.run_seq AND x.idx = e.idx
       ), handed_back AS (
         UPDATE {s}.chunks x SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
         WHERE x.run_seq IN (SELECT run_seq FROM exhausted) AND x.state = 'leased'
           AND (x.run_seq, x.idx) NOT IN (SELECT run_seq, idx FROM exhausted)
       ), c AS (
         SELECT c.run_seq, c.idx, r.name, c.state AS old_state
         FROM {s}.chunks c JOIN {s}.runs r ON r.seq = c.run_seq
         WHERE r.state = 'running' AND ($1::bigint IS NULL OR r.seq = $1)
           AND ($2::text[] IS NULL OR r.name = ANY($2))
           AND r.seq NOT IN (SELECT run_seq FROM exhausted)
           AND ((c.state = 'pending' AND (c.not_before IS NULL OR c.not_before <= $3))
             OR (c.state = 'leased' AND c.lease_expires_at <= $3
               AND c.attempts + 1 < r.max_chunk_attempts))
         ORDER BY c.run_seq, c.idx LIMIT $4
         FOR UPDATE OF c SKIP LOCKED
       ), runs_upd AS (
         UPDATE {s}.runs r SET last_error = 'lease expired', updated_at = $3,
           state = CASE WHEN r.seq IN (SELECT run_seq FROM exhausted) THEN 'failed' ELSE r.state END
         WHERE r.seq IN (SELECT run_seq FROM exhausted
           UNION SELECT run_seq FROM c WHERE old_state = 'leased')
       )
       UPDATE {s}.chunks x SET state = 'leased', epoch = x.epoch + 1, lease_owner = $5,
         lease_expires_at = $6, not_before = NULL,
         attempts = x.attempts + CASE WHEN c.old_state = 'leased' THEN 1 ELSE 0 END
       FROM c WHERE x.run_seq = c.run_seq AND x.idx = c.idx
       RETURNING x.run_seq::text AS run_seq, x.idx, c.name, x.start, x.end_at, x.offset_at, x.epoch`,
      [
        options.runId === undefined ? null : toSeq(options.runId),
        options.names ?? null,
        now,
        options.limit,
        options.workerId,
        leaseUntil,
      ],
    );
    if (rows.length < options.limit) {
      rows.push(...(await this.#issueChunks(options, options.limit - rows.length, leaseUntil)));
    }
    return rows
      .map((c) =>
        Object.freeze({
          runId: c.run_seq,
          name: c.name,
          index: Number(c.idx),
          start: Number(c.start),
          end: Number(c.end_at),
          offset: Number(c.offset_at),
          epoch: Number(c.epoch),
          leaseExpiresAt: leaseUntil,
        }),
      )
      .sort((a, b) => Number(a.runId) - Number(b.runId) || a.index - b.index);
  }

  /**
   * Issues and leases up to `limit` never-issued chunks of the running runs, in run and index
   * order: a run's chunk rows are written when first claimed, not all at `createRun`. A run
   * row another claim (or a pause, cancel) holds is skipped.
   */
  async #issueChunks(
    options: ClaimChunksOptions,
    limit: number,
    leaseUntil: number,
  ): Promise<
    {
      run_seq: string;
      idx: string;
      name: string;
      start: string;
      end_at: string;
      offset_at: string;
      epoch: string;
    }[]
  > {
    return this.#q(
      `WITH r AS (
         SELECT seq, name, total, chunk_size, chunks, issued FROM {s}.runs
         WHERE state = 'running' AND issued < chunks AND ($1::bigint IS NULL OR seq = $1)
           AND ($2::text[] IS NULL OR name = ANY($2))
         ORDER BY seq LIMIT $3
         FOR UPDATE SKIP LOCKED
       ), pick AS (
         SELECT r.seq, r.total, r.chunk_size, i AS idx FROM r
         CROSS JOIN LATERAL generate_series(r.issued, least(r.chunks, r.issued + $3) - 1) AS i
         ORDER BY r.seq, i LIMIT $3
       ), ins AS (
         INSERT INTO {s}.chunks (run_seq, idx, start, end_at, offset_at, state, epoch,
           lease_owner, lease_expires_at)
         SELECT seq, idx, idx * chunk_size, least(total, (idx + 1) * chunk_size), idx * chunk_size,
           'leased', 1, $4, $5
         FROM pick
         RETURNING run_seq, idx, start, end_at, offset_at, epoch
       ), upd AS (
         UPDATE {s}.runs x SET issued = p.top + 1
         FROM (SELECT seq, max(idx) AS top FROM pick GROUP BY seq) p WHERE x.seq = p.seq
       )
       SELECT ins.run_seq::text AS run_seq, ins.idx, r.name, ins.start, ins.end_at, ins.offset_at,
         ins.epoch
       FROM ins JOIN r ON r.seq = ins.run_seq`,
      [
        options.runId === undefined ? null : toSeq(options.runId),
        options.names ?? null,
        limit,
        options.workerId,
        leaseUntil,
      ],
    );
  }

  /** Locks a chunk (and its run) when `ref` still holds its lease. */
  async #chunkCas(
    c: pg.PoolClient,
    ref: ChunkRef,
  ): Promise<{ start: number; end: number; offset: number } | undefined> {
    const [row] = await this.#q<{ start: string; end_at: string; offset_at: string }>(
      `SELECT c.start, c.end_at, c.offset_at FROM {s}.chunks c JOIN {s}.runs r ON r.seq = c.run_seq
       WHERE c.run_seq = $1 AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
         AND r.state = 'running'
       FOR UPDATE OF c, r`,
      [toSeq(ref.runId), ref.index, ref.epoch],
      c,
    );
    return row === undefined
      ? undefined
      : { start: Number(row.start), end: Number(row.end_at), offset: Number(row.offset_at) };
  }

  async checkpointChunk(input: CheckpointInput): Promise<boolean> {
    await this.#ready();
    const now = this.#clock.now();
    return this.#tx(async (c) => {
      const chunk = await this.#chunkCas(c, input);
      if (chunk === undefined) return false;
      const to = Math.min(chunk.end, Math.max(chunk.offset, Math.floor(input.offset)));
      await this.#q(
        // Progress resets the failed-attempt count; leaseMs 0 hands the chunk back (pending:
        // not an expired lease, which would count as a failed attempt).
        `WITH u AS (UPDATE {s}.chunks SET offset_at = $1,
             attempts = CASE WHEN $1 > offset_at THEN 0 ELSE attempts END,
             state = CASE WHEN $6 THEN 'pending' ELSE state END,
             lease_owner = CASE WHEN $6 THEN NULL ELSE lease_owner END,
             lease_expires_at = CASE WHEN $6 THEN NULL ELSE COALESCE($2, lease_expires_at) END
           WHERE run_seq = $3 AND idx = $4)
         UPDATE {s}.runs SET updated_at = $5 WHERE seq = $3`,
        [
          to,
          input.leaseMs === undefined ? null : now + Math.ceil(input.leaseMs),
          toSeq(input.runId),
          input.index,
          now,
          input.leaseMs !== undefined && Math.ceil(input.leaseMs) <= 0,
        ],
        c,
      );
      // A lease renewal or hand-back (no progress, no data) is not a checkpoint for the hook.
      if (to > chunk.offset || input.data !== undefined)
        await this.#onCheckpoint?.(c, {
          runId: input.runId,
          index: input.index,
          epoch: input.epoch,
          from: chunk.offset,
          to,
          data: input.data,
        });
      return true;
    });
  }

  async completeChunk(input: ChunkRef): Promise<boolean> {
    await this.#ready();
    const now = this.#clock.now();
    // Without the run's lock: holding it (through the commit's WAL flush) serialised every
    // completion of a run. A pause or cancel changes the run's leased chunks (handed back, or
    // epoch bumped), so a completion that races it is refused by the chunk's own check, and
    // the two lock no row in opposite orders.
    const [done] = await this.#q<{ pending: boolean }>(
      `UPDATE {s}.chunks c SET state = 'done', offset_at = c.end_at, lease_owner = NULL,
         lease_expires_at = NULL
       WHERE c.run_seq = $1 AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
         AND EXISTS (SELECT 1 FROM {s}.runs r WHERE r.seq = c.run_seq AND r.state = 'running')
       RETURNING EXISTS (SELECT 1 FROM {s}.chunks p
         WHERE p.run_seq = c.run_seq AND p.state = 'pending')
         OR EXISTS (SELECT 1 FROM {s}.runs r WHERE r.seq = c.run_seq AND r.issued < r.chunks)
         AS pending`,
      [toSeq(input.runId), input.index, input.epoch],
    );
    if (done === undefined) return false;
    // After the commit: of two last chunks completed at once, the later commit sees both done.
    // While chunks wait to be claimed, the run is finished by a later completion (or, should
    // a worker crash between the two statements, by the next claimChunks).
    if (!done.pending) await this.#q(FINISH_RUNS('r.seq = $1', '$2'), [toSeq(input.runId), now]);
    return true;
  }

  async #runTransition(id: string, from: readonly RunState[], to: RunState): Promise<boolean> {
    await this.#ready();
    const now = this.#clock.now();
    const [row] = await this.#q<{ n: number }>(
      `WITH r AS (
         UPDATE {s}.runs SET state = $1, updated_at = $2,
           finished_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE finished_at END
         WHERE seq = $3 AND state = ANY($4::text[]) RETURNING seq
       ), c AS (
         -- Their holders are refused from now on: a pause hands the leased chunks back
         -- (claimable at their last checkpoint once the run resumes), a cancel fences them.
         UPDATE {s}.chunks SET
           epoch = epoch + CASE WHEN $1 = 'cancelled' THEN 1 ELSE 0 END,
           state = CASE WHEN $1 = 'paused' THEN 'pending' ELSE state END,
           lease_owner = CASE WHEN $1 = 'paused' THEN NULL ELSE lease_owner END,
           lease_expires_at = CASE WHEN $1 = 'paused' THEN NULL ELSE lease_expires_at END
         WHERE $1 IN ('cancelled', 'paused') AND state = 'leased'
           AND run_seq IN (SELECT seq FROM r)
       ), f AS (
         -- A resume retries the failed chunks from their checkpoints with a fresh count.
         UPDATE {s}.chunks SET state = 'pending', attempts = 0, not_before = NULL
         WHERE $1 = 'running' AND state = 'failed' AND run_seq IN (SELECT seq FROM r)
       )
       SELECT count(*)::int AS n FROM r`,
      [to, now, toSeq(id), from],
    );
    return row?.n === 1;
  }

  /**
   * A failed attempt of a leased chunk (CAS on its epoch, only while the run is running): the
   * chunk is handed back for a retry at `retryAt`; at the run's `maxChunkAttempts` failed
   * attempts in a row the chunk and the run go `failed` (its other leased chunks are handed
   * back) until `resumeRun`. The error becomes the run's `lastError`.
   */
  async failChunk(input: FailChunkInput): Promise<boolean> {
    await this.#ready();
    const now = this.#clock.now();
    const [row] = await this.#q<{ n: number }>(
      `WITH r AS (
         -- The run first (the order of a pause or cancel, which lock it, then its chunks).
         SELECT seq, max_chunk_attempts FROM {s}.runs WHERE seq = $1 AND state = 'running'
         FOR UPDATE
       ), ch AS (
         UPDATE {s}.chunks c SET attempts = c.attempts + 1, lease_owner = NULL,
           lease_expires_at = NULL,
           state = CASE WHEN c.attempts + 1 >= r.max_chunk_attempts THEN 'failed' ELSE 'pending' END,
           not_before = $5, epoch = c.epoch + CASE
             WHEN c.attempts + 1 >= r.max_chunk_attempts THEN 1 ELSE 0 END
         FROM r WHERE c.run_seq = r.seq AND c.idx = $2 AND c.epoch = $3 AND c.state = 'leased'
         RETURNING c.run_seq, c.idx, c.state
       ), others AS (
         UPDATE {s}.chunks x SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
         WHERE x.run_seq IN (SELECT run_seq FROM ch WHERE state = 'failed') AND x.state = 'leased'
           AND x.idx <> $2
       ), ru AS (
         UPDATE {s}.runs x SET last_error = $4, updated_at = $6,
           state = CASE WHEN ch.state = 'failed' THEN 'failed' ELSE x.state END
         FROM ch WHERE x.seq = ch.run_seq
       )
       SELECT count(*)::int AS n FROM ch`,
      [
        toSeq(input.runId),
        input.index,
        input.epoch,
        storableText(input.error),
        Math.floor(input.retryAt ?? now),
        now,
      ],
    );
    return row?.n === 1;
  }

  pauseRun(id: string): Promise<boolean> {
    return this.#runTransition(id, ['running'], 'paused');
  }

  resumeRun(id: string): Promise<boolean> {
    return this.#runTransition(id, ['paused', 'failed'], 'running');
  }

  cancelRun(id: string): Promise<boolean> {
    return this.#runTransition(id, ['running', 'paused', 'failed'], 'cancelled');
  }
}
