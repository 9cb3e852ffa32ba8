/**
 * `batchflight/jobs`: durable jobs and runs. The `JobStore` contract (with
 * fencing epochs, an idempotency ledger, partitions, steps, runs and an
 * append-only attempt log), the shared store helpers, and the memory store.
 */
export type {
  AcceptedCheckpoint,
  CompletedJob,
  AttemptOutcome,
  AttemptQuery,
  AttemptRecord,
  BackoffSpec,
  CheckpointInput,
  ChunkLease,
  ChunkRef,
  ChunkState,
  ClaimChunksOptions,
  ClaimOptions,
  CompleteInput,
  CreateRunSpec,
  EnqueueResult,
  EnqueueSpec,
  EnqueuedEvent,
  FailInput,
  FailResult,
  JobCounts,
  JobQuery,
  JobRecord,
  JobState,
  JobStore,
  JobStoreOptions,
  LeaseRef,
  PurgeOptions,
  PutStepInput,
  Refusal,
  RefusalReason,
  ReplayOptions,
  RequeueOptions,
  RunRecord,
  RunState,
  SettleResult,
  StepValue,
} from './store.js';
export { JOB_STATES, TERMINAL_STATES } from './store.js';
export {
  PARTITION_COUNT,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_AGING_MS,
  DEFAULT_QUEUE,
  partitionOf,
  canonicalJson,
  fingerprintOf,
  normalizeEnqueue,
  type NormalizedEnqueue,
  zeroCounts,
  checkClaim,
  chunkCount,
  errorText,
} from './store-kit.js';
export { MemoryJobStore } from './memory-store.js';
export { Queue, type QueueOptions, type JobOptions, type AddManyItem } from './queue.js';
export {
  Worker,
  backoffFromSpec,
  type WorkerOptions,
  type CloseOptions,
  type JobContext,
  type JobHandler,
  type JobHandlers,
  type JobDefinition,
  type JobOutcome,
  type WorkerStats,
  type LatencySummary,
  type JobCompletedEvent,
  type JobFailedEvent,
  type LeaseLostEvent,
  type WorkerErrorEvent,
} from './worker.js';
export {
  RunWorker,
  type RunWorkerOptions,
  type RunWorkerStats,
  type RunHandler,
  type RunSlice,
  type RunSliceContext,
  type RunErrorEvent,
} from './run-worker.js';
export {
  JobConflictError,
  JobDependencyError,
  LeaseLostError,
  UnknownJobError,
  NonRetryableError,
} from './errors.js';
