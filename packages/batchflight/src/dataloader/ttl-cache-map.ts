/**
 * A bounded cache for DataLoader: entries expire `ttlMs` after they are set
 * and the oldest go first beyond `maxEntries`. Expiry is checked on read
 * (no timer), so an idle cache costs nothing.
 */
import { integerOption, numberOption, systemClock, type Clock } from '../core/index.js';

/** Options of {@link TtlCacheMap}. */
export interface TtlCacheMapOptions {
  /** Lifetime of an entry in milliseconds. Default Infinity. */
  readonly ttlMs?: number;
  /** Most entries kept; setting one more evicts the least recently set. Default Infinity. */
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
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: Clock;

  constructor(options: TtlCacheMapOptions = {}) {
    const where = 'new TtlCacheMap()';
    this.#ttlMs = numberOption(where, 'ttlMs', options.ttlMs ?? Infinity, {
      exclusive: true,
      allowInfinity: true,
    });
    this.#maxEntries = integerOption(where, 'maxEntries', options.maxEntries ?? Infinity, {
      allowInfinity: true,
    });
    this.#clock = options.clock ?? systemClock;
  }

  /** Entries held, expired ones not yet read included. */
  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V): this {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#clock.now() + this.#ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
