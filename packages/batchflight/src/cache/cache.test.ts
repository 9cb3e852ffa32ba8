import diagnosticsChannel from 'node:diagnostics_channel';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// Tests only: the TestClock of @batchflight/testing never ships with the core.

import { TestClock, flushMicrotasks, deferred } from '@batchflight/testing';
import { InvalidOptionError, ClosedError, stack, toContext, type Handler } from '../core/index.js';
import { batch } from '../batch/index.js';
import type { FlightContext } from '../singleflight/index.js';
import {
  type CacheEntry,
  type CacheLoadEvent,
  type CacheStaleEvent,
  type CacheStore,
  CacheKeyError,
  MemoryCacheStore,
  cache,
  cached,
} from './index.js';

/** A compute function that counts its calls and can be held open or made to fail. */
function counter(values: (n: number) => unknown = (n) => `v${String(n)}`) {
  let calls = 0;
  const fn = async (): Promise<unknown> => {
    calls++;
    return values(calls);
  };
  return {
    fn,
    get calls() {
      return calls;
    },
  };
}

describe('cache(): reads', () => {
  it('computes a cold key once for 100 concurrent callers, then answers from the cache', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, clock });
    const gate = deferred<string>();
    let calls = 0;
    const compute = (): Promise<string> => {
      calls++;
      return gate.promise;
    };
    const all = Promise.all(Array.from({ length: 100 }, () => c.get('k', compute)));
    gate.resolve('value');
    expect(await all).toEqual(Array.from({ length: 100 }, () => 'value'));
    expect(calls).toBe(1);
    expect(await c.get('k', compute)).toBe('value');
    expect(calls).toBe(1);
    expect(c.stats()).toMatchObject({ misses: 100, loads: 1, hits: 1 });
  });

  it('serves a hit on the memory store with the same settled promise (no allocation per hit)', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    await c.get('k', () => 1);
    const first = c.get('k', () => 2);
    const second = c.get('k', () => 3);
    expect(first).toBe(second);
    expect(await first).toBe(1);
  });

  it('recomputes after ttlMs', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, clock });
    const n = counter();
    expect(await c.get('k', n.fn)).toBe('v1');
    await clock.advance(999);
    expect(await c.get('k', n.fn)).toBe('v1');
    await clock.advance(1);
    expect(await c.get('k', n.fn)).toBe('v2');
    expect(n.calls).toBe(2);
  });

  it('honours a per-call ttlMs', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, clock });
    const n = counter();
    await c.get('k', n.fn, { ttlMs: 10 });
    await clock.advance(10);
    expect(await c.get('k', n.fn)).toBe('v2');
  });

  it('a failing tags() leaves the value uncached but still answers it', async () => {
    const c = cache({
      ttlMs: 1_000,
      clock: new TestClock(),
      tags: () => {
        throw new Error('bad tags');
      },
    });
    const errors: unknown[] = [];
    c.onError((e) => errors.push(e.error));
    const n = counter();
    expect(await c.get('k', n.fn)).toBe('v1');
    expect(await c.get('k', n.fn)).toBe('v2');
    expect(errors).toHaveLength(2);
    await expect(c.get('k', n.fn, { ttlMs: -1 })).rejects.toThrow(
      /ttlMs must be a finite number > 0/,
    );
  });

  it('partitions keys by scope', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    expect(await c.get('k', () => 'a', { scope: 'tenant-a' })).toBe('a');
    expect(await c.get('k', () => 'b', { scope: 'tenant-b' })).toBe('b');
    expect(await c.get('k', () => 'none')).toBe('none');
    expect(await c.get('k', () => 'x', { scope: 'tenant-a' })).toBe('a');
    // A scope can never forge another scope's key through separators.
    expect(await c.get('c', () => 'ab-c', { scope: 'a:b' })).toBe('ab-c');
    expect(await c.get('b:c', () => 'a-bc', { scope: 'a' })).toBe('a-bc');
  });

  it('rejects keys that are not strings or start with NUL', async () => {
    const c = cache({ ttlMs: 1_000 });
    await expect(c.get(42 as unknown as string, () => 1)).rejects.toBeInstanceOf(CacheKeyError);
    await expect(c.get('\u0000x', () => 1)).rejects.toSatisfy((e) => CacheKeyError.is(e));
  });

  it('works with a store that answers asynchronously', async () => {
    const clock = new TestClock();
    const inner = new MemoryCacheStore({ clock });
    const store: CacheStore = {
      get: async (k) => inner.get(k),
      set: async (k, e) => {
        inner.set(k, e);
      },
      delete: async (k) => inner.delete(k),
      invalidateTags: async (t) => inner.invalidateTags(t),
      clear: async () => {
        inner.clear();
      },
    };
    const c = cache({ ttlMs: 1_000, clock, store });
    const n = counter();
    expect(await Promise.all([c.get('k', n.fn), c.get('k', n.fn)])).toEqual(['v1', 'v1']);
    expect(await c.get('k', n.fn)).toBe('v1');
    expect(n.calls).toBe(1);
  });
});

