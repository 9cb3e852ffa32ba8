/**
 * The store contracts of jobs: `JobStore` (jobs and the attempt log),
 * `StepStore` (memoized steps) and `RunStore` (runs and their chunks), as
 * high-level async operations; `FullJobStore` is a store of all three. A
 * store hides its connections and transactions; every operation is atomic on
 * its own (a batch operation either applies each item's compare-and-set or
 * reports it refused, and never leaves a half-applied item). Every
 * implementation (memory, SQLite, PostgreSQL) passes `jobStoreConformance`,
 * `stepStoreConformance` and `runStoreConformance` from
 * `@batchflight/testing/conformance`.
 *
 * ## Time
 *
 * Every timestamp in this contract is **epoch milliseconds read from the
 * {@link Clock} the store was constructed with** (`new XJobStore({ clock })`,
 * default `systemClock`). A store never reads the database server's clock, so a
 * test drives leases, `runAt`, aging and retention with `TestClock`. The
 * engine (`Worker`, `Queue`) must be given the same clock as its store.
 *
 * ## State machine
 *
 * ```text
 *            claim                 complete
 * pending ─────────► leased ───────────────────► succeeded
 *    ▲                 │  fail, attempts < max
 *    │                 ├──────────────────────► failed (runAt = retry at) ──claim──► leased …
 *    │                 │  fail, attempts ≥ max (or lease expired at max)
 *    │                 └──────────────────────► dead
 *    │  requeue (dead | failed | cancelled)            cancel: pending | failed | leased ► cancelled
 *    └──────────────────────────────────────
 * ```
 *
 * `failed` is its own state: the job failed its last attempt and is due again
 * at `runAt`; it is claimable exactly like `pending` once `runAt` has passed.
 * `succeeded`, `dead` and `cancelled` are terminal (until `requeue`/`replay`).
 *
 * ## Fencing
 *
 * Every claim increments the job's `epoch` (a fencing token) and records the
 * lease owner and expiry. `heartbeat`, `complete`, `fail` and `putStep` are
 * compare-and-set on `(id, epoch)` with `state = 'leased'`: once a lease was
 * reclaimed by another worker (or the job was cancelled) the old holder is
 * **refused** and told so, never silently ignored. An expired lease that no one
 * has reclaimed yet is still honoured (nobody else ran the job). User code gets
 * the epoch (`ctx.epoch`) to fence its own outside writes.
 *
 * ## Idempotency ledger
 *
 * An enqueue with an `idempotencyKey` is recorded in a ledger keyed by
 * `(queue, idempotencyKey)` that outlives the job (retention `purge` keeps it):
 * a duplicate returns the first job (and, once it succeeded, its result);
 * the same key with another `name`/`payload` fingerprint is a
 * `JobConflictError`. Duplicate enqueues racing from many processes create
 * exactly one job.
 *
 * ## Dependencies
 *
 * A job with `dependsOn` is claimable once every dependency has `succeeded`
 * (a dependency purged by retention counts as succeeded: only terminal jobs
 * are purged, and a dead or cancelled one has already cancelled its
 * dependents). When a job goes `dead` or `cancelled` (failure, dead-letter,
 * cancel, lease expiry at its last attempt), each of its `pending` or
 * `failed` dependents is cancelled in the same transaction, transitively,
 * with `lastError` `dependency <id> <state>` and an attempt log entry of
 * outcome `'cancelled'`. Enqueuing a job that depends on a dead or cancelled
 * job creates it `cancelled` the same way. Requeuing the dependency does not
 * revive its cancelled dependents: requeue them too, after it. A job one of
 * whose dependencies is dead or cancelled is never moved back to `pending`
 * (requeue and replay leave it where it is), so no job can wait forever on a
 * dependency that will not run.
 *
 * ## Claim order
 *
 * A job is *ready* when its state is `pending` or `failed`, `runAt <= now`,
 * every job in `dependsOn` has `succeeded`, and (for an `ordered` job) no
 * earlier ordered job of the same queue and `partitionKey` is still
 * `pending`, `leased` or `failed` (a dead or cancelled one no longer blocks
 * its successors). A leased job whose lease expired is claimable too (the
 * claim logs the lost attempt as `expired`) and, except for being leased,
 * must pass the same checks; it ranks among the ready jobs by the same rule.
 * Among those the store picks by weighted fair share across fairness keys
 * (`partitionKey`, or `''` without one): within a key, by effective priority
 * (higher first; `priority + floor(waitedMs / agingMs)`), then enqueue
 * order; across keys, the n-th job of a key ranks at `(n - 1) / weight`, so
 * a key of weight 2 gets twice the share of a key of weight 1 and one hot
 * key cannot starve the others.
 *
 * ## Runs
 *
 * The run contract (`RunStore`, its records, and the run state machine) is in
 * `run-store.ts`; the lifecycle every contract shares in `store-lifecycle.ts`.
 * Both are re-exported here, the one module every store implements against.
 */
