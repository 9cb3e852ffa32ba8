/**
 * A drop-in replacement for the `dataloader` package (v2): the same
 * constructor options, methods, batching, caching and error semantics, down
 * to the wording of its errors, so switching the import is all a user does.
 * A differential test runs random operation sequences against the original
 * and this class and compares the bulk calls and every result.
 *
 * Compatibility notes that are easy to get wrong, kept on purpose:
 * - a cache hit returns a *new* promise that settles when the current batch
 *   dispatches (so hits and misses of one tick settle together);
 * - a per-item Error is cached (the key keeps failing until cleared); a
 *   whole-batch failure is not (every key of the batch is cleared);
 * - `maxBatchSize` starts a new batch, each scheduled on its own;
 * - cache hits do not count towards `maxBatchSize`.
 *
 * Opt-in fixes (defaults keep the original behaviour):
 * - `cacheErrors: false`: a key whose result is an Error is cleared, so the
 *   next load asks again (dataloader #258);
 * - `cacheTtlMs` / `cacheMaxEntries` (with `clock`): a bounded cache whose
 *   entries expire, instead of one that grows for ever (#200, #13, #47, #128);
 * - `sameCachedPromise: true`: a cache hit returns the cached promise itself
 *   instead of allocating a new one (#377);
 * - `maxConcurrentBatches`: dispatched batches beyond it wait for one in
 *   flight to settle (#35, #172).
 */
import {
  InvalidOptionError,
  describe,
  integerOption,
  numberOption,
  booleanOption,
  systemClock,
  type Clock,
} from '../core/index.js';
import { TtlCacheMap } from './ttl-cache-map.js';

/** A cache for a DataLoader: the subset of `Map` it uses. */
export interface CacheMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
  delete(key: K): unknown;
  clear(): unknown;
}

/** Given keys, a promise of values (or Errors) in the same order and of the same length. */
export type BatchLoadFn<K, V> = (keys: readonly K[]) => PromiseLike<ArrayLike<V | Error>>;

/** Options of {@link DataLoader}: those of the `dataloader` package, plus opt-in fixes. */
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
  /** Opt-in fix: the cache holds at most this many entries (least recently set go first). */
  readonly cacheMaxEntries?: number;
  /** Time source of `cacheTtlMs`. Default: the system clock. */
  readonly clock?: Clock;
  /** Opt-in fix: a cache hit returns the cached promise itself (dataloader #377). Default false. */
  readonly sameCachedPromise?: boolean;
  /** Opt-in fix: at most this many batches in flight; the others wait. Default Infinity. */
  readonly maxConcurrentBatches?: number;
}

interface Callbacks<V> {
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

interface LoaderBatch<K, V> {
  hasDispatched: boolean;
  readonly keys: K[];
  readonly callbacks: Callbacks<V>[];
  cacheHits?: (() => void)[];
  /** The promise of each key, kept only for `cacheErrors: false`. */
  promises?: Promise<V>[];
}

let resolvedPromise: Promise<void> | undefined;

// DataLoader's scheduling: run after the promise jobs queued in this tick, before I/O.
function enqueuePostPromiseJob(fn: () => void): void {
  void (resolvedPromise ??= Promise.resolve()).then(() => {
    process.nextTick(fn);
  });
}

const CONTRACT =
  'DataLoader must be constructed with a function which accepts Array<key> and returns Promise<Array<value>>, but ';

/**
 * A `DataLoader`: loads values by key through a batch function, batching the
 * keys of one tick into one call and memoising each key's promise.
 *
 * @example
 * ```ts
 * import DataLoader from 'batchflight/dataloader';
 * const users = new DataLoader((ids: readonly number[]) => db.usersByIds(ids));
 * const [a, b] = await Promise.all([users.load(1), users.load(2)]); // one call
 * ```
 */
export class DataLoader<K, V, C = K> {
  /** The `name` option, or `null`. */
  name: string | null;
  readonly #batchLoadFn: BatchLoadFn<K, V>;
  readonly #maxBatchSize: number;
  readonly #batchScheduleFn: (callback: () => void) => void;
  readonly #cacheKeyFn: (key: K) => C;
  readonly #cacheMap: CacheMap<C, Promise<V>> | null;
  readonly #cacheErrors: boolean;
  readonly #sameCachedPromise: boolean;
  readonly #maxConcurrent: number;
  #batch: LoaderBatch<K, V> | null = null;
  #inFlight = 0;
  readonly #waiting: LoaderBatch<K, V>[] = [];

