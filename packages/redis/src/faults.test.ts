/**
 * Every store of the package with Redis down, with the client the README
 * shows (`new Redis(url)`, ioredis defaults: no `commandTimeout`, 20 retries
 * per request), against a server that accepts and never answers and a port
 * nothing listens on (issue 18 findings 1, 4, 5).
 *
 * Where the bound is the store's own timer (`commandTimeoutMs`), time comes
 * from a TestClock and the tests check that nothing settles a moment before
 * the deadline and everything settles at it. Where ioredis's own timing is
 * involved (reconnecting to a closed port), they check the outcome only.
 * No test may leave an unhandled rejection behind.
 */
import { MemoryCacheStore, cache, tieredStore } from 'batchflight/cache';
import { TestClock, deferred } from '@batchflight/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from './__fixtures__/proxy.js';
import {
  type SilentServer,
  closedPort,
  readmeClient,
  startSilentServer,
} from './__fixtures__/faults.js';
import {
  REDIS_URL,
  connect,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { until } from './__fixtures__/scenarios.js';
import { RedisCacheStore } from './cache-store.js';
import { CommandDeadline } from './deadline.js';
import { DistributedFlight } from 'batchflight/singleflight';
import { RedisUnavailableError } from './errors.js';
import { RedisFlightStore } from './flight-store.js';
import { RedisRateLimitStore } from './rate-limit-store.js';

const TIMEOUT = 1000;
const rule = { key: 'api', rate: 50, perMs: 1000, burst: 10 };
const entry = (value: unknown, now: number) => ({
  value,
  expiresAt: now + 60_000,
  staleUntil: now + 120_000,
  computeMs: 1,
});

/** `promise`, and whether it has settled yet (to check it has not, a moment before its deadline). */
function track<T>(promise: Promise<T>): {
  readonly settled: boolean;
  readonly promise: Promise<T>;
} {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  // Observed through `promise`; this copy only records settling.
  tracked.catch(() => undefined);
  return {
    get settled() {
      return settled;
    },
    promise: tracked,
  };
}

// A rejection nobody handles ends a real process (finding 1): none may happen here.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  // Rejections are reported after the microtasks of their turn: give them one.
  await new Promise((resolve) => setImmediate(resolve));
  expect(unhandled).toEqual([]);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('CommandDeadline: one timer for every pending call of a store', () => {
  const never = (): Promise<never> => new Promise<never>(() => undefined);

  it('each call expires at its own deadline, in the order made', async () => {
    const clock = new TestClock();
    const deadline = new CommandDeadline('Test', TIMEOUT, clock);
    const first = track(deadline.bound('a', never()));
    await clock.advance(400);
    const second = track(deadline.bound('b', never()));
    await clock.advance(TIMEOUT - 400 - 1);
    expect([first.settled, second.settled]).toEqual([false, false]);
    await clock.advance(1);
    await expect(first.promise).rejects.toThrow(/Test\.a: no reply/);
    expect(second.settled).toBe(false);
    await clock.advance(399);
    expect(second.settled).toBe(false);
    await clock.advance(1);
    await expect(second.promise).rejects.toThrow(/Test\.b: no reply/);
  });

  it('a reply read in the same turn as the deadline timer fired wins (the loop was blocked past the deadline)', async () => {
    // After a blocked event loop, timers run before the sockets are read: the timer here
    // fires first, then the reply comes, as in one turn of the loop.
    let now = 0;
    let fire: (() => void) | undefined;
    const clock = {
      now: () => now,
      setTimer: (callback: () => void) => {
        fire = callback;
        return { cancel: () => undefined };
      },
    };
    const deadline = new CommandDeadline('Test', TIMEOUT, clock);
    const reply = deferred<number>();
    const call = deadline.bound('a', reply.promise);
    now = TIMEOUT;
    fire?.();
    reply.resolve(7);
    expect(await call).toBe(7);
    // With no reply in that turn, the call expires one turn later.
    const silent = track(deadline.bound('b', never()));
    now = 2 * TIMEOUT;
    fire?.();
    await expect(silent.promise).rejects.toBeInstanceOf(RedisUnavailableError);
  });

  it('a timer left from calls already answered does not expire a later call early', async () => {
    const clock = new TestClock();
    const deadline = new CommandDeadline('Test', TIMEOUT, clock);
    expect(await deadline.bound('a', Promise.resolve('answered'))).toBe('answered');
    await clock.advance(600);
    const later = track(deadline.bound('b', never()));
    await clock.advance(TIMEOUT - 1); // past the first call's deadline, 1 ms before its own
    expect(later.settled).toBe(false);
    await clock.advance(1);
    await expect(later.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    // A reply after the deadline is dropped; an answer before it wins.
    const answered = deadline.bound('c', Promise.resolve(42));
    await clock.advance(TIMEOUT);
    expect(await answered).toBe(42);
  });
});

describe('a server that accepts and never answers', () => {
  let silent: SilentServer;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => {
    await silent.close();
  });

  it('RedisCacheStore: get, getMany, set, delete and invalidateTags reject at commandTimeoutMs, not before', async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const store = new RedisCacheStore({ client, clock, prefix: 'silent:' });
    const calls = [
      track(store.get('a')),
      track(store.getMany(['a', 'b'])),
      track(store.set('a', entry('v', clock.now()))),
      track(store.delete('a')),
      track(store.invalidateTags(['t'])),
    ];
    await clock.advance(TIMEOUT - 1);
    expect(calls.map((c) => c.settled)).toEqual([false, false, false, false, false]);
    await clock.advance(1);
    for (const call of calls) {
      await expect(call.promise).rejects.toSatisfy(
        (e: unknown) => RedisUnavailableError.is(e) && /commandTimeoutMs = 1000 ms/.test(e.message),
      );
    }
    store.close();
    client.disconnect();
  });

  it('commandTimeoutMs is configurable, and validated', async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const store = new RedisCacheStore({ client, clock, commandTimeoutMs: 50 });
    const read = track(store.get('a'));
    await clock.advance(49);
    expect(read.settled).toBe(false);
    await clock.advance(1);
    await expect(read.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    for (const bad of [0, -1, Number.NaN, 2 ** 31, '1000']) {
      expect(() => new RedisCacheStore({ client, commandTimeoutMs: bad as number })).toThrow(
        /commandTimeoutMs/,
      );
      expect(() => new RedisFlightStore({ client, commandTimeoutMs: bad as number })).toThrow(
        /commandTimeoutMs/,
      );
      expect(() => new RedisRateLimitStore({ client, commandTimeoutMs: bad as number })).toThrow(
        /commandTimeoutMs/,
      );
    }
    store.close();
    client.disconnect();
  });

  it('cache(): a read computes once the store read fails at the deadline, and does not wait for the write', async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const store = new RedisCacheStore({ client, clock });
    const users = cache({ ttlMs: 60_000, clock, store });
    const errors: string[] = [];
    users.onError((e) => errors.push(e.phase));
    const read = track(users.get('u', () => 'computed'));
    await clock.advance(TIMEOUT - 1);
    expect(read.settled).toBe(false);
    await clock.advance(1);
    expect(await read.promise).toBe('computed');
    // The write of the value is still waiting for Redis: the read did not wait for it.
    expect(errors).toEqual(['store']);
    const closed = track(users.close());
    await clock.advance(TIMEOUT);
    await closed.promise;
    expect(errors).toEqual(['store', 'store']);
    // invalidate reaches the store and reports the outage as RedisUnavailableError.
    const users2 = cache({ ttlMs: 60_000, clock, store });
    const invalidated = track(users2.invalidate('u'));
    await clock.advance(TIMEOUT);
    await expect(invalidated.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    await users2.close();
    store.close();
    client.disconnect();
  });

  it('tieredStore: ready rejects at the deadline (handled), onError reports it, and it retries every resubscribeMs', async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const errors: unknown[] = [];
    const l1 = new MemoryCacheStore({ clock });
    const store = tieredStore(l1, new RedisCacheStore({ client, clock }), {
      clock,
      resubscribeMs: 500,
      onError: (e) => errors.push(e),
    });
    const ready = track(store.ready);
    await clock.advance(TIMEOUT - 1);
    expect(ready.settled).toBe(false);
    await clock.advance(1);
    await expect(ready.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(errors).toHaveLength(1);
    // Retried after 500 ms, and that attempt also waits its deadline.
    await clock.advance(500 + TIMEOUT);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => RedisUnavailableError.is(e))).toBe(true);
    // Reads still answer: an L1 copy is served, and a miss is a miss (from the deadline).
    l1.set('k', entry('local', clock.now()));
    expect((await store.get('k'))?.value).toBe('local');
    const closed = track(store.close());
    await clock.advance(TIMEOUT);
    await closed.promise;
    client.disconnect();
  });

  it("DistributedFlight: runs locally at the deadline ('local'), or rejects with RedisUnavailableError ('fail')", async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const store = new RedisFlightStore({ client, clock });
    const local = new DistributedFlight({ store, clock });
    let runs = 0;
    const value = track(local.run('k', () => ++runs));
    await clock.advance(TIMEOUT - 1);
    expect(value.settled).toBe(false);
    await clock.advance(1);
    expect(await value.promise).toBe(1);
    expect(local.stats().local).toBe(1);
    const strict = new DistributedFlight({ store, clock, onUnavailable: 'fail' });
    const refused = track(strict.run('k', () => ++runs));
    await clock.advance(TIMEOUT);
    await expect(refused.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(runs).toBe(1);
    store.close();
    client.disconnect();
  });

  it('RedisFlightStore: claim, extend, complete and release reject at the deadline', async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const store = new RedisFlightStore({ client, clock });
    const lease = { key: 'k', token: 't', fence: 1 };
    const calls = [
      track(store.claim('k', 1000)),
      track(store.extend(lease, 1000)),
      track(store.complete(lease, 'v1', 1000)),
      track(store.release(lease)),
    ];
    await clock.advance(TIMEOUT - 1);
    expect(calls.map((c) => c.settled)).toEqual([false, false, false, false]);
    await clock.advance(1);
    for (const call of calls)
      await expect(call.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    store.close();
    client.disconnect();
  });

  it("RedisRateLimitStore: the fallback answers at the deadline ('fail-closed' and 'local'); reset rejects", async () => {
    const client = readmeClient(silent.url);
    const clock = new TestClock();
    const closed = new RedisRateLimitStore({ client, clock, unavailableRetryMs: 250 });
    const events: string[] = [];
    closed.onUnavailable((e) => events.push(e.fallback));
    const refused = track(closed.acquire({ rules: [rule], cost: 1 }));
    const local = new RedisRateLimitStore({
      client,
      clock,
      onUnavailable: 'local',
      expectedInstances: 2,
    });
    const admitted = track(local.acquire({ rules: [rule], cost: 1 }));
    const reset = track(closed.reset(['api']));
    await clock.advance(TIMEOUT - 1);
    expect([refused.settled, admitted.settled, reset.settled]).toEqual([false, false, false]);
    await clock.advance(1);
    expect(await refused.promise).toMatchObject({ allowed: false, retryAfterMs: 250 });
    expect(events).toEqual(['fail-closed']);
    expect(await admitted.promise).toMatchObject({ allowed: true });
    expect(local.stats()).toEqual({ remote: 0, fallback: 1 });
    await expect(reset.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    closed.close();
    local.close();
    client.disconnect();
  });
});