describe('cache(): errors', () => {
  it('never caches an error by default: every waiter gets the same error, the next read recomputes', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    const boom = new Error('boom');
    let calls = 0;
    const failing = async (): Promise<never> => {
      calls++;
      throw boom;
    };
    const results = await Promise.allSettled([c.get('k', failing), c.get('k', failing)]);
    expect(results).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
    expect(calls).toBe(1);
    expect(await c.get('k', () => 'ok')).toBe('ok');
    expect(c.stats().errors).toBe(1);
  });

  it('caches errors for negativeTtlMs when asked', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, negativeTtlMs: 100, clock });
    const boom = new Error('not found');
    let calls = 0;
    const failing = async (): Promise<never> => {
      calls++;
      throw boom;
    };
    await expect(c.get('k', failing)).rejects.toBe(boom);
    await expect(c.get('k', failing)).rejects.toBe(boom);
    expect(calls).toBe(1);
    await clock.advance(100);
    expect(await c.get('k', () => 'found')).toBe('found');
  });

  it('stale-if-error: serves the expired value when recomputing fails within the window', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 100, staleIfErrorMs: 1_000, clock });
    const stale: CacheStaleEvent[] = [];
    c.onStale((e) => stale.push(e));
    await c.get('k', () => 'old');
    await clock.advance(500);
    expect(
      await c.get('k', () => {
        throw new Error('down');
      }),
    ).toBe('old');
    expect(stale).toEqual([expect.objectContaining({ reason: 'error', ageMs: 400 })]);
    // Beyond the window the error comes through.
    await clock.advance(700);
    await expect(
      c.get('k', () => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    // A success within the window replaces the entry.
    expect(await c.get('k', () => 'new')).toBe('new');
  });

  it('a stale value to fall back on wins over negative caching', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 100, staleIfErrorMs: 1_000, negativeTtlMs: 500, clock });
    await c.get('k', () => 'old');
    await clock.advance(200);
    const failing = (): never => {
      throw new Error('down');
    };
    expect(await c.get('k', failing)).toBe('old');
    // The failure did not overwrite the stale entry with a cached error.
    expect(await c.get('k', failing)).toBe('old');
    expect(await c.get('k', () => 'new')).toBe('new');
  });

  it('a store that fails never fails a read: a slow failing get is a miss, a hung set is not waited for', async () => {
    // Finding 16b: a store that fails at once cannot show a read waiting on it. This one
    // answers get with a failure only after 1,000 ms (a Redis deadline) and never answers set.
    const clock = new TestClock();
    const slowFailure = (): Promise<never> =>
      new Promise((_resolve, reject) => {
        clock.setTimer(() => {
          reject(new Error('store down'));
        }, 1_000);
      });
    const failing: CacheStore = {
      get: slowFailure,
      set: () => new Promise<void>(() => undefined),
      delete: () => false,
      invalidateTags: () => 0,
      clear: () => undefined,
    };
    const c = cache({ ttlMs: 1_000, clock, store: failing });
    const errors: string[] = [];
    c.onError((e) => errors.push(e.phase));
    let value: unknown;
    const read = c.get('k', () => 'computed').then((v) => (value = v));
    await clock.advance(999);
    expect(value).toBeUndefined();
    await clock.advance(1);
    await read;
    expect(value).toBe('computed');
    // Only the get's failure so far: the read resolved while its write still hangs.
    expect(errors).toEqual(['store']);
  });
});

