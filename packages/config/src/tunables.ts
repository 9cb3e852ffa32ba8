/**
 * Tunables for the primitives that can change while they run.
 *
 * - A batcher's window (size, wait, adaptive target, concurrency, pending bound) is retuned
 *   by {@link retunableBatch}: the next load goes to a batcher built with the new options,
 *   while the previous one sends what it holds and drains (its in-flight calls are not
 *   touched). A key loaded on both sides of the switch may be sent once by each.
 * - A circuit breaker can be held open (`isolated`) and released.
 * - A cache's `version` can be bumped (every entry written under the old one becomes a miss).
 *
 * Everything else (a limiter's rate, a breaker's thresholds, timeouts, retry attempts, TTLs,
 * worker concurrency) has no runtime setter in the primitives today: the registry reports a
 * change to it as needing a restart.
 */
import { batch, type BatchCallOptions, type BatchOptions, type Batcher } from 'batchflight/batch';
import type { Cache } from 'batchflight/cache';
import type { SettingsOf } from './fleet-schema.js';
import type { PreparedChange, Tunable } from './registry.js';

/** `settings` without the keys whose value is undefined (an optional key left out). */
function defined<T extends object>(settings: T): { [P in keyof T]?: Exclude<T[P], undefined> } {
  return Object.fromEntries(
    Object.entries(settings).filter(([, value]) => value !== undefined),
  ) as { [P in keyof T]?: Exclude<T[P], undefined> };
}

const BATCH_LIVE = [
  'window',
  'maxSize',
  'maxWaitMs',
  'latencyTargetMs',
  'maxConcurrentBatches',
  'maxPending',
] as const;

/** A batcher whose window can be retuned while it runs. See {@link retunableBatch}. */
export interface RetunableBatch<K, V> extends AsyncDisposable {
  /** Loads through the batcher serving now. */
  load(key: K, options?: BatchCallOptions): Promise<V>;
  /** Loads many through the batcher serving now. */
  loadMany(keys: readonly K[], options?: BatchCallOptions): Promise<(V | Error)[]>;
  /** The batcher serving now (its `stats()` count from the last retune). */
  readonly current: Batcher<K, V>;
  /** The options of the batcher serving now. */
  readonly options: BatchOptions<K, V>;
  /** Batchers built so far: 1, plus one per retune. */
  readonly generation: number;
  /** What a {@link ConfigRegistry} registers. */
  readonly tunable: Tunable<'batch'>;
  /** Closes the batcher serving now and waits for the retired ones to drain. Idempotent. */
  close(options?: { readonly signal?: AbortSignal }): Promise<void>;
}

/**
 * A `batch()` whose window settings can change at run time: `options` are the base, and
 * each configuration's batch settings replace those keys (a key the configuration no
 * longer sets goes back to its base value). A bad combination is refused by `batch()`
 * itself, with its own message, before anything changes.
 *
 * @example
 * ```ts
 * const users = retunableBatch({ name: 'users', load: (ids: number[]) => db.users(ids) });
 * registry.register('users', users.tunable);
 * ```
 */
export function retunableBatch<K, V>(options: BatchOptions<K, V>): RetunableBatch<K, V> {
  let current = batch(options);
  let currentOptions = options;
  let generation = 1;
  const retired = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  const retire = (old: Batcher<K, V>): void => {
    // The old batcher sends what it holds now, then drains; nothing waits for it but close().
    const drained = old.close().catch(() => undefined);
    retired.add(drained);
    void drained.then(() => retired.delete(drained));
  };

  const tunable: Tunable<'batch'> = {
    capability: 'batch',
    live: BATCH_LIVE,
    prepare(settings: SettingsOf<'batch'>): PreparedChange {
      const next: BatchOptions<K, V> = { ...options, ...defined(settings) };
      const candidate = batch(next); // throws the constructor's InvalidOptionError
      return {
        commit() {
          const old = current;
          current = candidate;
          currentOptions = next;
          generation++;
          retire(old);
        },
        abandon() {
          void candidate.close();
        },
      };
    },
  };

  const close = (closeOptions?: { readonly signal?: AbortSignal }): Promise<void> =>
    (closing ??= (async () => {
      await current.close(closeOptions);
      await Promise.all(retired);
    })());

  return {
    load: (key, callOptions) => current.load(key, callOptions),
    loadMany: (keys, callOptions) => current.loadMany(keys, callOptions),
    get current() {
      return current;
    },
    get options() {
      return currentOptions;
    },
    get generation() {
      return generation;
    },
    tunable,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/**
 * The live setting of a circuit breaker: `isolated: true` holds it open (every call refused
 * with CircuitOpenError) until a configuration sets it false or drops it.
 */
export function breakerTunable(breaker: {
  isolate(): { dispose(): void };
}): Tunable<'circuitBreaker'> {
  let hold: { dispose(): void } | undefined;
  return {
    capability: 'circuitBreaker',
    live: ['isolated'],
    prepare(settings) {
      const isolated = settings.isolated === true;
      return {
        commit() {
          if (isolated && hold === undefined) hold = breaker.isolate();
          if (!isolated && hold !== undefined) {
            hold.dispose();
            hold = undefined;
          }
        },
        abandon() {},
      };
    },
  };
}

/** The live setting of a cache: a new `version` makes every entry of the old one a miss. */
export function cacheTunable(cache: Pick<Cache, 'setVersion'>): Tunable<'cache'> {
  return {
    capability: 'cache',
    live: ['version'],
    prepare(settings) {
      const { version } = settings;
      return {
        commit() {
          if (version !== undefined) cache.setVersion(version);
        },
        abandon() {},
      };
    },
  };
}
