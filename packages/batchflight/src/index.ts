/**
 * batchflight: take pressure off the systems your application calls.
 *
 * The root entry re-exports every capability's public API; import a subpath
 * (`batchflight/singleflight`, `batchflight/batch`, …) to load only one. The
 * helpers the adapter packages share (option validation, deadline lists,
 * store kits) are not here but in `batchflight/kit`.
 */
export * from './core/public.js';
export * from './singleflight/index.js';
export * from './cache/index.js';
export * from './rate-limit/index.js';
export * from './jobs/index.js';
export * from './retry/index.js';
export * from './circuit-breaker/index.js';
export * from './timeout/index.js';
export * from './bulkhead/index.js';
export * from './fallback/index.js';
export * from './hedge/index.js';
export * from './batch/index.js';
export * from './stream/index.js';
export {
  DataLoader,
  TtlCacheMap,
  type TtlCacheMapOptions,
  type DataLoaderOptions,
  type BatchLoadFn as DataLoaderBatchLoadFn,
  type CacheMap as DataLoaderCacheMap,
} from './dataloader/index.js';