describe('cache(): stale-while-revalidate and early refresh', () => {
  it('serves the stale value at once and refreshes once in the background', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 100, staleWhileRevalidateMs: 1_000, clock });
    await c.get('k', () => 'old');
    await clock.advance(150);
    const gate = deferred<string>();
    let calls = 0;
    const refresh = (): Promise<string> => {
      calls++;
      return gate.promise;
    };
    const reads = await Promise.all([
      c.get('k', refresh),
      c.get('k', refresh),
      c.get('k', refresh),
    ]);
    expect(reads).toEqual(['old', 'old', 'old']);
    expect(calls).toBe(1);
    gate.resolve('new');
    await flushMicrotasks();
    expect(await c.get('k', refresh)).toBe('new');
    expect(calls).toBe(1);
    expect(c.stats()).toMatchObject({ staleServed: 3, refreshes: 1, loads: 2 });
  });

  it('keeps serving stale when the background refresh fails, then expires', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 100, staleWhileRevalidateMs: 200, clock });
    const loads: CacheLoadEvent[] = [];
    c.onLoad((e) => loads.push(e));
    await c.get('k', () => 'old');
    await clock.advance(150);
    expect(
      await c.get('k', () => {
        throw new Error('refresh failed');
      }),
    ).toBe('old');
    await flushMicrotasks();
    expect(loads.map((e) => [e.reason, e.ok])).toEqual([
      ['miss', true],
      ['stale', false],
    ]);
    await clock.advance(150);
    expect(await c.get('k', () => 'fresh')).toBe('fresh');
  });

  it('a miss arriving during a background refresh joins it', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 100, staleWhileRevalidateMs: 100, clock });
    await c.get('k', () => 'old');
    await clock.advance(150);
    const gate = deferred<string>();
    let calls = 0;
    const compute = (): Promise<string> => {
      calls++;
      return gate.promise;
    };
    expect(await c.get('k', compute)).toBe('old');
    await clock.advance(100); // past the stale window while the refresh still runs
    const joined = c.get('k', compute);
    gate.resolve('new');
    expect(await joined).toBe('new');
    expect(calls).toBe(1);
  });

  it('XFetch: refreshes a hot key before expiry, earlier for values slow to compute', async () => {
    const clock = new TestClock();
    let random = 0.5;
    const c = cache({ ttlMs: 1_000, clock, earlyRefresh: { beta: 1, random: () => random } });
    let calls = 0;
    const slow = async (): Promise<string> => {
      calls++;
      await clock.advance(100); // Δ = 100 ms
      return `v${String(calls)}`;
    };
    const first = c.get('k', slow);
    await clock.advance(100);
    expect(await first).toBe('v1');
    // −Δ·β·ln(0.5) ≈ 69 ms: no early refresh 100 ms before expiry…
    await clock.advance(900);
    expect(await c.get('k', slow)).toBe('v1');
    expect(calls).toBe(1);
    // …but 50 ms before expiry the draw says refresh: the caller still gets the current value.
    await clock.advance(50);
    expect(await c.get('k', slow)).toBe('v1');
    expect(calls).toBe(2);
    await clock.advance(100);
    expect(c.stats()).toMatchObject({ refreshes: 1, earlyRefreshes: 1 });
    // A draw near 1 never refreshes early; the refreshed value is served.
    random = 1;
    expect(await c.get('k', slow)).toBe('v2');
    expect(calls).toBe(2);
  });

  it('XFetch: a value computed instantly (Δ = 0) is never refreshed early', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, clock, earlyRefresh: { random: () => 1e-12 } });
    const n = counter();
    await c.get('k', n.fn);
    await clock.advance(999);
    await c.get('k', n.fn);
    expect(n.calls).toBe(1);
  });
});

