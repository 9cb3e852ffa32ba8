/**
 * The in-process {@link CacheStore}: an LRU bounded by entry count and by
 * approximate bytes.
 *
 * Expiry is lazy: an entry past its `staleUntil` is dropped when it is read
 * (or reached by an eviction or the optional sweep), so there is no timer
 * per entry. Recency is a doubly linked list threaded through the entries,
 * so a hit moves its entry to the front with a few pointer writes and no
 * allocation.
 */
import {
  type Clock,
  ClosedError,
  type Timer,
  describe,
  functionOption,
  integerOption,
  knownOptions,
  systemClock,
} from '../core/index.js';
import type { CacheEntry, CacheStore } from './store.js';

/** Options of {@link MemoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** Most entries kept; the least recently used beyond it is evicted. Default 10 000. */
  readonly maxEntries?: number;
  /**
   * Most bytes kept, as estimated by `sizeOf`; least recently used entries are
   * evicted beyond it. An entry larger than the whole budget is not stored.
   * Default `Infinity` (bounded by `maxEntries` only).
   */
  readonly maxBytes?: number;
  /**
   * Estimates the bytes an entry occupies. The default
   * ({@link estimateEntryBytes}) walks the value: 2 bytes per string
   * character, 8 per number, the byte length of buffers and typed arrays,
   * 16 per object or array slot plus its keys, capped at 4 levels of
   * nesting and 10 000 visited values (deeper or larger parts count a flat
   * 1 KiB), plus the key and 96 bytes of per-entry overhead. It is an
   * estimate for a budget, not a measurement of the heap.
   */
  readonly sizeOf?: (key: string, entry: CacheEntry) => number;
  /** Source of `now()` for lazy expiry and the sweep. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * When set, every `sweepIntervalMs` an unref'd timer removes the entries
   * past their `staleUntil`, so memory is given back even for keys never
   * read again. Default: no sweep (expired entries go when read or evicted).
   */
  readonly sweepIntervalMs?: number;
}

/** Statistics of a {@link MemoryCacheStore}. */
export interface MemoryCacheStoreStats {
  /** Entries held now (some may be past `staleUntil`, not yet dropped). */
  readonly entries: number;
  /** Estimated bytes held now (tracked only when `maxBytes` is finite, else 0). */
  readonly bytes: number;
  /** Entries evicted by the `maxEntries` / `maxBytes` bounds so far. */
  readonly evictions: number;
  /** Entries dropped because their `staleUntil` passed. */
  readonly expirations: number;
}

interface Node {
  readonly key: string;
  entry: CacheEntry;
  bytes: number;
  newer: Node | undefined;
  older: Node | undefined;
}

const WHERE = 'MemoryCacheStore';

/** Key of {@link MemoryCacheStore}'s unchecked read, shared with the cache layer only. */
export const PEEK: unique symbol = Symbol('batchflight.cache.peek');
const ENTRY_OVERHEAD_BYTES = 96;
const MAX_DEPTH = 4;
const MAX_VISITS = 10_000;
const OPAQUE_BYTES = 1024;

/**
 * Approximate size of a value in bytes (see
 * {@link MemoryCacheStoreOptions.sizeOf} for the rules).
 */
export function estimateValueBytes(value: unknown): number {
  let visits = 0;
  const walk = (v: unknown, depth: number): number => {
    if (++visits > MAX_VISITS) return OPAQUE_BYTES;
    switch (typeof v) {
      case 'string':
        return 2 * v.length + 16;
      case 'number':
      case 'bigint':
        return 8;
      case 'boolean':
      case 'undefined':
        return 4;
      case 'symbol':
      case 'function':
        return 32;
      default:
        break;
    }
    if (v === null) return 4;
    if (ArrayBuffer.isView(v)) return v.byteLength + 64;
    if (v instanceof ArrayBuffer) return v.byteLength + 32;
    if (depth >= MAX_DEPTH) return OPAQUE_BYTES;
    if (Array.isArray(v)) {
      let total = 32;
      for (const item of v as unknown[]) total += 8 + walk(item, depth + 1);
      return total;
    }
    if (v instanceof Map) {
      let total = 64;
      for (const [k, item] of v as Map<unknown, unknown>)
        total += 16 + walk(k, depth + 1) + walk(item, depth + 1);
      return total;
    }
    if (v instanceof Set) {
      let total = 64;
      for (const item of v as Set<unknown>) total += 16 + walk(item, depth + 1);
      return total;
    }
    if (v instanceof Date) return 32;
    let total = 32;
    for (const name of Object.keys(v as object)) {
      total += 16 + 2 * name.length + walk((v as Record<string, unknown>)[name], depth + 1);
    }
    return total;
  };
  return walk(value, 0);
}

