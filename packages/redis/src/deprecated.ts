/**
 * Names that moved from `@batchflight/redis` to the core package, which holds
 * the store-agnostic engines beside their capability: this package supplies
 * the Redis stores only. They stay exported here as aliases so code written
 * against earlier versions keeps working; import them from the core instead.
 */
import {
  type CacheInvalidation as CoreCacheInvalidation,
  type InvalidationSource as CoreInvalidationSource,
  type TieredCacheStore as CoreTieredCacheStore,
  type TieredStoreOptions as CoreTieredStoreOptions,
  tieredStore as coreTieredStore,
} from 'batchflight/cache';

/** @deprecated Moved to the core package: `import { tieredStore } from 'batchflight/cache'`. */
export const tieredStore: typeof coreTieredStore = coreTieredStore;

/** @deprecated Moved to the core package: `import type { TieredStoreOptions } from 'batchflight/cache'`. */
export type TieredStoreOptions = CoreTieredStoreOptions;

/** @deprecated Moved to the core package: `import type { TieredCacheStore } from 'batchflight/cache'`. */
export type TieredCacheStore = CoreTieredCacheStore;

/** @deprecated Moved to the core package: `import type { InvalidationSource } from 'batchflight/cache'`. */
export type InvalidationSource = CoreInvalidationSource;

/** @deprecated Moved to the core package: `import type { CacheInvalidation } from 'batchflight/cache'`. */
export type CacheInvalidation = CoreCacheInvalidation;
