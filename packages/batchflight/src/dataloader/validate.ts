/**
 * DataLoader's constructor checks. The options of the `dataloader` package
 * fail with its own `TypeError`s, word for word (code matches on them); the
 * opt-in fixes fail with the core `InvalidOptionError`.
 */
import { InvalidOptionError, describe, integerOption, numberOption } from '../core/index.js';
import type { CacheMap, DataLoaderOptions } from './types.js';

/** The start of every batch-function contract error of the original. */
export const CONTRACT =
  'DataLoader must be constructed with a function which accepts Array<key> and returns Promise<Array<value>>, but ';

const WHERE = 'new DataLoader()';

/** `batch: false` is a size of 1; else `maxBatchSize`, default Infinity. */
export function maxBatchSizeOf(
  options: DataLoaderOptions<never, never, never> | undefined,
): number {
  if (options?.batch === false) return 1;
  const size = options?.maxBatchSize;
  if (size === undefined) return Infinity;
  if (typeof size !== 'number' || size < 1) {
    throw new TypeError(`maxBatchSize must be a positive number: ${String(size)}`);
  }
  return size;
}

/** The `batchScheduleFn` option, or undefined for the default (end of tick). */
export function scheduleFnOf(
  options: DataLoaderOptions<never, never, never> | undefined,
): ((callback: () => void) => void) | undefined {
  const fn = options?.batchScheduleFn;
  if (fn !== undefined && typeof fn !== 'function') {
    throw new TypeError(`batchScheduleFn must be a function: ${String(fn)}`);
  }
  return fn;
}

/** The `cacheKeyFn` option, or undefined for the key itself. */
export function cacheKeyFnOf<K, C>(
  options: DataLoaderOptions<K, never, C> | undefined,
): ((key: K) => C) | undefined {
  const fn = options?.cacheKeyFn;
  if (fn !== undefined && typeof fn !== 'function') {
    throw new TypeError(`cacheKeyFn must be a function: ${String(fn)}`);
  }
  return fn;
}

/** How keys are memoised. */
export type CacheChoice<C, V> =
  | { readonly kind: 'none' }
  /** DataLoader's own cache: a Map, or a TTL map when bounded. */
  | { readonly kind: 'own'; readonly ttlMs: number; readonly maxEntries: number }
  | { readonly kind: 'custom'; readonly map: CacheMap<C, Promise<V>> };

/** The cache options, checked (a TTL or bound with a cache of the caller's, or none, is refused). */
export function cacheChoiceOf<C, V>(
  options: DataLoaderOptions<never, V, C> | undefined,
): CacheChoice<C, V> {
  const caching = options?.cache !== false;
  const bounded = options?.cacheTtlMs !== undefined || options?.cacheMaxEntries !== undefined;
  // The TTL and the bound configure the cache DataLoader builds itself: with no cache, or a
  // cacheMap of the caller's, they would be silently ignored, so the pair is refused.
  // (The real dataloader knows neither option, so this never diverges from it.)
  if (bounded && (!caching || options.cacheMap !== undefined)) {
    const option = options.cacheTtlMs !== undefined ? 'cacheTtlMs' : 'cacheMaxEntries';
    const conflict = caching
      ? `cacheMap (${describe(options.cacheMap)})`
      : `cache: ${describe(options.cache)}`;
    throw new InvalidOptionError(
      option,
      `${WHERE}: option ${option} bounds the cache DataLoader builds itself, so it cannot be combined with ${conflict}; bound your own cacheMap instead (e.g. a TtlCacheMap), or drop ${option}.`,
    );
  }
  if (!caching) return { kind: 'none' };
  const map = options?.cacheMap;
  if (map === null) return { kind: 'none' };
  if (map === undefined) {
    return {
      kind: 'own',
      ttlMs: numberOption(WHERE, 'cacheTtlMs', options?.cacheTtlMs ?? Infinity, {
        exclusive: true,
        allowInfinity: true,
      }),
      maxEntries: integerOption(WHERE, 'cacheMaxEntries', options?.cacheMaxEntries ?? Infinity, {
        allowInfinity: true,
      }),
    };
  }
  const missing = (['get', 'set', 'delete', 'clear'] as const).filter(
    (method) => typeof (map as Partial<CacheMap<C, Promise<V>>>)[method] !== 'function',
  );
  if (missing.length !== 0) {
    throw new TypeError(`Custom cacheMap missing methods: ${missing.join(', ')}`);
  }
  return { kind: 'custom', map };
}

/** The original's test for an array of values (an array-like whose last index is its own). */
export function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const length = (x as { length?: unknown }).length;
  if (typeof length !== 'number') return false;
  return length === 0 || (length > 0 && Object.prototype.hasOwnProperty.call(x, length - 1));
}
