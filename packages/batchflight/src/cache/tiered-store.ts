/**
 * A two-tier {@link CacheStore}: a fast per-process L1 (memory) in front of a
 * shared L2 (`RedisCacheStore` of `@batchflight/redis`, or any store). Reads
 * try L1, then L2 (copying what L2 had into L1); writes go to both; deletes,
 * tag invalidations and clears go to both and, through the L2's invalidation
 * channel, reach every other process, which drops its L1 copy. An L1 copy past its `expiresAt` is checked against L2
 * (another process may have refreshed it), so a refresh anywhere is seen
 * everywhere. When the subscription is interrupted (a reconnect), messages
 * may have been missed, so L1 is cleared: a correct, colder cache.
 *
 * Store-agnostic: it talks to two {@link CacheStore}s and, when the L2 has
 * one, to its {@link InvalidationSource}; no driver is imported here.
 */
import {
  type Clock,
  type Subscription,
  type Timer,
  knownOptions,
  numberOption,
  systemClock,
} from '../core/index.js';
import {
  type CacheEntry,
  type CacheStore,
  type MaybePromise,
  getManyOf,
  isPromiseLike,
} from './store.js';

/**
 * What an L2 that is shared by many processes tells each of them: an entry,
 * a tag or everything was invalidated elsewhere, a namespace switched
 * version, or (`resync`) the subscription was interrupted and messages may
 * have been missed.
 */
export type CacheInvalidation =
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'tags'; readonly tags: readonly string[] }
  | { readonly kind: 'clear' }
  | { readonly kind: 'version'; readonly namespace: string; readonly version: string | number }
  /** The subscription was interrupted (a reconnect): messages may have been missed. */
  | { readonly kind: 'resync' };

/** An L2 that broadcasts invalidations (`RedisCacheStore` of `@batchflight/redis`). */
export interface InvalidationSource {
  /**
   * Calls `listener` with every invalidation another process published;
   * resolves once the messages are being received, rejects when they cannot be.
   */
  onInvalidation(listener: (event: CacheInvalidation) => void): Promise<Subscription>;
}

/** Options of {@link tieredStore}. */
export interface TieredStoreOptions {
  /** Clock of the L1 freshness check and of the subscription retries. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Called when another process published a version switch (for Redis,
   * `RedisCacheStore#publishVersion`): pass it to `cache.setVersion`.
   */
  readonly onVersion?: ((namespace: string, version: string | number) => void) | undefined;
  /**
   * Called when listening to the L2's invalidations failed (the L2
   * unreachable at start, or not answering): the store keeps working on L1
   * and L2 as they answer and tries to listen again every
   * `resubscribeMs`. Default: none (the failure is only visible in `ready`).
   */
  readonly onError?: ((error: unknown) => void) | undefined;
  /** Wait between two attempts to listen to the L2's invalidations, in ms (> 0). Default 1000. */
  readonly resubscribeMs?: number | undefined;
}

/** The store {@link tieredStore} returns. */
export interface TieredCacheStore extends CacheStore {
  /**
   * Resolves when the L2's invalidations are being listened to (at once
   * when L2 has none). Rejects (with the L2's error: a
   * `RedisUnavailableError` for Redis) when the first
   * attempt failed; that rejection is never unhandled, and the store keeps
   * trying in the background (`onError` reports each failure).
   */
  readonly ready: Promise<void>;
  /** Invalidation messages applied to L1 so far. */
  readonly remoteInvalidations: number;
  /** The entries of `keys`: L1 first, the rest from L2 in one call (`getMany` when L2 has it). */
  getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]>;
  /** Stops listening, and closes L1 and L2 (their own connections, never a client). Idempotent. */
  close(): Promise<void>;
  /** Same as {@link TieredCacheStore.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Puts `l1` in front of `l2`; see the module comment.
 *
 * @example
 * ```ts
 * const l2 = new RedisCacheStore({ client: redis });
 * const store = tieredStore(new MemoryCacheStore({ maxEntries: 10_000 }), l2, {
 *   onVersion: (_ns, v) => users.setVersion(v),
 *   onError: (error) => log.warn({ err: error }, 'cache invalidations not received'),
 * });
 * const users = cache({ ttlMs: 60_000, store });
 * ```
 */
