/**
 * A two-tier {@link CacheStore}: a fast per-process L1 (memory) in front of a
 * shared L2 (Redis). Reads try L1, then L2 (copying what L2 had into L1);
 * writes go to both; deletes, tag invalidations and clears go to both and,
 * through the L2's invalidation channel, reach every other process, which
 * drops its L1 copy. An L1 copy past its `expiresAt` is checked against L2
 * (another process may have refreshed it), so a refresh anywhere is seen
 * everywhere. When the subscription is interrupted (a reconnect), messages
 * may have been missed, so L1 is cleared: a correct, colder cache.
 */
import {
  type CacheEntry,
  type CacheStore,
  type Clock,
  type MaybePromise,
  type Subscription,
  isPromiseLike,
  knownOptions,
  systemClock,
} from 'batchflight';
import type { CacheInvalidation } from './cache-store.js';

/** An L2 that broadcasts invalidations (a `RedisCacheStore`). */
export interface InvalidationSource {
  onInvalidation(listener: (event: CacheInvalidation) => void): Promise<Subscription>;
}

/** Options of {@link tieredStore}. */
export interface TieredStoreOptions {
  /** Clock of the L1 freshness check. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Called when another process published a version switch
   * (`RedisCacheStore#publishVersion`): pass it to `cache.setVersion`.
   */
  readonly onVersion?: ((namespace: string, version: string | number) => void) | undefined;
}

/** The store {@link tieredStore} returns. */
export interface TieredCacheStore extends CacheStore {
  /** Resolves when the L2's invalidations are being listened to (at once when L2 has none). */
  readonly ready: Promise<void>;
  /** Invalidation messages applied to L1 so far. */
  readonly remoteInvalidations: number;
  /** Unsubscribes and closes L1 and L2. Idempotent. */
  close(): Promise<void>;
}

/**
 * Puts `l1` in front of `l2`; see the module comment.
 *
 * @example
 * ```ts
 * const l2 = new RedisCacheStore({ client: redis });
 * const store = tieredStore(new MemoryCacheStore({ maxEntries: 10_000 }), l2, {
 *   onVersion: (_ns, v) => users.setVersion(v),
 * });
 * await store.ready;
 * const users = cache({ ttlMs: 60_000, store });
 * ```
 */
export function tieredStore(
  l1: CacheStore,
  l2: CacheStore & Partial<InvalidationSource>,
  options: TieredStoreOptions = {},
): TieredCacheStore {
  knownOptions('tieredStore', options, ['clock', 'onVersion']);
  const clock = options.clock ?? systemClock;
  let remote = 0;
  let subscription: Subscription | undefined;
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
  const ready =
    typeof l2.onInvalidation === 'function'
      ? l2.onInvalidation(apply).then((s) => {
          subscription = s;
        })
      : Promise.resolve();

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
    if (shared === undefined) return local;
    if (local !== undefined && shared.expiresAt <= local.expiresAt) return local;
    await l1.set(key, shared);
    return shared;
  };
  const get = (key: string): MaybePromise<CacheEntry | undefined> => {
    const local = l1.get(key);
    const decide = (entry: CacheEntry | undefined): MaybePromise<CacheEntry | undefined> =>
      entry !== undefined && clock.now() < entry.expiresAt ? entry : fromL2(key, entry);
    return isPromiseLike(local) ? Promise.resolve(local).then(decide) : decide(local);
  };

  return {
    ready,
    get remoteInvalidations() {
      return remote;
    },
    get,
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
    close() {
      closed ??= (async () => {
        await ready.catch(() => undefined);
        subscription?.dispose();
        await Promise.allSettled([l1.close?.(), l2.close?.()]);
      })();
      return closed;
    },
  };
}