import type { Clock, Subscription } from '../core/index.js';
import type { RunStore } from './run-store.js';
import type { StoreLifecycle } from './store-lifecycle.js';

export type { StoreLifecycle } from './store-lifecycle.js';
export type * from './run-store.js';

/** The state of a job; see the state machine in the module documentation. */
export type JobState = 'pending' | 'leased' | 'succeeded' | 'failed' | 'dead' | 'cancelled';

/** Every job state, in state-machine order. */
export const JOB_STATES: readonly JobState[] = [
  'pending',
  'leased',
  'succeeded',
  'failed',
  'dead',
  'cancelled',
];

/** The states a job never leaves on its own. */
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'dead', 'cancelled'];

/**
 * A serialisable backoff, stored with the job so that any worker process
 * computes the same retry delay. A number is a constant delay in ms.
 */
export type BackoffSpec =
  | number
  | {
      readonly type: 'exponential';
      /** Delay after the first failure, ms. Default 1 000. */
      readonly initialDelayMs?: number;
      /** Default 2. */
      readonly factor?: number;
      /** Default 300 000 (5 min). */
      readonly maxDelayMs?: number;
      /** Default 'full'. */
      readonly jitter?: 'none' | 'full' | 'equal' | 'decorrelated';
    }
  | { readonly type: 'constant'; readonly delayMs: number };

/** One job as stored. Payloads and results are JSON values. */
export interface JobRecord<P = unknown, R = unknown> {
  /** Opaque, store-generated, unique in the store. */
  readonly id: string;
  /** The queue (a namespace for claims, counts and idempotency keys). */
  readonly queue: string;
  /** The job type: the key of the handler that runs it. */
  readonly name: string;
  readonly payload: P;
  readonly state: JobState;
  /** Monotonic enqueue order within the store. */
  readonly seq: number;
  readonly idempotencyKey: string | null;
  readonly partitionKey: string | null;
  /** `partitionOf(partitionKey)`, or null without a key. */
  readonly partition: number | null;
  /** One in flight per `(queue, partitionKey)`, in enqueue order. */
  readonly ordered: boolean;
  /** Higher runs first. Default 0. */
  readonly priority: number;
  /** Not claimable before this time (epoch ms). For `failed`, the retry time. */
  readonly runAt: number;
  /** Ids of jobs that must have succeeded before this one is claimable. */
  readonly dependsOn: readonly string[];
  /** Claims so far (a claim is an attempt). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffSpec | null;
  /** Fencing token: incremented by every claim (and by cancel of a leased job). */
  readonly epoch: number;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  /** When the current (or last) attempt started. */
  readonly startedAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the job reached a terminal state. */
  readonly finishedAt: number | null;
  /** The handler's return value once succeeded (undefined otherwise). */
  readonly result: R | undefined;
  /** The last error message (with stack when available), or null. */
  readonly lastError: string | null;
  /**
   * The delay (ms) its last failed attempt waited before its retry, as the
   * worker chose it (`FailInput.delayMs`); 0 before any retry and after a
   * `requeue` or `replay`. The worker hands it to the backoff of the next
   * failure as `previousDelayMs`, so a growing (decorrelated) backoff grows
   * whichever worker runs the retry.
   *
   * Optional in the type only while a store of this repository does not
   * record it yet (the worker then passes 0).
   */
  readonly retryDelayMs?: number;
}

/** What to enqueue. */
export interface EnqueueSpec<P = unknown> {
  /** Default `'default'`. */
  readonly queue?: string;
  readonly name: string;
  /** Must survive JSON round-tripping. */
  readonly payload: P;
  readonly idempotencyKey?: string;
  readonly partitionKey?: string;
  readonly ordered?: boolean;
  /** Integer; higher first. Default 0. */
  readonly priority?: number;
  /** Epoch ms. Default now. */
  readonly runAt?: number;
  readonly dependsOn?: readonly string[];
  /** Integer >= 1. Default 25. */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffSpec;
}

