import diagnosticsChannel from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// Tests only: the TestClock of @batchflight/testing never ships with the core.

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import {
  ClosedError,
  InvalidOptionError,
  NEVER_ABORTED,
  stack,
  toContext,
  type Handler,
} from '../core/index.js';
import { GCRA_TOLERANCE_MS } from './store.js';
import {
  MemoryRateLimitStore,
  type RateLimitDecision,
  type RateLimitStore,
  type RateLimitedEvent,
  RateLimitedError,
  RateLimitPolicy,
  RateLimiter,
  rateLimit,
} from './index.js';

/** Records when each call got through. */
function recorder(clock: TestClock) {
  const times: number[] = [];
  const handler: Handler<string, number> = async () => {
    times.push(clock.now());
    return times.length;
  };
  return { times, handler };
}

describe('rateLimit(): reject', () => {
  it('admits the burst, then rejects with retryAfterMs, limit and remaining', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, per: 'second', burst: 3, whenLimited: 'reject', clock });
    for (let i = 0; i < 3; i++) await limiter.acquire();
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(RateLimitedError.is(error)).toBe(true);
    expect(error).toMatchObject({
      name: 'RateLimitedError',
      code: 'ERR_BATCHFLIGHT_RATE_LIMITED',
      retryAfterMs: 100,
      limit: 10,
      perMs: 1_000,
      remaining: 0,
      reason: 'limited',
    });
    await clock.advance(100);
    await limiter.acquire();
    expect(limiter.stats()).toMatchObject({ admitted: 4, limited: 1, rejected: 1 });
  });

  it('keys and scopes are limited independently', async () => {
    const clock = new TestClock();
    const limiter = rateLimit<string>({
      rate: 1,
      per: 'minute',
      burst: 1,
      whenLimited: 'reject',
      key: (user) => user,
      clock,
    });
    const call = limiter.wrap(async (user: string) => user);
    await call('ada', toContext());
    await call('bob', toContext());
    await call('ada', toContext({ scope: 'tenant-b' }));
    await expect(call('ada', toContext())).rejects.toSatisfy((e) => RateLimitedError.is(e));
  });

  it('charges weighted costs and refuses a cost larger than the burst at once', async () => {
    const clock = new TestClock();
    const limiter = rateLimit<number>({
      rate: 100,
      burst: 10,
      whenLimited: 'reject',
      cost: (n) => n,
      clock,
    });
    const call = limiter.wrap(async (n: number) => n);
    await call(7, toContext());
    await expect(call(4, toContext())).rejects.toMatchObject({ retryAfterMs: 10, remaining: 3 });
    await call(3, toContext());
    await expect(call(11, toContext())).rejects.toThrow(
      /cost must be a number >= 0 and <= the smallest burst \(10\)/,
    );
  });

  it('several limits are charged all or nothing (20/s and 30/min)', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({
      limits: [
        { rate: 20, per: 'second' },
        { rate: 30, per: 'minute' },
      ],
      whenLimited: 'reject',
      clock,
    });
    let admitted = 0;
    for (let i = 0; i < 25; i++)
      await limiter.acquire().then(
        () => admitted++,
        () => undefined,
      );
    expect(admitted).toBe(20);
    await clock.advance(1_000);
    for (let i = 0; i < 25; i++)
      await limiter.acquire().then(
        () => admitted++,
        () => undefined,
      );
    expect(admitted).toBe(30);
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(error).toMatchObject({ limit: 30, perMs: 60_000 });
  });

  it('tryAcquire answers without waiting or throwing', async () => {
    const limiter = rateLimit({ rate: 1, burst: 1, clock: new TestClock() });
    expect((await limiter.tryAcquire()).allowed).toBe(true);
    const d = await limiter.tryAcquire();
    expect(d).toMatchObject({ allowed: false, retryAfterMs: 1_000 });
  });

  it('reset gives a key its burst back', async () => {
    const limiter = rateLimit({ rate: 1, burst: 1, whenLimited: 'reject', clock: new TestClock() });
    await limiter.acquire({ key: 'k' });
    await limiter.reset('k');
    await limiter.acquire({ key: 'k' });
  });
});

