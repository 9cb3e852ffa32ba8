/**
 * The conformance suite of `CacheStore#getMany` (`batchflight/cache`), kept
 * apart from the main `CacheStore` suite because the method is optional:
 * a store that has it must answer like `get` for each key, in order, in
 * one call; `getManyOf` must give the same answers for a store with or
 * without it. It goes through the contract only.
 */
import { type CacheEntry, type CacheStore } from 'batchflight/cache';
import { getManyOf } from 'batchflight/kit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheStoreHarness } from './cache-store.js';

/**
 * Registers the vitest blocks of the `getMany` contract.
 *
 * @param name - shown in the test names, e.g. `'MemoryCacheStore'`.
 * @param makeStore - called before every test for a fresh, empty store that has `getMany`.
 *
 * @example
 * ```ts
 * cacheStoreGetManyConformance('MemoryCacheStore', async () => {
 *   const store = new MemoryCacheStore();
 *   return { store, cleanup: async () => store.close() };
 * });
 * ```
 */
export function cacheStoreGetManyConformance(
  name: string,
  makeStore: () => Promise<CacheStoreHarness>,
): void {
  describe(`CacheStore getMany conformance: ${name}`, () => {
    let harness: CacheStoreHarness;
    let store: CacheStore;
    const now = (): number => harness.clock?.now() ?? Date.now();
    const entry = (value: unknown, extra: Partial<CacheEntry> = {}): CacheEntry => ({
      value,
      expiresAt: now() + 60_000,
      staleUntil: now() + 120_000,
      computeMs: 2,
      ...extra,
    });
    const getMany = async (keys: readonly string[]): Promise<(CacheEntry | undefined)[]> => {
      const many = store.getMany?.bind(store);
      if (many === undefined) throw new Error(`${name}: the store under test has no getMany`);
      return [...(await many(keys))];
    };

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('answers an empty list with an empty list', async () => {
      expect(await getMany([])).toEqual([]);
    });

    it('answers one entry per key, in the order asked, undefined where there is none', async () => {
      await store.set('a', entry({ id: 1 }, { tags: ['t'] }));
      await store.set('c', entry('three'));
      const read = await getMany(['c', 'missing', 'a', 'c']);
      expect(read).toHaveLength(4);
      expect(read[0]?.value).toBe('three');
      expect(read[1]).toBeUndefined();
      expect(read[2]?.value).toEqual({ id: 1 });
      expect([...(read[2]?.tags ?? [])]).toEqual(['t']);
      expect(read[3]?.value).toBe('three');
    });

    it('agrees with get for every key, negative entries included', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `k${String(i)}`);
      for (const [i, key] of keys.entries()) {
        if (i % 3 === 0) continue;
        await store.set(
          key,
          i % 5 === 0
            ? { ...entry(new Error(`failed ${String(i)}`)), error: true }
            : entry({ i, text: `v${String(i)}` }),
        );
      }
      const many = await getMany(keys);
      for (const [i, key] of keys.entries()) {
        const one = await store.get(key);
        expect(many[i]?.value).toEqual(one?.value);
        expect(many[i]?.error).toEqual(one?.error);
        expect(many[i]?.expiresAt).toEqual(one?.expiresAt);
      }
    });

    it('never returns an entry whose staleUntil has passed', async () => {
      await store.set('old', entry('x', { expiresAt: now() - 2000, staleUntil: now() - 1000 }));
      await store.set('live', entry('y'));
      const read = await getMany(['old', 'live']);
      expect(read[0]).toBeUndefined();
      expect(read[1]?.value).toBe('y');
    });

    it('sees deletes and tag invalidations', async () => {
      await store.set('a', entry('a', { tags: ['t'] }));
      await store.set('b', entry('b'));
      await store.set('c', entry('c'));
      await store.delete('b');
      await store.invalidateTags(['t']);
      const read = await getMany(['a', 'b', 'c']);
      expect(read.map((e) => e?.value)).toEqual([undefined, undefined, 'c']);
    });

    it('getManyOf gives the same answers as getMany, and as get for a store without it', async () => {
      await store.set('a', entry('a'));
      await store.set('b', entry('b'));
      const keys = ['b', 'none', 'a'];
      const viaHelper = await getManyOf(store, keys);
      const withoutGetMany: CacheStore = {
        get: (key) => store.get(key),
        set: (key, value) => store.set(key, value),
        delete: (key) => store.delete(key),
        invalidateTags: (tags) => store.invalidateTags(tags),
        clear: () => store.clear(),
      };
      const viaGet = await getManyOf(withoutGetMany, keys);
      expect(viaHelper.map((e) => e?.value)).toEqual(['b', undefined, 'a']);
      expect(viaGet.map((e) => e?.value)).toEqual(['b', undefined, 'a']);
    });
  });
}
