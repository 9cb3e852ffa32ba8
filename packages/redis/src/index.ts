/**
 * `@batchflight/redis`: the Redis stores of distributed mode (ioredis). A
 * fleet of processes behaves like one: one rate limit (`RedisRateLimitStore`,
 * GCRA in Lua on the server's clock), one cache (`RedisCacheStore`, the L2
 * behind each process's memory L1, invalidations broadcast), and one flight
 * per key (`RedisFlightStore`: a lease, pub/sub waiters, takeover).
 *
 * The engines those stores serve live in the core package beside their
 * capability: `DistributedFlight` in `batchflight/singleflight`, the two-tier
 * cache store (`tieredStore`) in `batchflight/cache`, the codec and its errors
 * in `batchflight`. They are still exported here, deprecated, so existing
 * imports keep working.
 */
export {
  RedisRateLimitStore,
  redisRateLimitChannels,
  type RedisRateLimitStoreOptions,
  type RedisRateLimitStoreStats,
  type RateLimitUnavailableEvent,
} from './rate-limit-store.js';
export { LuaScript, type RedisLike } from './script.js';
export { type RedisClient } from './options.js';
export { RedisUnavailableError } from './errors.js';
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
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  DistributedFlight,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  distributedFlightChannels,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type DistributedFlightOptions,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type DistributedRunOptions,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type DistributedRole,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type DistributedSettledEvent,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type DistributedFlightStats,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type Codec,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  jsonCodec,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  type ErrorShape,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  errorShape,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  errorFromShape,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  CodecError,
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- as above
  RemoteError,
} from './deprecated.js';
export { RedisFlightStore, type RedisFlightStoreOptions } from './flight-store.js';
// Re-exported so an application needs no direct dependency on ioredis to connect.
export { Redis, Cluster } from 'ioredis';
