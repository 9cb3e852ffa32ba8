/**
 * The store reads of one tick, sent together: a cache in front of a batch source's per-key
 * handler reads the keys of a batch in one `getMany` round trip, not one each.
 */
import { type CacheEntry, type CacheStore, getManyOf } from './store.js';

/** Collects the reads of one tick and sends them to the store at the end of it. */
export class ReadBatch {
  /** The store keys read in this tick, each with its waiting reads. */
  #reads: Map<string, ((entry: Promise<CacheEntry | undefined>) => void)[]> | undefined;

  constructor(private readonly store: CacheStore) {}

  /** Reads `storeKey` together with the other reads of this tick (one getMany). */
  read(storeKey: string): Promise<CacheEntry | undefined> {
    let reads = this.#reads;
    if (reads === undefined) {
      reads = new Map();
      this.#reads = reads;
      queueMicrotask(this.#flush);
    }
    const waiting = reads.get(storeKey);
    return new Promise<CacheEntry | undefined>((resolve) => {
      if (waiting === undefined) reads.set(storeKey, [resolve]);
      else waiting.push(resolve);
    });
  }

  readonly #flush = (): void => {
    const reads = this.#reads;
    this.#reads = undefined;
    if (reads === undefined) return;
    const keys = [...reads.keys()];
    let all: Promise<readonly (CacheEntry | undefined)[]>;
    if (keys.length === 1) {
      // One key: the store's own get, no getMany for a batch of one.
      all = (async () => [await this.store.get(keys[0] as string)])();
    } else {
      all = getManyOf(this.store, keys);
    }
    keys.forEach((key, i) => {
      const entry = all.then((entries) => entries[i]);
      for (const resolve of reads.get(key) ?? []) resolve(entry);
    });
  };
}
