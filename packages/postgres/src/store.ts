/**
 * `PostgresJobStore`: the `JobStore` contract on PostgreSQL (pg), put
 * together from its parts, one concern per file:
 *
 * - `connection.ts`: the pool, the schema placeholder, prepared statements,
 *   transactions, the driver's timeouts;
 * - `migrate.ts` and `migrations.ts`: the shipped migrations, applied under a
 *   session advisory lock;
 * - `notify.ts`: LISTEN/NOTIFY wake-ups;
 * - `jobs.ts`: enqueue, the one-statement claim, the lease compare-and-sets;
 * - `admin.ts`: reads and operator actions; `steps.ts`: memoized steps;
 *   `runs.ts`: runs and their chunks;
 * - `sql/*.sql`: every statement, compiled into `sql/generated.ts`.
 *
 * Every timestamp is a `bigint` of epoch ms from the injected `Clock`, passed
 * as a parameter; the server's `now()` is never read, so `TestClock` drives
 * leases, retries and aging in tests exactly as in the memory store. Workers on
 * several machines must therefore have reasonably synchronised clocks (NTP): a
 * skew of `s` ms shortens or lengthens a lease by `s`.
 */
import type pg from 'pg';
import {
  ClosedError,
  InvalidOptionError,
  systemClock,
  type Clock,
  type Subscription,
} from 'batchflight/core';
import { booleanOption, describe, integerOption, knownOptions } from 'batchflight/kit';
import type {
  AttemptQuery,
  AttemptRecord,
  CheckpointInput,
  ChunkLease,
  ChunkRef,
  ClaimChunksOptions,
  ClaimOptions,
  CompleteInput,
  CompletedJob,
  AcceptedCheckpoint,
  CreateRunSpec,
  EnqueueResult,
  EnqueueSpec,
  EnqueuedEvent,
  FailChunkInput,
  FailInput,
  FailResult,
  JobCounts,
  JobQuery,
  JobRecord,
  JobStore,
  JobStoreOptions,
  LeaseRef,
  PurgeOptions,
  PutStepInput,
  ReplayOptions,
  RequeueOptions,
  RunRecord,
  SettleResult,
  StepValue,
} from 'batchflight/jobs';
import { PgAdmin } from './admin.js';
import { MAX_TIMER_MS, PgConnection } from './connection.js';
import type { StoreContext } from './context.js';
import { PostgresTimeoutError } from './errors.js';
import { PgJobs } from './jobs.js';
import { migrate, schemaVersion } from './migrate.js';
import { Notifier } from './notify.js';
import { PgRuns } from './runs.js';
import { PgSteps } from './steps.js';

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
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,47}$/;

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
  readonly #conn: PgConnection;
  readonly #notifier: Notifier;
  readonly #clock: Clock;
  readonly #closeTimeoutMs: number;
  readonly #jobs: PgJobs;
  readonly #admin: PgAdmin;
  readonly #steps: PgSteps;
  readonly #runs: PgRuns;
  #init: Promise<void> | undefined;
  #closed = false;

  /** Checks every option (see {@link PostgresJobStoreOptions}); connects on first use. */
  constructor(options: PostgresJobStoreOptions = {}) {
    knownOptions(WHERE, options, OPTIONS);
    const closeTimeoutMs = integerOption(WHERE, 'closeTimeoutMs', options.closeTimeoutMs ?? 5_000, {
      min: 1,
    });
    this.#closeTimeoutMs = Math.min(closeTimeoutMs, MAX_TIMER_MS);
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
    const delay = options.reconnectDelayMs ?? 100;
    if (!(delay > 0) || !Number.isFinite(delay)) {
      throw new InvalidOptionError(
        'reconnectDelayMs',
        `${WHERE}: option reconnectDelayMs must be a finite number > 0, got ${describe(delay)}.`,
      );
    }
    for (const hook of ['onComplete', 'onCheckpoint'] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') {
        throw new InvalidOptionError(
          hook,
          `${WHERE}: option ${hook} must be a function, got ${describe(options[hook])}.`,
        );
      }
    }
    this.#conn = new PgConnection(WHERE, schema, options);
    this.pool = this.#conn.pool;
    this.#notifier = new Notifier(this.channel, this.#conn.clientConfig, this.#clock, delay);
    const ctx: StoreContext = {
      conn: this.#conn,
      clock: this.#clock,
      notifier: this.#notifier,
      attemptPayloads: options.attemptPayloads === true,
      onComplete: options.onComplete,
      onCheckpoint: options.onCheckpoint,
      ready: () => this.#ready(),
    };
    this.#jobs = new PgJobs(ctx);
    this.#admin = new PgAdmin(ctx);
    this.#steps = new PgSteps(ctx);
    this.#runs = new PgRuns(ctx);
  }

  async #ready(): Promise<void> {
    if (this.#closed) throw new ClosedError('PostgresJobStore is closed.');
    this.#init ??= migrate(this.#conn, this.#clock, () => this.#closed).catch((error: unknown) => {
      this.#init = undefined; // let a later call retry (the server may come back)
      throw error;
    });
    await this.#init;
  }

  /** Applies the pending migrations (safe from concurrent processes). */
  async init(): Promise<void> {
    await this.#ready();
  }

  /** The highest migration version applied. */
  async schemaVersion(): Promise<number> {
    await this.#ready();
    return schemaVersion(this.#conn);
  }

  /** Ends the LISTEN connection and, when the store created it, the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ending = (async () => {
      await Promise.all([this.#notifier.close(), this.#init?.catch(() => undefined)]);
      if (this.#conn.ownsPool) await this.pool.end();
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

  /** `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Wake-ups after enqueue, requeue and replay, from this instance (at once)
   * and from every other process (through LISTEN/NOTIFY on {@link channel}).
   * The first subscription opens the dedicated LISTEN connection; after it
   * reconnects (notifications may have been missed) one event with queue
   * `'*'` and count 0 is emitted so listeners claim once.
   */
  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#notifier.subscribe(listener);
  }

  // The contract's operations, each in the part of its concern.

  /** {@inheritDoc JobStore.enqueue} */
  enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    return this.#jobs.enqueue(specs);
  }

  /** {@inheritDoc JobStore.claim} */
  claim(options: ClaimOptions): Promise<JobRecord[]> {
    return this.#jobs.claim(options);
  }

  /** {@inheritDoc JobStore.heartbeat} */
  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    return this.#jobs.heartbeat(leases, leaseMs);
  }

  /** {@inheritDoc JobStore.release} */
  release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    return this.#jobs.release(leases);
  }

  /** {@inheritDoc JobStore.complete} */
  complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    return this.#jobs.complete(completions);
  }

  /** {@inheritDoc JobStore.fail} */
  fail(failures: readonly FailInput[]): Promise<FailResult> {
    return this.#jobs.fail(failures);
  }

  /** {@inheritDoc JobStore.deadLetter} */
  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#admin.deadLetter(ids, reason);
  }

  /** {@inheritDoc JobStore.cancel} */
  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#admin.cancel(ids);
  }

  /** {@inheritDoc JobStore.requeue} */
  requeue(ids: readonly string[], options?: RequeueOptions): Promise<string[]> {
    return this.#admin.requeue(ids, options);
  }

  /** {@inheritDoc JobStore.get} */
  get(id: string): Promise<JobRecord | undefined> {
    return this.#admin.get(id);
  }

  /** {@inheritDoc JobStore.query} */
  query(filter?: JobQuery): Promise<JobRecord[]> {
    return this.#admin.query(filter);
  }

  /** {@inheritDoc JobStore.counts} */
  counts(filter?: { readonly queue?: string }): Promise<JobCounts> {
    return this.#admin.counts(filter);
  }

  /** {@inheritDoc JobStore.attempts} */
  attempts(filter?: AttemptQuery): Promise<AttemptRecord[]> {
    return this.#admin.attempts(filter);
  }

  /** {@inheritDoc JobStore.replay} */
  replay(options: ReplayOptions): Promise<JobRecord[]> {
    return this.#admin.replay(options);
  }

  /** {@inheritDoc JobStore.purge} */
  purge(options: PurgeOptions): Promise<number> {
    return this.#admin.purge(options);
  }

  /** Memoized step value of a job (see the `StepStore` contract). */
  getStep(jobId: string, step: string): Promise<StepValue> {
    return this.#steps.getStep(jobId, step);
  }

  /** Memoizes a step value under the job's lease (see the `StepStore` contract). */
  putStep(input: PutStepInput): Promise<boolean> {
    return this.#steps.putStep(input);
  }

  /** Creates a run, idempotent by key (see the `RunStore` contract). */
  createRun(spec: CreateRunSpec): Promise<RunRecord> {
    return this.#runs.createRun(spec);
  }

  /** A run with its progress (see the `RunStore` contract). */
  getRun(id: string): Promise<RunRecord | undefined> {
    return this.#runs.getRun(id);
  }

  /** Leases chunks of running runs (see the `RunStore` contract). */
  claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    return this.#runs.claimChunks(options);
  }

  /** Records a chunk's progress under its lease (see the `RunStore` contract). */
  checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#runs.checkpointChunk(input);
  }

  /** Marks a leased chunk done (see the `RunStore` contract). */
  completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#runs.completeChunk(input);
  }

  /** A failed attempt of a leased chunk (see the `RunStore` contract). */
  failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#runs.failChunk(input);
  }

  /** Pauses a running run (see the `RunStore` contract). */
  pauseRun(id: string): Promise<boolean> {
    return this.#runs.pauseRun(id);
  }

  /** Resumes a paused or failed run (see the `RunStore` contract). */
  resumeRun(id: string): Promise<boolean> {
    return this.#runs.resumeRun(id);
  }

  /** Cancels a run (see the `RunStore` contract). */
  cancelRun(id: string): Promise<boolean> {
    return this.#runs.cancelRun(id);
  }
}
