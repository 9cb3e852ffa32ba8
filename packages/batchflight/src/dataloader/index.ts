/**
 * `batchflight/dataloader`: a drop-in replacement for the `dataloader`
 * package, with opt-in fixes (errors not cached, a bounded TTL cache, cache
 * hits that return the same promise, a limit on concurrent batches).
 *
 * @example
 * ```ts
 * import DataLoader from 'batchflight/dataloader';
 * ```
 */
import { DataLoader } from './dataloader.js';

export {
  DataLoader,
  type DataLoaderOptions,
  type BatchLoadFn,
  type CacheMap,
} from './dataloader.js';
export { TtlCacheMap, type TtlCacheMapOptions } from './ttl-cache-map.js';
export default DataLoader;
