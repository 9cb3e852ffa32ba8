/**
 * `SqliteJobStore`: the embedded durable `JobStore` on one SQLite file
 * (better-sqlite3, WAL). Several worker processes on one machine share the
 * file safely: every write is one `BEGIN IMMEDIATE` transaction (the claim's
 * select-then-lease included), so processes serialise on SQLite's write lock
 * and wait up to `busyTimeoutMs` for it; readers never block writers in WAL.
 *
 * better-sqlite3 is synchronous: each operation runs to completion on the
 * calling thread, which is what makes batching decisive — one claim of 500
 * jobs and one completion of 500 jobs are two short transactions.
 */
import Database from 'better-sqlite3';
import {
  ClosedError,
  InvalidOptionError,
  Listeners,
  booleanOption,
  describe,
  functionOption,
  knownOptions,
  systemClock,
  type Clock,
  type Subscription,
} from 'batchflight/core';
import {
  DEPENDENCY_FAILED_STATES,
  JobConflictError,
  JobDependencyError,
  TERMINAL_STATES,
  checkClaim,
  checkId,
  checkPurge,
  checkReplay,
  newJobRecord,
  normalizeEnqueue,
  enqueuedEvents,
  normalizeRun,
  runFingerprint,
  storableText,
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
  type CompleteInput,
  type CompletedJob,
  type CreateRunSpec,
  type EnqueueResult,
  type EnqueueSpec,
  type EnqueuedEvent,
  type FailChunkInput,
  type FailInput,
  type FailResult,
  type JobCounts,
  type JobQuery,
  type JobRecord,
  type JobState,
  type FullJobStore,
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
  RUN_TRANSITIONS,
  cancelDependent,
  chunkFailed,
  expireExhausted,
  failLeased,
  leaseRefusal,
  requeueJobs,
  resetJob,
  terminate,
  transitionRun,
  type JobChange,
  type JobMachine,
  type LeaseState,
  type RunMachine,
} from 'batchflight/jobs';
import { MIGRATIONS } from './migrations.js';

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions extends JobStoreOptions {
  /**
   * The database file. Exactly one of `path` and `database` is required.
   * `':memory:'` is an explicit private in-memory database: not durable, its
   * jobs are lost at `close()` (for tests).
   */
  readonly path?: string;
  /** An open better-sqlite3 database to use instead of `path`; the store does not close it. */
  readonly database?: Database.Database;
  /** Prefix of every table, `[a-z_][a-z0-9_]*`. Default `'bf_'`. */
  readonly tablePrefix?: string;
  /** How long a write waits for another process's lock, ms. Default 10 000. */
  readonly busyTimeoutMs?: number;
  /**
   * `'NORMAL'` (default) survives process crashes (SIGKILL) but may lose the
   * last transactions on power loss; `'FULL'` fsyncs every commit.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * Runs inside the completion transaction, after the compare-and-set, with
   * only the accepted completions. Write a job's effects here and they are
   * committed atomically with its success: exactly once, even when a worker
   * is killed at any instant. Throwing rolls the whole completion back.
   */
  readonly onComplete?: (db: Database.Database, completed: readonly CompletedJob[]) => void;
  /** Like `onComplete`, for an accepted chunk checkpoint (effects of items `[from, to)`). */
  readonly onCheckpoint?: (db: Database.Database, checkpoint: AcceptedCheckpoint) => void;
}

/** A prepared statement bound from positional arguments. */
interface Stmt {
  run(...args: unknown[]): Database.RunResult;
  get(...args: unknown[]): unknown;
  all(...args: unknown[]): unknown[];
}

interface JobRow {
  seq: number;
  queue: string;
  name: string;
  payload: string;
  state: JobState;
  idempotency_key: string | null;
  partition_key: string | null;
  partition: number | null;
  ordered: number;
  priority: number;
  run_at: number;
  has_deps: number;
  attempts: number;
  max_attempts: number;
  backoff: string | null;
  epoch: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  started_at: number | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  result: string | null;
  last_error: string | null;
  retry_delay_ms: number;
}

interface RunRow {
  seq: number;
  name: string;
  input: string;
  state: RunState;
  total: number;
  chunk_size: number;
  chunks: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  last_error: string | null;
}

interface ChunkRow {
  run_seq: number;
  idx: number;
  start: number;
  end_at: number;
  offset_at: number;
  state: string;
  epoch: number;
}

/** The columns of a job row, in the order of raw (array) reads. */
const JOB_COLUMNS = [
  'seq',
  'queue',
  'name',
  'payload',
  'state',
  'idempotency_key',
  'partition_key',
  'partition',
  'ordered',
  'priority',
  'run_at',
  'has_deps',
  'attempts',
  'max_attempts',
  'backoff',
  'epoch',
  'lease_owner',
  'lease_expires_at',
  'started_at',
  'created_at',
  'updated_at',
  'finished_at',
  'result',
  'last_error',
  'retry_delay_ms',
] as const satisfies readonly (keyof JobRow)[];

/** `FailInput.delayMs` as kept (`retryDelayMs`): an integer >= 0, 0 when absent or not one. */
/** What the job state machine loads of a job: its key, state and what its transitions consult. */
interface JobKey {
  readonly seq: number;
  readonly state: JobState;
  readonly queue: string;
  readonly has_deps: number;
  readonly idempotency_key: string | null;
}
const JOB_KEY = 'seq, state, queue, has_deps, idempotency_key';
const JOB_KEY_OF_J = 'j.seq, j.state, j.queue, j.has_deps, j.idempotency_key';

function fromRaw(values: unknown[]): JobRow {
  const row: Record<string, unknown> = {};
  JOB_COLUMNS.forEach((column, i) => {
    row[column] = values[i];
  });
  return row as unknown as JobRow;
}

const WHERE = 'new SqliteJobStore()';
const OPTIONS = [
  'path',
  'database',
  'tablePrefix',
  'busyTimeoutMs',
  'synchronous',
  'onComplete',
  'onCheckpoint',
  'clock',
  'attemptPayloads',
] as const;

/** A better-sqlite3 database (checked by shape: another installed copy is fine too). */
function isDatabase(value: unknown): value is Database.Database {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { pragma?: unknown }).pragma === 'function' &&
    typeof (value as { prepare?: unknown }).prepare === 'function'
  );
}
const rejected = (error: unknown): Promise<never> =>
  Promise.reject(error instanceof Error ? error : new Error(String(error)));
const parse = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));
const toSeq = (id: string): number => (/^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : -1);
const TERMINAL_SQL = `('succeeded','dead','cancelled')`;
const isEnded = (state: JobState | undefined): boolean =>
  state !== undefined && DEPENDENCY_FAILED_STATES.includes(state);

/**
 * Job `x` waits on nothing: every dependency succeeded, and it heads its
 * ordered partition (an earlier dead or cancelled job no longer blocks).
 */
const UNBLOCKED_SQL = `(x.has_deps = 0 OR NOT EXISTS (
            SELECT 1 FROM {p}job_deps d JOIN {p}jobs dj ON dj.seq = d.depends_on
            WHERE d.job_seq = x.seq AND dj.state <> 'succeeded'))
          AND (x.ordered = 0 OR NOT EXISTS (
            SELECT 1 FROM {p}jobs o WHERE o.ordered = 1 AND o.queue = x.queue
              AND o.partition_key = x.partition_key AND o.seq < x.seq
              AND o.state IN ('pending','leased','failed')))`;

