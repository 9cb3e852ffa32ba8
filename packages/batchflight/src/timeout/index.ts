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
  type TimeoutSettings,
  type TimeoutConfiguredEvent,
} from './timeout.js';
export { TimeoutError } from './errors.js';
