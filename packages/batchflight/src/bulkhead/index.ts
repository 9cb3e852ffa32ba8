/**
 * `batchflight/bulkhead`: bounded concurrency with a bounded, abortable FIFO
 * queue, urgent bypass and `ready()` backpressure.
 */
export {
  bulkhead,
  BulkheadPolicy,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old name stays exported so nothing breaks
  Bulkhead,
  bulkheadChannels,
  type BulkheadOptions,
  type BulkheadRejectedEvent,
  type BulkheadStats,
  type BulkheadQueueEvent,
  type BulkheadSettings,
  type BulkheadConfiguredEvent,
} from './bulkhead.js';
export { BulkheadFullError } from './errors.js';
