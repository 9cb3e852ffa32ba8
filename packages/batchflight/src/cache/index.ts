/**
 * `batchflight/cache`: caching with stampede protection. A miss is coalesced
 * (one upstream call per cold key), stale values are served while one
 * background refresh runs, XFetch refreshes hot keys before they expire,
 * keys are versioned and taggable, and entries live in a pluggable
 * {@link CacheStore} (memory here, Redis in `@batchflight/redis`), alone or
 * as two tiers ({@link tieredStore}: a per-process L1 before a shared L2).
 */
export { type CacheEntry, type CacheStore, type MaybePromise } from './store.js';
export {
  MemoryCacheStore,
  type MemoryCacheStoreOptions,
  type MemoryCacheStoreStats,
  estimateEntryBytes,
  estimateValueBytes,
} from './memory-store.js';
export { Cache, cache } from './cache.js';
export { cached, type CachedOptions, type CachedFunction } from './cached.js';
export {
  cacheChannels,
  type CacheOptions,
  type CacheGetOptions,
  type CacheSettings,
  type CacheStats,
  type CacheLoadEvent,
  type CacheStaleEvent,
  type CacheErrorEvent,
  type CacheInvalidateEvent,
  type CacheConfiguredEvent,
  type EarlyRefreshOptions,
} from './options.js';
export {
  tieredStore,
  type TieredStoreOptions,
  type TieredCacheStore,
  type InvalidationSource,
  type CacheInvalidation,
} from './tiered-store.js';
export { CacheKeyError } from './errors.js';
