/**
 * `cache()`: a read-through cache with stampede protection.
 *
 * How a read is answered (`get(key, compute)`, or a wrapped handler):
 *
 * 1. **Fresh hit** (`now < expiresAt`): the value, from a promise stored with
 *    the entry, so a hit on the memory store allocates nothing. With
 *    `earlyRefresh` (XFetch, Vattani et al., VLDB 2015) a hit may also start
 *    one background refresh when `now − Δ·β·ln(random()) ≥ expiresAt`, where
 *    Δ is how long the value took to compute: hot, slow keys are refreshed
 *    shortly before they expire, so no caller ever waits at expiry.
 * 2. **Stale hit** (`expiresAt ≤ now < expiresAt + staleWhileRevalidateMs`):
 *    the stale value at once, and one background refresh.
 * 3. **Miss**: `compute` runs once per key whatever the concurrency (the
 *    callers share one flight of `SingleFlight`, which also joins a
 *    background refresh already running). Its value is stored with
 *    `expiresAt = now + ttlMs`; its error is stored only when
 *    `negativeTtlMs > 0`. Within `expiresAt + staleIfErrorMs` a failed
 *    computation answers with the stale value instead of the error.
 *
 * Keys are partitioned by scope (two scopes never share an entry) and
 * prefixed with `namespace` and `version`: bumping the version makes every
 * older entry unreachable (they age out of the store). `invalidate(key)`,
 * `invalidateTags(tags)` and `clear()` also stop computations already
 * running from writing back a value read before the invalidation.
 *
 * A store that fails (a Redis outage) never fails a read: a failed `get` is a
 * miss and a failed `set` is reported through `onError` and the
 * `batchflight:cache:error` channel. A read never waits for the store's
 * write of what it computed: the write goes on behind it (`close()` waits
 * for it), so a slow or unreachable store delays a miss by its `get` alone.
 *
 * The reads one tick makes of a store that has `getMany` (Redis, tiered)
 * go to it together, in one call: a cache in front of a batch source's
 * per-key handler reads the keys of a batch in one round trip, not one each.
 */
import {
  type CallContext,
  type CallOptions,
  type Clock,
  ClosedError,
  type Handler,
  Listeners,
  NEVER_ABORTED,
  type Subscription,
  argumentsKey,
  booleanOption,
  describe,
  eventChannel,
  functionOption,
  InvalidOptionError,
  knownOptions,
  numberOption,
  stableKey,
  systemClock,
} from '../core/index.js';
import { type FlightContext, SingleFlight } from '../singleflight/index.js';
import { CacheKeyError } from './errors.js';
import { MemoryCacheStore, PEEK } from './memory-store.js';
import {
  type CacheEntry,
  type CacheStore,
  type MaybePromise,
  getManyOf,
  isPromiseLike,
} from './store.js';

/** XFetch early refresh settings; `true` means `{ beta: 1 }`. */
export interface EarlyRefreshOptions {
  /**
   * How eagerly to refresh (> 0): 1 is the paper's optimum, > 1 refreshes
   * earlier, < 1 later. Default 1.
   */
  readonly beta?: number;
  /** Source of randomness in (0, 1); inject a fixed one in tests. Default `Math.random`. */
  readonly random?: () => number;
}

/** Options of {@link cache}. */
export interface CacheOptions<I = unknown> {
  /** How long a computed value is fresh, in milliseconds (> 0). Required. */
  readonly ttlMs: number;
  /** Where entries live. Default: a new {@link MemoryCacheStore} (closed with the cache). */
  readonly store?: CacheStore;
  /**
   * The key of an input, for {@link Cache.wrap}. Default: the tagged stable
   * encoding of the input (`stableKey`), so `1` and `"1"` never collide.
   */
  readonly key?: (input: I) => string;
  /** Prefix of every store key, to share one store between caches. Default `''`. */
  readonly namespace?: string;
  /**
   * Part of every store key: changing it (here or with
   * {@link Cache.setVersion}) invalidates every entry at once. Default: none.
   */
  readonly version?: string | number;
  /** After expiry, serve the stale value while one background refresh runs, for this long (ms). Default 0. */
  readonly staleWhileRevalidateMs?: number;
  /** After expiry, serve the stale value when recomputing fails, for this long (ms). Default 0. */
  readonly staleIfErrorMs?: number;
  /** XFetch probabilistic early refresh. Default `false`. */
  readonly earlyRefresh?: boolean | EarlyRefreshOptions;
  /** Cache errors for this long (ms) so a failing key is not hammered. Default 0: errors are never cached. */
  readonly negativeTtlMs?: number;
  /** Tags of a computed value, for {@link Cache.invalidateTags}. Default: none. */
  readonly tags?: (value: unknown, key: string) => readonly string[];
  /** Time source of expiry and compute-time measurement. Default: the system clock. */
  readonly clock?: Clock;
  /** A name carried by events, to tell caches apart. */
  readonly name?: string;
}