  constructor(batchLoadFn: BatchLoadFn<K, V>, options?: DataLoaderOptions<K, V, C>) {
    if (typeof batchLoadFn !== 'function') {
      throw new TypeError(
        'DataLoader must be constructed with a function which accepts ' +
          `Array<key> and returns Promise<Array<value>>, but got: ${String(batchLoadFn)}.`,
      );
    }
    this.#batchLoadFn = batchLoadFn;
    this.#maxBatchSize = getValidMaxBatchSize(options);
    this.#batchScheduleFn = getValidBatchScheduleFn(options);
    this.#cacheKeyFn = getValidCacheKeyFn(options);
    this.#cacheMap = getValidCacheMap(options);
    this.name = options?.name ? options.name : null;
    const where = 'new DataLoader()';
    this.#cacheErrors = booleanOption(where, 'cacheErrors', options?.cacheErrors ?? true);
    this.#sameCachedPromise = booleanOption(
      where,
      'sameCachedPromise',
      options?.sameCachedPromise ?? false,
    );
    this.#maxConcurrent = integerOption(
      where,
      'maxConcurrentBatches',
      options?.maxConcurrentBatches ?? Infinity,
      { allowInfinity: true },
    );
  }

  /** Loads a key, returning a promise for its value. */
  load(key: K): Promise<V> {
    if (key === null || key === undefined) {
      throw new TypeError(
        `The loader.load() function must be called with a value, but got: ${String(key)}.`,
      );
    }
    const batch = this.#currentBatch();
    const cacheMap = this.#cacheMap;
    let cacheKey: C | undefined;
    if (cacheMap) {
      cacheKey = this.#cacheKeyFn(key);
      const cachedPromise = cacheMap.get(cacheKey);
      if (cachedPromise) {
        if (this.#sameCachedPromise) return cachedPromise;
        const cacheHits = (batch.cacheHits ??= []);
        return new Promise((resolve) => {
          cacheHits.push(() => {
            resolve(cachedPromise);
          });
        });
      }
    }
    batch.keys.push(key);
    const promise = new Promise<V>((resolve, reject) => {
      batch.callbacks.push({ resolve, reject });
    });
    if (cacheMap) {
      cacheMap.set(cacheKey as C, promise);
      if (!this.#cacheErrors) (batch.promises ??= []).push(promise);
    }
    return promise;
  }

  /**
   * Loads several keys; always resolves, each entry a value or an Error.
   *
   * @example
   * ```ts
   * const [a, b, c] = await loader.loadMany(['a', 'b', 'bad']); // c instanceof Error
   * ```
   */
  loadMany(keys: ArrayLike<K>): Promise<(V | Error)[]> {
    if (!isArrayLike(keys)) {
      throw new TypeError(
        `The loader.loadMany() function must be called with Array<key> but got: ${String(keys)}.`,
      );
    }
    const loadPromises: Promise<V | Error>[] = [];
    for (let i = 0; i < keys.length; i++) {
      loadPromises.push(this.load(keys[i] as K).catch((error: unknown) => error as Error));
    }
    return Promise.all(loadPromises);
  }

  /** Clears the value at `key` from the cache, if present. Returns itself. */
  clear(key: K): this {
    const cacheMap = this.#cacheMap;
    if (cacheMap) cacheMap.delete(this.#cacheKeyFn(key));
    return this;
  }

  /** Clears the entire cache. Returns itself. */
  clearAll(): this {
    const cacheMap = this.#cacheMap;
    if (cacheMap) cacheMap.clear();
    return this;
  }

  /**
   * Adds `key` with `value` (or an Error) to the cache, unless the key is
   * already there. Returns itself.
   */
  prime(key: K, value: V | PromiseLike<V> | Error): this {
    const cacheMap = this.#cacheMap;
    if (cacheMap) {
      const cacheKey = this.#cacheKeyFn(key);
      if (cacheMap.get(cacheKey) === undefined) {
        let promise: Promise<V>;
        if (value instanceof Error) {
          promise = Promise.reject(value);
          // An intentionally primed error must not surface as an unhandled rejection.
          promise.catch(() => undefined);
        } else {
          promise = Promise.resolve(value);
        }
        cacheMap.set(cacheKey, promise);
      }
    }
    return this;
  }

  #currentBatch(): LoaderBatch<K, V> {
    const existing = this.#batch;
    if (existing !== null && !existing.hasDispatched && existing.keys.length < this.#maxBatchSize) {
      return existing;
    }
    const created: LoaderBatch<K, V> = { hasDispatched: false, keys: [], callbacks: [] };
    this.#batch = created;
    this.#batchScheduleFn(() => {
      this.#dispatch(created);
    });
    return created;
  }

  #dispatch(batch: LoaderBatch<K, V>): void {
    batch.hasDispatched = true;
    if (batch.keys.length === 0) {
      resolveCacheHits(batch);
      return;
    }
    if (this.#inFlight >= this.#maxConcurrent) {
      this.#waiting.push(batch);
      return;
    }
    this.#send(batch);
  }

  #send(batch: LoaderBatch<K, V>): void {
    // Typed unknown: the function is user code and the checks below are the original's.
    let batchPromise: unknown;
    try {
      batchPromise = this.#batchLoadFn(batch.keys);
    } catch (e) {
      this.#failedDispatch(
        batch,
        new TypeError(`${CONTRACT}the function errored synchronously: ${String(e)}.`),
      );
      return;
    }
    if (
      !batchPromise ||
      typeof (batchPromise as Partial<PromiseLike<unknown>>).then !== 'function'
    ) {
      this.#failedDispatch(
        batch,
        new TypeError(`${CONTRACT}the function did not return a Promise: ${String(batchPromise)}.`),
      );
      return;
    }
    const limited = this.#maxConcurrent !== Infinity;
    if (limited) this.#inFlight++;
    // The same `.then().catch()` chain as the original, so every promise settles in the same turn.
    const settled = (
      (batchPromise as PromiseLike<unknown>).then((values: unknown) => {
        if (!isArrayLike(values)) {
          throw new TypeError(
            `${CONTRACT}the function did not return a Promise of an Array: ${String(values)}.`,
          );
        }
        if (values.length !== batch.keys.length) {
          throw new TypeError(
            `${CONTRACT}the function did not return a Promise of an Array of the same length as the Array of keys.` +
              `\n\nKeys:\n${String(batch.keys)}` +
              // The original's message stringifies the values exactly this way, array-likes included.
              // eslint-disable-next-line @typescript-eslint/no-base-to-string
              `\n\nValues:\n${String(values)}`,
          );
        }
        resolveCacheHits(batch);
        for (let i = 0; i < batch.callbacks.length; i++) {
          const value = values[i];
          const callbacks = batch.callbacks[i] as Callbacks<V>;
          if (value instanceof Error) {
            if (!this.#cacheErrors) this.#forget(batch, i);
            callbacks.reject(value);
          } else {
            callbacks.resolve(value as V);
          }
        }
      }) as Promise<void>
    ).catch((error: unknown) => {
      this.#failedDispatch(batch, error);
    });
    if (limited) {
      void settled.finally(() => {
        this.#inFlight--;
        const next = this.#waiting.shift();
        if (next !== undefined) this.#send(next);
      });
    }
  }

  /** `cacheErrors: false`: forgets a failed key, unless the cache already holds a newer promise. */
  #forget(batch: LoaderBatch<K, V>, i: number): void {
    const cacheMap = this.#cacheMap;
    if (!cacheMap) return;
    const cacheKey = this.#cacheKeyFn(batch.keys[i] as K);
    if (cacheMap.get(cacheKey) === batch.promises?.[i]) cacheMap.delete(cacheKey);
  }

  // A whole-batch failure is not cached: every key of the batch is cleared.
  #failedDispatch(batch: LoaderBatch<K, V>, error: unknown): void {
    resolveCacheHits(batch);
    for (let i = 0; i < batch.keys.length; i++) {
      this.clear(batch.keys[i] as K);
      (batch.callbacks[i] as Callbacks<V>).reject(error);
    }
  }
}

