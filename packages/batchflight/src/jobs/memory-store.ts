/* The contract is async; this store is synchronous inside, so its methods await nothing. */
/* eslint-disable @typescript-eslint/require-await */
/**
 * An in-process `JobStore` for tests and single-process use: the reference
 * implementation of the contract (every method is one synchronous step, so
 * each is trivially atomic). Nothing survives the process.
 */
import {
  ClosedError,
  Listeners,
  booleanOption,
  functionOption,
  knownOptions,
  systemClock,
  type Clock,
  type Subscription,
} from '../core/index.js';
import { JobConflictError, JobDependencyError } from './errors.js';
import {
  DEPENDENCY_FAILED_STATES,
  checkClaim,
  checkId,
  checkPurge,
  checkReplay,
  newJobRecord,
  normalizeEnqueue,
  enqueuedEvents,
  zeroCounts,
  type NormalizedEnqueue,
} from './store-kit.js';
import { storableText } from './store-json.js';
import { MemoryRuns, clone } from './memory-runs.js';
import {
  cancelDependent,
  expireExhausted,
  failLeased,
  leaseRefusal,
  requeueJobs,
  resetJob,
  terminate,
  type EndedDependency,
  type JobChange,
  type JobMachine,
} from './transitions.js';
import type {
  AcceptedCheckpoint,
  AttemptOutcome,
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
  JobCounts,
  JobQuery,
  JobRecord,
  JobState,
  FullJobStore,
  JobStoreOptions,
  LeaseRef,
  PurgeOptions,
  PutStepInput,
  Refusal,
  ReplayOptions,
  RequeueOptions,
  RunRecord,
  SettleResult,
  StepValue,
} from './store.js';

/** Options of {@link MemoryJobStore}. */
export interface MemoryJobStoreOptions extends JobStoreOptions {
  /**
   * Called for every accepted checkpoint that moved the chunk's offset or
   * carries `data` (never for a bare lease renewal or hand-back), before the
   * checkpoint is applied: throwing refuses the checkpoint and leaves the
   * chunk as it was, as the durable stores' transactional hooks do.
   */
  readonly onCheckpoint?: (checkpoint: AcceptedCheckpoint) => void;
}

const WHERE = 'new MemoryJobStore()';
const OPTIONS = ['clock', 'attemptPayloads', 'onCheckpoint'] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface LedgerEntry {
  jobId: string;
  fingerprint: string;
  state: JobState;
  result: unknown;
}

/** Writes a transition's change of fields (see `JobChange`) to a record of this store. */
function writeChange(job: Mutable<JobRecord>, change: JobChange, now: number): void {
  job.updatedAt = now;
  switch (change.kind) {
    case 'end':
      if (change.fence) job.epoch += 1; // fences the holder: its complete/fail/heartbeat are refused
      job.state = change.to;
      if (change.reason !== null) job.lastError = change.reason;
      job.leaseOwner = null;
      job.leaseExpiresAt = null;
      job.finishedAt = now;
      return;
    case 'retry':
      job.state = 'failed';
      job.lastError = change.error;
      job.leaseOwner = null;
      job.leaseExpiresAt = null;
      job.runAt = change.runAt;
      job.retryDelayMs = change.retryDelayMs;
      return;
    case 'reset':
      job.state = 'pending';
      job.runAt = change.runAt;
      job.retryDelayMs = 0;
      if (change.resetAttempts) job.attempts = 0;
      job.result = undefined;
      job.finishedAt = null;
      return;
  }
}

const TERMINAL = new Set<JobState>(['succeeded', 'dead', 'cancelled']);
const DEPENDENCY_FAILED = new Set<JobState>(DEPENDENCY_FAILED_STATES);

/**
 * The memory store.
 *
 * @example
 * ```ts
 * const clock = new TestClock();
 * const store = new MemoryJobStore({ clock });
 * const queue = new Queue(store, { clock });
 * ```
 */
