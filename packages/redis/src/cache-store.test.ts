import { type CacheInvalidation, MemoryCacheStore, cache, tieredStore } from 'batchflight/cache';
import {
  cacheStoreConformance,
  cacheStoreGetManyConformance,
} from '@batchflight/testing/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CodecError, RemoteError } from 'batchflight';
import { readmeClient } from './__fixtures__/faults.js';
import { resyncOnlyOnceSubscribed } from './__fixtures__/proxy.js';
import {
  REDIS_URL,
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { RedisCacheStore } from './cache-store.js';
import { DistributedFlight } from 'batchflight/singleflight';
import { RedisFlightStore } from './flight-store.js';

const skip = await redisUnavailable();

/** Resolves once `predicate` holds, polling the event loop (pub/sub delivery is asynchronous). */
async function eventually(predicate: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await predicate()) return;
    await new Promise((resolve) => setImmediate(resolve));
    if (i > 100) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition never held');
}

describe.skipIf(skip !== null)('RedisCacheStore', () => {
  const prefix = uniquePrefix('cache');
  let client: Redis;
  let seq = 0;
  beforeAll(() => {
    client = connect();
  });
  afterAll(async () => {
    await dropPrefix(client, prefix);
    expect(await countPrefix(client, prefix)).toBe(0);
    client.disconnect();
  });
  const entry = (value: unknown, tags?: string[]) => ({
    value,
    expiresAt: Date.now() + 60_000,
    staleUntil: Date.now() + 120_000,
    computeMs: 3,
    ...(tags === undefined ? {} : { tags }),
  });

  const redisStore = () => {
    const own = `${prefix}${String(++seq)}:`;
    const store = new RedisCacheStore({ client, prefix: own });
    return Promise.resolve({
      store,
      cleanup: async () => {
        store.close();
        await dropPrefix(client, own);
      },
    });
  };
  const tiered = async () => {
    const own = `${prefix}${String(++seq)}:`;
    const store = tieredStore(new MemoryCacheStore(), new RedisCacheStore({ client, prefix: own }));
    await store.ready;
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropPrefix(client, own);
      },
    };
  };
  const TIERED = 'tieredStore(MemoryCacheStore, RedisCacheStore)';
  cacheStoreConformance('RedisCacheStore', redisStore);
  cacheStoreConformance(TIERED, tiered);
  cacheStoreGetManyConformance('RedisCacheStore', redisStore);
  cacheStoreGetManyConformance(TIERED, tiered);

  it('refuses at set a value JSON cannot carry, naming where it is', async () => {
    const store = new RedisCacheStore({ client, prefix });
    await expect(store.set('bad', entry({ at: new Date(0) }))).rejects.toSatisfy(
      (e: unknown) => CodecError.is(e) && e.path === '$.at',
    );
    await expect(store.set('bad', entry({ n: Number.NaN }))).rejects.toThrow(CodecError);
    await expect(store.set('bad', entry({ u: undefined }))).rejects.toThrow(/\$\.u is undefined/);
    expect(await store.get('bad')).toBeUndefined();
  });

  it('carries a negative entry as an error with its name, message and code', async () => {
    const store = new RedisCacheStore({ client, prefix });
    const error = Object.assign(new TypeError('no such user'), { code: 'E_NOUSER' });
    await store.set('neg', { ...entry(error), error: true });
    const read = await store.get('neg');
    expect(read?.error).toBe(true);
    expect(RemoteError.is(read?.value)).toBe(true);
    expect(read?.value).toMatchObject({
      name: 'TypeError',
      message: 'no such user',
      code: 'E_NOUSER',
    });
  });

  it('a cached error (negativeTtlMs) passes through Redis: another process reads it as a RemoteError, with any codec', async () => {
    const own = `${prefix}negative:`;
    const date = {
      encode: (v: unknown) => `D${JSON.stringify(v)}`,
      decode: (t: string): unknown => JSON.parse(t.slice(1)),
    };
    for (const codec of [undefined, date]) {
      const writer = new RedisCacheStore({ client, prefix: own, ...(codec ? { codec } : {}) });
      const reader = new RedisCacheStore({ client, prefix: own, ...(codec ? { codec } : {}) });
      const a = cache({ ttlMs: 60_000, negativeTtlMs: 60_000, store: writer });
      const b = cache({ ttlMs: 60_000, negativeTtlMs: 60_000, store: reader });
      const thrown = Object.assign(new RangeError('no such user'), { code: 'E_NOUSER' });
      await expect(
        a.get('u', () => {
          throw thrown;
        }),
      ).rejects.toBe(thrown);
      await expect(
        a.get('s', () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a thrown non-Error is cached too
          throw 'plain text';
        }),
      ).rejects.toBe('plain text');
      await a.close(); // the negative entries are written behind the reads
      let computed = 0;
      const read = await b.get('u', () => ++computed).catch((e: unknown) => e);
      expect(computed).toBe(0);
      expect(RemoteError.is(read)).toBe(true);
      expect(read).toMatchObject({ name: 'RangeError', message: 'no such user', code: 'E_NOUSER' });
      const text = await b.get('s', () => ++computed).catch((e: unknown) => e);
      expect(computed).toBe(0);
      expect(text).toMatchObject({ name: 'Error', message: 'non-error thrown: plain text' });
      await b.close();
      await writer.clear();
    }
  });

  it('getMany is one pipelined round trip for every key', async () => {
    const own = `${prefix}many:`;
    const store = new RedisCacheStore({ client, prefix: own });
    await store.set('a', entry('A'));
    await store.set('b', entry('B'));
    const pipeline = vi.spyOn(client, 'pipeline');
    const read = await store.getMany(['a', 'none', 'b']);
    expect(read.map((e) => e?.value)).toEqual(['A', undefined, 'B']);
    expect(pipeline).toHaveBeenCalledTimes(1);
    pipeline.mockRestore();
  });

  it('takes a pluggable codec', async () => {
    const codec = {
      encode: (v: unknown) =>
        v instanceof Date ? `D${String(v.getTime())}` : `J${JSON.stringify(v)}`,
      decode: (t: string): unknown =>
        t.startsWith('D') ? new Date(Number(t.slice(1))) : JSON.parse(t.slice(1)),
    };
    const store = new RedisCacheStore({ client, prefix, codec });
    await store.set('date', entry(new Date(42)));
    expect((await store.get('date'))?.value).toEqual(new Date(42));
  });

  it('broadcasts key, tag, clear and version invalidations: every process drops its L1 copy', async () => {
    const own = `${prefix}bus:`;
    const clients = [connect(), connect(), connect()];
    const versions: unknown[] = [];
    const fleet = clients.map((c) => {
      const l1 = new MemoryCacheStore();
      const store = tieredStore(l1, new RedisCacheStore({ client: c, prefix: own }), {
        onVersion: (ns, v) => versions.push([ns, v]),
      });
      return { l1, store };
    });
    await Promise.all(fleet.map((p) => p.store.ready));
    const [a, b, c] = fleet as [
      (typeof fleet)[number],
      (typeof fleet)[number],
      (typeof fleet)[number],
    ];

    await a.store.set('k', entry('v1', ['t']));
    await a.store.set('other', entry('o'));
    // b and c read through L2 and keep an L1 copy.
    expect((await b.store.get('k'))?.value).toBe('v1');
    expect((await c.store.get('k'))?.value).toBe('v1');
    expect((await b.store.get('other'))?.value).toBe('o');
    expect(b.l1.get('k')).toBeDefined();

    expect(await a.store.delete('k')).toBe(true);
    await eventually(() => b.l1.get('k') === undefined && c.l1.get('k') === undefined);
    expect(await b.store.get('k')).toBeUndefined();
    expect(b.l1.get('other')).toBeDefined();

    await a.store.set('k2', entry('v2', ['t']));
    expect((await c.store.get('k2'))?.value).toBe('v2');
    expect(await b.store.invalidateTags(['t'])).toBe(1);
    await eventually(() => c.l1.get('k2') === undefined);

    await c.store.clear();
    await eventually(() => b.l1.get('other') === undefined);

    await new RedisCacheStore({ client, prefix: own }).publishVersion('users:', 7);
    await eventually(() => versions.length === 3);
    expect(versions).toEqual([
      ['users:', 7],
      ['users:', 7],
      ['users:', 7],
    ]);
    for (const p of fleet) await p.store.close();
    for (const c2 of clients) c2.disconnect();
  });

  it('after a reconnect, resync comes only once the channel is subscribed again: no invalidation after it is lost', async () => {
    // Through a proxy that holds the reconnected subscriber's SUBSCRIBE back: an L1
    // cleared on a resync that came before could be refilled and miss the next invalidation.
    const own = `${prefix}resub:`;
    await resyncOnlyOnceSubscribed<CacheInvalidation>(
      REDIS_URL,
      (via) => {
        const store = new RedisCacheStore({ client: via, prefix: own });
        return {
          listen: (push) => store.onInvalidation(push),
          close: () => {
            store.close();
          },
        };
      },
      () => new RedisCacheStore({ client, prefix: own }).delete('k'),
      { kind: 'key', key: 'k' },
    );
  });

  it('two caches on two tiers: a refresh in one process is seen by the other after its L1 copy expires', async () => {
    const own = `${prefix}refresh:`;
    let now = Date.now();
    const clock = {
      now: () => now,
      setTimer: (cb: () => void, ms: number) => {
        const t = setTimeout(cb, ms);
        return {
          cancel: () => {
            clearTimeout(t);
          },
        };
      },
    };
    const [ca, cb] = [connect(), connect()];
    const sa = tieredStore(
      new MemoryCacheStore({ clock }),
      new RedisCacheStore({ client: ca, prefix: own }),
      { clock },
    );
    const sb = tieredStore(
      new MemoryCacheStore({ clock }),
      new RedisCacheStore({ client: cb, prefix: own }),
      { clock },
    );
    await Promise.all([sa.ready, sb.ready]);
    const a = cache({ ttlMs: 1000, store: sa, clock });
    const b = cache({ ttlMs: 1000, store: sb, clock });
    let calls = 0;
    const compute = () => ++calls;
    expect(await a.get('x', compute)).toBe(1);
    expect(await b.get('x', compute)).toBe(1); // from L2
    expect(calls).toBe(1);
    now += 1500;
    expect(await a.get('x', compute)).toBe(2); // a recomputes and writes both tiers
    expect(await b.get('x', compute)).toBe(2); // b's L1 copy is expired: L2 has a fresher one
    expect(calls).toBe(2);
    await b.invalidate('x');
    let recomputed = 0;
    await eventually(
      async () =>
        (await a.get('x', () => {
          recomputed++;
          return 3;
        })) === 3,
    );
    expect(recomputed).toBe(1);
    await a.close();
    await b.close();
    await sa.close();
    await sb.close();
    ca.disconnect();
    cb.disconnect();
  });
  it('a cold key missed by every process at once is one upstream call fleet-wide (cache + distributed flight)', async () => {
    const own = `${prefix}fleet-miss:`;
    const processes = Array.from({ length: 4 }, () => {
      const client = connect();
      const store = tieredStore(
        new MemoryCacheStore(),
        new RedisCacheStore({ client, prefix: own }),
      );
      const flightStore = new RedisFlightStore({ client, prefix: own });
      const flight = new DistributedFlight({ store: flightStore });
      const users = cache({ ttlMs: 60_000, store });
      return { client, store, flightStore, flight, users };
    });
    await Promise.all(processes.map((p) => p.store.ready));
    let upstream = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const load = async () => {
      upstream++;
      await gate;
      return { id: 7, name: 'Ada' };
    };
    const reads = processes.flatMap((p) =>
      Array.from({ length: 25 }, () =>
        p.users.get('user:7', ({ signal }) => p.flight.run('user:7', load, { signal })),
      ),
    );
    await eventually(
      () => upstream === 1 && processes.reduce((n, p) => n + p.flight.stats().waiting, 0) === 3,
    );
    release();
    const values = await Promise.all(reads);
    expect(values).toHaveLength(100);
    for (const v of values) expect(v).toEqual({ id: 7, name: 'Ada' });
    expect(upstream).toBe(1);
    // Later reads anywhere are hits (L1, or L2 then L1): still one upstream call.
    for (const p of processes)
      expect(await p.users.get('user:7', load)).toEqual({ id: 7, name: 'Ada' });
    expect(upstream).toBe(1);
    for (const p of processes) {
      await p.users.close();
      await p.store.close();
      p.flightStore.close();
      p.client.disconnect();
    }
  });
  it('tiered: when L2 is unreachable, an L1 copy still answers (stale-if-error), a write still fills L1', async () => {
    // Nothing listens on port 1; the client is the README's (ioredis defaults, finding 16c).
    const offline = readmeClient('redis://127.0.0.1:1');
    const l1 = new MemoryCacheStore();
    const store = tieredStore(l1, new RedisCacheStore({ client: offline, prefix }));
    const expired = {
      value: 'old',
      expiresAt: Date.now() - 1000,
      staleUntil: Date.now() + 60_000,
      computeMs: 1,
    };
    l1.set('k', expired);
    expect((await store.get('k'))?.value).toBe('old');
    await expect(store.get('never')).rejects.toThrow();
    const users = cache({ ttlMs: 1000, staleIfErrorMs: 60_000, store });
    expect(await users.get('u', () => 'computed')).toBe('computed');
    expect((l1.get('u') as { value: unknown } | undefined)?.value).toBe('computed');
    await users.close();
    await store.close();
    offline.disconnect();
  });
});
