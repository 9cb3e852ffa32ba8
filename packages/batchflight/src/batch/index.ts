/**
 * `batchflight/batch`: micro-batching. Per-key calls made close together go
 * out as one bulk call; each caller gets its own value or error back.
 */
export {
  batch,
  type Batcher,
  type BatchOptions,
  type BatchRetryOptions,
  type BatchLoadResult,
  type BatchLoadContext,
  type BatchCallOptions,
  type BatchStats,
  type BatchDispatchEvent,
  type BatchSettledEvent,
} from './batch.js';
export { endOfTick, type BatchScheduler } from './scheduler.js';
export { BatchContractError, NotFoundError, BackpressureError } from './errors.js';