/** The outcome of one enqueue. */
export interface EnqueueResult<R = unknown> {
  readonly id: string;
  /** False when the idempotency key was already in the ledger. */
  readonly created: boolean;
  /** The job, or null when retention already purged it (the ledger still answers). */
  readonly job: JobRecord<unknown, R> | null;
  /** The job's state (from the ledger when purged). */
  readonly state: JobState;
  /** The result once the job succeeded. */
  readonly result: R | undefined;
}

/** Options of {@link JobStore.claim}. */
export interface ClaimOptions {
  /** Identifies the worker in leases and the attempt log. */
  readonly workerId: string;
  /** Maximum jobs to claim, integer >= 1. */
  readonly limit: number;
  /** Lease duration in ms from now. */
  readonly leaseMs: number;
  /** Restrict to these queues. Default: every queue. */
  readonly queues?: readonly string[];
  /** Restrict to these job names (the handlers a worker has). Default: every name. */
  readonly names?: readonly string[];
  /** Fair-share weight per fairness key (`partitionKey`, `''` for none); default weight 1. */
  readonly weights?: Readonly<Record<string, number>>;
  /** Effective priority grows by 1 per `agingMs` waited since `runAt`. Default 60 000; `Infinity` disables. */
  readonly agingMs?: number;
}

/** A `(job, epoch)` pair: the proof of holding a lease. */
export interface LeaseRef {
  readonly id: string;
  readonly epoch: number;
}

/** Input of {@link JobStore.complete}. */
export interface CompleteInput<R = unknown> extends LeaseRef {
  /** Must survive JSON round-tripping; undefined stores null. */
  readonly result?: R;
}

/** Input of {@link JobStore.fail}. */
export interface FailInput extends LeaseRef {
  /** Message (with stack) of the failure. */
  readonly error: string;
  /** When to retry (epoch ms). Ignored when the job goes dead. Default now. */
  readonly retryAt?: number;
  /**
   * The retry delay behind `retryAt`, ms (integer >= 0): kept as the job's
   * `retryDelayMs` when it is retried, so the next failure's backoff gets it
   * as `previousDelayMs`.
   */
  readonly delayMs?: number;
  /** Do not retry: dead now, whatever the attempts left. */
  readonly dead?: boolean;
}

/** Why a compare-and-set was refused. */
export type RefusalReason = 'not-found' | 'stale-epoch' | 'not-leased';

/** One refused compare-and-set. */
export interface Refusal {
  readonly id: string;
  /** The epoch the caller presented. */
  readonly epoch: number;
  readonly reason: RefusalReason;
  /** The job's current state and epoch, when it exists. */
  readonly state?: JobState;
  readonly currentEpoch?: number;
}

/** The outcome of a batch compare-and-set. */
export interface SettleResult {
  /** Ids whose compare-and-set applied, in input order. */
  readonly accepted: readonly string[];
  readonly refused: readonly Refusal[];
}

/** The outcome of {@link JobStore.fail}: accepted ids split by where they went. */
export interface FailResult extends SettleResult {
  /** Accepted and going to be retried (`failed`). */
  readonly retrying: readonly string[];
  /** Accepted and now `dead`. */
  readonly dead: readonly string[];
}

/** Filter of {@link JobStore.query}. */
export interface JobQuery {
  readonly queue?: string;
  readonly name?: string;
  readonly state?: JobState | readonly JobState[];
  readonly partitionKey?: string;
  readonly partition?: number;
  /** Only jobs with `seq > afterSeq` (cursor paging). */
  readonly afterSeq?: number;
  /** Default 100. */
  readonly limit?: number;
}

/** Counts by state, by queue and by partition. */
export interface JobCounts {
  readonly byState: Readonly<Record<JobState, number>>;
  readonly byQueue: Readonly<Record<string, Readonly<Record<JobState, number>>>>;
  /** Keyed by partition number; jobs without a partition key are under `'none'`. */
  readonly byPartition: Readonly<Record<string, Readonly<Record<JobState, number>>>>;
  /**
   * `now - runAt` of the oldest ready job, or 0 when none: `pending` or
   * `failed`, due, every dependency succeeded, and the head of its ordered
   * partition (see "Claim order"). A job that waits on a dependency or on an
   * earlier ordered job is not ready, whatever its age.
   */
  readonly oldestReadyAgeMs: number;
}

/** How an attempt ended. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'expired' | 'cancelled';

/**
 * One finished attempt. The attempt log is append-only: an entry is written
 * when the attempt ends (completion, failure, reclaim of an expired lease,
 * cancel) and is never changed or deleted, not even by retention `purge`.
 */
