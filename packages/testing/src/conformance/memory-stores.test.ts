// The in-process stores of the core run the same conformance suites as the Redis ones.
import { MemoryCacheStore } from 'batchflight/cache';
import { MemoryRateLimitStore } from 'batchflight/rate-limit';
import { TestClock } from '../test-clock.js';
import { cacheStoreConformance } from './cache-store.js';
import { rateLimitStoreConformance } from './rate-limit-store.js';

cacheStoreConformance('MemoryCacheStore', () => {
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

cacheStoreConformance('MemoryCacheStore (system clock, byte-bounded)', () => {
  const store = new MemoryCacheStore({ maxBytes: 16 * 1024 * 1024 });
  return Promise.resolve({
    store,
    cleanup: () => {
      store.close();
      return Promise.resolve();
    },
  });
});

rateLimitStoreConformance('MemoryRateLimitStore', () => {
  const store = new MemoryRateLimitStore();
  return Promise.resolve({
    store,
    cleanup: () => {
      store.close();
      return Promise.resolve();
    },
  });
});