describe('cache(): invalidation', () => {
  it('a version bump invalidates every entry', async () => {
    const clock = new TestClock();
    const store = new MemoryCacheStore({ clock });
    const v1 = cache({ ttlMs: 1_000, clock, store, version: 1 });
    await v1.get('k', () => 'one');
    const v2 = cache({ ttlMs: 1_000, clock, store, version: 2 });
    expect(await v2.get('k', () => 'two')).toBe('two');
    expect(await v1.get('k', () => 'x')).toBe('one');
    v1.setVersion(3);
    expect(await v1.get('k', () => 'three')).toBe('three');
  });

  it('namespaces let caches share a store', async () => {
    const clock = new TestClock();
    const store = new MemoryCacheStore({ clock });
    const users = cache({ ttlMs: 1_000, clock, store, namespace: 'users:' });
    const posts = cache({ ttlMs: 1_000, clock, store, namespace: 'posts:' });
    await users.get('1', () => 'ada');
    expect(await posts.get('1', () => 'hello')).toBe('hello');
  });

  it('invalidate(key) removes one entry, in its scope', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    await c.get('k', () => 'a', { scope: 's' });
    await c.get('k', () => 'b');
    expect(await c.invalidate('k', { scope: 's' })).toBe(true);
    expect(await c.get('k', () => 'a2', { scope: 's' })).toBe('a2');
    expect(await c.get('k', () => 'b2')).toBe('b');
  });

  it('invalidateTags removes every tagged entry (static and per-call tags)', async () => {
    const c = cache({
      ttlMs: 1_000,
      clock: new TestClock(),
      tags: (value) => [`user:${String((value as { id: number }).id)}`],
    });
    await c.get('profile:1', () => ({ id: 1 }), { tags: ['profiles'] });
    await c.get('profile:2', () => ({ id: 2 }), { tags: ['profiles'] });
    await c.get('settings:1', () => ({ id: 1 }));
    expect(await c.invalidateTags(['user:1'])).toBe(2);
    expect(await c.get('profile:2', () => ({ id: -1 }))).toEqual({ id: 2 });
    expect(await c.invalidateTags(['profiles'])).toBe(1);
    expect(await c.get('profile:2', () => ({ id: 22 }))).toEqual({ id: 22 });
  });

  it('a computation running across an invalidation does not write its value back', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 1_000, clock });
    const gate = deferred<string>();
    const pending = c.get('k', () => gate.promise);
    await c.invalidate('k');
    // The next read starts a new computation instead of joining the old one.
    const fresh = c.get('k', () => 'after');
    gate.resolve('before');
    expect(await pending).toBe('before');
    expect(await fresh).toBe('after');
    expect(await c.get('k', () => 'x')).toBe('after');
  });

  it('clear() removes everything', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    await c.get('a', () => 1);
    await c.clear();
    expect(await c.get('a', () => 2)).toBe(2);
  });
});

describe('cache(): compute context (issue 11 item 3)', () => {
  it('hands compute the same ctx as SingleFlight#run: { signal, scope, key }', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    const seen: FlightContext[] = [];
    const compute = (ctx: FlightContext): string => {
      seen.push(ctx);
      return `${ctx.key}@${String(ctx.scope)}`;
    };
    await expect(c.get('user:1', compute, { scope: 'tenant-a' })).resolves.toBe('user:1@tenant-a');
    await expect(c.get('user:2', compute)).resolves.toBe('user:2@undefined');
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
  });
});

describe('cache(): abort', () => {
  it('a caller that aborts leaves alone with its reason; the others get the value', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    const gate = deferred<string>();
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const compute = ({ signal }: FlightContext): Promise<string> => {
      seen = signal;
      return gate.promise;
    };
    const leaving = c.get('k', compute, { signal: controller.signal });
    const staying = c.get('k', compute);
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    expect(seen?.aborted).toBe(false);
    gate.resolve('v');
    expect(await staying).toBe('v');
  });

  it('the computation is aborted when its last caller leaves, and nothing is cached', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const compute = ({ signal }: FlightContext): Promise<string> => {
      seen = signal;
      return new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          reject(signal.reason as Error);
        });
      });
    };
    const leaving = c.get('k', compute, { signal: controller.signal });
    controller.abort(new Error('bye'));
    await expect(leaving).rejects.toThrow('bye');
    expect(seen?.aborted).toBe(true);
    expect(await c.get('k', () => 'next')).toBe('next');
  });

  it('a caller that aborts during stale-if-error gets its abort reason, not the stale value', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 10, staleIfErrorMs: 1_000, clock });
    await c.get('k', () => 'old');
    await clock.advance(20);
    const controller = new AbortController();
    const read = c.get('k', () => new Promise<string>(() => undefined), {
      signal: controller.signal,
    });
    controller.abort(new Error('caller gone'));
    await expect(read).rejects.toThrow('caller gone');
  });
});