export function tieredStore(
  l1: CacheStore,
  l2: CacheStore & Partial<InvalidationSource>,
  options: TieredStoreOptions = {},
): TieredCacheStore {
  knownOptions('tieredStore', options, ['clock', 'onVersion', 'onError', 'resubscribeMs']);
  const clock = options.clock ?? systemClock;
  const resubscribeMs = numberOption(
    'tieredStore',
    'resubscribeMs',
    options.resubscribeMs ?? 1000,
    {
      min: 0,
      exclusive: true,
      max: 2_147_483_647,
    },
  );
  let remote = 0;
  let subscription: Subscription | undefined;
  let retry: Timer | undefined;
  let closing = false;
  let closed: Promise<void> | undefined;

  const apply = (event: CacheInvalidation): void => {
    remote++;
    const done = (() => {
      switch (event.kind) {
        case 'key':
          return l1.delete(event.key);
        case 'tags':
          return l1.invalidateTags(event.tags);
        case 'version':
          options.onVersion?.(event.namespace, event.version);
          return l1.clear();
        case 'clear':
        case 'resync':
          return l1.clear();
      }
    })();
    if (isPromiseLike(done)) Promise.resolve(done).catch(() => undefined);
  };
  const report = (error: unknown): void => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing hook must not stop the retries.
    }
  };
  // Listens; after a failure, again every resubscribeMs until it works or the
  // store closes. While nobody listened, other processes' invalidations were
  // missed, so a late success clears L1 (as a resync does).
  const listen = (attempt: number): Promise<void> =>
    (l2.onInvalidation as InvalidationSource['onInvalidation'])(apply).then(
      (s) => {
        if (closing) {
          s.dispose();
          return;
        }
        subscription = s;
        if (attempt > 0) apply({ kind: 'resync' });
      },
      (error: unknown) => {
        report(error);
        if (!closing) {
          retry = clock.setTimer(() => {
            retry = undefined;
            if (!closing) listen(attempt + 1).catch(() => undefined);
          }, resubscribeMs);
        }
        throw error;
      },
    );
  const ready = typeof l2.onInvalidation === 'function' ? listen(0) : Promise.resolve();
  // The first attempt's failure is reported (onError) and retried: never unhandled.
  ready.catch(() => undefined);

  const fromL2 = async (
    key: string,
    local: CacheEntry | undefined,
  ): Promise<CacheEntry | undefined> => {
    let shared: CacheEntry | undefined;
    try {
      shared = await l2.get(key);
    } catch (error) {
      // L2 unreachable: an expired L1 copy still serves stale-if-error; without one, a miss.
      if (local !== undefined) return local;
      throw error;
    }
    return settle(key, local, shared);
  };
  const settle = async (
    key: string,
    local: CacheEntry | undefined,
    shared: CacheEntry | undefined,
  ): Promise<CacheEntry | undefined> => {
    if (shared === undefined) return local;
    if (local !== undefined && shared.expiresAt <= local.expiresAt) return local;
    await l1.set(key, shared);
    return shared;
  };
  const fresh = (entry: CacheEntry | undefined): entry is CacheEntry =>
    entry !== undefined && clock.now() < entry.expiresAt;
  const get = (key: string): MaybePromise<CacheEntry | undefined> => {
    const local = l1.get(key);
    const decide = (entry: CacheEntry | undefined): MaybePromise<CacheEntry | undefined> =>
      fresh(entry) ? entry : fromL2(key, entry);
    return isPromiseLike(local) ? Promise.resolve(local).then(decide) : decide(local);
  };
  const getMany = async (keys: readonly string[]): Promise<(CacheEntry | undefined)[]> => {
    const locals = await getManyOf(l1, keys);
    const out: (CacheEntry | undefined)[] = [...locals];
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) if (!fresh(locals[i])) missing.push(i);
    if (missing.length === 0) return out;
    let shared: readonly (CacheEntry | undefined)[];
    try {
      shared = await getManyOf(
        l2,
        missing.map((i) => keys[i] as string),
      );
    } catch (error) {
      // As get: L2 unreachable, the L1 copies answer; a key with none fails the call.
      if (missing.every((i) => locals[i] !== undefined)) return out;
      throw error;
    }
    await Promise.all(
      missing.map(async (i, j) => {
        out[i] = await settle(keys[i] as string, locals[i], shared[j]);
      }),
    );
    return out;
  };
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      retry?.cancel();
      retry = undefined;
      await ready.catch(() => undefined);
      subscription?.dispose();
      await Promise.allSettled([l1.close?.(), l2.close?.()]);
    })();
    return closed;
  };

  return {
    ready,
    get remoteInvalidations() {
      return remote;
    },
    get,
    getMany,
    async set(key, entry) {
      await l1.set(key, entry);
      await l2.set(key, entry);
    },
    async delete(key) {
      const [a, b] = await Promise.all([l1.delete(key), l2.delete(key)]);
      return a || b;
    },
    async invalidateTags(tags) {
      const [, removed] = await Promise.all([l1.invalidateTags(tags), l2.invalidateTags(tags)]);
      return removed;
    },
    async clear() {
      await Promise.all([l1.clear(), l2.clear()]);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
