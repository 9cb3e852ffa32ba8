/**
 * `cached(fn, options)`: an async function wrapped in a {@link Cache} keyed by its arguments.
 */
import { argumentsKey, describe, functionOption, rejectWith } from '../core/index.js';
import { Cache } from './cache.js';
import type { CacheOptions } from './options.js';

/** Options of {@link cached}: a {@link CacheOptions} whose `key` reads the arguments. */
export interface CachedOptions<A extends readonly unknown[]> extends Omit<CacheOptions, 'key'> {
  /** The key of a call. Default: the tagged stable encoding of the arguments (`argumentsKey`). */
  readonly key?: (...args: A) => string;
}

/** A function wrapped by {@link cached}: same signature, plus its cache. */
export type CachedFunction<A extends readonly unknown[], R> = ((...args: A) => Promise<R>) & {
  /** The cache behind the function (stats, hooks, invalidateTags, close). */
  readonly cache: Cache;
  /** Removes the cached result of these arguments. */
  invalidate(...args: A): Promise<boolean>;
};

/**
 * Wraps an async function in a cache keyed by its arguments.
 *
 * @example
 * ```ts
 * const getUser = cached((id: number) => db.findUser(id), { ttlMs: 30_000 });
 * await getUser(1); // computes
 * await getUser(1); // cached
 * await getUser.invalidate(1);
 * ```
 */
export function cached<A extends readonly unknown[], R>(
  fn: (...args: A) => Promise<R> | R,
  options: CachedOptions<A>,
): CachedFunction<A, R> {
  functionOption('cached()', 'fn', fn);
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `cached(fn, options): options must be an object with at least ttlMs (how long a result stays fresh, in ms), got ${describe(options)}.`,
    );
  }
  const { key, ...rest } = options;
  const keyOf = key === undefined ? (args: A) => argumentsKey(args) : (args: A) => key(...args);
  if (key !== undefined) functionOption('cached()', 'key', key);
  const instance = new Cache(rest);
  const wrapped = (...args: A): Promise<R> => {
    let k: string;
    try {
      k = keyOf(args);
    } catch (error) {
      return rejectWith(error);
    }
    return instance.get(k, () => fn(...args));
  };
  return Object.assign(wrapped, {
    cache: instance,
    invalidate: (...args: A) => instance.invalidate(keyOf(args)),
  });
}