describe('a port nothing listens on', () => {
  it('cache(): reads compute, invalidate rejects with RedisUnavailableError (outcome only: ioredis reconnects on its own time)', async () => {
    const client = readmeClient(`redis://127.0.0.1:${String(await closedPort())}`);
    const store = new RedisCacheStore({ client });
    const users = cache({ ttlMs: 60_000, store });
    let computed = 0;
    expect(await users.get('a', () => `v${String(++computed)}`)).toBe('v1');
    // The value was never stored: the next read of another cache computes again.
    const other = cache({ ttlMs: 60_000, store });
    expect(await other.get('a', () => `v${String(++computed)}`)).toBe('v2');
    const many = await Promise.all(['x', 'y', 'z'].map((k) => users.get(k, () => k)));
    expect(many).toEqual(['x', 'y', 'z']);
    await expect(users.invalidate('a')).rejects.toBeInstanceOf(RedisUnavailableError);
    await users.close();
    await other.close();
    store.close();
    client.disconnect();
  });

  it('DistributedFlight runs locally and RedisRateLimitStore falls back (outcome only)', async () => {
    const client = readmeClient(`redis://127.0.0.1:${String(await closedPort())}`);
    const flightStore = new RedisFlightStore({ client });
    const flights = new DistributedFlight({ store: flightStore });
    expect(await flights.run('k', () => 'local')).toBe('local');
    expect(flights.stats().local).toBe(1);
    const limits = new RedisRateLimitStore({ client });
    expect(await limits.acquire({ rules: [rule], cost: 1 })).toMatchObject({ allowed: false });
    expect(limits.stats()).toEqual({ remote: 0, fallback: 1 });
    flightStore.close();
    client.disconnect();
  });
});

