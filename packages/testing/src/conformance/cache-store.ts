/**
 * The conformance suite of the `CacheStore` contract (`batchflight/cache`).
 * Every implementation (memory, Redis, …) runs it; it goes through the
 * contract only.
 *
 * Time: the cache layer writes absolute `expiresAt` / `staleUntil` stamps and
 * a store only has to keep an entry until `staleUntil` and never return one
 * already past it. When the harness hands back a `clock` (a TestClock driving
 * the store), the suite also moves time to watch entries lapse; otherwise it
 * uses stamps already in the past relative to `Date.now()`, which a store
 * with server-side expiry (Redis `PXAT`) honours too.
 */
import type { CacheEntry, CacheStore } from 'batchflight/cache';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestClock } from '../test-clock.js';

/** What the factory of {@link cacheStoreConformance} returns. */
export interface CacheStoreHarness {
  /** A fresh, empty store (its own key prefix for a shared server). */
  readonly store: CacheStore;
  /** The clock the store reads, when the test can move it. */
  readonly clock?: TestClock | undefined;
  /** Releases the store and whatever it created (keys, connections). */
  cleanup(): Promise<void>;
}

/**
 * Registers the vitest `describe`/`it` blocks of the contract.
 *
 * @param name - shown in the test names, e.g. `'MemoryCacheStore'`.
 * @param makeStore - called before every test for a fresh, empty store.
 *
 * @example
 * ```ts
 * cacheStoreConformance('MemoryCacheStore', async () => {
 *   const clock = new TestClock();
 *   const store = new MemoryCacheStore({ clock });
 *   return { store, clock, cleanup: async () => store.close() };
 * });
 * ```
 */
