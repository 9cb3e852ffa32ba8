/**
 * The `CacheStore` contract: where cached entries live (memory, Redis, …).
 *
 * The contract is deliberately small and high level so a networked store can
 * answer each operation in one round trip (one Lua script or one pipelined
 * command each) and exposes no connection or transaction type.
 *
 * Invariants every store keeps (the conformance suite in
 * `@batchflight/testing` checks them):
 *
 * - **Opaque values.** A store keeps `entry.value` as given and never looks
 *   inside. The memory store keeps the reference itself (no copy: do not
 *   mutate a value after caching it); a networked store serialises the whole
 *   entry and must give back a value that is structurally equal for JSON-like
 *   data (strings, finite numbers, booleans, null, arrays and plain objects).
 *   Anything richer (Date, Map, BigInt, class instances, errors) needs a
 *   serialiser chosen by the store's user; the store documents which one it
 *   uses.
 * - **Time is the cache layer's.** `expiresAt` and `staleUntil` are absolute
 *   epoch milliseconds computed by the cache layer from its own clock. A store
 *   must keep an entry at least until `staleUntil` (unless it is deleted,
 *   invalidated, cleared or evicted under a capacity bound) and must never
 *   return one whose `staleUntil` is already past on its own clock. So a store
 *   whose expiry runs on another clock (Redis `PXAT staleUntil`) conforms as
 *   long as the clocks roughly agree, and the cache layer still checks
 *   `expiresAt` itself on every read.
 * - **Tags.** `invalidateTags(tags)` removes every entry written with any of
 *   those tags (before the call returns), whatever its key.
 * - **May answer synchronously.** Every operation may return its result or a
 *   promise of it; callers always `await`. The memory store answers
 *   synchronously, which lets a cache hit skip a promise allocation.
 * - **Several keys at once.** `getMany(keys)` answers like `get` for each
 *   key, in order, in one operation (one round trip for a networked store).
 *   It is optional so a store written before it still conforms: callers use
 *   {@link getManyOf}, which falls back to one `get` per key.
 */

/** A value that may already be there, or may come later. */
export type MaybePromise<T> = T | PromiseLike<T>;

/** One cached entry. Immutable once written. */
export interface CacheEntry {
  /**
   * The cached value, opaque to the store. For a negative entry
   * (`error: true`) it is the error the computation threw.
   */
  readonly value: unknown;
  /** Present and true when `value` is a cached error (see the cache's `negativeTtlMs`). */
  readonly error?: true | undefined;
  /** Epoch ms at which the value stops being fresh. */
  readonly expiresAt: number;
  /**
   * Epoch ms until which the store must keep the entry (`>= expiresAt`): the
   * stale-while-revalidate / stale-if-error window. The store may drop it
   * any time after.
   */
  readonly staleUntil: number;
  /**
   * How long computing the value took, in milliseconds: the Δ of XFetch
   * early refresh (a value that is slow to compute is refreshed earlier).
   */
  readonly computeMs: number;
  /** Tags for {@link CacheStore.invalidateTags}; absent or empty when untagged. */
  readonly tags?: readonly string[] | undefined;
}

/** Where cache entries live. See the module comment for the invariants. */
export interface CacheStore {
  /**
   * The entry stored under `key`, or `undefined` when there is none (never
   * written, deleted, evicted, or past its `staleUntil`).
   */
  get(key: string): MaybePromise<CacheEntry | undefined>;
  /**
   * The entries of `keys`, one per key in the same order (`undefined` where
   * `get` would answer `undefined`), in one operation. Optional: see
   * {@link getManyOf}.
   */
  getMany?(keys: readonly string[]): MaybePromise<readonly (CacheEntry | undefined)[]>;
  /** Stores `entry` under `key`, replacing any previous entry and its tags. */
  set(key: string, entry: CacheEntry): MaybePromise<void>;
  /** Removes the entry under `key`; resolves to true when there was one. */
  delete(key: string): MaybePromise<boolean>;
  /**
   * Removes every entry tagged with at least one of `tags`; resolves to the
   * number of entries removed.
   */
  invalidateTags(tags: readonly string[]): MaybePromise<number>;
  /** Removes every entry of this store (a networked store: every key under its prefix). */
  clear(): MaybePromise<void>;
  /** Releases resources (timers, connections). Idempotent. */
  close?(): MaybePromise<void>;
}

/** True when `value` is a thenable (a store answered asynchronously). */
export function isPromiseLike<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Reads several keys from `store`: its `getMany` when it has one (one round
 * trip on Redis), otherwise one `get` per key, all at once. Resolves to one
 * entry (or `undefined`) per key, in order; rejects when the store does.
 *
 * @example
 * ```ts
 * const [a, b] = await getManyOf(store, ['user:1', 'user:2']);
 * ```
 */
export async function getManyOf(
  store: CacheStore,
  keys: readonly string[],
): Promise<readonly (CacheEntry | undefined)[]> {
  if (typeof store.getMany === 'function') {
    const entries: unknown = await store.getMany(keys);
    if (!Array.isArray(entries) || entries.length !== keys.length) {
      throw new TypeError(
        `CacheStore.getMany(keys) must resolve to an array with one entry (or undefined) per key, in order: asked for ${String(keys.length)} keys, got ${Array.isArray(entries) ? `an array of ${String(entries.length)}` : typeof entries}.`,
      );
    }
    return entries as readonly (CacheEntry | undefined)[];
  }
  // get may answer synchronously; Promise.all takes both (the rule cannot see MaybePromise).
  // eslint-disable-next-line @typescript-eslint/await-thenable
  return Promise.all(keys.map((key) => store.get(key)));
}