function resolveCacheHits<K, V>(batch: LoaderBatch<K, V>): void {
  if (batch.cacheHits) {
    for (const hit of batch.cacheHits) hit();
  }
}

function getValidMaxBatchSize<K, V, C>(options: DataLoaderOptions<K, V, C> | undefined): number {
  const shouldBatch = !options || options.batch !== false;
  if (!shouldBatch) return 1;
  const maxBatchSize = options?.maxBatchSize;
  if (maxBatchSize === undefined) return Infinity;
  if (typeof maxBatchSize !== 'number' || maxBatchSize < 1) {
    throw new TypeError(`maxBatchSize must be a positive number: ${String(maxBatchSize)}`);
  }
  return maxBatchSize;
}

function getValidBatchScheduleFn<K, V, C>(
  options: DataLoaderOptions<K, V, C> | undefined,
): (callback: () => void) => void {
  const batchScheduleFn = options?.batchScheduleFn;
  if (batchScheduleFn === undefined) return enqueuePostPromiseJob;
  if (typeof batchScheduleFn !== 'function') {
    throw new TypeError(`batchScheduleFn must be a function: ${String(batchScheduleFn)}`);
  }
  return batchScheduleFn;
}

function getValidCacheKeyFn<K, C>(
  options: DataLoaderOptions<K, unknown, C> | undefined,
): (key: K) => C {
  const cacheKeyFn = options?.cacheKeyFn;
  if (cacheKeyFn === undefined) return (key: K) => key as unknown as C;
  if (typeof cacheKeyFn !== 'function') {
    throw new TypeError(`cacheKeyFn must be a function: ${String(cacheKeyFn)}`);
  }
  return cacheKeyFn;
}