describe('cache(): as a Layer and a function wrapper', () => {
  it('wraps a handler keyed by stableKey(input) and partitioned by ctx.scope', async () => {
    const c = cache<number>({ ttlMs: 1_000, clock: new TestClock() });
    const seen: number[] = [];
    const handler: Handler<number, string> = async (id, ctx) => {
      seen.push(id);
      return `${ctx.scope ?? '-'}:${String(id)}`;
    };
    const get = stack<number, string>(c).wrap(handler);
    expect(await get(1, toContext())).toBe('-:1');
    expect(await get(1, toContext())).toBe('-:1');
    expect(await get(1, toContext({ scope: 't' }))).toBe('t:1');
    expect(seen).toEqual([1, 1]);
  });

  it('a custom key picks the identifying fields', async () => {
    const c = cache<{ id: number; trace: string }>({
      ttlMs: 1_000,
      clock: new TestClock(),
      key: (input) => `user:${String(input.id)}`,
    });
    let calls = 0;
    const get = c.wrap(async (input: { id: number; trace: string }) => {
      calls++;
      return input.id;
    });
    await get({ id: 1, trace: 'a' }, toContext());
    await get({ id: 1, trace: 'b' }, toContext());
    expect(calls).toBe(1);
  });

  it('in front of a per-key bulk-collecting handler, only misses reach the bulk call', async () => {
    // A hand-written end-of-tick batcher stands in for batch({ load }).handler.
    const bulkCalls: number[][] = [];
    let pending: { id: number; resolve: (v: string) => void }[] = [];
    const perKey: Handler<number, string> = (id) =>
      new Promise((resolve) => {
        if (pending.length === 0) {
          queueMicrotask(() => {
            const batch = pending;
            pending = [];
            bulkCalls.push(batch.map((p) => p.id));
            for (const p of batch) p.resolve(`user${String(p.id)}`);
          });
        }
        pending.push({ id, resolve });
      });
    const c = cache<number>({ ttlMs: 1_000, clock: new TestClock() });
    const get = c.wrap(perKey);
    await Promise.all([1, 2].map((id) => get(id, toContext())));
    const values = await Promise.all([1, 2, 3, 4, 3].map((id) => get(id, toContext())));
    expect(values).toEqual(['user1', 'user2', 'user3', 'user4', 'user3']);
    expect(bulkCalls).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('in front of batch({ load }).handler, hits come from the cache and only misses go into the bulk call', async () => {
    const bulkCalls: number[][] = [];
    const users = batch<number, string>({
      load: async (ids) => {
        bulkCalls.push([...ids]);
        return ids.map((id) => `user${String(id)}`);
      },
    });
    const c = cache<number>({ ttlMs: 1_000, clock: new TestClock() });
    const get = c.wrap(users.handler);
    expect(await Promise.all([1, 2].map((id) => get(id, toContext())))).toEqual(['user1', 'user2']);
    const values = await Promise.all([1, 2, 3, 4, 3].map((id) => get(id, toContext())));
    expect(values).toEqual(['user1', 'user2', 'user3', 'user4', 'user3']);
    expect(bulkCalls).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(c.stats()).toMatchObject({ hits: 2, loads: 4 });
    await users.close();
  });

  it('cached(fn) keys by the arguments and can invalidate them', async () => {
    let calls = 0;
    const add = cached(
      async (a: number, b: number) => {
        calls++;
        return a + b;
      },
      { ttlMs: 1_000, clock: new TestClock() },
    );
    expect(await add(1, 2)).toBe(3);
    expect(await add(1, 2)).toBe(3);
    expect(await add(2, 1)).toBe(3);
    expect(calls).toBe(2);
    await add.invalidate(1, 2);
    await add(1, 2);
    expect(calls).toBe(3);
    expect(add.cache.stats().hits).toBe(1);
  });
});

describe('cache(): observability and lifecycle', () => {
  it('publishes loads and stale reads on diagnostics channels', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 10, staleWhileRevalidateMs: 100, clock, name: 'users' });
    const events: string[] = [];
    const onLoad = (m: unknown): void => {
      events.push(`load:${(m as CacheLoadEvent).reason}`);
    };
    const onStale = (m: unknown): void => {
      events.push(`stale:${(m as CacheStaleEvent).reason}`);
    };
    diagnosticsChannel.subscribe('batchflight:cache:load', onLoad);
    diagnosticsChannel.subscribe('batchflight:cache:stale', onStale);
    try {
      await c.get('k', () => 1);
      await clock.advance(20);
      await c.get('k', () => 2);
      await flushMicrotasks();
    } finally {
      diagnosticsChannel.unsubscribe('batchflight:cache:load', onLoad);
      diagnosticsChannel.unsubscribe('batchflight:cache:stale', onStale);
    }
    expect(events).toEqual(['load:miss', 'stale:revalidate', 'load:stale']);
  });

  it('reports the hit rate', async () => {
    const c = cache({ ttlMs: 1_000, clock: new TestClock() });
    expect(c.stats().hitRate).toBe(0);
    await c.get('k', () => 1);
    await c.get('k', () => 1);
    await c.get('k', () => 1);
    await c.get('k', () => 1);
    expect(c.stats().hitRate).toBe(0.75);
  });

  it('close() waits for background refreshes, is idempotent, and later reads reject', async () => {
    const clock = new TestClock();
    const c = cache({ ttlMs: 10, staleWhileRevalidateMs: 100, clock });
    await c.get('k', () => 1);
    await clock.advance(20);
    const gate = deferred<number>();
    await c.get('k', () => gate.promise);
    let closed = false;
    const closing = c.close().then(() => (closed = true));
    await flushMicrotasks();
    expect(closed).toBe(false);
    gate.resolve(2);
    await closing;
    expect(c.close()).toBe(c.close());
    await c[Symbol.asyncDispose]();
    await expect(c.get('k', () => 3)).rejects.toSatisfy((e) => ClosedError.is(e));
  });

  it('validates options with messages that restate the contract', () => {
    expect(() => cache({ ttlMs: 0 })).toThrow(/ttlMs must be a finite number > 0, got 0/);
    expect(() => cache({ ttlMs: 1, staleWhileRevalidateMs: -1 })).toThrow(InvalidOptionError);
    expect(() => cache({ ttlMs: 1, earlyRefresh: { beta: 0 } })).toThrow(/earlyRefresh.beta/);
    expect(() => cache({ ttlMs: 1, store: {} as CacheStore })).toThrow(/must be a CacheStore/);
    expect(() => cache({ ttlMs: 1, version: NaN })).toThrow(
      /version must be a string or a finite number/,
    );
    expect(() => cache({ ttlMs: 1, ttl: 5 } as unknown as { ttlMs: number })).toThrow(
      /unknown option "ttl"/,
    );
  });
});

