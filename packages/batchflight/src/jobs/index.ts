/**
 * `batchflight/jobs`: durable jobs and runs. The `JobStore`, `StepStore` and
 * `RunStore` contracts (with fencing epochs, an idempotency ledger,
 * partitions, steps, runs and an append-only attempt log), the queue, the
 * workers and the memory store. The helpers a store implementation shares
 * (normalization, fingerprints, the job and run state machines) are in
 * `batchflight/kit`.
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
  FailChunkInput,
  FailInput,
  FailResult,
  JobCounts,
  JobQuery,
  JobRecord,
  JobState,
  JobStore,
  JobStoreOptions,
  StepStore,
  RunStore,
  FullJobStore,
  StoreLifecycle,
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
export { MemoryJobStore, type MemoryJobStoreOptions } from './memory-store.js';
export { Queue, type QueueOptions, type JobOptions, type AddManyItem } from './queue.js';
export {
  Worker,
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
  type JobsSettledMessage,
  type SettledJob,
  type JobsDepthMessage,
} from './worker.js';
export {
  RunWorker,
  type RunWorkerOptions,
  type RunWorkerStats,
  type RunHandler,
  type RunHandlers,
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
  UncommittedResultsError,
  UnstorableValueError,
  DuplicateStepError,
} from './errors.js';