/** The default `sizeOf`: key, value and tags estimated, plus per-entry overhead. */
export function estimateEntryBytes(key: string, entry: CacheEntry): number {
  let bytes = ENTRY_OVERHEAD_BYTES + 2 * key.length + estimateValueBytes(entry.value);
  if (entry.tags !== undefined) for (const tag of entry.tags) bytes += 24 + 2 * tag.length;
  return bytes;
}

/**
 * An in-memory LRU {@link CacheStore}.
 *
 * It answers every operation synchronously and returns the very entry object
 * it was given, so the cache layer can keep one resolved promise per entry
 * and serve a hit without allocating.
 *
 * @example
 * ```ts
 * const store = new MemoryCacheStore({ maxEntries: 50_000, maxBytes: 64 * 1024 * 1024 });
 * const users = cache({ store, ttlMs: 30_000 });
 * ```
 */
export class MemoryCacheStore implements CacheStore {
  readonly #map = new Map<string, Node>();
  readonly #tags = new Map<string, Set<string>>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (key: string, entry: CacheEntry) => number;
  readonly #clock: Clock;
  readonly #sweepIntervalMs: number;
  #sweepTimer: Timer | undefined;
  #newest: Node | undefined;
  #oldest: Node | undefined;
  #bytes = 0;
  #evictions = 0;
  #expirations = 0;
  #closed = false;