/**
 * The SQLite store.
 *
 * @example
 * ```ts
 * await using store = new SqliteJobStore({ path: 'jobs.db' });
 * await store.init();
 * const queue = new Queue(store);
 * await queue.add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42' });
 * ```
 */
export class SqliteJobStore implements FullJobStore {
  /** The underlying database (for effect tables living in the same file). */
  readonly db: Database.Database;
  readonly #clock: Clock;
  readonly #attemptPayloads: boolean;
  readonly #p: string;
  readonly #ownsDb: boolean;
  readonly #onComplete: SqliteJobStoreOptions['onComplete'];
  readonly #onCheckpoint: SqliteJobStoreOptions['onCheckpoint'];
  readonly #enqueued = new Listeners<EnqueuedEvent>();
  readonly #stmts = new Map<string, Stmt>();
  readonly #rawReads = new Map<string, Database.Statement>();
  #closed = false;
  #initialized = false;

  constructor(options: SqliteJobStoreOptions) {
    // `options` is typed as required, but JavaScript callers may still pass nothing.
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new InvalidOptionError(
        'path',
        `${WHERE}: options { path } or { database } are required (the database file; ':memory:' for a non-durable one), got ${describe(given)}.`,
      );
    }
    knownOptions(WHERE, options, OPTIONS);
    const hasPath = options.path !== undefined;
    const hasDb = options.database !== undefined;
    if (hasPath === hasDb) {
      throw new InvalidOptionError(
        hasPath ? 'database' : 'path',
        `${WHERE}: exactly one of options path and database is required (path ':memory:' for a non-durable in-memory database), got ${hasPath ? 'both' : 'neither'}.`,
      );
    }
    if (hasPath && (typeof options.path !== 'string' || options.path.length === 0)) {
      throw new InvalidOptionError(
        'path',
        `${WHERE}: option path must be a non-empty file name (':memory:' for a non-durable in-memory database), got ${describe(options.path)}.`,
      );
    }
    if (hasDb && !isDatabase(options.database)) {
      throw new InvalidOptionError(
        'database',
        `${WHERE}: option database must be an open better-sqlite3 Database, got ${describe(options.database)}.`,
      );
    }
    for (const hook of ['onComplete', 'onCheckpoint'] as const) {
      if (options[hook] !== undefined) functionOption(WHERE, hook, options[hook]);
    }
    this.#clock = options.clock ?? systemClock;
    this.#attemptPayloads =
      options.attemptPayloads !== undefined &&
      booleanOption(WHERE, 'attemptPayloads', options.attemptPayloads);
    const prefix = options.tablePrefix ?? 'bf_';
    if (typeof prefix !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(prefix)) {
      throw new InvalidOptionError(
        'tablePrefix',
        `${WHERE}: option tablePrefix must match [a-z_][a-z0-9_]*, got ${describe(prefix)}.`,
      );
    }
    this.#p = prefix;
    const busy = options.busyTimeoutMs ?? 10_000;
    if (!Number.isSafeInteger(busy) || busy < 0) {
      throw new InvalidOptionError(
        'busyTimeoutMs',
        `${WHERE}: option busyTimeoutMs must be an integer >= 0, got ${describe(busy)}.`,
      );
    }
    const sync: unknown = options.synchronous ?? 'NORMAL';
    if (sync !== 'NORMAL' && sync !== 'FULL') {
      throw new InvalidOptionError(
        'synchronous',
        `${WHERE}: option synchronous must be 'NORMAL' or 'FULL', got ${describe(sync)}.`,
      );
    }
    this.#onComplete = options.onComplete;
    this.#onCheckpoint = options.onCheckpoint;
    this.#ownsDb = options.database === undefined;
    this.db = options.database ?? new Database(options.path);
    this.db.pragma(`busy_timeout = ${String(busy)}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync}`);
  }

  /**
   * `{p}` → the table prefix; statements are prepared once and cached.
   * Numbered parameters (`?1`) are bound from the positional arguments.
   */
  #stmt(sql: string): Stmt {
    let stmt = this.#stmts.get(sql);
    if (stmt === undefined) {
      const prepared = this.db.prepare(sql.replaceAll('{p}', this.#p));
      if (/\?\d/.test(sql)) {
        // better-sqlite3 binds `?N` only from an object keyed by N.
        const bind = (args: unknown[]): Record<number, unknown> =>
          Object.fromEntries(args.map((a, i) => [i + 1, a]));
        stmt = {
          run: (...args) => prepared.run(bind(args)),
          get: (...args) => prepared.get(bind(args)),
          all: (...args) => prepared.all(bind(args)),
        };
      } else {
        stmt = {
          run: (...args) => prepared.run(...args),
          get: (...args) => prepared.get(...args),
          all: (...args) => prepared.all(...args),
        };
      }
      this.#stmts.set(sql, stmt);
    }
    return stmt;
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('SqliteJobStore is closed.');
    if (!this.#initialized) this.#migrate();
  }

  /** Runs `fn` in one `BEGIN IMMEDIATE` transaction and resolves with its value. */
  #write<T>(fn: () => T): Promise<T> {
    try {
      this.#check();
      return Promise.resolve(this.db.transaction(fn).immediate());
    } catch (error) {
      return rejected(error);
    }
  }

  #read<T>(fn: () => T): Promise<T> {
    try {
      this.#check();
      return Promise.resolve(fn());
    } catch (error) {
      return rejected(error);
    }
  }

  #migrate(): void {
    const p = this.#p;
    this.db
      .transaction(() => {
        this.db.exec(
          `CREATE TABLE IF NOT EXISTS ${p}migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
        );
        const row = this.db.prepare(`SELECT MAX(version) AS v FROM ${p}migrations`).get() as {
          v: number | null;
        };
        const current = row.v ?? 0;
        for (const m of MIGRATIONS) {
          if (m.version <= current) continue;
          // The version row first: a concurrent migrator that somehow got here collides on the key.
          this.db
            .prepare(`INSERT INTO ${p}migrations (version, name, applied_at) VALUES (?, ?, ?)`)
            .run(m.version, m.name, this.#clock.now());
          this.db.exec(m.sql.replaceAll('{p}', p));
        }
      })
      .immediate();
    this.#initialized = true;
  }

  /** Applies the pending migrations (safe from concurrent processes). */
  init(): Promise<void> {
    return this.#read(() => undefined);
  }

  /** The schema version applied. */
  schemaVersion(): number {
    const row = this.db.prepare(`SELECT MAX(version) AS v FROM ${this.#p}migrations`).get() as {
      v: number | null;
    };
    return row.v ?? 0;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#enqueued.clear();
    this.#stmts.clear();
    this.#rawReads.clear();
    if (this.#ownsDb && this.db.open) this.db.close();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#enqueued.add(listener);
  }

  #notify(rows: readonly { queue: string; run_at: number }[]): void {
    if (!this.#enqueued.active || rows.length === 0) return;
    for (const e of enqueuedEvents(rows, (r) => r.run_at)) this.#enqueued.emit(e);
  }

  #deps(seq: number): string[] {
    const rows = this.#stmt(
      'SELECT depends_on FROM {p}job_deps WHERE job_seq = ? ORDER BY depends_on',
    ).all(seq) as { depends_on: number }[];
    return rows.map((r) => String(r.depends_on));
  }

  #toRecord(row: JobRow): JobRecord {
    return Object.freeze({
      id: String(row.seq),
      queue: row.queue,
      name: row.name,
      payload: JSON.parse(row.payload) as unknown,
      state: row.state,
      seq: row.seq,
      idempotencyKey: row.idempotency_key,
      partitionKey: row.partition_key,
      partition: row.partition,
      ordered: row.ordered === 1,
      priority: row.priority,
      runAt: row.run_at,
      dependsOn: row.has_deps === 1 ? this.#deps(row.seq) : [],
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      backoff: row.backoff === null ? null : (JSON.parse(row.backoff) as BackoffSpec),
      epoch: row.epoch,
      leaseOwner: row.lease_owner,
      leaseExpiresAt: row.lease_expires_at,
      startedAt: row.started_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      finishedAt: row.finished_at,
      result: parse(row.result),
      lastError: row.last_error,
      retryDelayMs: row.retry_delay_ms,
    });
  }

  #row(seq: number): JobRow | undefined {
    return this.#stmt('SELECT * FROM {p}jobs WHERE seq = ?').get(seq) as JobRow | undefined;
  }

  #syncLedger(seq: number): void {
    this.#stmt(
      `UPDATE {p}ledger SET state = j.state, result = CASE WHEN j.state = 'succeeded' THEN j.result END
       FROM (SELECT queue, idempotency_key, state, result FROM {p}jobs WHERE seq = ?1 AND idempotency_key IS NOT NULL) AS j
       WHERE {p}ledger.queue = j.queue AND {p}ledger.key = j.idempotency_key AND {p}ledger.job_seq = ?1`,
    ).run(seq);
  }

  #appendAttempt(seq: number, outcome: AttemptOutcome, error: string | null, now: number): void {
    this.#stmt(
      `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
       SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?, ?, ?,
         CASE WHEN ? THEN payload END
       FROM {p}jobs WHERE seq = ?`,
    ).run(now, outcome, error, this.#attemptPayloads ? 1 : 0, seq);
  }

  /** A dead or cancelled dependency of job `seq`, if any. */
  #endedDependency(seq: number): { depends_on: number; state: JobState } | undefined {
    return this.#stmt(
      `SELECT d.depends_on, dj.state FROM {p}job_deps d JOIN {p}jobs dj ON dj.seq = d.depends_on
       WHERE d.job_seq = ? AND dj.state IN ('dead','cancelled') LIMIT 1`,
    ).get(seq) as { depends_on: number; state: JobState } | undefined;
  }

  /** The storage primitives of the shared job state machine (`batchflight/jobs` transitions) on this store's rows. */
  readonly #machine: JobMachine<JobKey> = {
    load: (id) =>
      this.#stmt(`SELECT ${JOB_KEY} FROM {p}jobs WHERE seq = ?`).get(toSeq(id)) as
        JobKey | undefined,
    id: (job) => String(job.seq),
    state: (job) => job.state,
    cancellableDependents: (job) =>
      this.#stmt(
        `SELECT ${JOB_KEY_OF_J} FROM {p}job_deps d INDEXED BY {p}job_deps_dependents JOIN {p}jobs j ON j.seq = d.job_seq
         WHERE d.depends_on = ? AND j.state IN ('pending','failed')`,
      ).all(job.seq) as JobKey[],
    endedDependency: (job) => {
      if (job.has_deps === 0) return undefined;
      const dep = this.#endedDependency(job.seq);
      return dep === undefined ? undefined : { id: String(dep.depends_on), state: dep.state };
    },
    appendAttempt: (job, outcome, error, now) => {
      this.#appendAttempt(job.seq, outcome, error, now);
    },
    write: (job, change, now) => {
      this.#writeChange(job.seq, change, now);
    },
    // A job without a key has no ledger entry: no statement.
    syncLedger: (job) => {
      if (job.idempotency_key !== null) this.#syncLedger(job.seq);
    },
  };

  /** Writes a transition's change of fields (see `JobChange`) to job `seq`. */
  #writeChange(seq: number, change: JobChange, now: number): void {
    switch (change.kind) {
      case 'end':
        this.#stmt(
          `UPDATE {p}jobs SET state = ?1, last_error = COALESCE(?2, last_error), epoch = epoch + ?5,
             lease_owner = NULL, lease_expires_at = NULL, finished_at = ?3, updated_at = ?3 WHERE seq = ?4`,
        ).run(change.to, change.reason, now, seq, change.fence ? 1 : 0);
        return;
      case 'retry':
        this.#stmt(
          `UPDATE {p}jobs SET state = 'failed', last_error = ?1, lease_owner = NULL, lease_expires_at = NULL,
             run_at = ?2, updated_at = ?3, retry_delay_ms = ?5 WHERE seq = ?4`,
        ).run(change.error, change.runAt, now, seq, change.retryDelayMs);
        return;
      case 'reset':
        this.#stmt(
          `UPDATE {p}jobs SET state = 'pending', run_at = ?1, attempts = CASE WHEN ?2 THEN 0 ELSE attempts END,
             result = NULL, finished_at = NULL, updated_at = ?3, retry_delay_ms = 0 WHERE seq = ?4`,
        ).run(change.runAt, change.resetAttempts ? 1 : 0, now, seq);
        return;
    }
  }

  enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    let normalized: NormalizedEnqueue[];
    let now: number;
    try {
      now = this.#clock.now();
      normalized = specs.map((s) => normalizeEnqueue(s, now));
    } catch (error) {
      return rejected(error);
    }
    const created: { queue: string; run_at: number }[] = [];
    const result = this.#write(() => {
      created.length = 0;
      const missing = new Set<string>();
      const depStates = new Map<string, JobState>();
      const seen = new Map<string, { fingerprint: string; seq: number }>();
      const out: EnqueueResult[] = [];
      for (const n of normalized) {
        for (const dep of n.dependsOn) {
          const row = this.#stmt('SELECT state FROM {p}jobs WHERE seq = ?').get(toSeq(dep)) as
            { state: JobState } | undefined;
          if (row === undefined) missing.add(dep);
          else depStates.set(dep, row.state);
        }
      }
      if (missing.size > 0) throw new JobDependencyError([...missing]);
      for (const n of normalized) {
        if (n.idempotencyKey !== null) {
          const ledger = this.#stmt(
            'SELECT job_seq, fingerprint, state, result FROM {p}ledger WHERE queue = ? AND key = ?',
          ).get(n.queue, n.idempotencyKey) as
            | { job_seq: number; fingerprint: string; state: JobState; result: string | null }
            | undefined;
          if (ledger !== undefined) {
            if (ledger.fingerprint !== n.fingerprint) {
              throw new JobConflictError(n.queue, n.idempotencyKey, String(ledger.job_seq));
            }
            const row = this.#row(ledger.job_seq);
            out.push({
              id: String(ledger.job_seq),
              created: false,
              job: row === undefined ? null : this.#toRecord(row),
              state: row?.state ?? ledger.state,
              result: parse(row === undefined ? ledger.result : row.result),
            });
            continue;
          }
          const earlier = seen.get(`${n.queue}\0${n.idempotencyKey}`);
          if (earlier !== undefined && earlier.fingerprint !== n.fingerprint) {
            throw new JobConflictError(n.queue, n.idempotencyKey, String(earlier.seq));
          }
        }
        const seq = Number(
          this.#stmt(
            `INSERT INTO {p}jobs (queue, name, payload, state, idempotency_key, partition_key, fair_key, partition,
               ordered, priority, run_at, has_deps, attempts, max_attempts, backoff, epoch, created_at, updated_at)
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?)`,
          ).run(
            n.queue,
            n.name,
            n.payloadJson,
            n.idempotencyKey,
            n.partitionKey,
            n.partitionKey ?? '',
            n.partition,
            n.ordered ? 1 : 0,
            n.priority,
            n.runAt,
            n.dependsOn.length > 0 ? 1 : 0,
            n.maxAttempts,
            n.backoff === null ? null : JSON.stringify(n.backoff),
            now,
            now,
          ).lastInsertRowid,
        );
        const row = { seq, queue: n.queue, run_at: n.runAt };
        for (const dep of n.dependsOn) {
          this.#stmt('INSERT INTO {p}job_deps (job_seq, depends_on) VALUES (?, ?)').run(
            row.seq,
            toSeq(dep),
          );
        }
        if (n.idempotencyKey !== null) {
          this.#stmt(
            `INSERT INTO {p}ledger (queue, key, job_seq, fingerprint, state) VALUES (?, ?, ?, ?, 'pending')`,
          ).run(n.queue, n.idempotencyKey, row.seq, n.fingerprint);
          seen.set(`${n.queue}\0${n.idempotencyKey}`, {
            fingerprint: n.fingerprint,
            seq: row.seq,
          });
        }
        const ended = n.dependsOn.find((dep) => isEnded(depStates.get(dep)));
        if (ended !== undefined) {
          // Its dependency will never succeed: the job is created cancelled.
          const job: JobKey = {
            seq,
            state: 'pending',
            queue: n.queue,
            has_deps: 1,
            idempotency_key: n.idempotencyKey,
          };
          cancelDependent(
            this.#machine,
            job,
            { id: ended, state: depStates.get(ended) as JobState },
            now,
          );
          out.push({
            id: String(seq),
            created: true,
            job: this.#toRecord(this.#row(seq) as JobRow),
            state: 'cancelled',
            result: undefined,
          });
          continue;
        }
        created.push(row);
        out.push({
          id: String(seq),
          created: true,
          // Built from what was inserted: re-reading every row would double the cost of a bulk enqueue.
          job: Object.freeze(newJobRecord(n, seq, now)),
          state: 'pending',
          result: undefined,
        });
      }
      return out;
    });
    return result.then((out) => {
      this.#notify(created);
      return out;
    });
  }

  claim(options: ClaimOptions): Promise<JobRecord[]> {
    let agingMs: number;
    try {
      agingMs = checkClaim(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#write(() => {
      const now = this.#clock.now();
      // ?5 / ?6: the queues and names a worker claims from (JSON arrays), or null for all.
      const queues = options.queues === undefined ? null : JSON.stringify(options.queues);
      const names = options.names === undefined ? null : JSON.stringify(options.names);
      // Expired leases of exhausted jobs: the crash may be the job's own fault, so it dies.
      const exhausted = this.#stmt(
        `SELECT ${JOB_KEY_OF_J} FROM {p}jobs j INDEXED BY {p}jobs_lease WHERE j.state = 'leased' AND j.lease_expires_at <= ?1
           AND j.attempts >= j.max_attempts
           AND (?2 IS NULL OR j.queue IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR j.name IN (SELECT value FROM json_each(?3)))`,
      ).all(now, queues, names) as JobKey[];
      for (const job of exhausted) expireExhausted(this.#machine, job, now);
      const weights: Record<string, number> = {};
      for (const [k, w] of Object.entries(options.weights ?? {})) weights[k] = w > 0 ? w : 1;
      const aging = Number.isFinite(agingMs) ? Math.max(1, Math.floor(agingMs)) : 0;
      // Claimability beyond state and time, on alias x: dependencies done, the
      // head of its ordered partition, and in the worker's scope.
      const claimable = `${UNBLOCKED_SQL}
          AND (?5 IS NULL OR x.queue IN (SELECT value FROM json_each(?5)))
          AND (?6 IS NULL OR x.name IN (SELECT value FROM json_each(?6)))`;
      // Ranking every ready job would cost O(ready) per claim. Instead, per
      // fairness key, only the `limit` highest-priority ready jobs and the
      // `limit` oldest among those old enough to have aged (the only ones
      // aging can lift above the first set) are candidates, found by index
      // walks, plus expired leases; the exact ranking runs on that small set.
      const candidates = this.#stmt(
        `WITH RECURSIVE keys(fair_key) AS (
             -- Distinct fairness keys by index skips: O(keys · log n), not O(ready jobs).
             SELECT MIN(fair_key) FROM {p}jobs WHERE state IN ('pending','failed')
             UNION ALL
             SELECT (SELECT MIN(x.fair_key) FROM {p}jobs x
                     WHERE x.state IN ('pending','failed') AND x.fair_key > keys.fair_key)
             FROM keys WHERE keys.fair_key IS NOT NULL
           ), pool AS (
             SELECT c.seq FROM keys k JOIN {p}jobs c ON c.seq IN (
               SELECT x.seq FROM {p}jobs x
               WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed') AND +x.run_at <= ?2
                 AND ${claimable}
               ORDER BY x.priority DESC, x.seq LIMIT ?4)
             UNION
             SELECT c.seq FROM keys k JOIN {p}jobs c ON c.seq IN (
               SELECT x.seq FROM {p}jobs x
               WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed')
                 AND ?1 > 0 AND x.run_at <= ?2 - ?1 AND ${claimable}
               ORDER BY x.run_at LIMIT ?4)
             UNION
             SELECT seq FROM (
               SELECT x.seq FROM {p}jobs x INDEXED BY {p}jobs_lease
               WHERE x.state = 'leased' AND x.lease_expires_at <= ?2 AND ${claimable}
               ORDER BY x.lease_expires_at LIMIT ?4)
           ), scored AS (
             SELECT j.seq, j.fair_key, j.state,
               j.priority + CASE WHEN ?1 > 0 THEN MAX(0, ?2 - j.run_at) / ?1 ELSE 0 END AS eff
             FROM pool p CROSS JOIN {p}jobs j ON j.seq = p.seq
           ), ranked AS (
             SELECT seq, fair_key, state, eff,
               ROW_NUMBER() OVER (PARTITION BY fair_key ORDER BY eff DESC, seq) AS rn
             FROM scored
           )
           SELECT r.seq, r.state FROM ranked r LEFT JOIN json_each(?3) w ON w.key = r.fair_key
           WHERE r.rn <= ?4
           ORDER BY (r.rn - 1) * 1.0 / COALESCE(w.value, 1), r.eff DESC, r.seq
           LIMIT ?4`,
      ).all(aging, now, JSON.stringify(weights), options.limit, queues, names) as {
        seq: number;
        state: JobState;
      }[];
      if (candidates.length === 0) return [];
      // One statement per step, not per job: statement overhead dominates row work.
      const seqs = JSON.stringify(candidates.map((c) => c.seq));
      if (candidates.some((c) => c.state === 'leased')) {
        this.#stmt(
          `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
           SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?1,
             'expired', 'lease expired', CASE WHEN ?3 THEN payload END
           FROM {p}jobs WHERE seq IN (SELECT value FROM json_each(?2)) AND +state = 'leased'`,
        ).run(now, seqs, this.#attemptPayloads ? 1 : 0);
      }
      this.#stmt(
        `UPDATE {p}jobs SET state = 'leased', attempts = attempts + 1, epoch = epoch + 1,
           lease_owner = ?1, lease_expires_at = ?2, started_at = ?3, updated_at = ?3
         WHERE seq IN (SELECT value FROM json_each(?4))`,
      ).run(options.workerId, now + options.leaseMs, now, seqs);
      // Rows as arrays: building 25-key objects costs ~4× the read itself.
      let read = this.#rawReads.get('claim');
      if (read === undefined) {
        read = this.db
          .prepare(
            `SELECT ${JOB_COLUMNS.join(', ')} FROM ${this.#p}jobs WHERE seq IN (SELECT value FROM json_each(?))`,
          )
          .raw(true);
        this.#rawReads.set('claim', read);
      }
      const rows = (read.all(seqs) as unknown[][]).map(fromRaw);
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      const claimed = candidates.map((c) => this.#toRecord(bySeq.get(c.seq) as JobRow));
      return claimed;
    });
  }

  /** Why `ref` was refused (called for a ref whose compare-and-set did not pass). */
  #refusal(ref: LeaseRef): Refusal {
    const row = this.#stmt('SELECT state, epoch FROM {p}jobs WHERE seq = ?').get(toSeq(ref.id)) as
      LeaseState | undefined;
    // A ref refused by the statement holds no lease; a job leased under that very epoch
    // would have been accepted in the same transaction.
    return leaseRefusal(ref, row) ?? { id: ref.id, epoch: ref.epoch, reason: 'not-leased' };
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    return this.#write(() => {
      const now = this.#clock.now();
      const done = this.#stmt(
        `UPDATE {p}jobs SET lease_expires_at = ?1, updated_at = ?2
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?3)) v
         WHERE {p}jobs.seq = v.s AND {p}jobs.epoch = v.e AND +{p}jobs.state = 'leased' RETURNING {p}jobs.seq`,
      ).all(now + leaseMs, now, JSON.stringify(leases.map((l) => [toSeq(l.id), l.epoch]))) as {
        seq: number;
      }[];
      return this.#split(leases, new Set(done.map((d) => d.seq)));
    });
  }

  /** Splits refs into accepted (seq in `ok`) and refused, in input order. */
  #split(refs: readonly LeaseRef[], ok: ReadonlySet<number>): SettleResult {
    const accepted: string[] = [];
    const refused: Refusal[] = [];
    for (const ref of refs) {
      if (ok.has(toSeq(ref.id))) accepted.push(ref.id);
      else refused.push(this.#refusal(ref));
    }
    return { accepted, refused };
  }

  release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    const notify: { queue: string; run_at: number }[] = [];
    return this.#write(() => {
      notify.length = 0;
      const now = this.#clock.now();
      const accepted: string[] = [];
      const refused: Refusal[] = [];
      const stmt = this.#stmt(
        `UPDATE {p}jobs SET state = 'pending', attempts = MAX(0, attempts - 1), lease_owner = NULL,
           lease_expires_at = NULL, run_at = MIN(run_at, ?1), updated_at = ?1
         WHERE seq = ?2 AND epoch = ?3 AND state = 'leased' RETURNING queue, run_at`,
      );
      for (const ref of leases) {
        const row = stmt.get(now, toSeq(ref.id), ref.epoch) as
          { queue: string; run_at: number } | undefined;
        if (row === undefined) refused.push(this.#refusal(ref));
        else {
          accepted.push(ref.id);
          notify.push(row);
        }
      }
      return { accepted, refused };
    }).then((res) => {
      this.#notify(notify);
      return res;
    });
  }

  complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    return this.#write(() => {
      const now = this.#clock.now();
      // Duplicates within one call: the first wins, the others are refused as not leased.
      const seen = new Set<number>();
      const unique = completions.filter((c) => {
        const seq = toSeq(c.id);
        if (seen.has(seq)) return false;
        seen.add(seq);
        return true;
      });
      const input = JSON.stringify(
        unique.map((c) => [toSeq(c.id), c.epoch, JSON.stringify(c.result ?? null)]),
      );
      this.#stmt(
        `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
         SELECT j.seq, j.queue, j.name, j.attempts, j.epoch, COALESCE(j.lease_owner, ''),
           COALESCE(j.started_at, j.updated_at), ?1, 'succeeded', NULL, CASE WHEN ?3 THEN j.payload END
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?2)) v
         CROSS JOIN {p}jobs j ON j.seq = v.s AND j.epoch = v.e AND +j.state = 'leased'`,
      ).run(now, input, this.#attemptPayloads ? 1 : 0);
      const rows = this.#stmt(
        `UPDATE {p}jobs SET state = 'succeeded', result = v.r, lease_owner = NULL, lease_expires_at = NULL,
           finished_at = ?1, updated_at = ?1
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e, value ->> 2 AS r FROM json_each(?2)) v
         WHERE {p}jobs.seq = v.s AND {p}jobs.epoch = v.e AND +{p}jobs.state = 'leased'
         RETURNING {p}jobs.seq, {p}jobs.queue, {p}jobs.name, {p}jobs.idempotency_key, {p}jobs.result`,
      ).all(now, input) as {
        seq: number;
        queue: string;
        name: string;
        idempotency_key: string | null;
        result: string;
      }[];
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      for (const r of rows) if (r.idempotency_key !== null) this.#syncLedger(r.seq);
      if (this.#onComplete !== undefined && rows.length > 0) {
        const done: CompletedJob[] = [];
        for (const c of unique) {
          const r = bySeq.get(toSeq(c.id));
          if (r === undefined) continue;
          done.push({
            id: c.id,
            epoch: c.epoch,
            queue: r.queue,
            name: r.name,
            result: JSON.parse(r.result) as unknown,
          });
        }
        this.#onComplete(this.db, done);
      }
      const res = this.#split(unique, new Set(bySeq.keys()));
      if (unique.length === completions.length) return res;
      const extra = completions.filter((c) => !unique.includes(c)).map((c) => this.#refusal(c));
      return { accepted: res.accepted, refused: [...res.refused, ...extra] };
    });
  }

  fail(input: readonly FailInput[]): Promise<FailResult> {
    return this.#write(() => {
      // Error texts are kept, not refused: U+0000 becomes U+FFFD, as in every store.
      const failures = input.map((f) => ({ ...f, error: storableText(f.error) }));
      const now = this.#clock.now();
      const accepted: string[] = [];
      const refused: Refusal[] = [];
      const retrying: string[] = [];
      const dead: string[] = [];
      const check = this.#stmt(
        `SELECT ${JOB_KEY}, attempts, max_attempts FROM {p}jobs WHERE seq = ? AND epoch = ? AND state = 'leased'`,
      );
      for (const f of failures) {
        const seq = toSeq(f.id);
        const row = check.get(seq, f.epoch) as
          (JobKey & { attempts: number; max_attempts: number }) | undefined;
        if (row === undefined) {
          refused.push(this.#refusal(f));
          continue;
        }
        const exhausted = row.attempts >= row.max_attempts;
        const to = failLeased(this.#machine, row, f, f.error, exhausted, now);
        accepted.push(f.id);
        (to === 'dead' ? dead : retrying).push(f.id);
      }
      return { accepted, refused, retrying, dead };
    });
  }

  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#write(() =>
      terminate(this.#machine, ids, 'dead', storableText(reason), this.#clock.now()),
    );
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#write(() => terminate(this.#machine, ids, 'cancelled', null, this.#clock.now()));
  }

  requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    const notify: { queue: string; run_at: number }[] = [];
    return this.#write(() => {
      notify.length = 0;
      const now = this.#clock.now();
      const moved = requeueJobs(this.#machine, ids, options, now);
      const runAt = options.runAt ?? now;
      for (const job of moved) notify.push({ queue: job.queue, run_at: runAt });
      return moved.map((job) => String(job.seq));
    }).then((moved) => {
      this.#notify(notify);
      return moved;
    });
  }

  get(id: string): Promise<JobRecord | undefined> {
    return this.#read(() => {
      checkId('get', id);
      const row = this.#row(toSeq(id));
      return row === undefined ? undefined : this.#toRecord(row);
    });
  }

  query(filter: JobQuery = {}): Promise<JobRecord[]> {
    return this.#read(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      const add = (sql: string, value: unknown): void => {
        if (value === undefined) return;
        where.push(sql);
        args.push(value);
      };
      add('queue = ?', filter.queue);
      add('name = ?', filter.name);
      add(
        'state IN (SELECT value FROM json_each(?))',
        filter.state === undefined
          ? undefined
          : JSON.stringify(typeof filter.state === 'string' ? [filter.state] : filter.state),
      );
      add('partition_key = ?', filter.partitionKey);
      add('partition = ?', filter.partition);
      add('seq > ?', filter.afterSeq);
      args.push(filter.limit ?? 100);
      const rows = this.db
        .prepare(
          `SELECT * FROM ${this.#p}jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`,
        )
        .all(...args) as JobRow[];
      return rows.map((r) => this.#toRecord(r));
    });
  }

  counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    return this.#read(() => {
      const now = this.#clock.now();
      // Kept by triggers in every writing transaction (migration 4): no scan of the jobs.
      const rows = this.#stmt(
        `SELECT queue, part, state, n FROM {p}job_counts WHERE (?1 IS NULL OR queue = ?1) AND n > 0`,
      ).all(filter.queue ?? null) as {
        queue: string;
        part: number;
        state: JobState;
        n: number;
      }[];
      const byState = zeroCounts();
      const byQueue: Record<string, Record<JobState, number>> = {};
      const byPartition: Record<string, Record<JobState, number>> = {};
      for (const r of rows) {
        byState[r.state] += r.n;
        (byQueue[r.queue] ??= zeroCounts())[r.state] += r.n;
        (byPartition[r.part === -1 ? 'none' : String(r.part)] ??= zeroCounts())[r.state] += r.n;
      }
      // In run_at order on the ready index, stopping at the first unblocked job (MIN() visited
      // every pending job and ran the blocking checks on each).
      const oldest = (this.#stmt(
        `SELECT x.run_at AS t FROM {p}jobs x INDEXED BY {p}jobs_ready_run_at
         WHERE x.state IN ('pending','failed') AND x.run_at <= ?1
         AND (?2 IS NULL OR x.queue = ?2) AND ${UNBLOCKED_SQL} ORDER BY x.run_at LIMIT 1`,
      ).get(now, filter.queue ?? null) as { t: number } | undefined) ?? { t: null };
      return {
        byState,
        byQueue,
        byPartition,
        oldestReadyAgeMs: oldest.t === null ? 0 : now - oldest.t,
      };
    });
  }

  attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    return this.#read(() => {
      const rows = this.#stmt(
        `SELECT * FROM {p}attempts WHERE (?1 IS NULL OR job_seq = ?1) AND (?2 IS NULL OR ended_at >= ?2)
         ORDER BY id LIMIT ?3`,
      ).all(
        filter.jobId === undefined ? null : toSeq(filter.jobId),
        filter.since ?? null,
        filter.limit ?? 1000,
      ) as {
        job_seq: number;
        queue: string;
        name: string;
        attempt: number;
        epoch: number;
        worker_id: string;
        started_at: number;
        ended_at: number;
        outcome: AttemptOutcome;
        error: string | null;
        payload: string | null;
      }[];
      return rows.map((r) =>
        Object.freeze({
          jobId: String(r.job_seq),
          queue: r.queue,
          name: r.name,
          attempt: r.attempt,
          epoch: r.epoch,
          workerId: r.worker_id,
          startedAt: r.started_at,
          endedAt: r.ended_at,
          outcome: r.outcome,
          error: r.error,
          ...(r.payload === null ? {} : { payload: JSON.parse(r.payload) as unknown }),
        }),
      );
    });
  }

  replay(options: ReplayOptions): Promise<JobRecord[]> {
    try {
      checkReplay(options);
    } catch (error) {
      return rejected(error);
    }
    const notify: { queue: string; run_at: number }[] = [];
    const run = (): JobRecord[] => {
      notify.length = 0;
      const now = this.#clock.now();
      const rows = this.#stmt(
        `SELECT ${JOB_KEY} FROM {p}jobs WHERE (?1 IS NULL OR queue = ?1)
           AND (?2 IS NULL OR partition = ?2) AND (?3 IS NULL OR partition_key = ?3) AND created_at >= ?4
         ORDER BY seq`,
      ).all(
        options.queue ?? null,
        options.partition ?? null,
        options.partitionKey ?? null,
        options.since,
      ) as JobKey[];
      return rows.map((r) => {
        if (
          options.dryRun !== true &&
          ((TERMINAL_STATES as readonly string[]).includes(r.state) || r.state === 'failed') &&
          this.#machine.endedDependency(r) === undefined
        ) {
          resetJob(this.#machine, r, now, true, now);
          // A replay does the work again, every step included.
          this.#stmt('DELETE FROM {p}steps WHERE job_seq = ?').run(r.seq);
          notify.push({ queue: r.queue, run_at: now });
        }
        return this.#toRecord(this.#row(r.seq) as JobRow);
      });
    };
    const done = options.dryRun === true ? this.#read(run) : this.#write(run);
    return done.then((out) => {
      this.#notify(notify);
      return out;
    });
  }

  purge(options: PurgeOptions): Promise<number> {
    let states: readonly JobState[];
    try {
      states = checkPurge(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#write(() => {
      const args = [JSON.stringify(states), options.finishedBefore];
      const victims = `SELECT seq FROM {p}jobs WHERE state IN ${TERMINAL_SQL}
        AND state IN (SELECT value FROM json_each(?1)) AND finished_at < ?2`;
      this.#stmt(`DELETE FROM {p}steps WHERE job_seq IN (${victims})`).run(...args);
      this.#stmt(`DELETE FROM {p}job_deps WHERE job_seq IN (${victims})`).run(...args);
      return this.#stmt(
        `DELETE FROM {p}jobs WHERE state IN ${TERMINAL_SQL}
         AND state IN (SELECT value FROM json_each(?1)) AND finished_at < ?2`,
      ).run(...args).changes;
    });
  }

  getStep(jobId: string, step: string): Promise<StepValue> {
    return this.#read(() => {
      const row = this.#stmt('SELECT value FROM {p}steps WHERE job_seq = ? AND step = ?').get(
        toSeq(jobId),
        step,
      ) as { value: string } | undefined;
      return row === undefined
        ? { found: false, value: undefined }
        : { found: true, value: JSON.parse(row.value) as unknown };
    });
  }

  putStep(input: PutStepInput): Promise<boolean> {
    return this.#write(
      () =>
        this.#stmt(
          `INSERT OR REPLACE INTO {p}steps (job_seq, step, value)
           SELECT seq, ?, ? FROM {p}jobs WHERE seq = ? AND epoch = ? AND state = 'leased'`,
        ).run(input.step, JSON.stringify(input.value ?? null), toSeq(input.id), input.epoch)
          .changes === 1,
    );
  }

  #runRecord(seq: number): RunRecord | undefined {
    const run = this.#stmt('SELECT * FROM {p}runs WHERE seq = ?').get(seq) as RunRow | undefined;
    if (run === undefined) return undefined;
    const agg = this.#stmt(
      `SELECT COALESCE(SUM(offset_at - start), 0) AS processed,
              COALESCE(SUM(state = 'done'), 0) AS done FROM {p}chunks WHERE run_seq = ?`,
    ).get(seq) as { processed: number; done: number };
    return Object.freeze({
      id: String(run.seq),
      name: run.name,
      input: JSON.parse(run.input) as unknown,
      state: run.state,
      total: run.total,
      chunkSize: run.chunk_size,
      chunks: run.chunks,
      chunksDone: agg.done,
      processed: agg.processed,
      createdAt: run.created_at,
      updatedAt: run.updated_at,
      finishedAt: run.finished_at,
      ...(run.last_error === null ? {} : { lastError: run.last_error }),
    });
  }

  createRun(spec: CreateRunSpec): Promise<RunRecord> {
    return this.#write(() => {
      const n = normalizeRun(spec);
      if (n.idempotencyKey !== null) {
        const existing = this.#stmt(
          'SELECT seq, name, input, total, chunk_size FROM {p}runs WHERE idempotency_key = ?',
        ).get(n.idempotencyKey) as
          | { seq: number; name: string; input: string; total: number; chunk_size: number }
          | undefined;
        if (existing !== undefined) {
          const stored = {
            name: existing.name,
            input: JSON.parse(existing.input) as unknown,
            total: existing.total,
            chunkSize: existing.chunk_size,
          };
          if (runFingerprint(stored) !== runFingerprint(n)) {
            throw new JobConflictError('', n.idempotencyKey, String(existing.seq), { kind: 'run' });
          }
          return this.#runRecord(existing.seq) as RunRecord;
        }
      }
      const now = this.#clock.now();
      const { seq } = this.#stmt(
        `INSERT INTO {p}runs (name, input, state, total, chunk_size, chunks, idempotency_key, created_at, updated_at,
           finished_at, max_chunk_attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) RETURNING seq`,
      ).get(
        n.name,
        n.inputJson,
        n.chunks === 0 ? 'succeeded' : 'running',
        n.total,
        n.chunkSize,
        n.chunks,
        n.idempotencyKey,
        now,
        n.chunks === 0 ? now : null,
        n.maxChunkAttempts,
      ) as { seq: number };
      // No chunk rows yet: claims issue them on demand (runs.issued, migration 6).
      return this.#runRecord(seq) as RunRecord;
    });
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.#read(() => this.#runRecord(toSeq(checkId('getRun', id))));
  }

  claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    try {
      checkClaim(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#write(() => {
      const now = this.#clock.now();
      const rows = this.#stmt(
        `SELECT c.run_seq, c.idx, c.state, r.name FROM {p}chunks c JOIN {p}runs r ON r.seq = c.run_seq
         WHERE r.state = 'running' AND (?1 IS NULL OR r.seq = ?1)
           AND (?2 IS NULL OR r.name IN (SELECT value FROM json_each(?2)))
           AND ((c.state = 'pending' AND c.not_before <= ?3) OR (c.state = 'leased' AND c.lease_expires_at <= ?3))
         ORDER BY r.seq, c.idx LIMIT ?4`,
      ).all(
        options.runId === undefined ? null : toSeq(options.runId),
        options.names === undefined ? null : JSON.stringify(options.names),
        now,
        options.limit,
      ) as { run_seq: number; idx: number; state: string; name: string }[];
      const lease = this.#stmt(
        `UPDATE {p}chunks SET state = 'leased', epoch = epoch + 1, lease_owner = ?1, lease_expires_at = ?2
         WHERE run_seq = ?3 AND idx = ?4 RETURNING *`,
      );
      const failedRuns = new Set<number>();
      const out: ChunkLease[] = [];
      for (const r of rows) {
        if (failedRuns.has(r.run_seq)) continue;
        // A lease that ran out is a failed attempt: its holder died or hung.
        if (
          r.state === 'leased' &&
          chunkFailed(this.#runMachine, r.run_seq, r.idx, 'lease expired', now)
        ) {
          failedRuns.add(r.run_seq);
          continue;
        }
        const c = lease.get(options.workerId, now + options.leaseMs, r.run_seq, r.idx) as ChunkRow;
        out.push(
          Object.freeze({
            runId: String(c.run_seq),
            name: r.name,
            index: c.idx,
            start: c.start,
            end: c.end_at,
            offset: c.offset_at,
            epoch: c.epoch,
            leaseExpiresAt: now + options.leaseMs,
          }),
        );
      }
      if (out.length < options.limit) this.#issueChunks(options, now, failedRuns, out);
      return out.sort((a, b) => Number(a.runId) - Number(b.runId) || a.index - b.index);
    });
  }

  /**
   * Issues and leases the next never-issued chunks of the running runs, in run and index
   * order, until `out` holds `options.limit` leases: a run's chunk rows are written when first
   * claimed, not all at `createRun`.
   */
  #issueChunks(
    options: ClaimChunksOptions,
    now: number,
    skip: ReadonlySet<number>,
    out: ChunkLease[],
  ): void {
    const runs = this.#stmt(
      `SELECT seq, name, total, chunk_size, chunks, issued FROM {p}runs
       WHERE state = 'running' AND issued < chunks AND (?1 IS NULL OR seq = ?1)
         AND (?2 IS NULL OR name IN (SELECT value FROM json_each(?2)))
       ORDER BY seq`,
    ).all(
      options.runId === undefined ? null : toSeq(options.runId),
      options.names === undefined ? null : JSON.stringify(options.names),
    ) as {
      seq: number;
      name: string;
      total: number;
      chunk_size: number;
      chunks: number;
      issued: number;
    }[];
    const insert = this.#stmt(
      `INSERT INTO {p}chunks (run_seq, idx, start, end_at, offset_at, state, epoch, lease_owner, lease_expires_at)
       VALUES (?1, ?2, ?3, ?4, ?3, 'leased', 1, ?5, ?6)`,
    );
    const until = now + options.leaseMs;
    for (const run of runs) {
      if (skip.has(run.seq)) continue;
      let issued = run.issued;
      while (issued < run.chunks && out.length < options.limit) {
        const start = issued * run.chunk_size;
        const end = Math.min(run.total, start + run.chunk_size);
        insert.run(run.seq, issued, start, end, options.workerId, until);
        out.push(
          Object.freeze({
            runId: String(run.seq),
            name: run.name,
            index: issued,
            start,
            end,
            offset: start,
            epoch: 1,
            leaseExpiresAt: until,
          }),
        );
        issued++;
      }
      if (issued !== run.issued) {
        this.#stmt('UPDATE {p}runs SET issued = ? WHERE seq = ?').run(issued, run.seq);
      }
      if (out.length >= options.limit) return;
    }
  }

  /** The storage primitives of the shared run state machine on this store's rows (a run by seq, a chunk by index). */
  readonly #runMachine: RunMachine<number, number> = {
    setState: (id, from, to, now) => {
      const seq = toSeq(id);
      const changed =
        this.#stmt(
          `UPDATE {p}runs SET state = ?1, updated_at = ?2,
             finished_at = CASE WHEN ?1 = 'cancelled' THEN ?2 ELSE finished_at END
           WHERE seq = ?3 AND state IN (SELECT value FROM json_each(?4))`,
        ).run(to, now, seq, JSON.stringify(from)).changes === 1;
      return changed ? seq : undefined;
    },
    handBack: (runSeq) => {
      this.#stmt(
        `UPDATE {p}chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
         WHERE run_seq = ? AND state = 'leased'`,
      ).run(runSeq);
    },
    retryFailedChunks: (runSeq) => {
      this.#stmt(
        `UPDATE {p}chunks SET state = 'pending', attempts = 0, not_before = 0
         WHERE run_seq = ? AND state = 'failed'`,
      ).run(runSeq);
    },
    fenceLeasedChunks: (runSeq) => {
      this.#stmt(
        `UPDATE {p}chunks SET epoch = epoch + 1 WHERE run_seq = ? AND state = 'leased'`,
      ).run(runSeq);
    },
    countFailure: (runSeq, idx, error, now) => {
      const { attempts } = this.#stmt(
        'UPDATE {p}chunks SET attempts = attempts + 1 WHERE run_seq = ? AND idx = ? RETURNING attempts',
      ).get(runSeq, idx) as { attempts: number };
      const { max } = this.#stmt(
        `UPDATE {p}runs SET last_error = ?1, updated_at = ?2 WHERE seq = ?3 RETURNING max_chunk_attempts AS max`,
      ).get(error, now, runSeq) as { max: number };
      return { attempts, max };
    },
    failChunkAndRun: (runSeq, idx) => {
      this.#stmt(`UPDATE {p}chunks SET state = 'failed' WHERE run_seq = ? AND idx = ?`).run(
        runSeq,
        idx,
      );
      this.#stmt(`UPDATE {p}runs SET state = 'failed' WHERE seq = ?`).run(runSeq);
    },
  };

  #chunkCas(ref: ChunkRef): ChunkRow | undefined {
    // Only a running run's chunks move: pause, failure and cancel stop their holders here.
    return this.#stmt(
      `SELECT c.* FROM {p}chunks c JOIN {p}runs r ON r.seq = c.run_seq
       WHERE c.run_seq = ? AND c.idx = ? AND c.epoch = ? AND c.state = 'leased' AND r.state = 'running'`,
    ).get(toSeq(ref.runId), ref.index, ref.epoch) as ChunkRow | undefined;
  }

  checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#clock.now();
      const to = Math.min(chunk.end_at, Math.max(chunk.offset_at, Math.floor(input.offset)));
      const handBack = input.leaseMs !== undefined && input.leaseMs <= 0;
      // Progress resets the failed-attempt count: a chunk that moves is not a poison chunk.
      this.#stmt(
        `UPDATE {p}chunks SET offset_at = ?1, attempts = CASE WHEN ?1 > offset_at THEN 0 ELSE attempts END,
           state = CASE WHEN ?5 THEN 'pending' ELSE state END,
           lease_owner = CASE WHEN ?5 THEN NULL ELSE lease_owner END,
           lease_expires_at = CASE WHEN ?5 THEN NULL ELSE COALESCE(?2, lease_expires_at) END
         WHERE run_seq = ?3 AND idx = ?4`,
      ).run(
        to,
        input.leaseMs === undefined ? null : now + input.leaseMs,
        chunk.run_seq,
        chunk.idx,
        handBack ? 1 : 0,
      );
      this.#stmt('UPDATE {p}runs SET updated_at = ? WHERE seq = ?').run(now, chunk.run_seq);
      // A lease renewal or hand-back (no progress, no data) is not a checkpoint for the hook.
      if (to > chunk.offset_at || input.data !== undefined)
        this.#onCheckpoint?.(this.db, {
          runId: input.runId,
          index: input.index,
          epoch: input.epoch,
          from: chunk.offset_at,
          to,
          data: input.data,
        });
      return true;
    });
  }

  completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#clock.now();
      this.#stmt(
        `UPDATE {p}chunks SET state = 'done', offset_at = end_at, lease_owner = NULL, lease_expires_at = NULL
         WHERE run_seq = ? AND idx = ?`,
      ).run(chunk.run_seq, chunk.idx);
      // Chunks never issued are not done either.
      const left = this.#stmt(
        `SELECT (SELECT COUNT(*) FROM {p}chunks WHERE run_seq = ?1 AND state <> 'done')
           + (SELECT chunks - issued FROM {p}runs WHERE seq = ?1) AS n`,
      ).get(chunk.run_seq) as { n: number };
      this.#stmt(
        `UPDATE {p}runs SET updated_at = ?1,
           state = CASE WHEN ?2 = 0 THEN 'succeeded' ELSE state END,
           finished_at = CASE WHEN ?2 = 0 THEN ?1 ELSE finished_at END
         WHERE seq = ?3`,
      ).run(now, left.n, chunk.run_seq);
      return true;
    });
  }

  failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#clock.now();
      if (
        !chunkFailed(this.#runMachine, chunk.run_seq, chunk.idx, storableText(input.error), now)
      ) {
        this.#stmt(
          `UPDATE {p}chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, not_before = ?1
           WHERE run_seq = ?2 AND idx = ?3`,
        ).run(Math.floor(input.retryAt ?? now), chunk.run_seq, chunk.idx);
      }
      return true;
    });
  }

  #transition(
    t: { readonly from: readonly RunState[]; readonly to: RunState },
    id: string,
  ): Promise<boolean> {
    return this.#write(() => transitionRun(this.#runMachine, id, t.from, t.to, this.#clock.now()));
  }

  pauseRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.pause, id);
  }

  resumeRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.resume, id);
  }

  cancelRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.cancel, id);
  }
}
