/**
 * The `RunStore` contract: runs of `total` items cut into chunks, each
 * leased, checkpointed and completed under a fencing epoch, with pause,
 * resume and cancel (what `RunWorker` drives). Independent of jobs; a
 * `FullJobStore` (`store.ts`) implements it beside `JobStore` and
 * `StepStore`. Every timestamp is epoch ms of the store's Clock, as in
 * `store.ts`.
 *
 * ## Runs
 *
 * A run's chunks are leased, checkpointed and completed only while the run
 * is `running`: `pauseRun` hands every leased chunk back (it becomes
 * claimable at its last accepted checkpoint once the run resumes) and from
 * then on every checkpoint, completion or failure report of the chunk's old
 * holder is refused, so that holder stops and the effects of its slice in
 * progress (written with the checkpoint) are never committed; `cancelRun`
 * refuses them the same way, for good. A chunk counts its failed attempts
 * (a `failChunk` report, or a lease that expired and was reclaimed); a
 * checkpoint that moves its offset forward resets the count. When the count
 * reaches the run's `maxChunkAttempts` the chunk and the run go `failed`
 * with the last error; `resumeRun` retries the failed chunks from their
 * checkpoints with a fresh count.
 */
import type { StoreLifecycle } from './store-lifecycle.js';

/**
 * The state of a run. `failed`: a chunk failed `maxChunkAttempts` times in a
 * row; `resumeRun` retries it. `succeeded` and `cancelled` are terminal.
 */
export type RunState = 'running' | 'paused' | 'failed' | 'succeeded' | 'cancelled';

/** The state of a chunk. */
export type ChunkState = 'pending' | 'leased' | 'done' | 'failed';

/** A large input processed as leased chunks of item offsets `[0, total)`. */
export interface RunRecord<I = unknown> {
  readonly id: string;
  readonly name: string;
  readonly input: I;
  readonly state: RunState;
  readonly total: number;
  readonly chunkSize: number;
  readonly chunks: number;
  readonly chunksDone: number;
  /** Items checkpointed so far (sum over chunks of `offset - start`). */
  readonly processed: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
  /** The last failure of one of its chunks (handler error or `'lease expired'`); absent when none. */
  readonly lastError?: string;
}

/** What to create with {@link RunStore.createRun}. */
export interface CreateRunSpec<I = unknown> {
  readonly name: string;
  /** Must survive JSON round-tripping. */
  readonly input: I;
  /** Number of items, integer >= 0. */
  readonly total: number;
  /** Items per chunk, integer >= 1. */
  readonly chunkSize: number;
  /**
   * A duplicate returns the existing run; the same key with another name,
   * input, total or chunk size is a `JobConflictError`.
   */
  readonly idempotencyKey?: string;
  /**
   * Failed attempts of one chunk in a row (without its checkpoint moving)
   * before the chunk and the run go `failed`, integer >= 1. Default 10.
   */
  readonly maxChunkAttempts?: number;
}

/** A leased chunk: items `[offset, end)` are left to do. */
export interface ChunkLease {
  readonly runId: string;
  readonly name: string;
  readonly index: number;
  readonly start: number;
  readonly end: number;
  /** The checkpoint: the first item not yet done. */
  readonly offset: number;
  readonly epoch: number;
  readonly leaseExpiresAt: number;
}

/** A chunk's `(run, index, epoch)`: the proof of holding its lease. */
export interface ChunkRef {
  readonly runId: string;
  readonly index: number;
  readonly epoch: number;
}

/** Input of {@link RunStore.checkpointChunk}. */
export interface CheckpointInput extends ChunkRef {
  /** The first item not yet done, `start <= offset <= end`, never moving backwards. */
  readonly offset: number;
  /**
   * Extend the lease by this many ms from now. `0` hands the chunk back: it
   * is claimable again at once, by any worker, at `offset` (what a graceful
   * `RunWorker.close()` does); its holder's later calls are refused.
   */
  readonly leaseMs?: number;
  /**
   * Passed to store-specific transactional hooks (e.g. effects written
   * atomically with the checkpoint). A checkpoint with neither `data` nor a
   * forward move of `offset` calls no hook (see {@link AcceptedCheckpoint}).
   */
  readonly data?: unknown;
}