describe('MemoryCacheStore', () => {
  const entry = (value: unknown, ms = 1_000, clock = new TestClock()): CacheEntry => ({
    value,
    expiresAt: clock.now() + ms,
    staleUntil: clock.now() + ms,
    computeMs: 0,
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const clock = new TestClock();
    const store = new MemoryCacheStore({ maxEntries: 2, clock });
    store.set('a', entry(1, 1_000, clock));
    store.set('b', entry(2, 1_000, clock));
    store.get('a'); // a is now the most recent
    store.set('c', entry(3, 1_000, clock));
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')?.value).toBe(1);
    expect(store.get('c')?.value).toBe(3);
    expect(store.stats()).toMatchObject({ entries: 2, evictions: 1 });
  });

  it('evicts beyond maxBytes and refuses an entry larger than the budget', () => {
    const clock = new TestClock();
    const store = new MemoryCacheStore({
      maxBytes: 1_000,
      clock,
      sizeOf: (_key, e) => (e.value as string).length,
    });
    store.set('a', entry('x'.repeat(400), 1_000, clock));
    store.set('b', entry('x'.repeat(400), 1_000, clock));
    store.set('c', entry('x'.repeat(400), 1_000, clock));
    expect(store.get('a')).toBeUndefined();
    expect(store.stats()).toMatchObject({ entries: 2, bytes: 800 });
    store.set('huge', entry('x'.repeat(2_000), 1_000, clock));
    expect(store.get('huge')).toBeUndefined();
    expect(store.stats().entries).toBe(2);
  });

  it('estimates bytes from the value (strings count 2 bytes per character)', () => {
    const store = new MemoryCacheStore({ maxBytes: 1_000_000 });
    store.set('k', entry('x'.repeat(10_000)));
    expect(store.stats().bytes).toBeGreaterThan(20_000);
    expect(store.stats().bytes).toBeLessThan(21_000);
  });

  it('expires lazily on read and with the optional unref sweep, no timer per entry', async () => {
    const clock = new TestClock();
    const store = new MemoryCacheStore({ clock, sweepIntervalMs: 1_000 });
    for (let i = 0; i < 10; i++) store.set(`k${String(i)}`, entry(i, 500, clock));
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1_000);
    expect(store.stats()).toMatchObject({ entries: 0, expirations: 10 });
    store.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses a sizeOf that returns no usable number', () => {
    const store = new MemoryCacheStore({ maxBytes: 100, sizeOf: () => NaN });
    expect(() => {
      store.set('k', entry(1));
    }).toThrow(/sizeOf must return a finite number of bytes >= 0, got NaN/);
  });

  it('validates its options', () => {
    expect(() => new MemoryCacheStore({ maxEntries: 0 })).toThrow(
      /maxEntries must be an integer >= 1/,
    );
  });
});

