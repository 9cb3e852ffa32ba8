/**
 * `batchflight/timeout`: per-call deadlines with one timer per policy and a
 * lazily created AbortController.
 */
export {
  timeout,
  TimeoutPolicy,
  timeoutChannels,
  type TimeoutOptions,
  type TimeoutEvent,
  type TimeoutStats,
} from './timeout.js';
export { TimeoutError } from './errors.js';
