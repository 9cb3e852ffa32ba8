/**
 * `@batchflight/redis`: distributed mode on Redis (ioredis). A fleet of
 * processes behaves like one: one rate limit (GCRA in Lua on the server's
 * clock), one cache (Redis L2 behind each process's memory L1, invalidations
 * broadcast), and one flight per key (a lease, pub/sub waiters, takeover).
 *
 * The two-tier cache store (`tieredStore`) lives in `batchflight/cache`; it is
 * still exported here, deprecated, so existing imports keep working.
 */
export {
  RedisRateLimitStore,
  redisRateLimitChannels,
  type RedisRateLimitStoreOptions,
  type RedisRateLimitStoreStats,
  type RateLimitUnavailableEvent,
} from './rate-limit-store.js';
export { type Codec, jsonCodec, type ErrorShape, errorShape, errorFromShape } from './codec.js';
export { LuaScript, type RedisLike } from './script.js';
export { type RedisClient } from './options.js';
export { CodecError, RedisUnavailableError, RemoteError } from './errors.js';
export { RedisCacheStore, type RedisCacheStoreOptions } from './cache-store.js';
export {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old names stay exported so nothing breaks
  tieredStore,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type TieredStoreOptions,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type TieredCacheStore,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type InvalidationSource,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type CacheInvalidation,
} from './deprecated.js';
export { RedisFlightStore, type RedisFlightStoreOptions } from './flight-store.js';
export {
  DistributedFlight,
  distributedFlightChannels,
  type DistributedFlightOptions,
  type DistributedRunOptions,
  type DistributedRole,
  type DistributedSettledEvent,
  type DistributedFlightStats,
} from './distributed-flight.js';
// Re-exported so an application needs no direct dependency on ioredis to connect.
export { Redis, Cluster } from 'ioredis';