export function cacheStoreConformance(
  name: string,
  makeStore: () => Promise<CacheStoreHarness>,
): void {
  describe(`CacheStore conformance: ${name}`, () => {
    let harness: CacheStoreHarness;
    let store: CacheStore;
    const now = (): number => harness.clock?.now() ?? Date.now();
    const entry = (value: unknown, extra: Partial<CacheEntry> = {}): CacheEntry => ({
      value,
      expiresAt: now() + 60_000,
      staleUntil: now() + 120_000,
      computeMs: 12.5,
      ...extra,
    });

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('returns undefined for a key never written', async () => {
      expect(await store.get('missing')).toBeUndefined();
    });

    it('gives back what was set, every field of the entry', async () => {
      const written = entry(
        { id: 1, name: 'Ada', tags: ['x'], nested: { ok: true, n: null } },
        {
          tags: ['user:1', 'users'],
        },
      );
      await store.set('k', written);
      const read = await store.get('k');
      expect(read).toBeDefined();
      expect(read?.value).toEqual(written.value);
      expect(read?.expiresAt).toBe(written.expiresAt);
      expect(read?.staleUntil).toBe(written.staleUntil);
      expect(read?.computeMs).toBe(written.computeMs);
      expect([...(read?.tags ?? [])].sort()).toEqual(['user:1', 'users']);
      expect(read?.error).toBeUndefined();
    });

    it('keeps JSON-like values of every kind', async () => {
      const values: unknown[] = [
        '',
        'text with ünïcode and "quotes"',
        0,
        -1.5,
        true,
        false,
        null,
        [],
        {},
        [1, 'two', { three: [3] }],
      ];
      for (const [i, value] of values.entries()) await store.set(`v${String(i)}`, entry(value));
      for (const [i, value] of values.entries()) {
        expect((await store.get(`v${String(i)}`))?.value).toEqual(value);
      }
    });

    it('keeps a negative entry flagged as an error', async () => {
      await store.set('neg', entry({ name: 'Error', message: 'boom' }, { error: true }));
      const read = await store.get('neg');
      expect(read?.error).toBe(true);
    });

    it('replaces an entry on set, with its tags', async () => {
      await store.set('k', entry('one', { tags: ['a'] }));
      await store.set('k', entry('two', { tags: ['b'] }));
      expect((await store.get('k'))?.value).toBe('two');
      expect(await store.invalidateTags(['a'])).toBe(0);
      expect((await store.get('k'))?.value).toBe('two');
      expect(await store.invalidateTags(['b'])).toBe(1);
      expect(await store.get('k')).toBeUndefined();
    });

    it('keys are distinct strings: no prefix or case folding', async () => {
      await store.set('a', entry(1));
      await store.set('A', entry(2));
      await store.set('a:b', entry(3));
      await store.set('a b', entry(4));
      expect((await store.get('a'))?.value).toBe(1);
      expect((await store.get('A'))?.value).toBe(2);
      expect((await store.get('a:b'))?.value).toBe(3);
      expect((await store.get('a b'))?.value).toBe(4);
    });

    it('deletes one key and tells whether it was there', async () => {
      await store.set('k', entry('v'));
      await store.set('other', entry('w'));
      expect(await store.delete('k')).toBe(true);
      expect(await store.delete('k')).toBe(false);
      expect(await store.get('k')).toBeUndefined();
      expect((await store.get('other'))?.value).toBe('w');
    });

    it('keeps an entry past expiresAt while within staleUntil (the cache layer decides freshness)', async () => {
      await store.set(
        'stale',
        entry('v', { expiresAt: now() - 1_000, staleUntil: now() + 60_000 }),
      );
      expect((await store.get('stale'))?.value).toBe('v');
    });

    it('never returns an entry whose staleUntil has passed', async () => {
      await store.set('gone', entry('v', { expiresAt: now() - 2_000, staleUntil: now() - 1_000 }));
      expect(await store.get('gone')).toBeUndefined();
    });

    it('lets an entry lapse when its staleUntil passes (controllable clock only)', async () => {
      const clock = harness.clock;
      if (clock === undefined) {
        // Without a controllable clock the past-stamp test above covers lapsing.
        expect(await store.get('never-written')).toBeUndefined();
        return;
      }
      await store.set('k', entry('v', { expiresAt: now() + 100, staleUntil: now() + 200 }));
      await clock.advance(150);
      expect((await store.get('k'))?.value).toBe('v');
      await clock.advance(50);
      expect(await store.get('k')).toBeUndefined();
    });

    it('invalidates every entry carrying any of the tags, and only those', async () => {
      await store.set('u1', entry('1', { tags: ['user:1', 'users'] }));
      await store.set('u2', entry('2', { tags: ['user:2', 'users'] }));
      await store.set('p1', entry('p', { tags: ['posts'] }));
      await store.set('plain', entry('x'));
      expect(await store.invalidateTags(['user:1'])).toBe(1);
      expect(await store.get('u1')).toBeUndefined();
      expect((await store.get('u2'))?.value).toBe('2');
      expect(await store.invalidateTags(['users', 'posts', 'unknown'])).toBe(2);
      expect(await store.get('u2')).toBeUndefined();
      expect(await store.get('p1')).toBeUndefined();
      expect((await store.get('plain'))?.value).toBe('x');
      expect(await store.invalidateTags([])).toBe(0);
    });

    it('a deleted entry no longer counts for its tags', async () => {
      await store.set('k', entry('v', { tags: ['t'] }));
      await store.delete('k');
      await store.set('k2', entry('w', { tags: ['t'] }));
      expect(await store.invalidateTags(['t'])).toBe(1);
      expect(await store.get('k2')).toBeUndefined();
    });

    it('clear removes everything', async () => {
      await store.set('a', entry(1, { tags: ['t'] }));
      await store.set('b', entry(2));
      await store.clear();
      expect(await store.get('a')).toBeUndefined();
      expect(await store.get('b')).toBeUndefined();
      expect(await store.invalidateTags(['t'])).toBe(0);
      await store.set('a', entry(3));
      expect((await store.get('a'))?.value).toBe(3);
    });

    it('handles many keys written concurrently', async () => {
      const n = 200;
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          Promise.resolve(
            store.set(`many:${String(i)}`, entry(i, { tags: [`mod:${String(i % 3)}`] })),
          ),
        ),
      );
      const read = await Promise.all(
        Array.from({ length: n }, (_, i) => Promise.resolve(store.get(`many:${String(i)}`))),
      );
      expect(read.map((e) => e?.value)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(await store.invalidateTags(['mod:0'])).toBe(Math.ceil(n / 3));
    });
  });
}