  constructor(options: MemoryCacheStoreOptions = {}) {
    knownOptions(WHERE, options, ['maxEntries', 'maxBytes', 'sizeOf', 'clock', 'sweepIntervalMs']);
    this.#maxEntries = integerOption(WHERE, 'maxEntries', options.maxEntries ?? 10_000, {
      allowInfinity: true,
    });
    this.#maxBytes = integerOption(WHERE, 'maxBytes', options.maxBytes ?? Infinity, {
      allowInfinity: true,
    });
    this.#sizeOf =
      options.sizeOf === undefined
        ? estimateEntryBytes
        : functionOption<(key: string, entry: CacheEntry) => number>(
            WHERE,
            'sizeOf',
            options.sizeOf,
          );
    this.#clock = options.clock ?? systemClock;
    this.#sweepIntervalMs =
      options.sweepIntervalMs === undefined
        ? 0
        : integerOption(WHERE, 'sweepIntervalMs', options.sweepIntervalMs);
    if (this.#sweepIntervalMs > 0) this.#armSweep();
  }

  get(key: string): CacheEntry | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    if (node.entry.staleUntil <= this.#clock.now()) {
      this.#remove(node);
      this.#expirations++;
      return undefined;
    }
    if (node !== this.#newest) this.#touch(node);
    return node.entry;
  }

  /** `get` of each key, in order (synchronous, like every operation of this store). */
  getMany(keys: readonly string[]): (CacheEntry | undefined)[] {
    return keys.map((key) => this.get(key));
  }

  /**
   * `get` without the expiry check, for the cache layer of this package,
   * which checks `staleUntil` itself with the time it reads anyway (one clock
   * read per hit instead of two).
   *
   * @internal
   */
  [PEEK](key: string): CacheEntry | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    if (node !== this.#newest) this.#touch(node);
    return node.entry;
  }

  set(key: string, entry: CacheEntry): void {
    if (this.#closed) throw new ClosedError(`${WHERE}: set() after close().`);
    const bytes = this.#maxBytes === Infinity ? 0 : this.#sizeOf(key, entry);
    if (!(bytes >= 0 && bytes !== Infinity)) {
      throw new TypeError(
        `${WHERE}: sizeOf must return a finite number of bytes >= 0, got ${describe(bytes)} for key ${describe(key)}.`,
      );
    }
    const existing = this.#map.get(key);
    if (existing !== undefined) this.#remove(existing);
    // An entry larger than the whole budget would evict everything and still not fit.
    if (bytes > this.#maxBytes) return;
    const node: Node = { key, entry, bytes, newer: undefined, older: this.#newest };
    if (this.#newest !== undefined) this.#newest.newer = node;
    this.#newest = node;
    this.#oldest ??= node;
    this.#map.set(key, node);
    this.#bytes += bytes;
    if (entry.tags !== undefined) {
      for (const tag of entry.tags) {
        let keys = this.#tags.get(tag);
        if (keys === undefined) this.#tags.set(tag, (keys = new Set()));
        keys.add(key);
      }
    }
    while (this.#map.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#leastRecent();
      // Never evict the entry just written: a lone entry within maxBytes always fits.
      if (oldest === undefined || oldest.key === key) break;
      this.#remove(oldest);
      this.#evictions++;
    }
  }

  delete(key: string): boolean {
    const node = this.#map.get(key);
    if (node === undefined) return false;
    this.#remove(node);
    return true;
  }

  invalidateTags(tags: readonly string[]): number {
    let removed = 0;
    for (const tag of tags) {
      const keys = this.#tags.get(tag);
      if (keys === undefined) continue;
      for (const key of [...keys]) if (this.delete(key)) removed++;
      this.#tags.delete(tag);
    }
    return removed;
  }

  clear(): void {
    this.#map.clear();
    this.#tags.clear();
    this.#newest = undefined;
    this.#oldest = undefined;
    this.#bytes = 0;
  }

  /** Removes every entry past its `staleUntil`; returns how many. */
  sweep(): number {
    const now = this.#clock.now();
    let removed = 0;
    for (const node of this.#map.values()) {
      if (node.entry.staleUntil <= now) {
        this.#remove(node);
        removed++;
      }
    }
    this.#expirations += removed;
    return removed;
  }

  /** Counters and sizes; see {@link MemoryCacheStoreStats}. */
  stats(): MemoryCacheStoreStats {
    return {
      entries: this.#map.size,
      bytes: this.#bytes,
      evictions: this.#evictions,
      expirations: this.#expirations,
    };
  }

  /** Stops the sweep and drops every entry. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    this.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #armSweep(): void {
    this.#sweepTimer = this.#clock.setTimer(
      () => {
        if (this.#closed) return;
        this.sweep();
        this.#armSweep();
      },
      this.#sweepIntervalMs,
      { unref: true },
    );
  }

  #leastRecent(): Node | undefined {
    return this.#oldest;
  }

  #touch(node: Node): void {
    // Unlink (node is not the newest, so node.newer is set) and relink at the front.
    const newer = node.newer as Node;
    newer.older = node.older;
    if (node.older === undefined) this.#oldest = newer;
    else node.older.newer = newer;
    node.older = this.#newest;
    node.newer = undefined;
    (this.#newest as Node).newer = node;
    this.#newest = node;
  }

  #remove(node: Node): void {
    this.#map.delete(node.key);
    if (node.newer === undefined) this.#newest = node.older;
    else node.newer.older = node.older;
    if (node.older === undefined) this.#oldest = node.newer;
    else node.older.newer = node.newer;
    node.newer = undefined;
    node.older = undefined;
    this.#bytes -= node.bytes;
    const tags = node.entry.tags;
    if (tags !== undefined) {
      for (const tag of tags) {
        const keys = this.#tags.get(tag);
        if (keys === undefined) continue;
        keys.delete(node.key);
        if (keys.size === 0) this.#tags.delete(tag);
      }
    }
  }
}
