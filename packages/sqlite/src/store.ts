/**
 * `SqliteJobStore`: the embedded durable `JobStore` on one SQLite file
 * (better-sqlite3, WAL). Several worker processes on one machine share the
 * file safely: every write is one `BEGIN IMMEDIATE` transaction (the claim's
 * select-then-lease included), so processes serialise on SQLite's write lock
 * and wait up to `busyTimeoutMs` for it; readers never block writers in WAL.
 *
 * This class is the thin face of the store: the work is in `connection.ts`
 * (options, database, statements, transactions, migrations, wake-ups),
 * `jobs.ts`, `steps.ts`, `runs.ts` and `admin.ts`, and the state machine
 * shared with the memory store in `batchflight/jobs` (see `transitions.ts`).
 *
 * better-sqlite3 is synchronous: each operation runs to completion on the
 * calling thread, which is what makes batching decisive — one claim of 500
 * jobs and one completion of 500 jobs are two short transactions.
 */
import type Database from 'better-sqlite3';
import type { Subscription } from 'batchflight/core';
import type {
  AttemptQuery,
  AttemptRecord,
  CheckpointInput,
  ChunkLease,
  ChunkRef,
  ClaimChunksOptions,
  ClaimOptions,
  CompleteInput,
  CreateRunSpec,
  EnqueueResult,
  EnqueueSpec,
  EnqueuedEvent,
  FailChunkInput,
  FailInput,
  FailResult,
  FullJobStore,
  JobCounts,
  JobQuery,
  JobRecord,
  LeaseRef,
  PurgeOptions,
  PutStepInput,
  ReplayOptions,
  RequeueOptions,
  RunRecord,
  SettleResult,
  StepValue,
} from 'batchflight/jobs';
import { SqliteAdmin } from './admin.js';
import { SqliteConnection, type SqliteJobStoreOptions } from './connection.js';
import { SqliteJobs } from './jobs.js';
import { SqliteRuns } from './runs.js';
import { SqliteSteps } from './steps.js';

export type { SqliteJobStoreOptions } from './connection.js';

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
  readonly #c: SqliteConnection;
  readonly #jobs: SqliteJobs;
  readonly #steps: SqliteSteps;
  readonly #runs: SqliteRuns;
  readonly #admin: SqliteAdmin;

  constructor(options: SqliteJobStoreOptions) {
    this.#c = new SqliteConnection(options);
    this.db = this.#c.db;
    this.#jobs = new SqliteJobs(this.#c);
    this.#steps = new SqliteSteps(this.#c);
    this.#runs = new SqliteRuns(this.#c);
    this.#admin = new SqliteAdmin(this.#c);
  }

  /** Applies the pending migrations (safe from concurrent processes). */
  init(): Promise<void> {
    return this.#c.init();
  }

  /** The schema version applied. */
  schemaVersion(): number {
    return this.#c.schemaVersion();
  }

  close(): Promise<void> {
    return this.#c.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#c.onEnqueued(listener);
  }

  enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    return this.#jobs.enqueue(specs);
  }

  claim(options: ClaimOptions): Promise<JobRecord[]> {
    return this.#jobs.claim(options);
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    return this.#jobs.heartbeat(leases, leaseMs);
  }

  release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    return this.#jobs.release(leases);
  }

  complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    return this.#jobs.complete(completions);
  }

  fail(failures: readonly FailInput[]): Promise<FailResult> {
    return this.#jobs.fail(failures);
  }

  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#jobs.deadLetter(ids, reason);
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#jobs.cancel(ids);
  }

  requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    return this.#jobs.requeue(ids, options);
  }

  get(id: string): Promise<JobRecord | undefined> {
    return this.#admin.get(id);
  }

  query(filter: JobQuery = {}): Promise<JobRecord[]> {
    return this.#admin.query(filter);
  }

  counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    return this.#admin.counts(filter);
  }

  attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    return this.#admin.attempts(filter);
  }

  replay(options: ReplayOptions): Promise<JobRecord[]> {
    return this.#admin.replay(options);
  }

  purge(options: PurgeOptions): Promise<number> {
    return this.#admin.purge(options);
  }

  getStep(jobId: string, step: string): Promise<StepValue> {
    return this.#steps.getStep(jobId, step);
  }

  putStep(input: PutStepInput): Promise<boolean> {
    return this.#steps.putStep(input);
  }

  createRun(spec: CreateRunSpec): Promise<RunRecord> {
    return this.#runs.createRun(spec);
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.#runs.getRun(id);
  }

  claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    return this.#runs.claimChunks(options);
  }

  checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#runs.checkpointChunk(input);
  }

  completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#runs.completeChunk(input);
  }

  failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#runs.failChunk(input);
  }

  pauseRun(id: string): Promise<boolean> {
    return this.#runs.pauseRun(id);
  }

  resumeRun(id: string): Promise<boolean> {
    return this.#runs.resumeRun(id);
  }

  cancelRun(id: string): Promise<boolean> {
    return this.#runs.cancelRun(id);
  }
}
