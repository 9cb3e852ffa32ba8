/**
 * The order of layers in `stack(...)` changes what they mean. These tests
 * pin down the two examples of the README's "Composing layers" section.
 */
import { describe, expect, it } from 'vitest';

import { FakeUpstream, TestClock, UpstreamError } from '@batchflight/testing';
import { stack, toContext, type Handler } from '../core/index.js';
import { retry } from '../retry/index.js';
import { timeout } from '../timeout/index.js';
import { bulkhead } from '../bulkhead/index.js';
import { fallback } from '../fallback/index.js';
import { CircuitOpenError, circuitBreaker, consecutive } from './index.js';

function setup() {
  const clock = new TestClock();
  const upstream = new FakeUpstream<number, string>({ clock, latencyMs: 10 });
  const handler: Handler<number, string> = (id, { signal }) => upstream.get(id, { signal });
  const settle = async (p: Promise<string>): Promise<unknown> => {
    const outcome = p.then(
      (v) => v,
      (e: unknown) => e,
    );
    await clock.runAll();
    return outcome;
  };
  return { clock, upstream, handler, settle };
}

describe('stack ordering', () => {
  it('retry OUTSIDE the breaker: every attempt counts, the breaker opens mid-call and the retry stops at CircuitOpenError', async () => {
    const { clock, upstream, handler, settle } = setup();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(3),
      halfOpenAfterMs: 1_000,
      clock,
    });
    const call = stack(
      retry<number, string>({ maxAttempts: 5, backoff: 100, clock }),
      breaker,
    ).wrap(handler);
    upstream.down();
    const first = await settle(call(1, toContext()));
    // Attempts 1-3 reach the upstream and open the breaker; attempt 4 is refused and not retried.
    expect(CircuitOpenError.is(first)).toBe(true);
    expect(upstream.stats.calls).toBe(3);
    const second = await settle(call(2, toContext()));
    expect(CircuitOpenError.is(second)).toBe(true);
    expect(upstream.stats.calls).toBe(3);
  });

  it('retry INSIDE the breaker: the breaker sees one outcome per call, after all its retries', async () => {
    const { clock, upstream, handler, settle } = setup();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(3),
      halfOpenAfterMs: 1_000,
      clock,
    });
    const call = stack(
      breaker,
      retry<number, string>({ maxAttempts: 5, backoff: 100, clock }),
    ).wrap(handler);
    upstream.down();
    for (let i = 0; i < 3; i++) {
      const outcome = await settle(call(i, toContext()));
      expect(outcome).toBeInstanceOf(UpstreamError);
    }
    // Three calls of five attempts each before the breaker opened.
    expect(upstream.stats.calls).toBe(15);
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 3 });
    expect(CircuitOpenError.is(await settle(call(4, toContext())))).toBe(true);
    expect(upstream.stats.calls).toBe(15);
  });

  it('retry outside with retryCircuitOpen waits out the open circuit and probes when it half-opens', async () => {
    const { clock, upstream, handler, settle } = setup();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(2),
      halfOpenAfterMs: 1_000,
      clock,
    });
    const call = stack(
      retry<number, string>({ maxAttempts: 10, backoff: 50, retryCircuitOpen: true, clock }),
      breaker,
    ).wrap(handler);
    upstream.down(1_500);
    await expect(settle(call(7, toContext()))).resolves.toBe('value:7');
    // Two failures open the breaker; one probe at ~1 s fails; the next probe at ~2 s succeeds.
    expect(upstream.stats.calls).toBe(4);
    expect(breaker.state).toBe('closed');
  });

  it('a full stack: fallback outermost answers for every layer inside', async () => {
    const { clock, upstream, handler, settle } = setup();
    const call = stack(
      fallback<number, string>({ value: 'stale' }),
      retry<number, string>({ maxAttempts: 2, backoff: 10, clock }),
      circuitBreaker<number, string>({ policy: consecutive(2), clock }),
      timeout<number, string>({ ms: 100, clock }),
      bulkhead<number, string>({ maxConcurrent: 4 }),
    ).wrap(handler);
    await expect(settle(call(1, toContext()))).resolves.toBe('value:1');
    upstream.down();
    await expect(settle(call(2, toContext()))).resolves.toBe('stale');
    await expect(settle(call(3, toContext()))).resolves.toBe('stale');
    expect(upstream.stats.calls).toBe(3);
  });
});
