/**
 * Errors of `@batchflight/redis`. Each has a stable `code` and an explicit
 * `name`; `X.is(value)` recognises them across two installed copies.
 * `CodecError` and `RemoteError` moved to the core package with the codec
 * (they are exported here still, deprecated: see `deprecated.ts`).
 */
import { BatchflightError } from 'batchflight';

/**
 * Redis could not be reached (or did not answer) and the configured fallback
 * is to fail: `onUnavailable: 'fail-closed'` of the rate-limit store, or a
 * distributed flight with `onUnavailable: 'fail'` whose `RedisFlightStore`
 * could not talk to Redis (the store's `unavailable(error)` answers it).
 */
export class RedisUnavailableError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_REDIS_UNAVAILABLE';
  override name = 'RedisUnavailableError';
}
