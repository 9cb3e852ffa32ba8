/**
 * How the cache talks to a store that answers asynchronously (Redis, tiered):
 * writes go behind the read that computed them, and the reads of one tick
 * go to the store's getMany together (issue 18 findings 5 and getMany).
 */
import { describe, expect, it, vi } from 'vitest';
import { TestClock, deferred, flushMicrotasks } from '@batchflight/testing';
import { type CacheEntry, type CacheStore, MemoryCacheStore, cache } from './index.js';

/** An asynchronous store over a memory store, whose writes wait for the test. */
function asyncStore(clock: TestClock) {
  const inner = new MemoryCacheStore({ clock });
  const writes: { key: string; done: ReturnType<typeof deferred<undefined>> }[] = [];
  const store: CacheStore & {
    getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]>;
  } = {
    get: (key) => Promise.resolve(inner.get(key)),
    getMany: (keys) => Promise.resolve(inner.getMany(keys)),
    set: async (key, entry) => {
      const done = deferred<undefined>();
      writes.push({ key, done });
      await done.promise;
      inner.set(key, entry);
    },
    delete: (key) => Promise.resolve(inner.delete(key)),
    invalidateTags: (tags) => Promise.resolve(inner.invalidateTags(tags)),
    clear: () => {
      inner.clear();
      return Promise.resolve();
    },
  };
  return { store, writes };
}

describe('cache(): writes behind the read', () => {
  it('a read resolves before the store has taken its write; close() waits for the write', async () => {
    const clock = new TestClock();
    const { store, writes } = asyncStore(clock);
    const c = cache({ ttlMs: 1_000, clock, store });
    expect(await c.get('k', () => 'v')).toBe('v');
    expect(writes.map((w) => w.key)).toHaveLength(1);
    let closed = false;
    const closing = c.close().then(() => (closed = true));
    await flushMicrotasks();
    expect(closed).toBe(false);
    writes[0]?.done.resolve(undefined);
    await closing;
    expect(closed).toBe(true);
    // The write landed: a new cache on the same store reads it without computing.
    const again = cache({ ttlMs: 1_000, clock, store });
    expect(await again.get('k', () => 'recomputed')).toBe('v');
    await again.close();
  });

  it('a write that fails later is reported through onError, never to the read', async () => {
    const clock = new TestClock();
    const { store, writes } = asyncStore(clock);
    const c = cache({ ttlMs: 1_000, clock, store });
    const errors: unknown[] = [];
    c.onError((e) => errors.push(e.error));
    expect(await c.get('k', () => 'v')).toBe('v');
    writes[0]?.done.reject(new Error('write failed'));
    await c.close();
    expect(errors).toEqual([new Error('write failed')]);
  });

  it('a negative entry is written behind too', async () => {
    const clock = new TestClock();
    const { store, writes } = asyncStore(clock);
    const c = cache({ ttlMs: 1_000, negativeTtlMs: 500, clock, store });
    await expect(
      c.get('k', () => {
        throw new Error('upstream');
      }),
    ).rejects.toThrow('upstream');
    expect(writes).toHaveLength(1);
    writes[0]?.done.resolve(undefined);
    await c.close();
  });
});

describe('cache(): the reads of one tick go to getMany together', () => {
  it('10 reads in one tick are one getMany of the distinct keys; a lone read is one get', async () => {
    const clock = new TestClock();
    const { store, writes } = asyncStore(clock);
    const getMany = vi.spyOn(store, 'getMany');
    const get = vi.spyOn(store, 'get');
    const c = cache({ ttlMs: 1_000, clock, store });
    const keys = ['a', 'b', 'c', 'a', 'd', 'e', 'b', 'f', 'g', 'h'];
    const values = await Promise.all(keys.map((k) => c.get(k, () => `v:${k}`)));
    expect(values).toEqual(keys.map((k) => `v:${k}`));
    expect(getMany).toHaveBeenCalledTimes(1);
    expect(getMany.mock.calls[0]?.[0]).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect(get).not.toHaveBeenCalled();
    for (const w of writes) w.done.resolve(undefined);
    await flushMicrotasks();
    expect(await c.get('a', () => 'again')).toBe('v:a');
    expect(get).toHaveBeenCalledTimes(1);
    expect(getMany).toHaveBeenCalledTimes(1);
    await c.close();
  });

  it('a failing getMany is a miss for each of its reads, reported once per read', async () => {
    const clock = new TestClock();
    const { store } = asyncStore(clock);
    store.getMany = () => Promise.reject(new Error('down'));
    store.set = () => Promise.resolve();
    const c = cache({ ttlMs: 1_000, clock, store });
    const phases: string[] = [];
    c.onError((e) => phases.push(e.phase));
    expect(await Promise.all(['x', 'y'].map((k) => c.get(k, () => k)))).toEqual(['x', 'y']);
    expect(phases).toEqual(['store', 'store']);
    await c.close();
  });

  it('a store without getMany is read key by key', async () => {
    const clock = new TestClock();
    const { store } = asyncStore(clock);
    const withoutMany: CacheStore = {
      get: (key) => store.get(key),
      set: () => Promise.resolve(),
      delete: (key) => store.delete(key),
      invalidateTags: (tags) => store.invalidateTags(tags),
      clear: () => store.clear(),
    };
    const get = vi.spyOn(withoutMany, 'get');
    const c = cache({ ttlMs: 1_000, clock, store: withoutMany });
    await Promise.all(['x', 'y', 'z'].map((k) => c.get(k, () => k)));
    expect(get).toHaveBeenCalledTimes(3);
    await c.close();
  });
});
