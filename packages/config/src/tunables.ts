/**
 * Tunables: what a {@link ConfigRegistry} registers for each primitive that can change while
 * it runs.
 *
 * - A batcher's window (size, wait, adaptive target, concurrency, pending bound) is retuned
 *   by {@link retunableBatch}: the next load goes to a batcher built with the new options,
 *   while the previous one sends what it holds and drains (its in-flight calls are not
 *   touched). A key loaded on both sides of the switch may be sent once by each.
 * - Every other primitive has a `configure(settings)` of its own: the tunables here map a
 *   configuration entry onto it. Each one takes the primitive's settings when it is created
 *   as the base: a setting the configuration sets replaces the base value, a setting it no
 *   longer sets goes back to it. `prepare` calls `configure(…, { dryRun: true })`, so a
 *   refusal is the primitive's own message and changes nothing; `commit` configures.
 *
 * A jobs worker's concurrency and claim size are not live (the worker has no runtime setter):
 * a change to them is reported as needing a restart.
 */
import { batch, type BatchCallOptions, type BatchOptions, type Batcher } from 'batchflight/batch';
import type { BulkheadSettings } from 'batchflight/bulkhead';
import type { Cache } from 'batchflight/cache';
import { consecutive, sampling, type CircuitBreakerSettings } from 'batchflight/circuit-breaker';
import type { HedgeSettings } from 'batchflight/hedge';
import type { RateLimitSettings } from 'batchflight/rate-limit';
import {
  exponentialBackoff,
  RetryBudget,
  type RetryBudgetOptions,
  type RetrySettings,
} from 'batchflight/retry';
import type { TimeoutSettings } from 'batchflight/timeout';
import type { Capability, SettingsOf } from './fleet-schema.js';
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

/** A primitive with a live `configure(settings)`: every batchflight primitive but batch(). */
export interface Configurable<S> {
  /** The settings in force. */
  readonly settings: S;
  /** Changes them; with `dryRun` only checks (throws what a real call would). */
  configure(settings: Partial<S>, options?: { readonly dryRun?: boolean }): void;
}

/**
 * The tunable of a {@link Configurable} primitive: `settingsOf` maps the configuration's
 * entry onto the primitive's settings; keys it leaves undefined take the base values (the
 * primitive's settings when the tunable was created).
 */
function configurableTunable<C extends Capability, S extends object>(
  capability: C,
  live: readonly string[],
  primitive: Configurable<S>,
  settingsOf: (settings: SettingsOf<C>, base: S) => { [K in keyof S]?: S[K] | undefined },
): Tunable<C> {
  const base = primitive.settings;
  return {
    capability,
    live,
    prepare(settings) {
      const next: Partial<S> = { ...base, ...defined(settingsOf(settings, base)) };
      primitive.configure(next, { dryRun: true }); // throws the constructor's message
      return {
        commit() {
          primitive.configure(next);
        },
        abandon() {},
      };
    },
  };
}

/**
 * The live settings of a rate limiter: `rate`, `per`, `burst`, `maxQueued`, `maxStallMs`. The
 * new limits apply at once, to waiting calls too (see `RateLimitPolicy#configure`).
 *
 * @example
 * ```ts
 * registry.register('github', rateLimitTunable(github));
 * ```
 */
export function rateLimitTunable(limiter: Configurable<RateLimitSettings>): Tunable<'rateLimit'> {
  return configurableTunable(
    'rateLimit',
    ['rate', 'per', 'burst', 'maxQueued', 'maxStallMs'],
    limiter,
    (settings) => settings,
  );
}

/** The live settings of a bulkhead: `maxConcurrent`, `maxQueued`. */
export function bulkheadTunable(pool: Configurable<BulkheadSettings>): Tunable<'bulkhead'> {
  return configurableTunable('bulkhead', ['maxConcurrent', 'maxQueued'], pool, (s) => s);
}

/** The live setting of a timeout: `ms`, for the calls that start after the change. */
export function timeoutTunable(policy: Configurable<TimeoutSettings>): Tunable<'timeout'> {
  return configurableTunable('timeout', ['ms'], policy, (s) => s);
}

/** The live settings of a hedge: `afterMs`, `maxHedges`, for the calls that start after. */
export function hedgeTunable(policy: Configurable<HedgeSettings>): Tunable<'hedge'> {
  return configurableTunable('hedge', ['afterMs', 'maxHedges'], policy, (s) => s);
}

/**
 * The live settings of a retry policy: `maxAttempts`, `maxRetryAfterMs`, `backoff` (an
 * exponential backoff) and `budget`. A `budget` object resizes the policy's own budget (one
 * the policy shares is resized for every policy sharing it), or gives the policy a new one
 * when it had none; `false` takes it away. Dropped from the configuration, the budget goes
 * back to the base one at its base size.
 */
