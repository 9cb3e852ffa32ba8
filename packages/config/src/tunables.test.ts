import { TestClock, flushMicrotasks } from '@batchflight/testing';
import { bulkhead } from 'batchflight/bulkhead';
import { cache } from 'batchflight/cache';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';
import { toContext } from 'batchflight/core';
import { hedge } from 'batchflight/hedge';
import { rateLimit } from 'batchflight/rate-limit';
import { retry, retryBudget } from 'batchflight/retry';
import { timeout, TimeoutError } from 'batchflight/timeout';
import { describe, expect, it } from 'vitest';
import {
  breakerTunable,
  bulkheadTunable,
  cacheTunable,
  ConfigError,
  ConfigRegistry,
  fleetConfigSchema,
  hedgeTunable,
  parseConfigText,
  rateLimitTunable,
  retryTunable,
  timeoutTunable,
  type FleetConfig,
} from './index.js';

const parse = (text: string): FleetConfig =>
  parseConfigText(text, { source: 'fleet.yaml' }, fleetConfigSchema);

/** The message apply() refuses `config` with (it must refuse). */
function refusal(registry: ConfigRegistry, config: FleetConfig): string {
  try {
    registry.apply(config, 'fleet.yaml');
  } catch (error) {
    expect(ConfigError.is(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('apply() accepted the configuration');
}

describe('a published configuration retunes live primitives', () => {
  it('rateLimit: waiting callers are admitted under the new rate; a refused change keeps the old', async () => {
    const clock = new TestClock();
    const registry = new ConfigRegistry();
    const github = rateLimit({ name: 'github', rate: 1, burst: 1, clock });
    registry.register('github', rateLimitTunable(github));
    let admitted = 0;
    const calls = Array.from({ length: 40 }, () => github.acquire().then(() => admitted++));
    await clock.advance(1_000);
    expect(admitted).toBe(2);

    registry.apply(parse('primitives:\n  github:\n    rateLimit: { rate: 10, burst: 5 }\n'));
    // The time charged under the old rate stays charged (the key's arrival time is 2 000):
    // with a window of 5 × 100 ms the head passes at 1 600, then one per 100 ms.
    await clock.advance(1_000);
    expect(admitted).toBe(2 + 5);
    await clock.advance(1_000);
    expect(admitted).toBe(2 + 5 + 10);

    // Valid for the schema, refused by the limiter: its constructor's message, nothing changes.
    const bad = { primitives: { github: { rateLimit: { rate: 0 } } } } as FleetConfig;
    expect(refusal(registry, bad)).toBe(
      'fleet.yaml primitives.github.rateLimit: got {"rate":0}; expected settings github accepts (rateLimit(): option rate must be a finite number > 0, got 0.)',
    );
    expect(github.settings).toMatchObject({ rate: 10, burst: 5, maxStallMs: 60_000 });
    await clock.advance(1_000);
    expect(admitted).toBe(27);

    // Dropped from the configuration: back to the settings the limiter was built with.
    registry.apply(parse('primitives:\n  github:\n    rateLimit: { maxStallMs: 5000 }\n'));
    expect(github.settings).toMatchObject({ rate: 1, burst: 1, maxStallMs: 5_000 });
    await clock.advance(20_000);
    await Promise.all(calls);
  });

  it('bulkhead: a raised limit starts queued callers at once', async () => {
    const registry = new ConfigRegistry();
    const pool = bulkhead<number, number>({ name: 'db', maxConcurrent: 1, maxQueued: 10 });
    registry.register('db', bulkheadTunable(pool));
    const release: (() => void)[] = [];
    const call = pool.wrap(
      (n: number) =>
        new Promise<number>((resolve) =>
          release.push(() => {
            resolve(n);
          }),
        ),
    );
    const results = Array.from({ length: 6 }, (_, i) => call(i, toContext()));
    await flushMicrotasks();
    expect(pool.stats()).toMatchObject({ active: 1, queued: 5 });
    registry.apply(parse('primitives:\n  db:\n    bulkhead: { maxConcurrent: 4 }\n'));
    await flushMicrotasks();
    expect(pool.stats()).toMatchObject({ active: 4, queued: 2 });
    while (release.length > 0) {
      release.shift()?.();
      await flushMicrotasks();
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('timeout and hedge: calls started after the change get the new deadline and delay', async () => {
    const clock = new TestClock();
    const registry = new ConfigRegistry();
    const t = timeout<number, never>({ name: 'slow', ms: 1_000, clock });
    const h = hedge<number, number>({ name: 'replicas', afterMs: 500, clock });
    registry.register('slow', timeoutTunable(t));
    registry.register('replicas', hedgeTunable(h));
    const never = t.wrap(() => new Promise<never>(() => undefined));
    let attempts = 0;
    const hedged = h.wrap(async (_: number) => {
      attempts++;
      await clock.advance(0);
      return new Promise<number>(() => undefined);
    });
    const first = never(1, toContext()).catch((e: unknown) => e);
    void hedged(1, toContext());
    registry.apply(
      parse(
        'primitives:\n  slow:\n    timeout: { ms: 100 }\n  replicas:\n    hedge: { afterMs: 50, maxHedges: 2 }\n',
      ),
    );
    const second = never(2, toContext()).catch((e: unknown) => e);
    void hedged(2, toContext());
    await clock.advance(100);
    expect(TimeoutError.is(await second)).toBe(true);
    expect(t.stats()).toMatchObject({ timeouts: 1, inFlight: 1 });
    // The second call hedged twice (at 50 and 100), the first not yet (500).
    expect(attempts).toBe(2 + 2);
    await clock.advance(900);
    expect(TimeoutError.is(await first)).toBe(true);
  });

  it('retry: fewer attempts and a smaller budget for the next calls; a bad backoff is refused', async () => {
    const clock = new TestClock();
    const registry = new ConfigRegistry();
    const budget = retryBudget({ capacity: 100, retryCost: 5 });
    const policy = retry<number, never>({ name: 'api', maxAttempts: 4, backoff: 0, budget, clock });
    registry.register('api', retryTunable(policy));
    let attempts = 0;
    const call = policy.wrap(() => {
      attempts++;
      return Promise.reject(new Error('down'));
    });
    const run = async () => {
      const settled = call(0, toContext()).catch(() => undefined);
      await clock.runAll();
      await settled;
    };
    await run();
    expect(attempts).toBe(4);
    registry.apply(
      parse('primitives:\n  api:\n    retry: { maxAttempts: 2, budget: { capacity: 10 } }\n'),
    );
    expect(budget.stats()).toMatchObject({ capacity: 10, tokens: 10 });
    attempts = 0;
    await run(); // one retry: 5 tokens left
    await run(); // one retry: 0 left
    await run(); // the budget refuses
    expect(attempts).toBe(2 + 2 + 1);

    const message = refusal(
      registry,
      parse(
        'primitives:\n  api:\n    retry: { backoff: { initialDelayMs: 500, maxDelayMs: 100 } }\n',
      ),
    );
    expect(message).toContain(
      'exponentialBackoff(): option maxDelayMs must be a finite number >= 500, got 100.',
    );
    expect(policy.settings.maxAttempts).toBe(2);

    registry.apply(parse('primitives:\n  api:\n    retry: { budget: false }\n'));
    expect(policy.settings.budget).toBe(false);
    expect(policy.settings.maxAttempts).toBe(4);
    registry.apply(parse('primitives:\n  api:\n    retry: {}\n'));
    expect(policy.settings.budget).toBe(budget);
    expect(budget.settings.capacity).toBe(100);
  });

  it('circuitBreaker: a lowered threshold opens sooner; back to the base policy when dropped', async () => {
    const clock = new TestClock();
    const registry = new ConfigRegistry();
    const base = consecutive(10);
    const breaker = circuitBreaker<number, never>({ name: 'payments', policy: base, clock });
    registry.register('payments', breakerTunable(breaker));
    let reached = 0;
    const call = breaker.wrap(() => {
      reached++;
      return Promise.reject(new Error('down'));
    });
    registry.apply(parse('primitives:\n  payments:\n    circuitBreaker: { threshold: 2 }\n'));
    for (let i = 0; i < 5; i++) await call(i, toContext()).catch(() => undefined);
    expect(reached).toBe(2);
    expect(breaker.state).toBe('open');
    expect(
      refusal(
        registry,
        parse(
          'primitives:\n  payments:\n    circuitBreaker: { threshold: 2, sampling: { threshold: 0.5 } }\n',
        ),
      ),
    ).toContain('give either threshold (consecutive) or sampling, not both');
    registry.apply(parse('primitives:\n  payments:\n    circuitBreaker: {}\n'));
    expect(breaker.settings.policy).toBe(base);
  });

  it('cache: a shorter TTL recomputes new entries sooner', async () => {
    const clock = new TestClock();
    const registry = new ConfigRegistry();
    const users = cache({ name: 'users', ttlMs: 10_000, clock });
    registry.register('users', cacheTunable(users));
    let loads = 0;
    const read = () => users.get('u1', async () => ++loads);
    await read();
    registry.apply(
      parse('primitives:\n  users:\n    cache: { ttlMs: 100, version: 2, earlyRefresh: false }\n'),
    );
    for (let i = 0; i < 10; i++) {
      await read();
      await clock.advance(50);
    }
    // The version change made the first entry a miss; then one load per 100 ms.
    expect(loads).toBe(1 + 5);
    expect(users.settings).toMatchObject({ ttlMs: 100, version: 2 });
    await users.close();
  });

  it('applies nothing when one primitive refuses', () => {
    const registry = new ConfigRegistry();
    const github = rateLimit({ name: 'gh', limits: [{ rate: 5 }, { rate: 100, per: 'minute' }] });
    const pool = bulkhead({ name: 'pool', maxConcurrent: 2 });
    registry.register('gh', rateLimitTunable(github));
    registry.register('pool', bulkheadTunable(pool));
    const message = refusal(
      registry,
      parse(
        'primitives:\n  pool:\n    bulkhead: { maxConcurrent: 8 }\n  gh:\n    rateLimit: { rate: 50 }\n',
      ),
    );
    expect(message).toContain('rateLimit(): give either rate/per/burst or limits, not both.');
    expect(pool.settings.maxConcurrent).toBe(2);
    expect(registry.config).toEqual({ primitives: {} });
  });
});