describe('rateLimit(): wait', () => {
  it('queues callers FIFO and releases them at the rate with one timer per key', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, per: 'second', burst: 2, clock });
    const order: number[] = [];
    const calls = Array.from({ length: 6 }, (_, i) =>
      limiter.acquire().then(() => order.push(i) && clock.now()),
    );
    await flushMicrotasks();
    expect(order).toEqual([0, 1]);
    expect(limiter.stats().queued).toBe(4);
    expect(clock.pendingTimers).toBe(1);
    const start = clock.now();
    await clock.advance(400);
    const times = await Promise.all(calls);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(times.map((t) => t - start)).toEqual([0, 0, 100, 200, 300, 400]);
    expect(limiter.stats()).toMatchObject({ admitted: 6, waited: 4, queued: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('a newcomer never overtakes the waiters of its key; an urgent one goes first', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, burst: 1, clock });
    const order: string[] = [];
    await limiter.acquire();
    const a = limiter.acquire().then(() => order.push('a'));
    const b = limiter.acquire().then(() => order.push('b'));
    const urgent = limiter.acquire({ urgent: true }).then(() => order.push('urgent'));
    await clock.advance(300);
    await Promise.all([a, b, urgent]);
    expect(order).toEqual(['urgent', 'a', 'b']);
  });

  it('a waiter that aborts leaves alone with its reason; the queue moves on', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, burst: 1, clock });
    await limiter.acquire();
    const controller = new AbortController();
    const leaving = limiter.acquire({ signal: controller.signal });
    const staying = limiter.acquire();
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    expect(limiter.stats()).toMatchObject({ queued: 1, aborted: 1 });
    await clock.advance(100);
    await staying;
    expect(limiter.stats().waited).toBe(1);
  });

  it('a lone waiter that aborts cancels the key timer', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 1, clock });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    expect(clock.pendingTimers).toBe(1);
    controller.abort(new Error('x'));
    await expect(waiting).rejects.toThrow('x');
    expect(clock.pendingTimers).toBe(0);
  });

  it('waiters without a signal of their own add no listener to the shared NEVER_ABORTED', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 100, burst: 1, clock });
    const call = limiter.wrap(async () => 'ok');
    const calls = Array.from({ length: 20 }, () => call(undefined, toContext()));
    expect(limiter.stats().queued).toBe(19);
    expect(getEventListeners(NEVER_ABORTED, 'abort')).toHaveLength(0);
    await clock.advance(200);
    await Promise.all(calls);
  });

  it('an already aborted signal rejects at once', async () => {
    const limiter = rateLimit({ rate: 1, clock: new TestClock() });
    const controller = new AbortController();
    controller.abort(new Error('before'));
    await expect(limiter.acquire({ signal: controller.signal })).rejects.toThrow('before');
  });

  it('rejects beyond maxQueued with reason queue-full', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 1, maxQueued: 2, clock });
    await limiter.acquire();
    const waiting = [limiter.acquire(), limiter.acquire()];
    await expect(limiter.acquire()).rejects.toMatchObject({ reason: 'queue-full' });
    await clock.advance(2_000);
    await Promise.all(waiting);
  });

  it('bounds a stalled wait by maxStallMs: a store that refuses everything (fail-closed) ends it with stalled', async () => {
    const clock = new TestClock();
    // The store contract of a fail-closed store while its server is down: every call refused.
    let asked = 0;
    const failClosed: RateLimitStore = {
      acquire: async (): Promise<RateLimitDecision> => {
        asked++;
        return {
          allowed: false,
          retryAfterMs: 1_000,
          remaining: 0,
          resetAfterMs: 1_000,
          limitedBy: 0,
        };
      },
      reset: () => undefined,
    };
    const limiter = rateLimit({ rate: 1, burst: 1, store: failClosed, maxStallMs: 5_000, clock });
    const waits = [limiter.acquire(), limiter.acquire()].map((p) =>
      p.then(
        () => 'admitted',
        (error: unknown) => error,
      ),
    );
    await clock.advance(10_000);
    const [first, second] = await Promise.all(waits);
    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error).toMatchObject({ reason: 'stalled', retryAfterMs: 1_000 });
    }
    expect((first as Error).message).toMatch(
      /kept refusing this waiter more than maxStallMs \(5000 ms\)/,
    );
    // Nobody waits any more: no timer is left re-asking the store.
    const before = asked;
    await clock.advance(60_000);
    expect(asked).toBe(before);
    expect(limiter.stats()).toMatchObject({ queued: 0 });
  });

  it('as a Layer in a stack: calls wait their turn, then reach the handler', async () => {
    const clock = new TestClock();
    const { times, handler } = recorder(clock);
    const limiter = rateLimit<string>({ rate: 5, per: 'second', burst: 1, clock });
    const call = stack<string, number>(limiter).wrap(handler);
    const all = Promise.all(['a', 'b', 'c'].map((x) => call(x, toContext())));
    await clock.advance(400);
    await all;
    const start = times[0]!;
    expect(times.map((t) => t - start)).toEqual([0, 200, 400]);
  });

  it('schedule(fn) runs fn once admitted', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 1, clock });
    expect(await limiter.schedule(() => 'first')).toBe('first');
    const second = limiter.schedule(async () => clock.now());
    const start = clock.now();
    await clock.advance(1_000);
    expect((await second) - start).toBe(1_000);
  });

  it('works with a store that answers asynchronously', async () => {
    const clock = new TestClock();
    const inner = new MemoryRateLimitStore({ clock });
    const store: RateLimitStore = {
      acquire: async (request): Promise<RateLimitDecision> => inner.acquire(request),
      reset: async (keys) => {
        inner.reset(keys);
      },
    };
    const limiter = rateLimit({ rate: 10, burst: 1, store, clock });
    const order: number[] = [];
    const calls = [0, 1, 2].map((i) => limiter.acquire().then(() => order.push(i)));
    await clock.advance(300);
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2]);
  });

  it('close() rejects waiters with ClosedError, then refuses calls; idempotent', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 1, clock });
    await limiter.acquire();
    const waiting = limiter.acquire();
    await limiter.close();
    await expect(waiting).rejects.toSatisfy((e) => ClosedError.is(e));
    await expect(limiter.acquire()).rejects.toSatisfy((e) => ClosedError.is(e));
    expect(limiter.close()).toBe(limiter.close());
    await limiter[Symbol.asyncDispose]();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('rateLimit(): observability and options', () => {
  it('emits onLimited / onDequeued and publishes on diagnostics channels', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, burst: 1, clock, name: 'api' });
    const hooks: string[] = [];
    limiter.onLimited((e) => hooks.push(`limited:${e.action}`));
    limiter.onDequeued((e) => hooks.push(`dequeued:${String(e.waitedMs)}`));
    const published: RateLimitedEvent[] = [];
    const onMessage = (m: unknown): void => {
      published.push(m as RateLimitedEvent);
    };
    diagnosticsChannel.subscribe('batchflight:rate-limit:limited', onMessage);
    try {
      await limiter.acquire({ key: 'k' });
      const second = limiter.acquire({ key: 'k' });
      await clock.advance(100);
      await second;
    } finally {
      diagnosticsChannel.unsubscribe('batchflight:rate-limit:limited', onMessage);
    }
    expect(hooks).toEqual(['limited:wait', 'dequeued:100']);
    expect(published).toEqual([
      { name: 'api', key: 'k', scope: undefined, cost: 1, retryAfterMs: 100, action: 'wait' },
    ]);
  });

  it('validates options with messages that restate the contract', () => {
    expect(() => rateLimit({ rate: 0 })).toThrow(/rate must be a finite number > 0, got 0/);
    expect(() => rateLimit({ rate: 1, per: 'week' as 'day' })).toThrow(/per must be one of/);
    expect(() => rateLimit({ rate: 1, burst: 0.5 })).toThrow(/burst must be a finite number >= 1/);
    expect(() => rateLimit({ rate: 1, whenLimited: 'drop' as 'wait' })).toThrow(InvalidOptionError);
    expect(() => rateLimit({ rate: 1, limits: [{ rate: 2 }] })).toThrow(/not both/);
    expect(() => rateLimit({ limits: [] })).toThrow(/non-empty array/);
    expect(() => rateLimit({ rate: 1, store: {} as RateLimitStore })).toThrow(/RateLimitStore/);
    expect(() => rateLimit({ rate: 1, perMs: 5 } as unknown as { rate: number })).toThrow(
      /unknown option "perMs"/,
    );
  });
});

