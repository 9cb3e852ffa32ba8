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
  type Clock,
  ClosedError,
  type Handler,
  NEVER_ABORTED,
  type Subscription,
  describe,
  functionOption,
  InvalidOptionError,
  knownOptions,
  rejectWith,
  stableKey,
  systemClock,
} from '../core/index.js';
import { type FlightContext, SingleFlight } from '../singleflight/index.js';
import { CacheEvents } from './events.js';
import { keyError, scopedKey, versionPrefix } from './keys.js';
import { MemoryCacheStore, PEEK } from './memory-store.js';
import {
  cacheChannels,
  OPTIONS,
  SETTINGS,
  WHERE,
  windowsOption,
  definedOnly,
  type CacheGetOptions,
  type CacheErrorEvent,
  type CacheLoadEvent,
  type CacheOptions,
  type CacheSettings,
  type CacheStaleEvent,
  type CacheStats,
  type Windows,
} from './options.js';
import { ReadBatch } from './read-batch.js';
import { type CacheEntry, type CacheStore, type MaybePromise, isPromiseLike } from './store.js';

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
  /** TTLs and windows, swapped as one object by configure(). */
  #windows: Windows;
  #version: string | number | undefined;
  readonly #keyOf: (input: I) => string;
  readonly #tagsOf: ((value: unknown, key: string) => readonly string[]) | undefined;
  readonly #namespace: string;
  readonly #name: string | undefined;
  readonly #flights: SingleFlight;
  readonly #refreshing = new Set<string>();
  readonly #background = new Set<Promise<void>>();
  /** Set when store reads of one tick go to the store's getMany together. */
  readonly #reads: ReadBatch | undefined;
  readonly #events: CacheEvents;
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
    this.#windows = windowsOption(options);
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
    this.#reads =
      this.#memory === undefined && typeof this.#store.getMany === 'function'
        ? new ReadBatch(this.#store)
        : undefined;
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
    this.#events = new CacheEvents(options.name);
    this.#prefix = versionPrefix(this.#namespace, options.version);
    this.#version = options.version;
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
    const storeKey = scope === undefined ? this.#prefix + key : scopedKey(this.#prefix, scope, key);
    const memory = this.#memory;
    if (memory !== undefined)
      return this.#answer(storeKey, key, memory[PEEK](storeKey), compute, options);
    let found: MaybePromise<CacheEntry | undefined>;
    try {
      found = this.#reads === undefined ? this.#store.get(storeKey) : this.#reads.read(storeKey);
    } catch (error) {
      this.#events.failed(storeKey, 'store', error);
      found = undefined;
    }
    if (isPromiseLike(found)) {
      return Promise.resolve(found).then(
        (entry) => this.#answer(storeKey, key, entry, compute, options),
        (error: unknown) => {
          this.#events.failed(storeKey, 'store', error);
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
    const storeKey = scope === undefined ? this.#prefix + key : scopedKey(this.#prefix, scope, key);
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
    this.#prefix = versionPrefix(this.#namespace, version);
    this.#version = version;
    this.#epoch++;
  }

  /** The settings in force. */
  get settings(): CacheSettings {
    const w = this.#windows;
    return {
      ttlMs: w.ttlMs,
      staleWhileRevalidateMs: w.swrMs,
      staleIfErrorMs: w.sieMs,
      negativeTtlMs: w.negativeTtlMs,
      earlyRefresh: w.earlyRefresh,
      version: this.#version,
    };
  }

  /**
   * Changes TTLs, stale windows, early refresh and the key version while the cache runs.
   *
   * - `ttlMs` and `negativeTtlMs` apply to entries written from now on (a computation that
   *   finishes after the change included); an entry already stored keeps the expiry it was
   *   written with.
   * - `staleWhileRevalidateMs` and `staleIfErrorMs` are read when an entry is read, so they
   *   apply to stored entries at once, measured from each entry's expiry. A longer window
   *   reaches an old entry only while its store still holds it: a store may drop an entry
   *   once the windows it was written with are over.
   * - `version` is {@link setVersion}: every entry of the old version becomes a miss.
   *
   * Settings left out keep their value; invalid ones throw the constructor's error and
   * change nothing (`dryRun` only checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * users.configure({ ttlMs: 5_000, staleWhileRevalidateMs: 60_000 });
   * ```
   */
  configure(settings: Partial<CacheSettings>, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `${WHERE}.configure(): settings must be an object of ${SETTINGS.join(', ')}, got ${describe(settings)}.`,
      );
    }
    knownOptions(WHERE, settings, SETTINGS);
    const previous = this.settings;
    const windows = windowsOption({ ...previous, ...definedOnly(settings) });
    const version = settings.version;
    // The prefix is built (and its version checked) before anything changes.
    const prefix = version === undefined ? undefined : versionPrefix(this.#namespace, version);
    if (options?.dryRun === true) return;
    this.#windows = windows;
    if (prefix !== undefined && version !== this.#version) {
      this.#prefix = prefix;
      this.#version = version;
      this.#epoch++;
    }
    if (cacheChannels.configured.hasSubscribers) {
      cacheChannels.configured.publish({ name: this.#name, previous, current: this.settings });
    }
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
    return this.#events.load.add(listener);
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
    return this.#events.stale.add(listener);
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
    return this.#events.error.add(listener);
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
    const windows = this.#windows;
    if (now < expiresAt) {
      this.#hits++;
      if (
        windows.beta > 0 &&
        entry.error !== true &&
        now - entry.computeMs * windows.beta * Math.log(windows.random()) >= expiresAt
      ) {
        this.#refresh(storeKey, key, compute, options, 'early');
      }
      return settledOf(entry) as Promise<T>;
    }
    if (entry.error !== true) {
      if (now < expiresAt + windows.swrMs) {
        this.#stale++;
        this.#events.served(storeKey, 'revalidate', now - expiresAt);
        this.#refresh(storeKey, key, compute, options, 'stale');
        return settledOf(entry) as Promise<T>;
      }
      if (now < expiresAt + windows.sieMs)
        return this.#miss(storeKey, key, compute, options, entry);
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
      this.#events.served(storeKey, 'error', this.#clock.now() - fallback.expiresAt);
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
      this.#events.loaded(storeKey, reason, false, now - started, error);
      this.#events.failed(storeKey, 'compute', error);
      const negativeTtlMs = this.#windows.negativeTtlMs;
      if (negativeTtlMs > 0 && !keepStale && epoch === this.#epoch && !flight.signal.aborted) {
        const expiresAt = now + negativeTtlMs;
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
    this.#events.loaded(storeKey, reason, true, computeMs, undefined);
    if (epoch === this.#epoch) {
      const windows = this.#windows;
      const ttlMs = options?.ttlMs ?? windows.ttlMs;
      const expiresAt = now + ttlMs;
      let tags: readonly string[] | undefined;
      try {
        tags = this.#tagsOf?.(value, storeKey);
      } catch (error) {
        // The value is good; a failing tags() only means it cannot be cached.
        this.#events.failed(storeKey, 'store', error);
        return value;
      }
      const extra = options?.tags;
      if (extra !== undefined && extra.length > 0)
        tags = tags === undefined ? extra : [...tags, ...extra];
      const entry: OwnEntry = {
        value,
        expiresAt,
        staleUntil: expiresAt + Math.max(windows.swrMs, windows.sieMs),
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
      this.#events.failed(storeKey, 'store', error);
      return;
    }
    if (!isPromiseLike(done)) return;
    const written: Promise<void> = Promise.resolve(done)
      .then(
        () => undefined,
        (error: unknown) => {
          this.#events.failed(storeKey, 'store', error);
        },
      )
      .finally(() => {
        this.#background.delete(written);
      });
    this.#background.add(written);
  }
}

function settledOf(entry: CacheEntry): Promise<unknown> {
  if (entry.error === true) return rejectWith(entry.value);
  return (entry as OwnEntry)[SETTLED] ?? Promise.resolve(entry.value);
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
