import fc from 'fast-check';
import { MemoryRateLimitStore, RateLimitedError, rateLimit } from 'batchflight/rate-limit';
import { rateLimitStoreConformance } from '@batchflight/testing/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  connect,
  REDIS_URL,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { readmeClient } from './__fixtures__/faults.js';
import { chargesSeveralLimitsAtomically } from './__fixtures__/scenarios.js';
import { RedisRateLimitStore } from './rate-limit-store.js';

const skip = await redisUnavailable();

describe.skipIf(skip !== null)('RedisRateLimitStore', () => {
  const prefix = uniquePrefix('rl');
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

  rateLimitStoreConformance('RedisRateLimitStore', () => {
    const own = `${prefix}${String(++seq)}:`;
    const store = new RedisRateLimitStore({ client, prefix: own });
    return Promise.resolve({
      store,
      cleanup: async () => {
        store.close();
        await dropPrefix(client, own);
      },
    });
  });

  it('charges several limits atomically under concurrency from many clients', async () => {
    const clients = Array.from({ length: 4 }, () => connect());
    const stores = clients.map((c) => new RedisRateLimitStore({ client: c, prefix }));
    await chargesSeveralLimitsAtomically(stores);
    for (const c of clients) c.disconnect();
  });

  it('survives SCRIPT FLUSH between calls (reloads after NOSCRIPT)', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const rule = { key: 'flush', rate: 1, perMs: 60_000, burst: 3 };
    expect((await store.acquire({ rules: [rule], cost: 1 })).allowed).toBe(true);
    await client.script('FLUSH');
    const [a, b, c] = await Promise.all([
      store.acquire({ rules: [rule], cost: 1 }),
      store.acquire({ rules: [rule], cost: 1 }),
      store.acquire({ rules: [rule], cost: 1 }),
    ]);
    expect([a.allowed, b.allowed, c.allowed].filter(Boolean)).toHaveLength(2);
    expect(store.stats().remote).toBe(4);
  });

  it('sends the acquisitions of one tick as one gcra-acquire-many call, each decided on its own, in order', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const rule = { key: 'one-tick', rate: 1, perMs: 60_000, burst: 10 };
    const calls = vi.spyOn(client as unknown as { evalshaBuffer: () => unknown }, 'evalshaBuffer');
    try {
      const decisions = await Promise.all(
        Array.from({ length: 16 }, () => store.acquire({ rules: [rule], cost: 1 })),
      );
      expect(calls).toHaveBeenCalledTimes(1);
      expect(decisions.map((d) => d.allowed)).toEqual([
        ...Array.from({ length: 10 }, () => true),
        ...Array.from({ length: 6 }, () => false),
      ]);
      expect(decisions.slice(0, 10).map((d) => d.remaining)).toEqual([
        9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
      ]);
      expect(store.stats().remote).toBe(16);
      // A lone acquisition is one gcra-acquire call.
      await store.acquire({ rules: [rule], cost: 0 });
      expect(calls).toHaveBeenCalledTimes(2);
    } finally {
      calls.mockRestore();
    }
  });

  it('a tick of acquisitions decides each as the in-process GCRA would, one after the other (random ticks)', async () => {
    const T0 = Date.UTC(2030, 0, 1);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            limits: fc.constantFrom([0], [1], [0, 1], [1, 0]),
            cost: fc.integer({ min: 0, max: 3 }),
            gap: fc.integer({ min: 0, max: 300 }),
          }),
          { minLength: 2, maxLength: 40 },
        ),
        async (steps) => {
          const own = `${prefix}tick${String(++run)}:`;
          const store = new RedisRateLimitStore({ client, prefix: own });
          const reference = new MemoryRateLimitStore();
          const limits = [
            { key: 'a', rate: 10, perMs: 1000, burst: 4 },
            { key: 'b', rate: 3, perMs: 1000, burst: 2 },
          ];
          let now = T0;
          const requests = steps.map(({ limits: which, cost, gap }) => {
            now += gap;
            return { rules: which.map((i) => limits[i] as (typeof limits)[number]), cost, now };
          });
          // All in one tick: one gcra-acquire-many call (the reference goes one at a time).
          const got = await Promise.all(requests.map((r) => store.acquire(r)));
          const expected = requests.map((r) => reference.acquire(r));
          for (const [i, decision] of got.entries()) {
            const want = expected[i] as (typeof expected)[number];
            expect(decision.allowed).toBe(want.allowed);
            expect(decision.remaining).toBe(want.remaining);
            expect(decision.limitedBy).toBe(want.limitedBy);
            expect(decision.retryAfterMs).toBeCloseTo(want.retryAfterMs, 3);
          }
          store.close();
          await dropPrefix(client, own);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a request with a non-finite number goes alone, so whatever the server makes of it stays its own', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const rule = { key: 'alone', rate: 5, perMs: 1000, burst: 5 };
    const calls = vi.spyOn(client as unknown as { evalshaBuffer: () => unknown }, 'evalshaBuffer');
    try {
      const [good, odd, other] = await Promise.allSettled([
        store.acquire({ rules: [rule], cost: 1 }),
        store.acquire({
          rules: [{ ...rule, key: 'odd', burst: Number.POSITIVE_INFINITY }],
          cost: 1,
        }),
        store.acquire({ rules: [rule], cost: 1 }),
      ]);
      // One gcra-acquire-many for the two finite ones, one gcra-acquire for the other.
      expect(calls).toHaveBeenCalledTimes(2);
      expect(good).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 4 } });
      expect(other).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 3 } });
      expect(['fulfilled', 'rejected']).toContain(odd.status);
    } finally {
      calls.mockRestore();
    }
  });

  it('works on a client with enableAutoPipelining, after SCRIPT FLUSH too', async () => {
    const pipelining = new Redis(REDIS_URL, { enableAutoPipelining: true });
    const store = new RedisRateLimitStore({ client: pipelining, prefix });
    const rule = { key: 'auto-pipelined', rate: 1, perMs: 60_000, burst: 5 };
    await client.script('FLUSH');
    const decisions = await Promise.all(
      Array.from({ length: 8 }, () => store.acquire({ rules: [rule], cost: 1 })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    pipelining.disconnect();
  });

  it('reads a TAT stored as decimal text by an earlier version, for one limit and for several', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const now = Date.UTC(2030, 0, 1);
    const one = { key: 'legacy-one', rate: 1, perMs: 1000, burst: 2 };
    const two = { key: 'legacy-two', rate: 1, perMs: 1000, burst: 2 };
    // 1.5 intervals ahead of now, as `%.17g` wrote it: 0.5 unit of burst left.
    await client.set(`${prefix}{rl}:legacy-one`, String(now + 1500), 'PX', 60_000);
    await client.set(`${prefix}{rl}:legacy-two`, String(now + 1500), 'PX', 60_000);
    const single = await store.acquire({ rules: [one], cost: 1, now });
    expect(single.allowed).toBe(false);
    expect(single.retryAfterMs).toBeCloseTo(500, 6);
    expect(single.resetAfterMs).toBeCloseTo(1500, 6);
    const both = await store.acquire({
      rules: [two, { ...two, key: 'legacy-fresh' }],
      cost: 1,
      now,
    });
    expect(both.allowed).toBe(false);
    expect(both.limitedBy).toBe(0);
    expect(both.retryAfterMs).toBeCloseTo(500, 6);
    // Once charged again, the TAT is rewritten in the 16-byte form and still agrees.
    expect((await store.acquire({ rules: [one], cost: 1, now: now + 500 })).allowed).toBe(true);
    expect(await client.strlen(`${prefix}{rl}:legacy-one`)).toBe(16);
    expect((await store.acquire({ rules: [one], cost: 1, now: now + 500 })).allowed).toBe(false);
  });

  it('reads the 8-byte TAT of the previous version, and a decimal TAT of 16 characters as text', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const now = Date.UTC(2030, 0, 1);
    const rule = { key: 'packed8', rate: 1, perMs: 1000, burst: 2 };
    const packed = Buffer.alloc(8);
    packed.writeDoubleLE(now + 1500);
    await client.set(`${prefix}{rl}:packed8`, packed, 'PX', 60_000);
    const a = await store.acquire({ rules: [rule], cost: 1, now });
    expect(a.allowed).toBe(false);
    expect(a.resetAfterMs).toBeCloseTo(1500, 6);
    // 1500.25 ms ahead, as `%.17g` wrote it: the same length as the 16-byte form.
    const text = String(now + 1500.25);
    expect(text).toHaveLength(16);
    await client.set(`${prefix}{rl}:text16`, text, 'PX', 60_000);
    const b = await store.acquire({ rules: [{ ...rule, key: 'text16' }], cost: 1, now });
    expect(b.allowed).toBe(false);
    expect(b.resetAfterMs).toBeCloseTo(1500.25, 6);
  });

  it('a TAT updated in place (SETRANGE) keeps an expiry no earlier than the TAT and no later than a fresh PX', async () => {
    const store = new RedisRateLimitStore({ client, prefix });
    const setranges = async () =>
      Number(/cmdstat_setrange:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    const before = await setranges();
    // A limit far from saturation: each charge leaves the TAT a hair ahead of now,
    // inside the expiry the first charge set, so the next ones update it in place.
    const rule = { key: 'in-place', rate: 1e9, perMs: 1000, burst: 1e9 };
    for (let i = 0; i < 20; i++) {
      await Promise.all(
        Array.from({ length: 10 }, () => store.acquire({ rules: [rule], cost: 1 })),
      );
    }
    expect(await setranges()).toBeGreaterThan(before);
    const key = `${prefix}{rl}:in-place`;
    const read = () => Promise.all([client.getBuffer(key), client.pttl(key), client.time()]);
    let [value, ttl, time] = await read();
    // The key lives 2 ms: on a busy machine it may be gone before it is read; charge again.
    for (let attempt = 0; attempt < 50 && value === null; attempt++) {
      await store.acquire({ rules: [rule], cost: 1 });
      [value, ttl, time] = await read();
    }
    expect(value).toHaveLength(16);
    const serverNow = Number(time[0]) * 1000 + Number(time[1]) / 1000;
    const tatAhead = (value as Buffer).readDoubleLE(0) - serverNow;
    expect(ttl).toBeGreaterThanOrEqual(Math.floor(tatAhead));
    // A fresh charge of 1e-6 ms sets PX 2: an in-place update never extends it.
    expect(ttl).toBeLessThanOrEqual(2);
  });

  it('throws a server error instead of masking it with the fallback', async () => {
    const store = new RedisRateLimitStore({
      client,
      prefix,
      onUnavailable: 'local',
      expectedInstances: 2,
    });
    await client.set(`${prefix}{rl}:not-a-number`, 'x');
    await expect(
      store.acquire({ rules: [{ key: 'not-a-number', rate: 1, perMs: 1000, burst: 1 }], cost: 1 }),
    ).rejects.toThrow();
  });
  it('backs rateLimit(): two limiters (two processes) share one limit, 20/s and 1000/min together', async () => {
    const other = connect();
    const make = (c: Redis) =>
      rateLimit({
        limits: [
          { rate: 20, per: 'second', burst: 5 },
          { rate: 1000, per: 'minute', burst: 6 },
        ],
        whenLimited: 'reject',
        store: new RedisRateLimitStore({ client: c, prefix: `${prefix}limiter:` }),
      });
    const a = make(client);
    const b = make(other);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).acquire({ key: 'tenant-1' })),
    );
    // The per-second burst (5) limits first; the per-minute one was charged only for admitted calls.
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(RateLimitedError.is(o.reason)).toBe(true);
    }
    await a.close();
    await b.close();
    other.disconnect();
  });
});

