/**
 * A drop-in replacement for the `dataloader` package (v2), built on the
 * batch engine of `batch()`: the same constructor options, methods,
 * batching, caching and error semantics, down to the wording of its errors
 * and the turn in which each promise settles, so switching the import is
 * all a user does. A differential test runs random operation sequences
 * against the original and this class and compares the bulk calls and every
 * result, in order.
 *
 * What the façade adds to the engine is the memo: the cache of keys to
 * promises and the hits of each tick (`hits.ts`). The engine holds the
 * window of the tick (scheduled by `batchScheduleFn`, or at the end of the
 * tick like the original), splits it at `maxBatchSize` (a full window waits
 * for its own schedule, as the original's batches do), bounds the batches
 * in flight, and settles each key; `protocol.ts` makes the call.
 *
 * Compatibility notes that are easy to get wrong, kept on purpose:
 * - a cache hit returns a *new* promise that settles when the current batch
 *   is answered (so hits and misses of one tick settle together);
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
import { booleanOption, integerOption, systemClock } from '../core/index.js';
import { BatcherImpl, protocolConfig, type Slot } from '../batch/internal.js';
import { endOfTick } from '../batch/index.js';
import { Hits, Primed, type Memo } from './hits.js';
import { LoaderProtocol } from './protocol.js';
import { TtlCacheMap } from './ttl-cache-map.js';
import type { BatchLoadFn, CacheMap, DataLoaderOptions } from './types.js';
import {
  cacheChoiceOf,
  cacheKeyFnOf,
  isArrayLike,
  maxBatchSizeOf,
  scheduleFnOf,
  type CacheChoice,
} from './validate.js';

export type { BatchLoadFn, CacheMap, DataLoaderOptions } from './types.js';

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
  readonly #engine: BatcherImpl<K, V>;
  readonly #cacheKeyFn: ((key: K) => C) | undefined;
  /** DataLoader's own cache: memos that know how they settled (see `hits.ts`). */
  readonly #memos: CacheMap<C, Memo> | null;
  /** A cacheMap of the caller's: promises, adopted on a hit as the original does. */
  readonly #custom: CacheMap<C, Promise<V>> | null;
  readonly #cacheErrors: boolean;
  readonly #sameCachedPromise: boolean;

  constructor(batchLoadFn: BatchLoadFn<K, V>, options?: DataLoaderOptions<K, V, C>) {
    if (typeof batchLoadFn !== 'function') {
      throw new TypeError(
        'DataLoader must be constructed with a function which accepts ' +
          `Array<key> and returns Promise<Array<value>>, but got: ${String(batchLoadFn)}.`,
      );
    }
    const never = options as DataLoaderOptions<never, never, never> | undefined;
    const maxBatchSize = maxBatchSizeOf(never);
    const scheduleFn = scheduleFnOf(never);
    this.#cacheKeyFn = cacheKeyFnOf<K, C>(options as DataLoaderOptions<K, never, C> | undefined);
    const choice: CacheChoice<C, V> = cacheChoiceOf<C, V>(options);
    this.name = options?.name ? options.name : null;
    const where = 'new DataLoader()';
    this.#cacheErrors = booleanOption(where, 'cacheErrors', options?.cacheErrors ?? true);
    this.#sameCachedPromise = booleanOption(
      where,
      'sameCachedPromise',
      options?.sameCachedPromise ?? false,
    );
    const maxConcurrentBatches = integerOption(
      where,
      'maxConcurrentBatches',
      options?.maxConcurrentBatches ?? Infinity,
      { allowInfinity: true },
    );
    const clock = options?.clock ?? systemClock;
    this.#custom = choice.kind === 'custom' ? choice.map : null;
    this.#memos =
      choice.kind !== 'own'
        ? null
        : choice.ttlMs === Infinity && choice.maxEntries === Infinity
          ? new Map<C, Memo>()
          : new TtlCacheMap<C, Memo>({ ttlMs: choice.ttlMs, maxEntries: choice.maxEntries, clock });
    const name = this.name ?? 'dataloader';
    this.#engine = new BatcherImpl<K, V>(
      protocolConfig<K, V>({
        where: `DataLoader(${name})`,
        name,
        adaptive: false,
        maxSize: maxBatchSize,
        maxWaitMs: 0,
        latencyTargetMs: 100,
        budgetMs: 50,
        scheduler: scheduleFn ?? endOfTick,
        clock,
        maxConcurrentBatches,
      }),
      {
        distinct: true,
        fullWaitsForSchedule: true,
        protocol: (engine) =>
          new LoaderProtocol<K>(engine, batchLoadFn, {
            cacheErrors: this.#cacheErrors,
            clear: (key) => {
              this.clear(key);
            },
            forget: (slot) => {
              this.#forget(slot);
            },
          }),
        closedEmpty: (attachment) => {
          (attachment as Hits).settle();
        },
      },
    );
  }

  /** Loads a key, returning a promise for its value. */
  load(key: K): Promise<V> {
    if (key === null || key === undefined) {
      throw new TypeError(
        `The loader.load() function must be called with a value, but got: ${String(key)}.`,
      );
    }
    // The tick's window opens (and is scheduled) first, hit or miss, as the original's batch.
    const window = this.#engine.openWindow();
    const memos = this.#memos;
    if (memos !== null) {
      const cacheKey = this.#key(key);
      const memo = memos.get(cacheKey);
      if (memo !== undefined) {
        if (this.#sameCachedPromise) return memo.promise as Promise<V>;
        return hitsOf(window).add(memo) as Promise<V>;
      }
      const slot = this.#engine.add(key);
      // A hit of the same tick on this key settles with its batch (see hits.ts).
      slot.home = hitsOf(window);
      memos.set(cacheKey, slot);
      return slot.promise as Promise<V>;
    }
    const custom = this.#custom;
    if (custom !== null) {
      const cacheKey = this.#key(key);
      const cached = custom.get(cacheKey);
      if (cached) {
        if (this.#sameCachedPromise) return cached;
        return hitsOf(window).addForeign(cached) as Promise<V>;
      }
      const promise = this.#engine.add(key).promise as Promise<V>;
      custom.set(cacheKey, promise);
      return promise;
    }
    return this.#engine.add(key).promise as Promise<V>;
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
    const loads: Promise<V | Error>[] = [];
    for (let i = 0; i < keys.length; i++) {
      loads.push(this.load(keys[i] as K).catch((error: unknown) => error as Error));
    }
    return Promise.all(loads);
  }

  /** Clears the value at `key` from the cache, if present. Returns itself. */
  clear(key: K): this {
    if (this.#memos !== null) this.#memos.delete(this.#key(key));
    else if (this.#custom !== null) this.#custom.delete(this.#key(key));
    return this;
  }

  /** Clears the entire cache. Returns itself. */
  clearAll(): this {
    if (this.#memos !== null) this.#memos.clear();
    else if (this.#custom !== null) this.#custom.clear();
    return this;
  }

  /**
   * Adds `key` with `value` (or an Error) to the cache, unless the key is
   * already there. Returns itself.
   */
  prime(key: K, value: V | PromiseLike<V> | Error): this {
    const memos = this.#memos;
    if (memos !== null) {
      const cacheKey = this.#key(key);
      if (memos.get(cacheKey) === undefined) memos.set(cacheKey, new Primed(value));
    } else if (this.#custom !== null) {
      const cacheKey = this.#key(key);
      if (this.#custom.get(cacheKey) === undefined) {
        this.#custom.set(cacheKey, new Primed(value).promise as Promise<V>);
      }
    }
    return this;
  }

  #key(key: K): C {
    const fn = this.#cacheKeyFn;
    return fn === undefined ? (key as unknown as C) : fn(key);
  }

  /** `cacheErrors: false`: forgets a failed key, unless the cache already holds a newer entry. */
  #forget(slot: Slot<K>): void {
    const cacheKey = this.#key(slot.key);
    if (this.#memos !== null) {
      if (this.#memos.get(cacheKey) === slot) this.#memos.delete(cacheKey);
    } else if (this.#custom !== null && this.#custom.get(cacheKey) === slot.promise) {
      this.#custom.delete(cacheKey);
    }
  }
}

/** The hits riding the tick's window, created with its first hit. */
function hitsOf(window: { attachment: unknown }): Hits {
  const attachment = window.attachment;
  if (attachment instanceof Hits) return attachment;
  const hits = new Hits();
  window.attachment = hits;
  return hits;
}
