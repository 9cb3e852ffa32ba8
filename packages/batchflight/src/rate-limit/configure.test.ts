import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
// Tests only: the TestClock of @batchflight/testing never ships with the core.

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import {
  MemoryRateLimitStore,
  RateLimitedError,
  rateLimit,
  rateLimitChannels,
  type RateLimitConfiguredEvent,
  type RateLimitDecision,
  type RateLimitRejectedEvent,
  type RateLimitStore,
} from './index.js';

/** Starts `n` acquisitions and counts the admitted ones. */
function load(limiter: { acquire(): Promise<void> }, n: number) {
  let admitted = 0;
  const calls = Array.from({ length: n }, () =>
    limiter.acquire().then(() => {
      admitted++;
    }),
  );
  return { calls, admitted: () => admitted };
}

/** Collects what a channel publishes until disposed. */
function record<T>(channel: { readonly name: string; publish(payload: T): void }) {
  const name = channel.name;
  const events: T[] = [];
  const listener = (message: unknown) => events.push(message as T);
  diagnosticsChannel.subscribe(name, listener);
  return { events, [Symbol.dispose]: () => diagnosticsChannel.unsubscribe(name, listener) };
}

describe('RateLimitPolicy#configure()', () => {
  it('a raised rate and burst re-evaluate the waiting callers at once, then admit at the new rate', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, per: 'second', burst: 1, clock });
    const { calls, admitted } = load(limiter, 30);
    await flushMicrotasks();
    expect(admitted()).toBe(1);
    await clock.advance(1_000);
    expect(admitted()).toBe(2);

    // Half-way to the next slot of the old rate (due at 2 000, 500 ms of it charged): under
    // 10/s with a burst of 10 the key has room for 5 now, and the head does not wait for the
    // timer armed under the old rate.
    await clock.advance(500);
    expect(admitted()).toBe(2);
    limiter.configure({ rate: 10, burst: 10 });
    await flushMicrotasks();
    expect(admitted()).toBe(7);
    expect(limiter.settings).toEqual({
      rate: 10,
      per: 1_000,
      burst: 10,
      maxQueued: 10_000,
      maxStallMs: 60_000,
    });
    // Then one per 100 ms, where the old rate would have admitted one in this second.
    await clock.advance(1_000);
    expect(admitted()).toBe(17);
    expect(limiter.stats()).toMatchObject({ admitted: 17, waited: 16, queued: 13 });

    // Lowered again: the waiters slow down, none is dropped.
    limiter.configure({ rate: 2, burst: 1 });
    await clock.advance(1_000);
    expect(admitted()).toBe(18);
    await clock.advance(6_000);
    await Promise.all(calls);
    expect(limiter.stats()).toMatchObject({ admitted: 30, rejected: 0, queued: 0 });
  });

  it('a burst left to its default follows the rate; limits replace a single limit', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 2, whenLimited: 'reject', clock });
    limiter.configure({ rate: 5 });
    expect(limiter.settings).toMatchObject({ rate: 5, burst: 5 });
    const decisions = await Promise.allSettled(Array.from({ length: 7 }, () => limiter.acquire()));
    expect(decisions.filter((d) => d.status === 'fulfilled')).toHaveLength(5);

    limiter.configure({
      limits: [
        { rate: 100, per: 'second' },
        { rate: 6, per: 'minute', burst: 6 },
      ],
    });
    expect(limiter.settings).toEqual({
      limits: [
        { rate: 100, per: 1_000, burst: 100 },
        { rate: 6, per: 60_000, burst: 6 },
      ],
      maxQueued: 10_000,
      maxStallMs: 60_000,
    });
    await clock.advance(10_000);
    // The per-minute limit is fresh (a new store key), so 6 pass and the 7th is refused by it.
    const again = await Promise.allSettled(Array.from({ length: 7 }, () => limiter.acquire()));
    expect(again.map((d) => d.status)).toEqual([...Array<string>(6).fill('fulfilled'), 'rejected']);
    expect(() => {
      limiter.configure({ rate: 1 });
    }).toThrow('rateLimit(): give either rate/per/burst or limits, not both.');
    await limiter.close();
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 1, clock });
    const constructorMessage = (options: object) => {
      try {
        rateLimit({ rate: 1, ...options });
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('the constructor accepted it');
    };
    for (const bad of [
      { rate: 0 },
      { burst: 0.5 },
      { per: 'year' },
      { maxQueued: -1 },
      { maxStallMs: 1.5 },
    ]) {
      expect(() => {
        limiter.configure(bad as never);
      }).toThrow(constructorMessage(bad));
    }
    expect(() => {
      limiter.configure({ rte: 5 } as never);
    }).toThrow(
      'rateLimit(): unknown option "rte"; known options are rate, per, burst, limits, maxQueued, maxStallMs.',
    );
    expect(() => {
      limiter.configure({ rate: 0 });
    }).toThrow('rateLimit(): option rate must be a finite number > 0, got 0.');
    expect(() => {
      limiter.configure({ rate: 5 }, { dryRun: true });
    }).not.toThrow();
    expect(limiter.settings).toMatchObject({ rate: 1, burst: 1 });
    const { admitted, calls } = load(limiter, 3);
    await clock.advance(1_000);
    expect(admitted()).toBe(2);
    // The third still waits at rate 1: closing rejects it, as close() promises.
    const refused = expect(calls[2]).rejects.toThrow(
      'the limiter was closed while the call waited',
    );
    await limiter.close();
    await refused;
  });

  it('a lowered maxQueued refuses new waiters and keeps the queued ones', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 10, burst: 1, clock });
    const { calls, admitted } = load(limiter, 5);
    await flushMicrotasks();
    limiter.configure({ maxQueued: 2 });
    const refused = await limiter.acquire().catch((e: unknown) => e);
    expect(RateLimitedError.is(refused) && refused.reason).toBe('queue-full');
    await clock.advance(400);
    await Promise.all(calls);
    expect(admitted()).toBe(5);
  });

  it('a waiter whose cost exceeds the new burst is rejected with the cost error', async () => {
    const clock = new TestClock();
    const limiter = rateLimit({ rate: 1, burst: 4, clock });
    await limiter.acquire({ cost: 4 });
    const heavy = limiter.acquire({ cost: 3 }).catch((e: unknown) => e);
    const light = limiter.acquire({ cost: 1 });
    limiter.configure({ burst: 2 });
    expect(String(await heavy)).toContain(
      "a call's cost must be a number >= 0 and <= the smallest burst (2)",
    );
    await clock.advance(3_000);
    await light;
    expect(limiter.stats().queued).toBe(0);
  });

  it('asks again under the new limits when an asynchronous refusal was asked under the old', async () => {
    const clock = new TestClock();
    const inner = new MemoryRateLimitStore({ clock });
    let release: (() => void) | undefined;
    let holding = false;
    const store: RateLimitStore = {
      acquire: (request): Promise<RateLimitDecision> => {
        const decision = inner.acquire(request);
        // Hold the first refusal of a waiter until the test lets it go.
        if (holding && !decision.allowed && release === undefined) {
          return new Promise(
            (resolve) =>
              (release = () => {
                resolve(decision);
              }),
          );
        }
        return Promise.resolve(decision);
      },
      reset: (keys) => {
        inner.reset(keys);
      },
    };
    const limiter = rateLimit({ rate: 1, burst: 1, store, clock });
    const { admitted } = load(limiter, 3);
    await flushMicrotasks();
    expect(admitted()).toBe(1);
    holding = true;
    // The timer admits the second at 1 000; the third's refusal is held in flight.
    await clock.advance(1_000);
    expect(admitted()).toBe(2);
    expect(release).toBeDefined();
    // A burst of 5 has room for it now: the refusal asked under a burst of 1 is not trusted.
    limiter.configure({ burst: 5 });
    release?.();
    await flushMicrotasks();
    expect(admitted()).toBe(3);
  });

  it('publishes configured, admitted and rejected', async () => {
    const clock = new TestClock();
    using configured = record(rateLimitChannels.configured);
    using admittedEvents = record(rateLimitChannels.admitted);
    using rejected = record(rateLimitChannels.rejected);
    const limiter = rateLimit({ name: 'rl-configured', rate: 1, burst: 1, maxQueued: 1, clock });
    const first = limiter.acquire({ key: 'k' });
    const second = limiter.acquire({ key: 'k' });
    const third = await limiter.acquire({ key: 'k' }).catch((e: unknown) => e);
    expect(RateLimitedError.is(third)).toBe(true);
    limiter.configure({ rate: 4, burst: 2 });
    await clock.advance(1_000);
    await Promise.all([first, second]);
    const mine = <T extends { name: string }>(events: T[]) =>
      events.filter((e) => e.name === 'rl-configured');
    expect(mine(configured.events)).toEqual<RateLimitConfiguredEvent[]>([
      {
        name: 'rl-configured',
        previous: { rate: 1, per: 1_000, burst: 1, maxQueued: 1, maxStallMs: 60_000 },
        current: { rate: 4, per: 1_000, burst: 2, maxQueued: 1, maxStallMs: 60_000 },
      },
    ]);
    expect(mine(admittedEvents.events).map((e) => [e.key, e.cost, e.waitedMs])).toEqual([
      ['k', 1, 0],
      ['k', 1, 750],
    ]);
    expect(mine(rejected.events)).toEqual<RateLimitRejectedEvent[]>([
      {
        name: 'rl-configured',
        key: 'k',
        scope: undefined,
        cost: 1,
        reason: 'queue-full',
        retryAfterMs: Infinity,
      },
    ]);
    await limiter.close();
  });
});
