/**
 * `batchflight/rate-limit`: GCRA rate limiting per key and scope, waiting in
 * a bounded FIFO queue or rejecting with `RateLimitedError`, with state in a
 * pluggable {@link RateLimitStore} (memory here, Redis in `@batchflight/redis`).
 */
export {
  type RateLimitRule,
  type RateLimitRequest,
  type RateLimitDecision,
  type RateLimitStore,
} from './store.js';
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './memory-store.js';
export {
  RateLimitPolicy,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old name stays exported so nothing breaks
  RateLimiter,
  rateLimit,
} from './rate-limit.js';
export {
  rateLimitChannels,
  type RateLimitOptions,
  type RateLimitSpec,
  type RatePeriod,
  type RateLimitCallOptions,
  type RateLimitStats,
  type RateLimitedEvent,
  type RateLimitDequeuedEvent,
  type RateLimitAdmittedEvent,
  type RateLimitRejectedEvent,
  type RateLimitConfiguredEvent,
  type RateLimitSettings,
} from './options.js';
export { RateLimitedError, type RateLimitedDetails, type RateLimitedReason } from './errors.js';