function getValidCacheMap<K, V, C>(
  options: DataLoaderOptions<K, V, C> | undefined,
): CacheMap<C, Promise<V>> | null {
  const shouldCache = !options || options.cache !== false;
  const bounded = options?.cacheTtlMs !== undefined || options?.cacheMaxEntries !== undefined;
  // The TTL and the bound configure the cache DataLoader builds itself: with no cache, or a
  // cacheMap of the caller's, they would be silently ignored, so the pair is refused.
  // (The real dataloader knows neither option, so this never diverges from it.)
  if (bounded && (!shouldCache || options.cacheMap !== undefined)) {
    const option = options.cacheTtlMs !== undefined ? 'cacheTtlMs' : 'cacheMaxEntries';
    const conflict = shouldCache
      ? `cacheMap (${describe(options.cacheMap)})`
      : `cache: ${describe(options.cache)}`;
    throw new InvalidOptionError(
      option,
      `new DataLoader(): option ${option} bounds the cache DataLoader builds itself, so it cannot be combined with ${conflict}; bound your own cacheMap instead (e.g. a TtlCacheMap), or drop ${option}.`,
    );
  }
  if (!shouldCache) return null;
  const cacheMap = options?.cacheMap;
  if (cacheMap === undefined) {
    if (options?.cacheTtlMs !== undefined || options?.cacheMaxEntries !== undefined) {
      const where = 'new DataLoader()';
      return new TtlCacheMap<C, Promise<V>>({
        ttlMs: numberOption(where, 'cacheTtlMs', options.cacheTtlMs ?? Infinity, {
          exclusive: true,
          allowInfinity: true,
        }),
        maxEntries: integerOption(where, 'cacheMaxEntries', options.cacheMaxEntries ?? Infinity, {
          allowInfinity: true,
        }),
        clock: options.clock ?? systemClock,
      });
    }
    return new Map<C, Promise<V>>();
  }
  if (cacheMap !== null) {
    const missing = (['get', 'set', 'delete', 'clear'] as const).filter(
      (fnName) => typeof (cacheMap as Partial<CacheMap<C, Promise<V>>>)[fnName] !== 'function',
    );
    if (missing.length !== 0) {
      throw new TypeError(`Custom cacheMap missing methods: ${missing.join(', ')}`);
    }
  }
  return cacheMap;
}

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { length?: unknown }).length === 'number' &&
    ((x as ArrayLike<unknown>).length === 0 ||
      ((x as ArrayLike<unknown>).length > 0 &&
        Object.prototype.hasOwnProperty.call(x, (x as ArrayLike<unknown>).length - 1)))
  );
}