/** Per-call options of {@link Cache.get}. */
export interface CacheGetOptions extends CallOptions {
  /** Freshness of a value computed by this call, in ms; overrides the cache's `ttlMs`. */
  readonly ttlMs?: number | undefined;
  /** Tags of a value computed by this call (added to the cache's `tags`). */
  readonly tags?: readonly string[] | undefined;
}

/** Counters of a {@link Cache}; see {@link Cache.stats}. */
export interface CacheStats {
  /** Reads answered with a fresh value (negative entries included). */
  readonly hits: number;
  /** Reads that found nothing usable and waited for a computation. */
  readonly misses: number;
  /** Reads answered with a stale value (while revalidating, or because a refresh failed). */
  readonly staleServed: number;
  /** Background refreshes started (stale-while-revalidate and early refresh). */
  readonly refreshes: number;
  /** Background refreshes started early by XFetch, among `refreshes`. */
  readonly earlyRefreshes: number;
  /** Computations run (each a call upstream); `misses - loads` were coalesced. */
  readonly loads: number;
  /** Computations that failed. */
  readonly errors: number;
  /** `(hits + staleServed) / (hits + staleServed + misses)`, 0 before the first read. */
  readonly hitRate: number;
}

/** Payload of {@link Cache.onLoad}: a computation settled. */
export interface CacheLoadEvent {
  readonly name: string | undefined;
  /** The store key (namespace, version and scope included). */
  readonly key: string;
  /** Why it ran: a miss, a stale-while-revalidate refresh or an early refresh. */
  readonly reason: 'miss' | 'stale' | 'early';
  readonly ok: boolean;
  /** How long it took, in ms of the cache's clock. */
  readonly durationMs: number;
  readonly error?: unknown;
}

/** Payload of {@link Cache.onStale}: a stale value was served. */
export interface CacheStaleEvent {
  readonly name: string | undefined;
  readonly key: string;
  /** `'revalidate'`: served while refreshing; `'error'`: served because the computation failed. */
  readonly reason: 'revalidate' | 'error';
  /** How long past its expiry the value was, in ms. */
  readonly ageMs: number;
}

/** Payload of {@link Cache.onError}: a computation or the store failed. */
export interface CacheErrorEvent {
  readonly name: string | undefined;
  readonly key: string;
  /** `'compute'`: the computation threw; `'store'`: reading or writing the store failed. */
  readonly phase: 'compute' | 'store';
  readonly error: unknown;
}

/** Payload of the `batchflight:cache:invalidate` channel. */
export interface CacheInvalidateEvent {
  readonly name: string | undefined;
  readonly keys?: readonly string[];
  readonly tags?: readonly string[];
  readonly all?: boolean;
}

/** The diagnostics channels of every cache (`batchflight:cache:<event>`). */
export const cacheChannels = {
  load: eventChannel<CacheLoadEvent>('cache', 'load'),
  stale: eventChannel<CacheStaleEvent>('cache', 'stale'),
  error: eventChannel<CacheErrorEvent>('cache', 'error'),
  invalidate: eventChannel<CacheInvalidateEvent>('cache', 'invalidate'),
} as const;

/**
 * The resolved promise of an entry this cache wrote. A symbol key is ignored
 * by JSON and structured clone, so a networked store never serialises it, and
 * an entry read back from one simply lacks it.
 */
