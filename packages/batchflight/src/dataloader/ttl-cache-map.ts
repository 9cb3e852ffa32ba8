/**
 * A bounded, expiring `Map`-shaped cache for DataLoader, kept in the cache
 * capability's {@link MemoryCacheStore}: the library has one TTL structure
 * (lazy expiry on read, least recently used evicted beyond the bound), not
 * one per capability.
 *
 * The store is keyed by strings, a `Map` by SameValueZero, so keys are
 * encoded: primitives by type and value (`1` and `"1"` stay apart, `0` and
 * `-0` are one key, `NaN` is `NaN`), objects, functions and symbols by
 * identity (a per-map id held in a WeakMap, so a key that is no longer
 * referenced anywhere does not keep its id alive), registered symbols by
 * their registry name.
 */
import { integerOption, numberOption, systemClock, type Clock } from '../core/index.js';
import { MemoryCacheStore } from '../cache/index.js';

/** Options of {@link TtlCacheMap}. */
export interface TtlCacheMapOptions {
  /** Lifetime of an entry in milliseconds. Default Infinity. */
  readonly ttlMs?: number;
  /** Most entries kept; beyond it the least recently used goes. Default Infinity. */
  readonly maxEntries?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * A `Map`-shaped cache with a TTL and a size bound, usable as DataLoader's `cacheMap`.
 *
 * @example
 * ```ts
 * const loader = new DataLoader(load, { cacheMap: new TtlCacheMap({ ttlMs: 60_000, maxEntries: 10_000 }) });
 * ```
 */
export class TtlCacheMap<K, V> {
  readonly #store: MemoryCacheStore;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #ids = new WeakMap<WeakKey, string>();
  #nextId = 0;

  constructor(options: TtlCacheMapOptions = {}) {
    const where = 'new TtlCacheMap()';
    this.#ttlMs = numberOption(where, 'ttlMs', options.ttlMs ?? Infinity, {
      exclusive: true,
      allowInfinity: true,
    });
    const maxEntries = integerOption(where, 'maxEntries', options.maxEntries ?? Infinity, {
      allowInfinity: true,
    });
    this.#clock = options.clock ?? systemClock;
    this.#store = new MemoryCacheStore({ maxEntries, clock: this.#clock });
  }

  /** Entries held, expired ones not yet read included. */
  get size(): number {
    return this.#store.stats().entries;
  }

  get(key: K): V | undefined {
    return this.#store.get(this.#encode(key))?.value as V | undefined;
  }

  set(key: K, value: V): this {
    const expiresAt = this.#clock.now() + this.#ttlMs;
    this.#store.set(this.#encode(key), { value, expiresAt, staleUntil: expiresAt, computeMs: 0 });
    return this;
  }

  delete(key: K): boolean {
    return this.#store.delete(this.#encode(key));
  }

  clear(): void {
    this.#store.clear();
  }

  #encode(key: K): string {
    switch (typeof key) {
      case 'string':
        return `s${key}`;
      case 'number':
        // String(-0) is "0" and String(NaN) is "NaN": SameValueZero, as in a Map.
        return `n${String(key)}`;
      case 'bigint':
        return `b${String(key)}`;
      case 'boolean':
        return key ? 't' : 'f';
      case 'undefined':
        return 'u';
      case 'symbol': {
        const name = Symbol.keyFor(key);
        if (name !== undefined) return `r${name}`;
        return this.#identity(key);
      }
      default:
        return key === null ? 'l' : this.#identity(key as WeakKey);
    }
  }

  #identity(key: WeakKey): string {
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = `o${String(this.#nextId++)}`;
      this.#ids.set(key, id);
    }
    return id;
  }
}
