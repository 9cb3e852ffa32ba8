/**
 * The public types of `Worker`: handlers and their context, options, stats,
 * hook events and the diagnostics channel messages.
 */
import type { Clock } from '../core/index.js';
import type { Backoff } from '../core/backoff.js';
import type { JobCounts, JobRecord, Refusal } from './store.js';

/** What a handler gets besides the payload. */
export interface JobContext<P = unknown> {
  /** The job as claimed (state `leased`). */
  readonly job: JobRecord<P>;
  /**
   * The fencing token of this attempt. Guard writes outside the store with it
   * (e.g. `UPDATE … WHERE fence < :epoch`) so a worker whose lease was
   * reclaimed cannot overwrite the newer attempt's effects.
   */
  readonly epoch: number;
  /** 1-based attempt number. */
  readonly attempt: number;
  readonly workerId: string;
  /** Aborted when the lease is lost (`LeaseLostError`) or the worker is force-closed (`ClosedError`). */
  readonly signal: AbortSignal;
  /**
   * A durable step: runs `fn` once per job and memoizes its (JSON) result
   * under the job, so a retry after a crash resumes after the last finished
   * step instead of repeating its effect. Rejects with `LeaseLostError` if
   * the lease was lost before the result could be recorded.
   *
   * A name is used once per execution: a second `step` with the same name
   * in one attempt rejects with `DuplicateStepError` (it would silently get
   * the first value); in a loop, name each step by its item
   * (`` `send:${item.id}` ``). A value that is not storable JSON rejects
   * with `UnstorableValueError` after `fn` ran (nothing is memoised); either
   * error, left uncaught, fails the job without retrying.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

/** A handler of one job: resolves with the job's result (stored as JSON) or throws to fail the attempt. */
export type JobHandler<P = never, R = unknown> = (payload: P, ctx: JobContext<P>) => Promise<R> | R;

/** The outcome of one job of a batch handler. */
export type JobOutcome<R = unknown> =
  | { readonly ok: true; readonly result?: R }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** False: do not retry, dead now. Default true. */
      readonly retry?: boolean;
    };

/** A handler definition with options. */
export interface JobDefinition<P = never, R = unknown> {
  /** Runs one job. */
  readonly handle?: JobHandler<P, R>;
  /**
   * Runs many jobs of this name at once (one downstream bulk call) and
   * reports one outcome per job, in order; only the failed ones are retried.
   * A batch takes one concurrency slot.
   */
  readonly handleMany?: (jobs: readonly JobContext<P>[]) => Promise<readonly JobOutcome<R>[]>;
  /** Largest batch handed to `handleMany`. Default the worker's `claimBatch`. */
  readonly maxBatch?: number;
  /** Retry delay when the job has no stored `backoff`. */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
}

/** Handlers by job name. */
export type JobHandlers = Readonly<Record<string, JobHandler | JobDefinition>>;

/** Options of {@link Worker}. */
export interface WorkerOptions {
  /** Jobs (or batches) running at once, integer >= 1. Default 10. */
  readonly concurrency?: number;
  /**
   * Most jobs claimed per store call, integer >= 1. Default 100. At most
   * 1.5 × this many jobs are buffered, and 3 × this + `concurrency` held.
   */
  readonly claimBatch?: number;
  /** Lease length in ms; a dead worker's jobs are reclaimed after it. Default 8 000. */
  readonly leaseMs?: number;
  /** Heartbeat period in ms, < leaseMs. Default leaseMs / 4. */
  readonly heartbeatMs?: number;
  /** Poll period in ms when idle (wake-ups from the store come sooner). Default 1 000. */
  readonly pollMs?: number;
  /** Queues to claim from, a non-empty array of non-empty names. Default every queue. */
  readonly queues?: readonly string[];
  /** Identifies this worker in leases and the attempt log, 1 to 200 characters. Default `host:pid:random`. */
  readonly workerId?: string;
  /** Must be the store's clock. Default `systemClock`. */
  readonly clock?: Clock;
  /** Fair-share weights by partition key (tenant), finite numbers > 0; a key not listed weighs 1. */
  readonly weights?: Readonly<Record<string, number>>;
  /** Priority aging: +1 effective priority per `agingMs` waited, > 0 (Infinity: no aging). Default 60 000. */
  readonly agingMs?: number;
  /** Retry delay when neither the job nor its handler has one. Default exponential 1 s … 5 min, full jitter. */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
  /** Sample queue depth (store counts) for `stats().depth` every this many ms; 0 disables. Default 5 000. */
  readonly depthSampleMs?: number;
  /** Start claiming at once. Default true; otherwise call `start()`. */
  readonly autoStart?: boolean;
}