describe('RedisRateLimitStore when Redis is unreachable', () => {
  // Nothing listens on port 1: the client never becomes ready.
  const offline = (): Redis => {
    // The README's client (ioredis defaults, finding 16c): it keeps reconnecting.
    return readmeClient('redis://127.0.0.1:1');
  };
  const rule = { key: 'api', rate: 50, perMs: 1000, burst: 10 };
  const T0 = Date.UTC(2030, 0, 1);

  it("'fail-closed' (the default) refuses every acquisition with a retry delay", async () => {
    const client = offline();
    const store = new RedisRateLimitStore({ client, unavailableRetryMs: 250 });
    const events: unknown[] = [];
    store.onUnavailable((e) => events.push(e.fallback));
    const d = await store.acquire({ rules: [rule], cost: 1, now: T0 });
    expect(d).toEqual({
      allowed: false,
      retryAfterMs: 250,
      remaining: 0,
      resetAfterMs: 250,
      limitedBy: 0,
    });
    expect(events).toEqual(['fail-closed']);
    expect(store.stats()).toEqual({ remote: 0, fallback: 1 });
    client.disconnect();
  });

  it("'local' admits limit ÷ expectedInstances per process, never unbounded", async () => {
    const client = offline();
    const store = new RedisRateLimitStore({ client, onUnavailable: 'local', expectedInstances: 5 });
    let admitted = 0;
    // Arrivals every ms over [0, 1000): this process's share is a burst of 10/5 = 2, then
    // 50/5 = 10 per second, one every 100 ms (t = 100 … 900).
    for (let t = 0; t < 1000; t++) {
      if ((await store.acquire({ rules: [rule], cost: 1, now: T0 + t })).allowed) admitted++;
    }
    expect(admitted).toBe(2 + 9);
    client.disconnect();
  });

  it("'local' needs expectedInstances", () => {
    expect(() => new RedisRateLimitStore({ client: offline(), onUnavailable: 'local' })).toThrow(
      /expectedInstances/,
    );
  });
});