export interface AttemptRecord {
  readonly jobId: string;
  readonly queue: string;
  readonly name: string;
  /** The attempt number (1-based, = job attempts at claim). */
  readonly attempt: number;
  readonly epoch: number;
  readonly workerId: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: AttemptOutcome;
  readonly error: string | null;
  /**
   * The job's payload at that attempt — only when asked: a store records it
   * when constructed with `attemptPayloads: true` (payloads can be large or
   * sensitive, and the log is never purged). Absent otherwise.
   */
  readonly payload?: unknown;
}

/** Filter of {@link JobStore.attempts}. */
export interface AttemptQuery {
  readonly jobId?: string;
  /** Only attempts that ended at or after this time. */
  readonly since?: number;
  /** Default 1 000. */
  readonly limit?: number;
}

/**
 * Options of {@link JobStore.replay}: exactly one of `partition` /
 * `partitionKey`, and `since` (required: there is no "since the beginning"
 * default). Anything else is an `InvalidOptionError` in every store.
 */
export interface ReplayOptions {
  readonly queue?: string;
  /** A partition number, integer in `[0, PARTITION_COUNT)`. */
  readonly partition?: number;
  readonly partitionKey?: string;
  /** Jobs enqueued at or after this time (epoch ms). Required, finite. */
  readonly since: number;
  /** Only list, do not re-enqueue. Default false. */
  readonly dryRun?: boolean;
}

/** Options of {@link JobStore.requeue}. */
export interface RequeueOptions {
  /** Default now. */
  readonly runAt?: number;
  /** Reset `attempts` to 0 so the job gets `maxAttempts` again. Default true. */
  readonly resetAttempts?: boolean;
}

/** Options of {@link JobStore.purge}; anything else is an `InvalidOptionError` in every store. */
export interface PurgeOptions {
  /** Delete terminal jobs that finished before this time (epoch ms). Required, finite. */
  readonly finishedBefore: number;
  /** Terminal states only. Default every terminal state. */
  readonly states?: readonly JobState[];
}

/** A memoized step value. */
export interface StepValue {
  readonly found: boolean;
  readonly value: unknown;
}

/** Input of {@link JobStore.putStep}. */
export interface PutStepInput extends LeaseRef {
  readonly step: string;
  /** Must survive JSON round-tripping. */
  readonly value: unknown;
}

/** Payload of {@link JobStore.onEnqueued}. */
export interface EnqueuedEvent {
  readonly queue: string;
  /** Jobs that became claimable or will at `runAt`. */
  readonly count: number;
  /** The earliest `runAt` among them (epoch ms). */
  readonly runAt: number;
}

/** Options every store constructor accepts. */
export interface JobStoreOptions {
  /** The source of every timestamp. Default `systemClock`. */
  readonly clock?: Clock;
  /** Copy the payload into each attempt log entry. Default false. */
  readonly attemptPayloads?: boolean;
}

/**
 * The durable state of jobs: enqueue, claim with a lease, settle (fenced by
 * the lease's epoch), the dead letter, the idempotency ledger, the attempt
 * log, queries and retention. All methods are async and safe to call
 * concurrently (from one or, for durable stores, many processes). What
 * `Queue` needs; a `Worker` needs a {@link StepStore} beside it.
 *
 * @example
 * ```ts
 * const store = new MemoryJobStore({ clock });
 * await store.init();
 * const [r] = await store.enqueue([{ name: 'email', payload: { to: 'a@b' }, idempotencyKey: 'welcome:42' }]);
 * const jobs = await store.claim({ workerId: 'w1', limit: 100, leaseMs: 5_000 });
 * await store.complete(jobs.map((j) => ({ id: j.id, epoch: j.epoch, result: 'ok' })));
 * ```
 */
export interface JobStore extends StoreLifecycle {
  /**
   * Optional wake-up notifications: `listener` is called after jobs were
   * enqueued, requeued or replayed (possibly by another process, e.g. through
   * PostgreSQL LISTEN/NOTIFY), so workers claim at once instead of waiting for
   * their next poll. Polling stays the fallback; a store without
   * notifications omits this method.
   */
  onEnqueued?(listener: (event: EnqueuedEvent) => void): Subscription;

