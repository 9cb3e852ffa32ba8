import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import { cache, cacheChannels, type CacheConfiguredEvent } from './index.js';

/** A computation that counts its runs and answers the run number. */
function counter() {
  let runs = 0;
  return { compute: async () => ++runs, runs: () => runs };
}

describe('Cache#configure()', () => {
  it('a new ttlMs applies to entries written after; stored entries keep their expiry', async () => {
    const clock = new TestClock();
    const users = cache({ ttlMs: 1_000, clock });
    const { compute, runs } = counter();
    await users.get('old', compute);
    users.configure({ ttlMs: 100 });
    await users.get('new', compute);
    expect(runs()).toBe(2);

    // Reads every 50 ms for a second: 'new' is computed again each 100 ms, 'old' never.
    for (let t = 0; t < 20; t++) {
      await clock.advance(50);
      await users.get('old', compute);
      await users.get('new', compute);
    }
    // 'old' expired at 1 000 and was computed again (now under 100 ms) once.
    expect(runs()).toBe(2 + 10 + 1);
    expect(users.settings).toMatchObject({ ttlMs: 100, staleWhileRevalidateMs: 0 });
    await users.close();
  });

  it('stale windows apply to stored entries at once, from their expiry', async () => {
    const clock = new TestClock();
    const users = cache({ ttlMs: 100, staleWhileRevalidateMs: 1_000, clock });
    const { compute, runs } = counter();
    await users.get('k', compute);
    await clock.advance(300);
    // Within the old window: the stale value, one refresh behind it.
    expect(await users.get('k', compute)).toBe(1);
    await flushMicrotasks();
    expect(runs()).toBe(2);
    // Without the window, the same age is a miss that waits for the computation.
    users.configure({ staleWhileRevalidateMs: 0 });
    await clock.advance(300);
    expect(await users.get('k', compute)).toBe(3);
    expect(users.stats()).toMatchObject({ staleServed: 1, misses: 2, refreshes: 1 });
    await users.close();
  });

  it('a new version makes every entry a miss; negativeTtlMs starts caching errors', async () => {
    const clock = new TestClock();
    const users = cache({ ttlMs: 1_000, version: 1, clock });
    const { compute, runs } = counter();
    await users.get('k', compute);
    users.configure({ version: 2 });
    expect(await users.get('k', compute)).toBe(2);
    expect(users.settings.version).toBe(2);

    let failures = 0;
    const failing = () => Promise.reject(new Error(`down ${String(++failures)}`));
    users.configure({ negativeTtlMs: 500 });
    await users.get('bad', failing).catch(() => undefined);
    await users.get('bad', failing).catch(() => undefined);
    expect(failures).toBe(1);
    expect(runs()).toBe(2);
    await users.close();
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', async () => {
    const users = cache({ ttlMs: 1_000 });
    for (const bad of [
      { ttlMs: 0 },
      { staleWhileRevalidateMs: -1 },
      { negativeTtlMs: Number.NaN },
      { earlyRefresh: 'yes' },
      { version: {} },
    ]) {
      let message = '';
      try {
        cache({ ttlMs: 1, ...bad } as never);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^cache\(\): option/);
      expect(() => {
        users.configure(bad as never);
      }).toThrow(message);
    }
    expect(() => {
      users.configure({ store: undefined } as never);
    }).toThrow(
      'cache(): unknown option "store"; known options are ttlMs, staleWhileRevalidateMs, staleIfErrorMs, negativeTtlMs, earlyRefresh, version.',
    );
    users.configure({ ttlMs: 5 }, { dryRun: true });
    expect(users.settings).toEqual({
      ttlMs: 1_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 0,
      negativeTtlMs: 0,
      earlyRefresh: false,
      version: undefined,
    });
    await users.close();
  });

  it('publishes configured with the old and new settings', async () => {
    const seen: CacheConfiguredEvent[] = [];
    const listener = (message: unknown) => seen.push(message as CacheConfiguredEvent);
    diagnosticsChannel.subscribe(cacheChannels.configured.name, listener);
    const users = cache({ name: 'c-configured', ttlMs: 1_000 });
    users.configure({ ttlMs: 2_000, earlyRefresh: true });
    diagnosticsChannel.unsubscribe(cacheChannels.configured.name, listener);
    expect(seen.filter((e) => e.name === 'c-configured')).toMatchObject([
      {
        previous: { ttlMs: 1_000, earlyRefresh: false },
        current: { ttlMs: 2_000, earlyRefresh: true },
      },
    ]);
    await users.close();
  });
});