const skip = await redisUnavailable();

describe.skipIf(skip !== null)('Redis down at start, then up', () => {
  const prefix = uniquePrefix('faults');
  const admin = connect();
  afterAll(async () => {
    await dropPrefix(admin, prefix);
    admin.disconnect();
  });

  it('tieredStore: no crash while Redis is down; once it is up, the store subscribes again and applies invalidations', async () => {
    const port = await closedPort();
    const client = readmeClient(`redis://127.0.0.1:${String(port)}`);
    const clock = new TestClock();
    const errors: unknown[] = [];
    const l1 = new MemoryCacheStore();
    const store = tieredStore(l1, new RedisCacheStore({ client, clock, prefix }), {
      clock,
      resubscribeMs: 200,
      onError: (e) => errors.push(e),
    });
    const ready = track(store.ready);
    // Refused at once (reconnecting) or at the deadline (still connecting): either way, handled.
    await clock.advance(TIMEOUT);
    await expect(ready.promise).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    const users = cache({ ttlMs: 60_000, store });
    expect(await users.get('u', () => 'computed while down')).toBe('computed while down');

    // Redis comes up on that port (a proxy to the test server): ioredis reconnects, and a
    // retry of the subscription (every resubscribeMs on the test clock) succeeds.
    const proxy = await startProxy(REDIS_URL, port);
    try {
      await until(() => client.status === 'ready');
      for (let i = 0; i < 200 && store.remoteInvalidations === 0; i++) {
        await clock.advance(200);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // The late subscription cleared L1 (invalidations were missed meanwhile).
      expect(store.remoteInvalidations).toBe(1);
      const now = Date.now();
      await store.set('k', entry('v', now));
      expect(l1.get('k')).toBeDefined();
      await new RedisCacheStore({ client: admin, prefix }).delete('k');
      await until(() => l1.get('k') === undefined);
      expect(store.remoteInvalidations).toBe(2);
    } finally {
      await users.close();
      await store.close();
      client.disconnect();
      await proxy.close();
    }
  });

  it('RedisFlightStore opens no subscriber after close(), even when close() comes while it subscribes', async () => {
    const client = connect();
    const name = `bfclosed${String(process.pid)}`;
    const named = async (): Promise<number> =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=${name} `)).length;
    const store = new RedisFlightStore({ client, prefix, subscriberName: name });
    (await store.watch('k', () => undefined)).dispose();
    expect(await named()).toBe(1);
    store.close();
    await expect(store.watch('k', () => undefined)).rejects.toThrow(/closed/);
    for (let i = 0; i < 500 && (await named()) > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await named()).toBe(0);

    const racing = new RedisFlightStore({ client, prefix, subscriberName: name });
    const watching = racing.watch('k', () => undefined);
    racing.close();
    await watching.then(
      (w) => {
        w.dispose();
      },
      () => undefined,
    );
    await expect(racing.watch('k', () => undefined)).rejects.toThrow(/closed/);
    for (let i = 0; i < 500 && (await named()) > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await named()).toBe(0);
    // A DistributedFlight on a closed store reports it, rather than running as if Redis were down.
    await expect(new DistributedFlight({ store: racing }).run('k', () => 1)).rejects.toThrow(
      /closed/,
    );
    client.disconnect();
  });
});