  /**
   * Enqueues jobs in one transaction; results in input order. A duplicate
   * idempotency key (also one repeated within `specs`) yields the first job
   * with `created: false`. A key reused with another fingerprint rejects the
   * whole call with `JobConflictError` and enqueues nothing.
   */
  enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]>;

  /**
   * Leases up to `limit` ready jobs (see "Claim order"), reclaiming expired
   * leases; increments `attempts` and `epoch` of each. A reclaimed job whose
   * attempts are exhausted goes `dead` instead (logged `expired`). Returns the
   * leased records.
   */
  claim(options: ClaimOptions): Promise<JobRecord[]>;

  /** Extends the leases to `now + leaseMs`; refused ones are lost. */
  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult>;

  /**
   * `leased → pending` without spending the attempt (CAS): a worker hands
   * back jobs it claimed but never started (graceful shutdown), so they run
   * at once elsewhere instead of after the lease expires.
   */
  release(leases: readonly LeaseRef[]): Promise<SettleResult>;

  /** `leased → succeeded` (CAS on id + epoch); stores results and fills the ledger. */
  complete(completions: readonly CompleteInput[]): Promise<SettleResult>;

  /** `leased → failed` (retry at) or `dead` when attempts are exhausted or `dead: true` (CAS). */
  fail(failures: readonly FailInput[]): Promise<FailResult>;

  /**
   * Any non-terminal job → `dead` (a leased one has its epoch bumped, fencing
   * its worker); its dependents are cancelled. Returns ids moved.
   */
  deadLetter(ids: readonly string[], reason: string): Promise<string[]>;

  /**
   * `dead | failed | cancelled → pending`, keeping its memoized steps (a
   * retry resumes after the last finished step). A job with a dead or
   * cancelled dependency is not moved (requeue the dependency first);
   * requeuing a job does not revive the dependents its end cancelled.
   * Returns ids moved.
   */
  requeue(ids: readonly string[], options?: RequeueOptions): Promise<string[]>;

  /**
   * `pending | failed | leased → cancelled` (a leased one has its epoch
   * bumped); its dependents are cancelled. Returns ids moved.
   */
  cancel(ids: readonly string[]): Promise<string[]>;

  get(id: string): Promise<JobRecord | undefined>;
  /** Jobs in `seq` order. */
  query(filter?: JobQuery): Promise<JobRecord[]>;
  counts(filter?: { readonly queue?: string }): Promise<JobCounts>;

  /** Attempt log entries in the order they were appended. */
  attempts(filter?: AttemptQuery): Promise<AttemptRecord[]>;

  /**
   * A partition's jobs enqueued since `since`, in enqueue order. Unless
   * `dryRun`, the terminal and failed ones among them are re-enqueued
   * (`pending`, attempts reset, result and memoized steps cleared: a replay
   * does the work again, every `ctx.step` included; epochs keep growing),
   * except a job with a dead or cancelled dependency (see "Dependencies").
   * Options are validated by `checkReplay` (`InvalidOptionError`).
   */
  replay(options: ReplayOptions): Promise<JobRecord[]>;

  /**
   * Deletes old terminal jobs (and their steps); keeps the ledger and the
   * attempt log. Returns the count. Options are validated by `checkPurge`
   * (`InvalidOptionError`).
   */
  purge(options: PurgeOptions): Promise<number>;
}

/**
 * The memoized steps of jobs (`ctx.step`): a value per job and step name,
 * written under the job's lease. Kept across `requeue` (a retry resumes
 * after the last finished step), cleared by `replay` and `purge` of the
 * job, which is why a step store is also the {@link JobStore} of its jobs.
 */
export interface StepStore extends StoreLifecycle {
  /** The memoized value of step `step` of a job. */
  getStep(jobId: string, step: string): Promise<StepValue>;
  /** Memoizes a step value; CAS on the lease. Returns false when the lease is lost. */
  putStep(input: PutStepInput): Promise<boolean>;
}

/**
 * A store that implements all three contracts on one set of data (the
 * memory, SQLite and PostgreSQL stores do): jobs, their steps, and runs.
 * What a `Worker` (jobs and steps) and a `RunWorker` (runs) can share.
 */
export type FullJobStore = JobStore & StepStore & RunStore;

/**
 * A completion a store accepted, as handed to a store's transactional
 * `onComplete` hook (SQLite, PostgreSQL): the hook runs in the same
 * transaction as the completion, which is how a handler's effect is recorded
 * exactly once.
 */
export interface CompletedJob {
  readonly id: string;
  readonly epoch: number;
  readonly queue: string;
  readonly name: string;
  readonly result: unknown;
}