export class MemoryJobStore implements FullJobStore {
  readonly #clock: Clock;
  readonly #attemptPayloads: boolean;
  readonly #jobs = new Map<string, Mutable<JobRecord>>();
  readonly #ledger = new Map<string, LedgerEntry>();
  readonly #log: AttemptRecord[] = [];
  readonly #steps = new Map<string, Map<string, unknown>>();
  /** Job id → ids of the jobs that depend on it. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #runs: MemoryRuns;
  #seq = 0;
  #closed = false;
  readonly #enqueued = new Listeners<EnqueuedEvent>();

  constructor(options: MemoryJobStoreOptions = {}) {
    knownOptions(WHERE, options, OPTIONS);
    this.#clock = options.clock ?? systemClock;
    this.#attemptPayloads =
      options.attemptPayloads !== undefined &&
      booleanOption(WHERE, 'attemptPayloads', options.attemptPayloads);
    this.#runs = new MemoryRuns({
      clock: this.#clock,
      onCheckpoint:
        options.onCheckpoint === undefined
          ? undefined
          : functionOption<NonNullable<MemoryJobStoreOptions['onCheckpoint']>>(
              WHERE,
              'onCheckpoint',
              options.onCheckpoint,
            ),
      check: () => {
        this.#check();
      },
    });
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('MemoryJobStore is closed.');
  }

  async init(): Promise<void> {
    this.#check();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  onEnqueued(listener: (event: EnqueuedEvent) => void): Subscription {
    return this.#enqueued.add(listener);
  }

  #notify(jobs: Iterable<JobRecord>): void {
    if (!this.#enqueued.active) return;
    for (const e of enqueuedEvents(jobs, (job) => job.runAt)) this.#enqueued.emit(e);
  }

  #view(job: Mutable<JobRecord>): JobRecord {
    return Object.freeze({
      ...job,
      payload: clone(job.payload),
      result: clone(job.result),
      dependsOn: [...job.dependsOn],
    });
  }

  #appendAttempt(
    job: Mutable<JobRecord>,
    outcome: AttemptOutcome,
    error: string | null,
    now: number,
  ): void {
    this.#log.push(
      Object.freeze({
        jobId: job.id,
        queue: job.queue,
        name: job.name,
        attempt: job.attempts,
        epoch: job.epoch,
        workerId: job.leaseOwner ?? '',
        startedAt: job.startedAt ?? job.updatedAt,
        endedAt: now,
        outcome,
        error,
        ...(this.#attemptPayloads ? { payload: clone(job.payload) } : {}),
      }),
    );
  }

  #syncLedger(job: Mutable<JobRecord>): void {
    if (job.idempotencyKey === null) return;
    const entry = this.#ledger.get(`${job.queue}\0${job.idempotencyKey}`);
    if (entry === undefined || entry.jobId !== job.id) return;
    entry.state = job.state;
    entry.result = job.state === 'succeeded' ? clone(job.result) : undefined;
  }

  async enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    this.#check();
    const now = this.#clock.now();
    const normalized = specs.map((s) => normalizeEnqueue(s, now));
    // Validate everything before changing anything: the call is all or nothing.
    const pendingKeys = new Map<string, { fingerprint: string; index: number }>();
    const missing = new Set<string>();
    normalized.forEach((n, index) => {
      for (const dep of n.dependsOn) if (!this.#jobs.has(dep)) missing.add(dep);
      if (n.idempotencyKey === null) return;
      const key = `${n.queue}\0${n.idempotencyKey}`;
      const existing = this.#ledger.get(key);
      if (existing !== undefined) {
        if (existing.fingerprint !== n.fingerprint) {
          throw new JobConflictError(n.queue, n.idempotencyKey, existing.jobId);
        }
        return;
      }
      const earlier = pendingKeys.get(key);
      if (earlier !== undefined && earlier.fingerprint !== n.fingerprint) {
        throw new JobConflictError(n.queue, n.idempotencyKey, `(input ${String(earlier.index)})`);
      }
      if (earlier === undefined) pendingKeys.set(key, { fingerprint: n.fingerprint, index });
    });
    if (missing.size > 0) throw new JobDependencyError([...missing]);
    const results = normalized.map((n) => this.#enqueueOne(n, now));
    this.#notify(
      results.flatMap((r) => (r.created && r.job !== null && r.state === 'pending' ? [r.job] : [])),
    );
    return results;
  }

  #enqueueOne(n: NormalizedEnqueue, now: number): EnqueueResult {
    if (n.idempotencyKey !== null) {
      const existing = this.#ledger.get(`${n.queue}\0${n.idempotencyKey}`);
      if (existing !== undefined) {
        const job = this.#jobs.get(existing.jobId);
        return {
          id: existing.jobId,
          created: false,
          job: job === undefined ? null : this.#view(job),
          state: job?.state ?? existing.state,
          result: clone(job !== undefined ? job.result : existing.result),
        };
      }
    }
    const seq = ++this.#seq;
    // A fresh object: the store owns it and updates it in place.
    const job = newJobRecord(n, seq, now) as Mutable<JobRecord>;
    job.retryDelayMs = 0;
    this.#jobs.set(job.id, job);
    if (n.idempotencyKey !== null) {
      this.#ledger.set(`${n.queue}\0${n.idempotencyKey}`, {
        jobId: job.id,
        fingerprint: n.fingerprint,
        state: 'pending',
        result: undefined,
      });
    }
    for (const dep of n.dependsOn) {
      let set = this.#dependents.get(dep);
      if (set === undefined) this.#dependents.set(dep, (set = new Set()));
      set.add(job.id);
    }
    const ended = this.#endedDependency(job);
    if (ended !== undefined) cancelDependent(this.#machine, job, ended, now);
    return { id: job.id, created: true, job: this.#view(job), state: job.state, result: undefined };
  }

  /** The first dependency of `job` that is dead or cancelled, if any. */
  #endedDependency(job: JobRecord): EndedDependency | undefined {
    for (const id of job.dependsOn) {
      const dep = this.#jobs.get(id);
      if (dep !== undefined && DEPENDENCY_FAILED.has(dep.state)) return dep;
    }
    return undefined;
  }

  /** The storage primitives of the shared job state machine (`transitions.ts`) on this store's records. */
  readonly #machine: JobMachine<Mutable<JobRecord>> = {
    load: (id) => this.#jobs.get(id),
    id: (job) => job.id,
    state: (job) => job.state,
    cancellableDependents: (job) =>
      [...(this.#dependents.get(job.id) ?? [])].flatMap((id) => {
        const child = this.#jobs.get(id);
        return child !== undefined && (child.state === 'pending' || child.state === 'failed')
          ? [child]
          : [];
      }),
    endedDependency: (job) => this.#endedDependency(job),
    appendAttempt: (job, outcome, error, now) => {
      this.#appendAttempt(job, outcome, error, now);
    },
    write: (job, change, now) => {
      writeChange(job, change, now);
    },
    syncLedger: (job) => {
      this.#syncLedger(job);
    },
  };

  async claim(options: ClaimOptions): Promise<JobRecord[]> {
    this.#check();
    const agingMs = checkClaim(options);
    const now = this.#clock.now();
    const queues = options.queues === undefined ? undefined : new Set(options.queues);
    const names = options.names === undefined ? undefined : new Set(options.names);
    const inScope = (j: JobRecord): boolean =>
      (queues === undefined || queues.has(j.queue)) && (names === undefined || names.has(j.name));

    // Expired leases whose attempts are exhausted die here (the crash may be the job's fault).
    for (const job of this.#jobs.values()) {
      if (
        job.state === 'leased' &&
        (job.leaseExpiresAt ?? 0) <= now &&
        job.attempts >= job.maxAttempts &&
        inScope(job)
      ) {
        expireExhausted(this.#machine, job, now);
      }
    }

    const heads = this.#orderedHeads();
    const groups = new Map<string, { job: Mutable<JobRecord>; eff: number }[]>();
    for (const job of this.#jobs.values()) {
      const reclaimable = job.state === 'leased' && (job.leaseExpiresAt ?? 0) <= now;
      const due = (job.state === 'pending' || job.state === 'failed') && job.runAt <= now;
      if (!(reclaimable || due) || !inScope(job) || this.#waiting(job, heads)) continue;
      const fairKey = job.partitionKey ?? '';
      const eff =
        job.priority +
        (Number.isFinite(agingMs) ? Math.floor(Math.max(0, now - job.runAt) / agingMs) : 0);
      let group = groups.get(fairKey);
      if (group === undefined) groups.set(fairKey, (group = []));
      group.push({ job, eff });
    }
    const ranked: { job: Mutable<JobRecord>; eff: number; rank: number }[] = [];
    for (const [fairKey, group] of groups) {
      group.sort((a, b) => b.eff - a.eff || a.job.seq - b.job.seq);
      const weight = options.weights?.[fairKey] ?? 1;
      group.forEach((g, i) => ranked.push({ ...g, rank: i / (weight > 0 ? weight : 1) }));
    }
    ranked.sort((a, b) => a.rank - b.rank || b.eff - a.eff || a.job.seq - b.job.seq);

    const claimed: JobRecord[] = [];
    for (const { job } of ranked.slice(0, options.limit)) {
      if (job.state === 'leased') this.#appendAttempt(job, 'expired', 'lease expired', now);
      job.state = 'leased';
      job.attempts += 1;
      job.epoch += 1;
      job.leaseOwner = options.workerId;
      job.leaseExpiresAt = now + options.leaseMs;
      job.startedAt = now;
      job.updatedAt = now;
      claimed.push(this.#view(job));
    }
    return claimed;
  }

  /** (queue, partitionKey) → the lowest seq of an unfinished ordered job: the partition's head. */
  #orderedHeads(): Map<string, number> {
    const heads = new Map<string, number>();
    for (const job of this.#jobs.values()) {
      if (!job.ordered || TERMINAL.has(job.state)) continue;
      const key = `${job.queue}\0${job.partitionKey ?? ''}`;
      const lowest = heads.get(key);
      if (lowest === undefined || job.seq < lowest) heads.set(key, job.seq);
    }
    return heads;
  }

  /** True when `job` waits on a dependency or on an earlier job of its ordered partition. */
  #waiting(job: JobRecord, heads: ReadonlyMap<string, number>): boolean {
    // A purged dependency was terminal and, not having cancelled this job, succeeded.
    if (job.dependsOn.some((d) => this.#jobs.has(d) && this.#jobs.get(d)?.state !== 'succeeded')) {
      return true;
    }
    return job.ordered && heads.get(`${job.queue}\0${job.partitionKey ?? ''}`) !== job.seq;
  }

  #cas(ref: LeaseRef): Mutable<JobRecord> | Refusal {
    const job = this.#jobs.get(ref.id);
    // leaseRefusal returns undefined only for a job it was given.
    return leaseRefusal(ref, job) ?? (job as Mutable<JobRecord>);
  }

  /**
   * The compare-and-set loop shared by heartbeat, release, complete and fail:
   * `apply` runs on every job whose (id, epoch) still holds a lease; the rest
   * are refused with their reason.
   */
  #settle<R extends LeaseRef>(
    refs: readonly R[],
    apply: (job: Mutable<JobRecord>, ref: R) => void,
  ): SettleResult {
    const accepted: string[] = [];
    const refused: Refusal[] = [];
    for (const ref of refs) {
      const job = this.#cas(ref);
      if ('reason' in job) {
        refused.push(job);
        continue;
      }
      apply(job, ref);
      accepted.push(job.id);
    }
    return { accepted, refused };
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    this.#check();
    const now = this.#clock.now();
    return this.#settle(leases, (job) => {
      job.leaseExpiresAt = now + leaseMs;
      job.updatedAt = now;
    });
  }

  async release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    this.#check();
    const now = this.#clock.now();
    const result = this.#settle(leases, (job) => {
      job.state = 'pending';
      job.attempts = Math.max(0, job.attempts - 1);
      job.leaseOwner = null;
      job.leaseExpiresAt = null;
      job.runAt = Math.min(job.runAt, now);
      job.updatedAt = now;
    });
    this.#notify(result.accepted.flatMap((id) => this.#jobs.get(id) ?? []));
    return result;
  }

  async complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    this.#check();
    const now = this.#clock.now();
    return this.#settle(completions, (job, c) => {
      const result = clone(c.result ?? null);
      this.#appendAttempt(job, 'succeeded', null, now);
      job.state = 'succeeded';
      job.result = result;
      job.leaseOwner = null;
      job.leaseExpiresAt = null;
      job.finishedAt = now;
      job.updatedAt = now;
      this.#syncLedger(job);
    });
  }

  async fail(failures: readonly FailInput[]): Promise<FailResult> {
    this.#check();
    const now = this.#clock.now();
    const retrying: string[] = [];
    const dead: string[] = [];
    const settled = this.#settle(failures, (job, f) => {
      // Error texts are kept, not refused: U+0000 becomes U+FFFD, as in every store.
      const error = storableText(f.error);
      const exhausted = job.attempts >= job.maxAttempts;
      const to = failLeased(this.#machine, job, f, error, exhausted, now);
      (to === 'dead' ? dead : retrying).push(job.id);
    });
    return { ...settled, retrying, dead };
  }

  async deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    this.#check();
    return terminate(this.#machine, ids, 'dead', storableText(reason), this.#clock.now());
  }

  async cancel(ids: readonly string[]): Promise<string[]> {
    this.#check();
    return terminate(this.#machine, ids, 'cancelled', null, this.#clock.now());
  }

  async requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    this.#check();
    const moved = requeueJobs(this.#machine, ids, options, this.#clock.now());
    this.#notify(moved);
    return moved.map((job) => job.id);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#check();
    checkId('get', id);
    const job = this.#jobs.get(id);
    return job === undefined ? undefined : this.#view(job);
  }

  async query(filter: JobQuery = {}): Promise<JobRecord[]> {
    this.#check();
    const states =
      filter.state === undefined
        ? undefined
        : new Set(typeof filter.state === 'string' ? [filter.state] : filter.state);
    const out: JobRecord[] = [];
    const limit = filter.limit ?? 100;
    for (const job of this.#jobs.values()) {
      if (out.length >= limit) break;
      if (filter.queue !== undefined && job.queue !== filter.queue) continue;
      if (filter.name !== undefined && job.name !== filter.name) continue;
      if (states !== undefined && !states.has(job.state)) continue;
      if (filter.partitionKey !== undefined && job.partitionKey !== filter.partitionKey) continue;
      if (filter.partition !== undefined && job.partition !== filter.partition) continue;
      if (filter.afterSeq !== undefined && job.seq <= filter.afterSeq) continue;
      out.push(this.#view(job));
    }
    return out;
  }

  async counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    this.#check();
    const now = this.#clock.now();
    const byState = zeroCounts();
    const byQueue: Record<string, Record<JobState, number>> = {};
    const byPartition: Record<string, Record<JobState, number>> = {};
    let oldest = Infinity;
    const heads = this.#orderedHeads();
    for (const job of this.#jobs.values()) {
      if (filter.queue !== undefined && job.queue !== filter.queue) continue;
      byState[job.state]++;
      (byQueue[job.queue] ??= zeroCounts())[job.state]++;
      (byPartition[job.partition === null ? 'none' : String(job.partition)] ??= zeroCounts())[
        job.state
      ]++;
      if (
        (job.state === 'pending' || job.state === 'failed') &&
        job.runAt < oldest &&
        job.runAt <= now &&
        !this.#waiting(job, heads)
      ) {
        oldest = job.runAt;
      }
    }
    return {
      byState,
      byQueue,
      byPartition,
      oldestReadyAgeMs: oldest === Infinity ? 0 : now - oldest,
    };
  }

  async attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    this.#check();
    const limit = filter.limit ?? 1000;
    const out: AttemptRecord[] = [];
    for (const a of this.#log) {
      if (out.length >= limit) break;
      if (filter.jobId !== undefined && a.jobId !== filter.jobId) continue;
      if (filter.since !== undefined && a.endedAt < filter.since) continue;
      out.push(a);
    }
    return out;
  }

  async replay(options: ReplayOptions): Promise<JobRecord[]> {
    this.#check();
    checkReplay(options);
    const now = this.#clock.now();
    const out: JobRecord[] = [];
    const jobs = [...this.#jobs.values()].sort((a, b) => a.seq - b.seq);
    for (const job of jobs) {
      if (options.queue !== undefined && job.queue !== options.queue) continue;
      if (options.partition !== undefined && job.partition !== options.partition) continue;
      if (options.partitionKey !== undefined && job.partitionKey !== options.partitionKey) continue;
      if (job.createdAt < options.since) continue;
      if (
        options.dryRun !== true &&
        (TERMINAL.has(job.state) || job.state === 'failed') &&
        this.#endedDependency(job) === undefined
      ) {
        resetJob(this.#machine, job, now, true, now);
        this.#steps.delete(job.id); // a replay does the work again, every step included
      }
      out.push(this.#view(job));
    }
    if (options.dryRun !== true) this.#notify(out.filter((j) => j.state === 'pending'));
    return out;
  }

  async purge(options: PurgeOptions): Promise<number> {
    this.#check();
    const states = new Set(checkPurge(options));
    let count = 0;
    for (const job of [...this.#jobs.values()]) {
      if (!TERMINAL.has(job.state) || !states.has(job.state)) continue;
      if (job.finishedAt === null || job.finishedAt >= options.finishedBefore) continue;
      this.#jobs.delete(job.id);
      this.#steps.delete(job.id);
      this.#dependents.delete(job.id);
      count++;
    }
    return count;
  }

  async getStep(jobId: string, step: string): Promise<StepValue> {
    this.#check();
    const steps = this.#steps.get(jobId);
    if (steps?.has(step) !== true) return { found: false, value: undefined };
    return { found: true, value: clone(steps.get(step)) };
  }

  async putStep(input: PutStepInput): Promise<boolean> {
    this.#check();
    const job = this.#cas(input);
    if ('reason' in job) return false;
    let steps = this.#steps.get(job.id);
    if (steps === undefined) this.#steps.set(job.id, (steps = new Map<string, unknown>()));
    steps.set(input.step, clone(input.value ?? null));
    return true;
  }

  // The RunStore half lives in memory-runs.ts.

  async createRun(spec: CreateRunSpec): Promise<RunRecord> {
    return this.#runs.createRun(spec);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.#runs.getRun(id);
  }

  async claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    return this.#runs.claimChunks(options);
  }

  async checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#runs.checkpointChunk(input);
  }

  async completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#runs.completeChunk(input);
  }

  async failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#runs.failChunk(input);
  }

  async pauseRun(id: string): Promise<boolean> {
    return this.#runs.pauseRun(id);
  }

  async resumeRun(id: string): Promise<boolean> {
    return this.#runs.resumeRun(id);
  }

  async cancelRun(id: string): Promise<boolean> {
    return this.#runs.cancelRun(id);
  }
}