/** Options of {@link Worker.close}. */
export interface CloseOptions {
  /**
   * Abort running handlers (`ctx.signal` with `ClosedError`) instead of
   * waiting; their jobs keep their leases until they expire. Default false.
   */
  readonly force?: boolean;
  /**
   * Graceful close turns forced after this many ms, and gives up committing
   * results the store keeps refusing to take by then. Default Infinity.
   */
  readonly timeoutMs?: number;
}

/** Latency summary in ms over the most recent samples. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Snapshot of {@link Worker.stats}. */
export interface WorkerStats {
  readonly workerId: string;
  readonly state: 'idle' | 'running' | 'closing' | 'closed';
  readonly running: number;
  readonly buffered: number;
  readonly claimed: number;
  readonly succeeded: number;
  /** Attempts that failed and will be retried. */
  readonly failed: number;
  readonly dead: number;
  /** Completions or failures the store refused (stale epoch). */
  readonly refused: number;
  readonly leaseLost: number;
  readonly claimCalls: number;
  readonly flushCalls: number;
  /** Successes per second over the last 10 s. */
  readonly throughputPerSec: number;
  /** succeeded / (succeeded + failed + dead); 1 before any outcome. */
  readonly successRate: number;
  /** From `max(createdAt, runAt)` to the claim that started the attempt. */
  readonly enqueueToStartMs: LatencySummary;
  /** Handler run time. */
  readonly runMs: LatencySummary;
  /** The last sampled store counts (depth by state and partition, oldest ready age). */
  readonly depth: JobCounts | undefined;
}

/** Payload of {@link Worker.onCompleted}. */
export interface JobCompletedEvent {
  readonly job: JobRecord;
  readonly result: unknown;
  readonly durationMs: number;
}
/** Payload of {@link Worker.onFailed}. */
export interface JobFailedEvent {
  readonly job: JobRecord;
  readonly error: unknown;
  /** False when the job went dead. */
  readonly willRetry: boolean;
}
/** Payload of {@link Worker.onLeaseLost}. */
export interface LeaseLostEvent {
  readonly job: JobRecord;
  readonly refusal: Refusal | undefined;
}
/** Payload of {@link Worker.onError}. */
export interface WorkerErrorEvent {
  readonly error: unknown;
  /** `'settle'`: a failed attempt's backoff (or a batch handler's outcomes) broke its contract. */
  readonly during: 'claim' | 'flush' | 'heartbeat' | 'release' | 'depth' | 'settle';
}

/** One job of a {@link JobsSettledMessage}. */
export interface SettledJob {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly partition: number | null;
  /** 1-based attempt number. */
  readonly attempt: number;
  /** `failed`: will be retried; `refused`: the store refused the result (lease lost). */
  readonly outcome: 'succeeded' | 'failed' | 'dead' | 'refused';
  /** From `max(createdAt, runAt)` to the claim that started the attempt, ms. */
  readonly enqueueToStartMs: number;
  /** Handler run time, ms. */
  readonly runMs: number;
}

/** A message of the `batchflight:jobs:settled` channel: the results of one commit. */
export interface JobsSettledMessage {
  readonly workerId: string;
  readonly succeeded: number;
  readonly failed: number;
  readonly dead: number;
  readonly refused: number;
  readonly jobs: readonly SettledJob[];
}

/** A message of the `batchflight:jobs:depth` channel: one sample of the store counts. */
export interface JobsDepthMessage {
  readonly workerId: string;
  /** The sampled queue when the worker claims from one queue; otherwise every queue. */
  readonly queue: string | undefined;
  /** Depth by state, queue and partition, and the age of the oldest ready job. */
  readonly counts: JobCounts;
}
