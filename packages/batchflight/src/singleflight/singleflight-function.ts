/**
 * `singleflight(fn)`: a function with `fn`'s signature whose concurrent calls
 * with equal arguments share one execution, keyed from the arguments.
 */
import {
  InvalidOptionError,
  argumentsKey,
  describe,
  functionOption,
  knownOptions,
} from '../core/index.js';
import type { MapKey } from './flight.js';
import { GROUP_OPTIONS, type SingleFlightOptions, keyError, rejectWith } from './options.js';
import { SingleFlight, runApply } from './single-flight.js';

/** Options of {@link singleflight}. */
export interface SingleflightOptions<A extends readonly unknown[]> extends SingleFlightOptions {
  /**
   * The key of a call from its arguments. Default: `argumentsKey(args)`, the
   * core's tagged stable encoding (`1` ≠ `"1"`, `{ a: undefined }` ≠ `{}`, key
   * order irrelevant, Date, BigInt, Map, Set, typed arrays, class instances by
   * their `toJSON()`) with a fast path for plain data; an argument a key cannot
   * see into (a function, symbol, Promise, Error, class instance without
   * `toJSON()`, cyclic or too deep structure) is a `TypeError` naming it.
   */
  readonly key?: ((...args: A) => string) | undefined;
  /**
   * The scope of a call from its arguments (a tenant id); calls in two
   * scopes never share. Default: one scope for all calls.
   */
  readonly scope?: ((...args: A) => string | undefined) | undefined;
  /**
   * The group to run in, to share it with other functions or read its
   * `stats()`. Default: a new `SingleFlight` built from the other options.
   */
  readonly flight?: SingleFlight | undefined;
}

/** What {@link singleflight} returns: `fn`'s signature, plus its group. */
export type SingleflightFunction<A extends readonly unknown[], R> = ((
  ...args: A
) => Promise<Awaited<R>>) & {
  /** The group the calls run in: `stats()`, `forget()`, hooks, `close()`. */
  readonly flight: SingleFlight;
};

/**
 * Wraps `fn` so that concurrent calls with equal arguments share one
 * execution. The wrapper has `fn`'s parameters and returns a promise of its
 * result; `this` is passed through.
 *
 * @example
 * ```ts
 * const getUser = singleflight(async (id: number) => db.findUser(id));
 * await Promise.all([getUser(1), getUser(1), getUser(2)]); // two queries
 * getUser.flight.stats(); // { hits: 1, misses: 2, ... }
 * ```
 */
export function singleflight<A extends readonly unknown[], R>(
  fn: (...args: A) => R,
  options: SingleflightOptions<A> = {},
): SingleflightFunction<A, R> {
  const where = 'singleflight()';
  functionOption(where, 'fn', fn);
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}.`);
  }
  const { key, scope, flight: given, ...rest } = options;
  knownOptions(where, options, ['key', 'scope', 'flight', ...GROUP_OPTIONS]);
  const keyFn =
    key === undefined ? undefined : functionOption<(...args: A) => string>(where, 'key', key);
  const scopeFn =
    scope === undefined
      ? undefined
      : functionOption<(...args: A) => string | undefined>(where, 'scope', scope);
  if (given !== undefined) {
    if (!(given instanceof SingleFlight)) {
      throw new InvalidOptionError(
        'flight',
        `${where}: option flight must be a SingleFlight, got ${describe(given)}.`,
      );
    }
    if (Object.values(rest).some((v) => v !== undefined)) {
      throw new InvalidOptionError(
        'flight',
        `${where}: give either option flight or the options of a new SingleFlight (${Object.keys(rest).join(', ')}), not both.`,
      );
    }
  }
  const group = given ?? new SingleFlight(rest);
  // Number keys stay numbers only in a group of our own: nobody else can run() `n42` in it.
  const numbers = given === undefined;
  const wrapped = function (this: unknown, ...args: A): Promise<Awaited<R>> {
    let callKey: MapKey;
    let callScope: string | undefined;
    try {
      if (keyFn !== undefined) callKey = keyFn(...args);
      else if (numbers && args.length === 1 && typeof args[0] === 'number') callKey = args[0];
      else callKey = argumentsKey(args);
      callScope = scopeFn === undefined ? undefined : scopeFn(...args);
    } catch (error) {
      return rejectWith(error);
    }
    if (typeof callKey !== 'string' && keyFn !== undefined) {
      return Promise.reject(keyError(where, callKey, "the key function's result"));
    }
    return runApply(group, callKey, callScope, fn, this, args) as Promise<Awaited<R>>;
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  return Object.assign(wrapped, { flight: group });
}
