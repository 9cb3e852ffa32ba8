/**
 * The public types of the cache (options, per-call options, settings, stats, events and
 * their diagnostics channels) and the validation of the settings a running cache can change.
 */
import {
  type CallOptions,
  type Clock,
  booleanOption,
  eventChannel,
  functionOption,
  knownOptions,
  numberOption,
} from '../core/index.js';
import type { CacheStore } from './store.js';

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

/**
 * The settings {@link Cache.configure} changes while the cache runs (and
 * {@link Cache.settings} shows). Windows apply to entries by when they are read or written:
 * see {@link Cache.configure}.
 */
export interface CacheSettings {
  /** How long a value computed from now on is fresh, in milliseconds (> 0). */
  readonly ttlMs: number;
  /** After expiry, serve the stale value while one background refresh runs, for this long (ms). */
  readonly staleWhileRevalidateMs: number;
  /** After expiry, serve the stale value when recomputing fails, for this long (ms). */
  readonly staleIfErrorMs: number;
  /** Cache errors for this long (ms); 0: never. */
  readonly negativeTtlMs: number;
  /** XFetch probabilistic early refresh. */
  readonly earlyRefresh: boolean | EarlyRefreshOptions;
  /** The key version (see {@link Cache.setVersion}); undefined: none. */
  readonly version?: string | number | undefined;
}

/** Payload of the `configured` channel: {@link Cache.configure} changed the settings. */
export interface CacheConfiguredEvent {
  readonly name: string | undefined;
  readonly previous: CacheSettings;
  readonly current: CacheSettings;
}

/** The diagnostics channels of every cache (`batchflight:cache:<event>`). */
export const cacheChannels = {
  load: eventChannel<CacheLoadEvent>('cache', 'load'),
  stale: eventChannel<CacheStaleEvent>('cache', 'stale'),
  error: eventChannel<CacheErrorEvent>('cache', 'error'),
  invalidate: eventChannel<CacheInvalidateEvent>('cache', 'invalidate'),
  configured: eventChannel<CacheConfiguredEvent>('cache', 'configured'),
} as const;

/** Where constructor and configure() messages come from. */
export const WHERE = 'cache()';
/** The option names of {@link CacheOptions}. */
export const OPTIONS = [
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

/** The names {@link Cache.configure} accepts. */
export const SETTINGS = [
  'ttlMs',
  'staleWhileRevalidateMs',
  'staleIfErrorMs',
  'negativeTtlMs',
  'earlyRefresh',
  'version',
] as const;

/** The windows in force, parsed: swapped as one object by configure(). */
export interface Windows {
  readonly ttlMs: number;
  readonly swrMs: number;
  readonly sieMs: number;
  readonly negativeTtlMs: number;
  /** 0: no early refresh. */
  readonly beta: number;
  readonly random: () => number;
  /** As given, for {@link Cache.settings}. */
  readonly earlyRefresh: boolean | EarlyRefreshOptions;
}

/** Validates the windows with the constructor's messages; `given` misses nothing it needs. */
export function windowsOption(
  given: Partial<CacheSettings> & { readonly ttlMs: unknown },
): Windows {
  const ttlMs = numberOption(WHERE, 'ttlMs', given.ttlMs, { exclusive: true });
  const swrMs = numberOption(WHERE, 'staleWhileRevalidateMs', given.staleWhileRevalidateMs ?? 0);
  const sieMs = numberOption(WHERE, 'staleIfErrorMs', given.staleIfErrorMs ?? 0);
  const negativeTtlMs = numberOption(WHERE, 'negativeTtlMs', given.negativeTtlMs ?? 0);
  const early = given.earlyRefresh ?? false;
  let beta: number;
  let random: () => number;
  if (typeof early === 'object') {
    knownOptions(`${WHERE} earlyRefresh`, early, ['beta', 'random']);
    beta = numberOption(WHERE, 'earlyRefresh.beta', early.beta ?? 1, { exclusive: true });
    random =
      early.random === undefined
        ? Math.random
        : functionOption<() => number>(WHERE, 'earlyRefresh.random', early.random);
  } else {
    beta = booleanOption(WHERE, 'earlyRefresh', early) ? 1 : 0;
    random = Math.random;
  }
  return { ttlMs, swrMs, sieMs, negativeTtlMs, beta, random, earlyRefresh: early };
}

/** `settings` without the keys given as undefined (left out, for a merge over the current ones). */
export function definedOnly<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(settings).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