describe('rateLimit(): properties', () => {
  /** Checks that in every window [t_i, t_j] the admitted cost stays within burst + rate·(t_j − t_i)/per. */
  function withinBound(
    admitted: readonly (readonly [time: number, cost: number])[],
    rate: number,
    perMs: number,
    burst: number,
  ): boolean {
    for (let i = 0; i < admitted.length; i++) {
      let sum = 0;
      for (let j = i; j < admitted.length; j++) {
        sum += admitted[j]![1];
        const elapsed = admitted[j]![0] - admitted[i]![0];
        // GCRA_TOLERANCE_MS of slack per comparison, as the store documents.
        if (sum > burst + (rate * (elapsed + GCRA_TOLERANCE_MS)) / perMs + 1e-9) return false;
      }
    }
    return true;
  }

  it('reject mode never admits more than burst + rate·elapsed/per in any window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom(100, 1_000, 60_000),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 10 })), {
          minLength: 1,
          maxLength: 60,
          size: 'max',
        }),
        async (rate, perMs, burst, steps) => {
          const clock = new TestClock();
          const limiter = rateLimit({ rate, per: perMs, burst, whenLimited: 'reject', clock });
          const admitted: [number, number][] = [];
          for (const [gap, rawCost] of steps) {
            await clock.advance(gap);
            const cost = Math.min(rawCost, burst);
            await limiter.acquire({ cost }).then(
              () => admitted.push([clock.now(), cost]),
              (e: unknown) => {
                if (!RateLimitedError.is(e)) throw e;
              },
            );
          }
          expect(withinBound(admitted, rate, perMs, burst)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('wait mode admits every caller, in FIFO order, within the same bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 5 })), {
          minLength: 1,
          maxLength: 30,
          size: 'max',
        }),
        async (rate, burst, arrivals) => {
          const clock = new TestClock();
          const limiter = rateLimit({ rate, per: 'second', burst, clock });
          const admitted: [number, number][] = [];
          const order: number[] = [];
          const calls: Promise<void>[] = [];
          for (const [i, [gap, rawCost]] of arrivals.entries()) {
            await clock.advance(gap);
            const cost = Math.min(rawCost, burst);
            calls.push(
              limiter.acquire({ cost }).then(() => {
                admitted.push([clock.now(), cost]);
                order.push(i);
              }),
            );
          }
          await clock.runAll();
          await Promise.all(calls);
          expect(order).toEqual(arrivals.map((_, i) => i));
          expect(withinBound(admitted, rate, 1_000, burst)).toBe(true);
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('rateLimit: per-call options, close options, class name', () => {
  it('acquire() with a bare string is a TypeError, not a charge on the default key', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, whenLimited: 'reject', name: 'api', clock });
    await expect(limiter.acquire('user-1' as unknown as { key: string })).rejects.toThrow(
      new TypeError(
        'rateLimit(api).acquire(): expected an options object { signal, scope, urgent, key, cost } or nothing, got "user-1".',
      ),
    );
    // The default key was not charged: its one unit is still there.
    await expect(limiter.acquire()).resolves.toBeUndefined();
    expect(limiter.stats().admitted).toBe(1);
    await limiter.close();
  });

  it('an unknown per-call option is an InvalidOptionError on acquire, schedule, tryAcquire and reset', async () => {
    const limiter = rateLimit({ rate: 5, name: 'api' });
    const coast = { coast: 3 } as unknown as { cost: number };
    const outcome = await limiter.acquire(coast).catch((e: unknown) => e);
    expect(InvalidOptionError.is(outcome)).toBe(true);
    expect((outcome as Error).message).toBe(
      'rateLimit(api).acquire(): unknown option "coast"; known options are signal, scope, urgent, key, cost.',
    );
    let ran = false;
    await expect(
      limiter.schedule(() => (ran = true), { kee: 'a' } as unknown as { key: string }),
    ).rejects.toSatisfy((e: unknown) => InvalidOptionError.is(e));
    expect(ran).toBe(false);
    await expect(limiter.tryAcquire(coast)).rejects.toSatisfy((e: unknown) =>
      InvalidOptionError.is(e),
    );
    await expect(limiter.tryAcquire({ key: 7 as unknown as string })).rejects.toThrow(
      'rateLimit(api): a key must be a string',
    );
    await expect(limiter.reset(5 as unknown as string)).rejects.toThrow(TypeError);
    await expect(
      limiter.reset('a', { scop: 'b' } as unknown as { scope: string }),
    ).rejects.toSatisfy((e: unknown) => InvalidOptionError.is(e));
    await expect(limiter.acquire({ signal: 'x' as unknown as AbortSignal })).rejects.toThrow(
      'rateLimit(api).acquire(): option signal must be an AbortSignal, got "x".',
    );
    expect(limiter.stats()).toMatchObject({ admitted: 0, limited: 0 });
    await limiter.close();
  });

  it('close({ signal, timeoutMs }) is checked; waiters are rejected at once either way', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, clock, name: 'api' });
    await expect(limiter.close({ timeoutMs: -1 })).rejects.toSatisfy((e: unknown) =>
      InvalidOptionError.is(e),
    );
    await expect(
      limiter.close({ force: true } as unknown as { timeoutMs: number }),
    ).rejects.toThrow('rateLimit(api).close(): unknown option "force"');
    await limiter.acquire();
    const waiting = limiter.acquire().catch((e: unknown) => e);
    await limiter.close({ timeoutMs: 10, signal: AbortSignal.abort() });
    expect(ClosedError.is(await waiting)).toBe(true);
    await expect(limiter[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });

  it('keeps the old class name as an alias', () => {
    const limiter = rateLimit({ rate: 1 });
    expect(limiter).toBeInstanceOf(RateLimitPolicy);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expect(RateLimiter).toBe(RateLimitPolicy);
    expect(limiter.name).toBe('rl');
  });
});