/** Input of {@link RunStore.failChunk}. */
export interface FailChunkInput extends ChunkRef {
  /** Message (with stack) of the failure; becomes the run's `lastError`. */
  readonly error: string;
  /** When the chunk may be claimed again (epoch ms), if it has attempts left. Default now. */
  readonly retryAt?: number;
}

/** Options of {@link RunStore.claimChunks}. */
export interface ClaimChunksOptions {
  readonly workerId: string;
  readonly limit: number;
  readonly leaseMs: number;
  /** Restrict to one run. */
  readonly runId?: string;
  /** Restrict to these run names. */
  readonly names?: readonly string[];
}

/**
 * The durable state of runs (`RunWorker`): a run of `total` items cut into
 * chunks, each leased, checkpointed and completed under a fencing epoch,
 * with pause, resume and cancel. Independent of jobs.
 */
export interface RunStore extends StoreLifecycle {
  /** Creates a run and its `ceil(total / chunkSize)` chunks (validated by `normalizeRun`). */
  createRun(spec: CreateRunSpec): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /**
   * Leases unfinished chunks of running runs, lowest index first. An expired
   * lease is reclaimed as a failed attempt (`'lease expired'`); at the run's
   * `maxChunkAttempts` the chunk and the run go `failed` instead.
   */
  claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]>;
  /**
   * Advances a chunk's checkpoint (CAS on run, index, epoch, with the run
   * `running`); false when the lease is lost or the run is not running
   * (paused, failed, cancelled): the caller must stop the chunk.
   */
  checkpointChunk(input: CheckpointInput): Promise<boolean>;
  /**
   * Marks a chunk done (offset = end); the run succeeds with its last chunk.
   * False when the lease is lost or the run is not running.
   */
  completeChunk(input: ChunkRef): Promise<boolean>;
  /**
   * Reports a failed attempt of a leased chunk (CAS like a checkpoint): the
   * chunk is handed back at its checkpoint, claimable from `retryAt`, or,
   * at the run's `maxChunkAttempts` failures in a row, the chunk and the run
   * go `failed` with `error` (other leased chunks of the run are handed
   * back). False when the lease is lost or the run is not running.
   *
   * Optional in the type only while a store of this repository still lacks
   * it; the contract and the conformance suite require it.
   */
  failChunk?(input: FailChunkInput): Promise<boolean>;
  /**
   * `running → paused`: no chunk is claimed, and every leased chunk is handed
   * back at its last accepted checkpoint (its holder is refused from now on).
   */
  pauseRun(id: string): Promise<boolean>;
  /**
   * `paused | failed → running`; a failed run's failed chunks are claimable
   * again from their checkpoints, with a fresh attempt count.
   */
  resumeRun(id: string): Promise<boolean>;
  /** `running | paused | failed → cancelled`; leased chunks are fenced. */
  cancelRun(id: string): Promise<boolean>;
}

/**
 * A run checkpoint a store accepted, as handed to a store's transactional
 * `onCheckpoint` hook (SQLite, PostgreSQL), in the checkpoint's transaction.
 *
 * The hook is called only for a checkpoint that records progress: one that
 * moves the offset forward (`to > from`) or carries `data`. A
 * `checkpointChunk` that only renews the lease or hands the chunk back (same
 * offset, no `data`: what `RunWorker` sends as its heartbeat and on close)
 * does not call it, so a hook that reads `data` never sees such a call, and
 * cannot roll back a lease renewal by throwing on one.
 */
export interface AcceptedCheckpoint {
  readonly runId: string;
  readonly index: number;
  readonly epoch: number;
  /** The checkpoint before this one: items `[from, to)` were just done. */
  readonly from: number;
  readonly to: number;
  /** What the slice handler resolved with (`CheckpointInput.data`); undefined when it resolved with nothing. */
  readonly data: unknown;
}
