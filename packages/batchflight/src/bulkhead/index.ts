/**
 * `batchflight/bulkhead`: bounded concurrency with a bounded, abortable FIFO
 * queue, urgent bypass and `ready()` backpressure.
 */
export {
  bulkhead,
  Bulkhead,
  type BulkheadOptions,
  type BulkheadRejectedEvent,
  type BulkheadStats,
} from './bulkhead.js';
export { BulkheadFullError } from './errors.js';
