import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { toContext } from '../core/index.js';
import {
  constantBackoff,
  retry,
  retryBudget,
  retryChannels,
  type RetryConfiguredEvent,
} from './index.js';

/** A handler that always fails; counts the attempts per input. */
function failing() {
  const attempts = new Map<number, number>();
  const handler = (input: number): Promise<never> => {
    attempts.set(input, (attempts.get(input) ?? 0) + 1);
    return Promise.reject(new Error(`down ${String(input)}`));
  };
  return { handler, attempts };
}

describe('RetryPolicy#configure()', () => {
  it('new attempts and backoff apply to calls started after; a call in flight keeps its own', async () => {
    const clock = new TestClock();
    const policy = retry<number, never>({
      maxAttempts: 5,
      backoff: constantBackoff(100),
      budget: false,
      clock,
    });
    const { handler, attempts } = failing();
    const call = policy.wrap(handler);
    const first = call(1, toContext()).catch(() => 'failed');
    await clock.advance(150); // attempt 2 of call 1 has run, under 5 attempts and 100 ms
    policy.configure({ maxAttempts: 2, backoff: 10 });
    expect(policy.maxAttempts).toBe(2);
    const second = call(2, toContext()).catch(() => 'failed');
    await clock.advance(10);
    expect(await second).toBe('failed');
    expect(attempts.get(2)).toBe(2);
    await clock.advance(1_000);
    expect(await first).toBe('failed');
    expect(attempts.get(1)).toBe(5);
    expect(policy.stats()).toMatchObject({ calls: 2, retries: 4 + 1, failures: 2 });
  });

  it('a new budget, or none, is used from the next call; a shared budget resizes for all', async () => {
    const clock = new TestClock();
    const budget = retryBudget({ capacity: 10, retryCost: 5 });
    const a = retry<number, never>({ maxAttempts: 10, backoff: 0, budget, clock });
    const b = retry<number, never>({ maxAttempts: 10, backoff: 0, budget, clock });
    const { handler, attempts } = failing();
    const run = async (call: Promise<unknown>) => {
      const settled = call.catch(() => undefined);
      await clock.runAll();
      await settled;
    };
    // Two retries drain the shared bucket of 10.
    await run(a.wrap(handler)(1, toContext()));
    expect(attempts.get(1)).toBe(3);
    budget.configure({ capacity: 20 });
    expect(budget.stats()).toMatchObject({ tokens: 0, capacity: 20 });
    await run(b.wrap(handler)(2, toContext()));
    expect(attempts.get(2)).toBe(1);

    a.configure({ budget: false });
    await run(a.wrap(handler)(3, toContext()));
    expect(attempts.get(3)).toBe(10);
    expect(a.settings.budget).toBe(false);
    expect(b.settings.budget).toBe(budget);
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', () => {
    const policy = retry({ maxAttempts: 3 });
    for (const bad of [
      { maxAttempts: 0 },
      { maxRetryAfterMs: -1 },
      { backoff: 'fast' },
      { budget: { capacity: 5 } },
    ]) {
      let message = '';
      try {
        retry(bad as never);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^retry\(\): option/);
      expect(() => {
        policy.configure(bad as never);
      }).toThrow(message);
    }
    expect(() => {
      retryBudget().configure({ capacity: -1 });
    }).toThrow('retryBudget(): option capacity must be a finite number >= 0, got -1.');
    policy.configure({ maxAttempts: 9 }, { dryRun: true });
    expect(policy.settings.maxAttempts).toBe(3);
  });

  it('publishes configured with the old and new settings', () => {
    const seen: RetryConfiguredEvent[] = [];
    const listener = (message: unknown) => seen.push(message as RetryConfiguredEvent);
    diagnosticsChannel.subscribe(retryChannels.configured.name, listener);
    const policy = retry({ name: 'r-configured', maxAttempts: 3, budget: false });
    policy.configure({ maxAttempts: 1 });
    diagnosticsChannel.unsubscribe(retryChannels.configured.name, listener);
    const mine = seen.filter((e) => e.name === 'r-configured');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      previous: { maxAttempts: 3, maxRetryAfterMs: 60_000, budget: false },
      current: { maxAttempts: 1, maxRetryAfterMs: 60_000, budget: false },
    });
  });
});