export function retryTunable(policy: Configurable<RetrySettings>): Tunable<'retry'> {
  const base = policy.settings;
  const baseBudget = base.budget;
  const baseSize: RetryBudgetOptions | undefined =
    baseBudget === false ? undefined : baseBudget.settings;
  // The budget made for a policy built without one, kept (with its tokens) across changes.
  let own: RetryBudget | undefined;
  return {
    capability: 'retry',
    live: ['maxAttempts', 'maxRetryAfterMs', 'backoff', 'budget'],
    prepare(settings) {
      // A budget is resized outside the policy: checked here, changed on commit.
      let budget: RetryBudget | false = false;
      let resize: (() => void) | undefined;
      const size = settings.budget === false ? undefined : defined(settings.budget ?? {});
      if (settings.budget !== false && baseBudget !== false) {
        const next = { ...baseSize, ...size };
        baseBudget.configure(next, { dryRun: true });
        resize = () => {
          baseBudget.configure(next);
        };
        budget = baseBudget;
      } else if (typeof settings.budget === 'object') {
        // Every size from the defaults up, so a key the configuration drops goes back to its default.
        const full = new RetryBudget(size);
        const kept = own;
        if (kept !== undefined) {
          resize = () => {
            kept.configure(full.settings);
          };
        }
        budget = kept ?? full;
      }
      const next: Partial<RetrySettings> = {
        maxAttempts: settings.maxAttempts ?? base.maxAttempts,
        maxRetryAfterMs: settings.maxRetryAfterMs ?? base.maxRetryAfterMs,
        backoff:
          settings.backoff === undefined
            ? base.backoff
            : exponentialBackoff(defined(settings.backoff)),
        budget,
      };
      policy.configure(next, { dryRun: true }); // throws the constructor's message
      return {
        commit() {
          resize?.();
          if (budget !== false && budget !== baseBudget) own = budget;
          policy.configure(next);
        },
        abandon() {},
      };
    },
  };
}

/**
 * The live settings of a circuit breaker: `isolated: true` holds it open (every call refused
 * with CircuitOpenError) until a configuration sets it false or drops it; `threshold`
 * (consecutive failures) or `sampling` (a rolling failure rate) replace its policy, and
 * `halfOpenAfterMs`, `halfOpenProbes` its probing (see `CircuitBreakerPolicy#configure`).
 */
export function breakerTunable(
  breaker: Configurable<CircuitBreakerSettings> & { isolate(): { dispose(): void } },
): Tunable<'circuitBreaker'> {
  let hold: { dispose(): void } | undefined;
  const inner = configurableTunable(
    'circuitBreaker',
    [],
    breaker,
    ({ threshold, sampling: rate, halfOpenAfterMs, halfOpenProbes }) => {
      if (threshold !== undefined && rate !== undefined) {
        throw new TypeError('give either threshold (consecutive) or sampling, not both');
      }
      return {
        policy:
          threshold !== undefined
            ? consecutive(threshold)
            : rate !== undefined
              ? sampling(defined(rate) as { threshold: number })
              : undefined,
        halfOpenAfterMs,
        halfOpenProbes,
      };
    },
  );
  return {
    capability: 'circuitBreaker',
    live: ['isolated', 'threshold', 'sampling', 'halfOpenAfterMs', 'halfOpenProbes'],
    prepare(settings) {
      const isolated = settings.isolated === true;
      const change = inner.prepare(settings);
      return {
        commit() {
          change.commit();
          if (isolated && hold === undefined) hold = breaker.isolate();
          if (!isolated && hold !== undefined) {
            hold.dispose();
            hold = undefined;
          }
        },
        abandon() {
          change.abandon();
        },
      };
    },
  };
}

/**
 * The live settings of a cache: `ttlMs`, `staleWhileRevalidateMs`, `staleIfErrorMs`,
 * `negativeTtlMs`, `earlyRefresh` and `version` (a new one makes every entry of the old one a
 * miss). TTLs apply to entries written after the change; the stale windows to stored entries
 * at once (see `Cache#configure`). A version dropped from the configuration stays what it
 * was: going back to no version would bring back entries written before it.
 */
export function cacheTunable(cache: Pick<Cache, 'settings' | 'configure'>): Tunable<'cache'> {
  return configurableTunable(
    'cache',
    [
      'version',
      'ttlMs',
      'staleWhileRevalidateMs',
      'staleIfErrorMs',
      'negativeTtlMs',
      'earlyRefresh',
    ],
    cache,
    (settings, base) => ({
      ...settings,
      earlyRefresh:
        typeof settings.earlyRefresh === 'object'
          ? defined(settings.earlyRefresh)
          : settings.earlyRefresh,
      version: settings.version ?? base.version,
    }),
  );
}