const SETTLED = Symbol('batchflight.cache.settled');
interface OwnEntry extends CacheEntry {
  [SETTLED]?: Promise<unknown>;
}

type Reason = 'miss' | 'stale' | 'early';
const WHERE = 'cache()';
const OPTIONS = [
  'ttlMs',
  'store',
  'key',
  'namespace',
  'version',
  'staleWhileRevalidateMs',
  'staleIfErrorMs',
  'earlyRefresh',
  'negativeTtlMs',
  'tags',
  'clock',
  'name',
] as const;

/**
 * A cache: `get(key, compute)`, a `Layer` for handlers, and
 * invalidation. Create it with {@link cache}.
 *
 * @typeParam I - the input of the handlers it wraps (for `key`).
 */
export class Cache<I = unknown> implements AsyncDisposable {
  readonly #store: CacheStore;
  readonly #ownsStore: boolean;
  /** The store when it is a MemoryCacheStore: read with PEEK, expiry checked here. */
  readonly #memory: MemoryCacheStore | undefined;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #swrMs: number;
  readonly #sieMs: number;
  readonly #negativeTtlMs: number;
  readonly #beta: number;
  readonly #random: () => number;
  readonly #keyOf: (input: I) => string;
  readonly #tagsOf: ((value: unknown, key: string) => readonly string[]) | undefined;
  readonly #namespace: string;
  readonly #name: string | undefined;
  readonly #flights: SingleFlight;
  readonly #refreshing = new Set<string>();
  readonly #background = new Set<Promise<void>>();
  /** True when store reads of one tick go to the store's getMany together. */
  readonly #batchReads: boolean;
  /** The store keys read in this tick (when #batchReads), each with its waiting reads. */
  #reads: Map<string, ((entry: Promise<CacheEntry | undefined>) => void)[]> | undefined;
  readonly #onLoad = new Listeners<CacheLoadEvent>();
  readonly #onStale = new Listeners<CacheStaleEvent>();
  readonly #onError = new Listeners<CacheErrorEvent>();
  #prefix: string;
  #epoch = 0;
  #closed: Promise<void> | undefined;
  #hits = 0;
  #misses = 0;
  #stale = 0;
  #refreshes = 0;
  #early = 0;
  #loads = 0;
  #errors = 0;

