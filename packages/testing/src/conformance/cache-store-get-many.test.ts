// CacheStore#getMany of the in-process store; the Redis and tiered stores run the same suite in @batchflight/redis.
import { MemoryCacheStore } from 'batchflight/cache';
import { TestClock } from '../test-clock.js';
import { cacheStoreGetManyConformance } from './cache-store-get-many.js';

cacheStoreGetManyConformance('MemoryCacheStore', () => {
  const clock = new TestClock();
  const store = new MemoryCacheStore({ clock });
  return Promise.resolve({
    store,
    clock,
    cleanup: () => {
      store.close();
      return Promise.resolve();
    },
  });
});