describe('cache(): properties', () => {
  it('never runs two computations of a key at once, and never serves a value older than ttl + stale window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ttlMs: fc.integer({ min: 1, max: 50 }),
          swrMs: fc.integer({ min: 0, max: 50 }),
          early: fc.boolean(),
          invalidations: fc.boolean(),
          ops: fc.array(
            fc.oneof(
              fc.record({
                kind: fc.constant('get' as const),
                key: fc.integer({ min: 0, max: 2 }),
                computeMs: fc.integer({ min: 0, max: 80 }),
                fails: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
              }),
              fc.record({
                kind: fc.constant('advance' as const),
                ms: fc.integer({ min: 0, max: 40 }),
              }),
              fc.record({
                kind: fc.constant('invalidate' as const),
                key: fc.integer({ min: 0, max: 2 }),
              }),
            ),
            { minLength: 5, maxLength: 60, size: 'max' },
          ),
        }),
        async ({ ttlMs, swrMs, early, invalidations, ops: generated }) => {
          const ops = invalidations
            ? generated
            : generated.filter((op) => op.kind !== 'invalidate');
          const clock = new TestClock();
          const c = cache({
            ttlMs,
            staleWhileRevalidateMs: swrMs,
            earlyRefresh: early ? { random: () => 0.3 } : false,
            clock,
          });
          const running = new Map<string, number>();
          let overlap = false;
          let tooOld = false;
          const reads: Promise<unknown>[] = [];
          for (const op of ops) {
            if (op.kind === 'advance') {
              await clock.advance(op.ms);
              continue;
            }
            const key = `k${String(op.key)}`;
            if (op.kind === 'invalidate') {
              await c.invalidate(key);
              continue;
            }
            const compute = (): Promise<{ computedAt: number }> => {
              const now = (running.get(key) ?? 0) + 1;
              running.set(key, now);
              if (now > 1) overlap = true;
              return new Promise((resolve, reject) => {
                clock.setTimer(() => {
                  running.set(key, (running.get(key) ?? 1) - 1);
                  if (op.fails) reject(new Error('upstream'));
                  else resolve({ computedAt: clock.now() });
                }, op.computeMs);
              });
            };
            reads.push(
              c.get(key, compute).then(
                (value) => {
                  if (clock.now() - value.computedAt > ttlMs + swrMs) tooOld = true;
                },
                () => undefined,
              ),
            );
          }
          await clock.runAll();
          await Promise.all(reads);
          await c.close();
          // An invalidation detaches a running computation, so only runs
          // without invalidations promise a single computation per key.
          if (!invalidations) expect(overlap).toBe(false);
          expect(tooOld).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
