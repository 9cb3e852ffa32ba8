/** The public types of the DataLoader façade: those of the `dataloader` package, plus opt-in fixes. */
import type { Clock } from '../core/index.js';

/** A cache for a DataLoader: the subset of `Map` it uses. */
export interface CacheMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
  delete(key: K): unknown;
  clear(): unknown;
}

/** Given keys, a promise of values (or Errors) in the same order and of the same length. */
export type BatchLoadFn<K, V> = (keys: readonly K[]) => PromiseLike<ArrayLike<V | Error>>;

/** Options of `DataLoader`: those of the `dataloader` package, plus opt-in fixes. */
export interface DataLoaderOptions<K, V, C = K> {
  /** Default true; false makes every load its own batch. */
  readonly batch?: boolean;
  /** Default Infinity. */
  readonly maxBatchSize?: number;
  /** Schedules a batch's dispatch. Default: after the current promise jobs (see `batch/scheduler.ts`). */
  readonly batchScheduleFn?: (callback: () => void) => void;
  /** Default true. */
  readonly cache?: boolean;
  /** Maps a key to its cache key. Default: the key itself. */
  readonly cacheKeyFn?: (key: K) => C;
  /** A custom cache; `null` is the same as `cache: false`. */
  readonly cacheMap?: CacheMap<C, Promise<V>> | null;
  /** Shown by APM tools; `null` when not set. */
  readonly name?: string | null;
  /** Opt-in fix: false clears a key whose result is an Error, instead of caching the Error. Default true. */
  readonly cacheErrors?: boolean;
  /** Opt-in fix: cache entries expire this many milliseconds after they are set. */
  readonly cacheTtlMs?: number;
  /** Opt-in fix: the cache holds at most this many entries (the least recently used go first). */
  readonly cacheMaxEntries?: number;
  /** Time source of `cacheTtlMs`. Default: the system clock. */
  readonly clock?: Clock;
  /** Opt-in fix: a cache hit returns the cached promise itself (dataloader #377). Default false. */
  readonly sameCachedPromise?: boolean;
  /** Opt-in fix: at most this many batches in flight; the others wait. Default Infinity. */
  readonly maxConcurrentBatches?: number;
}