  constructor(options: CacheOptions<I>) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(
        `${WHERE}: options must be an object with at least ttlMs, got ${describe(options)}.`,
      );
    }
    knownOptions(WHERE, options, OPTIONS);
    this.#ttlMs = numberOption(WHERE, 'ttlMs', options.ttlMs, { exclusive: true });
    this.#clock = options.clock ?? systemClock;
    if (options.store === undefined) {
      this.#store = new MemoryCacheStore({ clock: this.#clock });
      this.#ownsStore = true;
    } else {
      const store = options.store as Partial<CacheStore> | null;
      if (
        typeof store !== 'object' ||
        store === null ||
        typeof store.get !== 'function' ||
        typeof store.set !== 'function' ||
        typeof store.delete !== 'function' ||
        typeof store.invalidateTags !== 'function' ||
        typeof store.clear !== 'function'
      ) {
        throw new InvalidOptionError(
          'store',
          `${WHERE}: option store must be a CacheStore (get, set, delete, invalidateTags, clear), got ${describe(options.store)}.`,
        );
      }
      this.#store = options.store;
      this.#ownsStore = false;
    }
    this.#memory = this.#store instanceof MemoryCacheStore ? this.#store : undefined;
    this.#batchReads = this.#memory === undefined && typeof this.#store.getMany === 'function';
    this.#keyOf =
      options.key === undefined
        ? (input: I) => stableKey(input, 'input')
        : functionOption<(input: I) => string>(WHERE, 'key', options.key);
    this.#namespace = options.namespace ?? '';
    if (typeof this.#namespace !== 'string') {
      throw new InvalidOptionError(
        'namespace',
        `${WHERE}: option namespace must be a string, got ${describe(options.namespace)}.`,
      );
    }
    this.#swrMs = numberOption(
      WHERE,
      'staleWhileRevalidateMs',
      options.staleWhileRevalidateMs ?? 0,
    );
    this.#sieMs = numberOption(WHERE, 'staleIfErrorMs', options.staleIfErrorMs ?? 0);
    this.#negativeTtlMs = numberOption(WHERE, 'negativeTtlMs', options.negativeTtlMs ?? 0);
    const early = options.earlyRefresh ?? false;
    if (typeof early === 'object') {
      knownOptions(`${WHERE} earlyRefresh`, early, ['beta', 'random']);
      this.#beta = numberOption(WHERE, 'earlyRefresh.beta', early.beta ?? 1, { exclusive: true });
      this.#random =
        early.random === undefined
          ? Math.random
          : functionOption<() => number>(WHERE, 'earlyRefresh.random', early.random);
    } else {
      this.#beta = booleanOption(WHERE, 'earlyRefresh', early) ? 1 : 0;
      this.#random = Math.random;
    }
    this.#tagsOf =
      options.tags === undefined
        ? undefined
        : functionOption<(value: unknown, key: string) => readonly string[]>(
            WHERE,
            'tags',
            options.tags,
          );
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw new InvalidOptionError(
        'name',
        `${WHERE}: option name must be a string, got ${describe(options.name)}.`,
      );
    }
    this.#name = options.name;
    this.#prefix = this.#makePrefix(options.version);
    this.#flights = new SingleFlight({ clock: this.#clock });
  }

  /**
   * The value of `key`: from the store when fresh (or stale within the
   * configured windows), else from `compute`, run once for every concurrent
   * caller of the same key and scope.
   *
   * `compute` receives the context every batchflight callback gets
   * ({@link FlightContext}): `signal`, the signal of the shared computation
   * (it aborts when every waiting caller has left), `scope` and `key`. A
   * caller's own `signal` only lets that caller go.
   *
   * @example
   * ```ts
   * const user = await users.get(`user:${id}`, ({ signal }) => db.findUser(id, { signal }), {
   *   scope: tenantId,
   *   signal: request.signal,
   * });
   * ```
   */
  get<T>(
    key: string,
    compute: (ctx: FlightContext) => Promise<T> | T,
    options?: CacheGetOptions,
  ): Promise<T> {
    if (this.#closed !== undefined) {
      return Promise.reject(new ClosedError(`${WHERE}: get() after close().`));
    }
    if (typeof key !== 'string' || key.charCodeAt(0) === 0) return Promise.reject(keyError(key));
    if (typeof compute !== 'function') {
      return rejectWith(
        new TypeError(
          `${WHERE}.get(key, compute): compute must be a function (ctx) => value or promise, called on a miss, got ${describe(compute)}.`,
        ),
      );
    }
    const scope = options?.scope;
    if (options?.ttlMs !== undefined && !(options.ttlMs > 0 && Number.isFinite(options.ttlMs))) {
      return rejectWith(
        new InvalidOptionError(
          'ttlMs',
          `${WHERE}.get(): option ttlMs must be a finite number > 0, got ${describe(options.ttlMs)}.`,
        ),
      );
    }
    const storeKey = scope === undefined ? this.#prefix + key : this.#scopedKey(scope, key);
    const memory = this.#memory;
    if (memory !== undefined)
      return this.#answer(storeKey, key, memory[PEEK](storeKey), compute, options);
    let found: MaybePromise<CacheEntry | undefined>;
    try {
      found = this.#batchReads ? this.#read(storeKey) : this.#store.get(storeKey);
    } catch (error) {
      this.#reportStoreError(storeKey, error);
      found = undefined;
    }
    if (isPromiseLike(found)) {
      return Promise.resolve(found).then(
        (entry) => this.#answer(storeKey, key, entry, compute, options),
        (error: unknown) => {
          this.#reportStoreError(storeKey, error);
          return this.#answer(storeKey, key, undefined, compute, options);
        },
      );
    }
    return this.#answer(storeKey, key, found, compute, options);
  }

  /**
   * Wraps a handler: its result is cached under `key(input)` within
   * `ctx.scope`; hits never reach it. Wrapping a batch source's per-key
   * handler answers hits from the cache and sends only misses to the bulk
   * call.
   *
   * @example
   * ```ts
   * const users = cache<number>({ ttlMs: 60_000, key: (id) => `user:${id}` });
   * const getUser = stack(users, retry({ maxAttempts: 3 })).wrap(loadUser);
   * ```
   */
  wrap<O>(next: Handler<I, O>): Handler<I, O> {
    functionOption(`${WHERE}.wrap()`, 'next', next);
    return (input: I, ctx: CallContext): Promise<O> => {
      let key: string;
      try {
        key = this.#keyOf(input);
      } catch (error) {
        return rejectWith(error);
      }
      return this.get(
        key,
        (flight) =>
          next(
            input,
            flight.signal === ctx.signal
              ? ctx
              : // scope and urgent read explicitly: a class context has them as getters a spread drops.
                { ...ctx, scope: ctx.scope, urgent: ctx.urgent, signal: flight.signal },
          ),
        ctx,
      );
    };
  }

  /**
   * Removes the entry of `key` (in `options.scope`). A computation of that
   * key already running will not write its value back, and the next read
   * starts a new one.
   */
  async invalidate(
    key: string,
    options?: { readonly scope?: string | undefined },
  ): Promise<boolean> {
    if (typeof key !== 'string' || key.charCodeAt(0) === 0) throw keyError(key);
    const scope = options?.scope;
    const storeKey = scope === undefined ? this.#prefix + key : this.#scopedKey(scope, key);
    this.#epoch++;
    this.#flights.forget(storeKey);
    if (cacheChannels.invalidate.hasSubscribers) {
      cacheChannels.invalidate.publish({ name: this.#name, keys: [storeKey] });
    }
    return this.#store.delete(storeKey);
  }

  /**
   * Removes every entry tagged with any of `tags` (across scopes and
   * versions); resolves to the number removed. Computations already running
   * will not write back.
   */
  async invalidateTags(tags: readonly string[]): Promise<number> {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) {
      throw new TypeError(
        `${WHERE}.invalidateTags(tags): tags must be an array of strings, got ${describe(tags)}.`,
      );
    }
    this.#epoch++;
    this.#flights.forgetAll();
    if (cacheChannels.invalidate.hasSubscribers) {
      cacheChannels.invalidate.publish({ name: this.#name, tags });
    }
    return this.#store.invalidateTags(tags);
  }

  /**
   * Removes every entry of the store (a store shared between caches is
   * cleared for all of them; prefer {@link setVersion} to invalidate one).
   */
  async clear(): Promise<void> {
    this.#epoch++;
    this.#flights.forgetAll();
    if (cacheChannels.invalidate.hasSubscribers) {
      cacheChannels.invalidate.publish({ name: this.#name, all: true });
    }
    await this.#store.clear();
  }

  /**
   * Switches to another key version: every entry written under the previous
   * version becomes unreachable at once (and ages out of the store).
   *
   * @example
   * ```ts
   * users.setVersion(schemaVersion); // after a deploy that changes the shape of users
   * ```
   */
  setVersion(version: string | number): void {
    this.#prefix = this.#makePrefix(version);
    this.#epoch++;
  }

  /** The counters since construction; see {@link CacheStats}. */
  stats(): CacheStats {
    const served = this.#hits + this.#stale;
    const reads = served + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      staleServed: this.#stale,
      refreshes: this.#refreshes,
      earlyRefreshes: this.#early,
      loads: this.#loads,
      errors: this.#errors,
      hitRate: reads === 0 ? 0 : served / reads,
    };
  }

  /**
   * Calls `listener` when a computation settles (miss, refresh or early refresh).
   *
   * @example
   * ```ts
   * users.onLoad(({ reason, durationMs, ok }) => metrics.loads.inc({ reason, ok }));
   * ```
   */
  onLoad(listener: (event: CacheLoadEvent) => void): Subscription {
    return this.#onLoad.add(listener);
  }

  /**
   * Calls `listener` when a stale value is served.
   *
   * @example
   * ```ts
   * users.onStale(({ reason, ageMs }) => log.info({ reason, ageMs }, 'served stale'));
   * ```
   */
  onStale(listener: (event: CacheStaleEvent) => void): Subscription {
    return this.#onStale.add(listener);
  }

  /**
   * Calls `listener` when a computation fails or the store fails.
   *
   * @example
   * ```ts
   * users.onError(({ phase, error }) => log.warn({ phase, err: error }, 'cache'));
   * ```
   */
  onError(listener: (event: CacheErrorEvent) => void): Subscription {
    return this.#onError.add(listener);
  }

  /**
   * Stops accepting reads, waits for background refreshes and writes to
   * settle, and closes the store if the cache created it. A store passed in
   * (`options.store`) stays open: it is the caller's, who may share it
   * between caches, and closes it (a `RedisCacheStore` or `tieredStore`
   * closes its own subscriber connection; the ioredis client stays the
   * caller's). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      // A refresh settling may start its write: wait until nothing is left.
      while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
      if (this.#ownsStore) await this.#store.close?.();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- internals -----------------------------------------------------------

  /** Reads `storeKey` together with the other reads of this tick (one getMany). */
  #read(storeKey: string): Promise<CacheEntry | undefined> {
    let reads = this.#reads;
    if (reads === undefined) {
      reads = new Map();
      this.#reads = reads;
      queueMicrotask(this.#flushReads);
    }
    const waiting = reads.get(storeKey);
    return new Promise<CacheEntry | undefined>((resolve) => {
      if (waiting === undefined) reads.set(storeKey, [resolve]);
      else waiting.push(resolve);
    });
  }

  readonly #flushReads = (): void => {
    const reads = this.#reads;
    this.#reads = undefined;
    if (reads === undefined) return;
    const keys = [...reads.keys()];
    let all: Promise<readonly (CacheEntry | undefined)[]>;
    if (keys.length === 1) {
      // One key: the store's own get, no getMany for a batch of one.
      all = (async () => [await this.#store.get(keys[0] as string)])();
    } else {
      all = getManyOf(this.#store, keys);
    }
    keys.forEach((key, i) => {
      const entry = all.then((entries) => entries[i]);
      for (const resolve of reads.get(key) ?? []) resolve(entry);
    });
  };

  #answer<T>(
    storeKey: string,
    key: string,
    entry: CacheEntry | undefined,
    compute: (ctx: FlightContext) => Promise<T> | T,
    options: CacheGetOptions | undefined,
  ): Promise<T> {
    if (entry === undefined) return this.#miss(storeKey, key, compute, options, undefined);
    const now = this.#clock.now();
    // A store may hand back an entry past staleUntil (the memory store's PEEK does).
    if (now >= entry.staleUntil) return this.#miss(storeKey, key, compute, options, undefined);
    const expiresAt = entry.expiresAt;
    if (now < expiresAt) {
      this.#hits++;
      if (
        this.#beta > 0 &&
        entry.error !== true &&
        now - entry.computeMs * this.#beta * Math.log(this.#random()) >= expiresAt
      ) {
        this.#refresh(storeKey, key, compute, options, 'early');
      }
      return settledOf(entry) as Promise<T>;
    }
    if (entry.error !== true) {
      if (now < expiresAt + this.#swrMs) {
        this.#stale++;
        this.#emitStale(storeKey, 'revalidate', now - expiresAt);
        this.#refresh(storeKey, key, compute, options, 'stale');
        return settledOf(entry) as Promise<T>;
      }
      if (now < expiresAt + this.#sieMs) return this.#miss(storeKey, key, compute, options, entry);
    }
    return this.#miss(storeKey, key, compute, options, undefined);
  }

  #miss<T>(
    storeKey: string,
    key: string,
    compute: (ctx: FlightContext) => Promise<T> | T,
    options: CacheGetOptions | undefined,
    fallback: CacheEntry | undefined,
  ): Promise<T> {
    this.#misses++;
    const epoch = this.#epoch;
    // With a stale value to fall back on, a failure must not replace it with a negative entry.
    const run = (ctx: CallContext): Promise<T> =>
      this.#load(storeKey, key, compute, ctx, options, epoch, 'miss', fallback !== undefined);
    const signal = options?.signal;
    const flight =
      signal === undefined || signal === NEVER_ABORTED
        ? this.#flights.run<T>(storeKey, run)
        : this.#flights.run<T>(storeKey, run, { signal });
    if (fallback === undefined) return flight;
    return flight.catch((error: unknown) => {
      // A caller that left gets its own abort reason, never a stale value.
      if (signal?.aborted === true) throw error;
      this.#stale++;
      this.#emitStale(storeKey, 'error', this.#clock.now() - fallback.expiresAt);
      return fallback.value as T;
    });
  }

  #refresh<T>(
    storeKey: string,
    key: string,
    compute: (ctx: FlightContext) => Promise<T> | T,
    options: CacheGetOptions | undefined,
    reason: 'stale' | 'early',
  ): void {
    if (this.#refreshing.has(storeKey)) return;
    this.#refreshing.add(storeKey);
    this.#refreshes++;
    if (reason === 'early') this.#early++;
    const epoch = this.#epoch;
    // No caller waits on a refresh, so it runs unabortable (a pinned flight)
    // and a miss arriving meanwhile joins it instead of computing again.
    const done = this.#flights
      .run(storeKey, (ctx) => this.#load(storeKey, key, compute, ctx, options, epoch, reason, true))
      .then(
        () => undefined,
        () => undefined, // reported by #load; the stale entry stays for stale-if-error
      )
      .finally(() => {
        this.#refreshing.delete(storeKey);
        this.#background.delete(done);
      });
    this.#background.add(done);
  }

  async #load<T>(
    storeKey: string,
    key: string,
    compute: (ctx: FlightContext) => Promise<T> | T,
    flight: CallContext,
    options: CacheGetOptions | undefined,
    epoch: number,
    reason: Reason,
    keepStale: boolean,
  ): Promise<T> {
    this.#loads++;
    const started = this.#clock.now();
    let value: T;
    try {
      // The context every batchflight callback gets, as SingleFlight#run hands it: the
      // computation's signal (and the flight's re-entry mark), the caller's scope and key.
      value = await compute({ ...flight, scope: options?.scope, key });
    } catch (error) {
      const now = this.#clock.now();
      this.#errors++;
      this.#emitLoad(storeKey, reason, false, now - started, error);
      if (this.#onError.active || cacheChannels.error.hasSubscribers) {
        const event: CacheErrorEvent = { name: this.#name, key: storeKey, phase: 'compute', error };
        this.#onError.emit(event);
        if (cacheChannels.error.hasSubscribers) cacheChannels.error.publish(event);
      }
      if (
        this.#negativeTtlMs > 0 &&
        !keepStale &&
        epoch === this.#epoch &&
        !flight.signal.aborted
      ) {
        const expiresAt = now + this.#negativeTtlMs;
        this.#write(storeKey, {
          value: error,
          error: true,
          expiresAt,
          staleUntil: expiresAt,
          computeMs: now - started,
        });
      }
      throw error;
    }
    const now = this.#clock.now();
    const computeMs = now - started;
    this.#emitLoad(storeKey, reason, true, computeMs, undefined);
    if (epoch === this.#epoch) {
      const ttlMs = options?.ttlMs ?? this.#ttlMs;
      const expiresAt = now + ttlMs;
      let tags: readonly string[] | undefined;
      try {
        tags = this.#tagsOf?.(value, storeKey);
      } catch (error) {
        // The value is good; a failing tags() only means it cannot be cached.
        this.#reportStoreError(storeKey, error);
        return value;
      }
      const extra = options?.tags;
      if (extra !== undefined && extra.length > 0)
        tags = tags === undefined ? extra : [...tags, ...extra];
      const entry: OwnEntry = {
        value,
        expiresAt,
        staleUntil: expiresAt + Math.max(this.#swrMs, this.#sieMs),
        computeMs,
        tags: tags !== undefined && tags.length > 0 ? tags : undefined,
        [SETTLED]: Promise.resolve(value),
      };
      this.#write(storeKey, entry);
    }
    return value;
  }

  /**
   * Writes behind: the read that computed the value does not wait for the
   * store (an unreachable Redis would hold it for the whole command
   * deadline). A synchronous store (memory) has the entry before this
   * returns; an asynchronous one has been sent it, and close() waits for it.
   */
  #write(storeKey: string, entry: CacheEntry): void {
    let done: MaybePromise<void>;
    try {
      done = this.#store.set(storeKey, entry);
    } catch (error) {
      this.#reportStoreError(storeKey, error);
      return;
    }
    if (!isPromiseLike(done)) return;
    const written: Promise<void> = Promise.resolve(done)
      .then(
        () => undefined,
        (error: unknown) => {
          this.#reportStoreError(storeKey, error);
        },
      )
      .finally(() => {
        this.#background.delete(written);
      });
    this.#background.add(written);
  }

  #reportStoreError(storeKey: string, error: unknown): void {
    if (!this.#onError.active && !cacheChannels.error.hasSubscribers) return;
    const event: CacheErrorEvent = { name: this.#name, key: storeKey, phase: 'store', error };
    this.#onError.emit(event);
    if (cacheChannels.error.hasSubscribers) cacheChannels.error.publish(event);
  }

  #emitLoad(key: string, reason: Reason, ok: boolean, durationMs: number, error: unknown): void {
    if (!this.#onLoad.active && !cacheChannels.load.hasSubscribers) return;
    const event: CacheLoadEvent = ok
      ? { name: this.#name, key, reason, ok, durationMs }
      : { name: this.#name, key, reason, ok, durationMs, error };
    this.#onLoad.emit(event);
    if (cacheChannels.load.hasSubscribers) cacheChannels.load.publish(event);
  }

  #emitStale(key: string, reason: 'revalidate' | 'error', ageMs: number): void {
    if (!this.#onStale.active && !cacheChannels.stale.hasSubscribers) return;
    const event: CacheStaleEvent = { name: this.#name, key, reason, ageMs };
    this.#onStale.emit(event);
    if (cacheChannels.stale.hasSubscribers) cacheChannels.stale.publish(event);
  }

  #makePrefix(version: unknown): string {
    if (version === undefined) return this.#namespace;
    if (typeof version !== 'string' && (typeof version !== 'number' || !Number.isFinite(version))) {
      throw new InvalidOptionError(
        'version',
        `${WHERE}: option version must be a string or a finite number, got ${describe(version)}.`,
      );
    }
    // The length prefix keeps versions "1" + key "2x" and "12" + key "x" apart.
    const v = String(version);
    return `${this.#namespace}v${String(v.length)}:${v}:`;
  }

  #scopedKey(scope: string, key: string): string {
    if (typeof scope !== 'string') throw keyError(scope, 'scope');
    // NUL never starts an unscoped key (rejected by get), and the length
    // prefix keeps scope "a:b" + key "c" apart from scope "a" + key "b:c".
    return `${this.#prefix}\u0000${String(scope.length)}:${scope}\u0000${key}`;
  }
}

function settledOf(entry: CacheEntry): Promise<unknown> {
  if (entry.error === true) return rejectWith(entry.value);
  return (entry as OwnEntry)[SETTLED] ?? Promise.resolve(entry.value);
}

/** Rejects with the value thrown, unchanged (it need not be an Error: it is the caller's own). */
function rejectWith(reason: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  return Promise.reject(reason);
}

function keyError(key: unknown, what = 'key'): CacheKeyError {
  return new CacheKeyError(
    `cache: a ${what} must be a string that does not start with NUL, got ${describe(key)}.`,
  );
}

/**
 * Creates a {@link Cache}.
 *
 * @example
 * ```ts
 * const users = cache({
 *   ttlMs: 60_000,
 *   staleWhileRevalidateMs: 30_000,
 *   earlyRefresh: true,
 *   version: 3,
 * });
 * const user = await users.get(`user:${id}`, () => db.findUser(id));
 * ```
 */
export function cache<I = unknown>(options: CacheOptions<I>): Cache<I> {
  return new Cache(options);
}

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
