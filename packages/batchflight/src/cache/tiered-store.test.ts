import { TestClock } from '@batchflight/testing';
import { cacheStoreConformance } from '@batchflight/testing/conformance';
import { describe, expect, it } from 'vitest';
import type { Subscription } from '../core/index.js';
import { Listeners } from '../core/kit.js';
import { MemoryCacheStore } from './memory-store.js';
import type { CacheEntry } from './store.js';
import { type CacheInvalidation, tieredStore } from './tiered-store.js';

/**
 * A shared L2 without a network: a memory store that broadcasts its
 * invalidations to every tier listening, as `RedisCacheStore` does over
 * pub/sub. tieredStore is store-agnostic, so its contract is checked here,
 * in the core package; the Redis combination is tested in @batchflight/redis.
 */
class BroadcastingStore extends MemoryCacheStore {
  readonly #listeners = new Listeners<CacheInvalidation>();

  onInvalidation(listener: (event: CacheInvalidation) => void): Promise<Subscription> {
    return Promise.resolve(this.#listeners.add(listener));
  }

  publish(event: CacheInvalidation): void {
    this.#listeners.emit(event);
  }
}

const entry = (clock: TestClock, value: unknown, ttlMs = 60_000): CacheEntry => ({
  value,
  expiresAt: clock.now() + ttlMs,
  staleUntil: clock.now() + 2 * ttlMs,
  computeMs: 1,
});

cacheStoreConformance('tieredStore(MemoryCacheStore, MemoryCacheStore)', () => {
  const clock = new TestClock();
  const store = tieredStore(new MemoryCacheStore({ clock }), new MemoryCacheStore({ clock }), {
    clock,
  });
  return Promise.resolve({ store, clock, cleanup: () => store.close() });
});

describe('tieredStore', () => {
  it("drops its L1 copy when the L2 broadcasts another process's invalidation", async () => {
    const clock = new TestClock();
    const l1 = new MemoryCacheStore({ clock });
    const l2 = new BroadcastingStore({ clock });
    const store = tieredStore(l1, l2, { clock });
    await store.ready;
    await store.set('user:1', entry(clock, 'Ada'));
    expect(l1.get('user:1')?.value).toBe('Ada');

    l2.publish({ kind: 'key', key: 'user:1' });

    expect(l1.get('user:1')).toBeUndefined();
    expect(store.remoteInvalidations).toBe(1);
    // The L2 still answers, and its copy comes back into L1.
    expect((await store.get('user:1'))?.value).toBe('Ada');
    expect(l1.get('user:1')?.value).toBe('Ada');
    await store.close();
  });

  it('checks an expired L1 copy against the L2, where another process refreshed it', async () => {
    const clock = new TestClock();
    const l1 = new MemoryCacheStore({ clock });
    const l2 = new MemoryCacheStore({ clock });
    const store = tieredStore(l1, l2, { clock });
    await store.set('k', entry(clock, 'old', 1_000));
    await clock.advance(1_500);
    l2.set('k', entry(clock, 'new'));

    expect((await store.get('k'))?.value).toBe('new');
    await store.close();
  });
});
