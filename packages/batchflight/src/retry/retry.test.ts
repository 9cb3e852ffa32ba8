import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { TestClock } from '@batchflight/testing';
import {
  exponentialBackoff as coreExponentialBackoff,
  InvalidOptionError,
  toContext,
  type CallContext,
} from '../core/index.js';
import { CircuitOpenError } from '../circuit-breaker/index.js';
import {
  constantBackoff,
  defaultIsRetryable,
  exponentialBackoff,
  parseRetryAfter,
  retry,
  retryChannels,
  retryAfterFromError,
  retryBudget,
  type GiveUpEvent,
  type RetryEvent,
} from './index.js';

/** A handler failing `failures` times with fresh errors, then answering `ok:<input>`. */
function flaky(failures: number, make = (n: number): unknown => new Error(`fail ${String(n)}`)) {
  const calls: number[] = [];
  const errors: unknown[] = [];
  const handler = async (input: number, _ctx: CallContext): Promise<string> => {
    calls.push(input);
    if (calls.length <= failures) {
      const error = make(calls.length);
      errors.push(error);
      throw error;
    }
    return `ok:${String(input)}`;
  };
  return { handler, calls, errors };
}

describe('retry', () => {
  it('retries after the backoff delay on the injected clock until the call succeeds', async () => {
    const clock = new TestClock();
    const policy = retry<number, string>({ maxAttempts: 5, backoff: 100, clock });
    const events: RetryEvent[] = [];
    policy.onRetry((e) => events.push(e));
    const { handler, calls } = flaky(2);
    const result = policy.wrap(handler)(1, toContext());
    await clock.advance(99);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
    await clock.advance(100);
    expect(calls).toHaveLength(3);
    await expect(result).resolves.toBe('ok:1');
    expect(events.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 100],
      [2, 100],
    ]);
    expect(policy.stats()).toMatchObject({ calls: 1, successes: 1, retries: 2, failures: 0 });
  });

  it('rethrows the very last error object after maxAttempts', async () => {
    const clock = new TestClock();
    const policy = retry<number, string>({ maxAttempts: 3, backoff: 10, clock });
    const gaveUp: GiveUpEvent[] = [];
    policy.onGiveUp((e) => gaveUp.push(e));
    const { handler, errors } = flaky(10);
    const result = policy.wrap(handler)(1, toContext());
    const caught = result.catch((e: unknown) => e);
    await clock.runAll();
    expect(errors).toHaveLength(3);
    expect(await caught).toBe(errors[2]);
    expect(gaveUp).toEqual([
      { name: 'retry', error: errors[2], attempts: 3, reason: 'max-attempts' },
    ]);
  });

  it('uses exponential backoff by default and the given backoff function when asked', async () => {
    const clock = new TestClock();
    const seen: [number, number][] = [];
    const policy = retry<number, string>({
      maxAttempts: 4,
      backoff: (attempt, previous) => {
        seen.push([attempt, previous]);
        return attempt * 10;
      },
      clock,
    });
    const { handler } = flaky(3);
    const result = policy.wrap(handler)(1, toContext());
    await clock.runAll();
    await expect(result).resolves.toBe('ok:1');
    expect(seen).toEqual([
      [1, 0],
      [2, 10],
      [3, 20],
    ]);
  });

  it('stops at once when retryOn says the error is not worth retrying', async () => {
    const policy = retry<number, string>({
      retryOn: (error) => (error as { status?: number }).status !== 400,
    });
    const { handler, errors } = flaky(5, () => Object.assign(new Error('bad'), { status: 400 }));
    await expect(policy.wrap(handler)(1, toContext())).rejects.toBe(errors[0]);
    expect(errors).toHaveLength(1);
  });

  it('handles a handler that throws synchronously like one that rejects', async () => {
    const clock = new TestClock();
    let calls = 0;
    const policy = retry<number, number>({ backoff: 0, clock });
    const result = policy.wrap((n) => {
      if (++calls === 1) throw new Error('sync');
      return Promise.resolve(n);
    })(7, toContext());
    await clock.runAll();
    await expect(result).resolves.toBe(7);
  });

  it('never retries a CircuitOpenError unless retryCircuitOpen, then waits its retryAfterMs', async () => {
    const open = new CircuitOpenError('open', 250, false);
    const plain = retry<number, string>();
    const { handler, errors } = flaky(1, () => open);
    await expect(plain.wrap(handler)(1, toContext())).rejects.toBe(open);
    expect(errors).toHaveLength(1);

    const clock = new TestClock();
    const patient = retry<number, string>({ retryCircuitOpen: true, backoff: 1, clock });
    const second = flaky(1, () => open);
    const result = patient.wrap(second.handler)(1, toContext());
    await clock.advance(249);
    expect(second.calls).toHaveLength(1);
    await clock.advance(1);
    await expect(result).resolves.toBe('ok:1');
  });

  it('never retries an abort error', async () => {
    const abort = new DOMException('aborted', 'AbortError');
    const { handler, errors } = flaky(3, () => abort);
    await expect(retry<number, string>().wrap(handler)(1, toContext())).rejects.toBe(abort);
    expect(errors).toHaveLength(1);
  });

  it("aborts a sleep with the caller's signal, rejecting with its reason and calling no more", async () => {
    const clock = new TestClock();
    const policy = retry<number, string>({ maxAttempts: 5, backoff: 1_000, clock });
    const gaveUp: GiveUpEvent[] = [];
    policy.onGiveUp((e) => gaveUp.push(e));
    const controller = new AbortController();
    const { handler, calls } = flaky(10);
    const result = policy.wrap(handler)(1, { signal: controller.signal });
    await clock.advance(10);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    await clock.runAll();
    expect(calls).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
    expect(gaveUp[0]?.reason).toBe('aborted');
  });

  it('does not retry once the caller signal has aborted during an attempt', async () => {
    const controller = new AbortController();
    const policy = retry<number, string>({ backoff: 0 });
    let calls = 0;
    const result = policy.wrap(async () => {
      calls++;
      controller.abort(new Error('stop'));
      throw new Error('failed while aborting');
    })(1, { signal: controller.signal });
    await expect(result).rejects.toThrow('failed while aborting');
    expect(calls).toBe(1);
  });

  describe('Retry-After', () => {
    const now = Date.UTC(2026, 0, 1);
    it('reads retryAfterMs, header objects, Headers and response headers', () => {
      expect(retryAfterFromError({ retryAfterMs: 1500 }, now)).toBe(1500);
      expect(retryAfterFromError({ headers: { 'retry-after': '2' } }, now)).toBe(2000);
      expect(retryAfterFromError({ headers: { 'Retry-After': 0.5 } }, now)).toBe(500);
      expect(retryAfterFromError({ headers: new Headers({ 'Retry-After': '3' }) }, now)).toBe(3000);
      expect(
        retryAfterFromError(
          {
            response: {
              headers: new Headers({ 'retry-after': new Date(now + 4000).toUTCString() }),
            },
          },
          now,
        ),
      ).toBe(4000);
      // A fetch Response thrown (or rejected) as is.
      const response = new Response(null, { status: 503, headers: { 'Retry-After': '7' } });
      expect(retryAfterFromError(response, now)).toBe(7000);
      expect(retryAfterFromError(new Error('no hint'), now)).toBeUndefined();
      expect(retryAfterFromError('not an object', now)).toBeUndefined();
    });
    it('parses delay-seconds and HTTP dates, never negative, undefined when malformed', () => {
      expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
      expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
      expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
      expect(parseRetryAfter('soon', now)).toBeUndefined();
      expect(parseRetryAfter(-1, now)).toBeUndefined();
      expect(parseRetryAfter(['5'], now)).toBe(5000);
    });
    it('waits the hinted delay instead of the backoff, capped by maxRetryAfterMs', async () => {
      const clock = new TestClock(now);
      const policy = retry<number, string>({ backoff: 10, maxRetryAfterMs: 5_000, clock });
      const delays: number[] = [];
      policy.onRetry((e) => delays.push(e.delayMs));
      const hinted = [{ headers: { 'retry-after': '2' } }, { headers: { 'retry-after': '3600' } }];
      const { handler } = flaky(2, (n) => Object.assign(new Error('429'), hinted[n - 1]));
      const call = policy.wrap(handler)(1, toContext());
      await clock.runAll();
      await expect(call).resolves.toBe('ok:1');
      expect(delays).toEqual([2_000, 5_000]);
    });
  });

  describe('budget', () => {
    it('stops retrying when the shared budget is empty, so an outage cannot become a retry storm', async () => {
      const clock = new TestClock();
      const budget = retryBudget({ capacity: 10, retryCost: 5, successRefill: 1 });
      const a = retry<number, string>({ maxAttempts: 10, backoff: 1, budget, clock });
      const b = retry<number, string>({ maxAttempts: 10, backoff: 1, budget, clock });
      const gaveUp: GiveUpEvent[] = [];
      a.onGiveUp((e) => gaveUp.push(e));
      b.onGiveUp((e) => gaveUp.push(e));
      let upstreamCalls = 0;
      const down = async (): Promise<string> => {
        upstreamCalls++;
        throw new Error('down');
      };
      const calls = [a.wrap(down)(1, toContext()), b.wrap(down)(2, toContext())].map((p) =>
        p.catch((e: unknown) => e),
      );
      await clock.runAll();
      await Promise.all(calls);
      // Two first attempts plus the two retries 10 tokens pay for.
      expect(upstreamCalls).toBe(4);
      expect(gaveUp.map((e) => e.reason)).toEqual(['budget', 'budget']);
      expect(budget.stats()).toEqual({ tokens: 0, capacity: 10, exhausted: 2 });
      expect(a.stats().budgetRefusals + b.stats().budgetRefusals).toBe(2);
    });

    it('refills a little per success and refunds a retry when a retried call succeeds', async () => {
      const clock = new TestClock();
      const budget = retryBudget({ capacity: 10, retryCost: 5, successRefill: 1 });
      const policy = retry<number, string>({ maxAttempts: 3, backoff: 1, budget, clock });
      const { handler } = flaky(1);
      const result = policy.wrap(handler)(1, toContext());
      await clock.advance(0);
      expect(budget.tokens).toBe(5);
      await clock.runAll();
      await result;
      expect(budget.tokens).toBe(10);
      budget.tryAcquire();
      await policy.wrap(async () => 'x')(1, toContext());
      expect(budget.tokens).toBe(6);
    });

    it('can be switched off', async () => {
      const clock = new TestClock();
      const policy = retry<number, string>({ maxAttempts: 200, backoff: 0, budget: false, clock });
      const { handler, calls } = flaky(150);
      const result = policy.wrap(handler)(1, toContext());
      await clock.runAll(1_000);
      await expect(result).resolves.toBe('ok:1');
      expect(calls).toHaveLength(151);
      expect(policy.stats().budgetTokens).toBe(Infinity);
    });
  });

  it('execute() gives the attempt number and the caller signal to the function', async () => {
    const clock = new TestClock();
    const policy = retry({ backoff: 5, clock });
    const controller = new AbortController();
    const seen: [number, AbortSignal][] = [];
    const result = policy.execute(
      async ({ attempt, signal }) => {
        seen.push([attempt, signal]);
        if (attempt < 3) throw new Error('again');
        return attempt;
      },
      { signal: controller.signal },
    );
    await clock.runAll();
    await expect(result).resolves.toBe(3);
    expect(seen).toEqual([
      [1, controller.signal],
      [2, controller.signal],
      [3, controller.signal],
    ]);
  });

  it('validates its options with messages that restate the contract', () => {
    expect(() => retry({ maxAttempts: 0 })).toThrow(
      'retry(): option maxAttempts must be an integer >= 1 or Infinity, got 0.',
    );
    expect(() => retry({ backoff: 'fast' as unknown as number })).toThrow(InvalidOptionError);
    expect(() => retry({ retries: 3 } as object)).toThrow('retry(): unknown option "retries"');
    expect(() => retry({ budget: 5 as unknown as false })).toThrow(InvalidOptionError);
  });
});

describe('retry properties', () => {
  it('makes min(failures + 1, maxAttempts) attempts and rethrows the last error object', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 8 }),
        async (maxAttempts, failures) => {
          const clock = new TestClock();
          const policy = retry<number, string>({ maxAttempts, backoff: 3, budget: false, clock });
          const { handler, calls, errors } = flaky(failures);
          const outcome = policy
            .wrap(handler)(1, toContext())
            .then(
              (v) => ({ ok: true, v }),
              (e: unknown) => ({ ok: false, v: e }),
            );
          await clock.runAll();
          const { ok, v } = await outcome;
          expect(calls).toHaveLength(Math.min(failures + 1, maxAttempts));
          expect(ok).toBe(failures < maxAttempts);
          if (!ok) expect(v).toBe(errors[errors.length - 1]);
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('backoff', () => {
  const seq = (...values: number[]) => {
    let i = 0;
    return () => values[i++ % values.length] ?? 0;
  };
  it('grows exponentially up to the cap without jitter', () => {
    const b = exponentialBackoff({
      initialDelayMs: 100,
      factor: 2,
      maxDelayMs: 500,
      jitter: 'none',
    });
    expect([1, 2, 3, 4, 5, 2000].map((n) => b.delayMs(n, 0))).toEqual([
      100, 200, 400, 500, 500, 500,
    ]);
  });
  it('applies full, equal and decorrelated jitter', () => {
    const full = exponentialBackoff({ initialDelayMs: 100, jitter: 'full', random: seq(0.5) });
    expect(full.delayMs(3, 0)).toBe(200);
    const equal = exponentialBackoff({ initialDelayMs: 100, jitter: 'equal', random: seq(0) });
    expect(equal.delayMs(3, 0)).toBe(200);
    const decorrelated = exponentialBackoff({
      initialDelayMs: 100,
      maxDelayMs: 1_000,
      jitter: 'decorrelated',
      random: seq(1),
    });
    expect(decorrelated.delayMs(1, 0)).toBe(300);
    expect(decorrelated.delayMs(2, 300)).toBe(900);
    expect(decorrelated.delayMs(3, 900)).toBe(1_000);
  });
  it('offers a constant backoff', () => {
    expect(constantBackoff(42).delayMs(9, 0)).toBe(42);
  });
});

describe('retry: aborted callers, isRetryable, name', () => {
  it('a call whose signal is already aborted makes no attempt and rejects with its reason (wrap and execute)', async () => {
    const policy = retry();
    const { handler, calls } = flaky(0);
    const reason = new Error('left');
    const signal = AbortSignal.abort(reason);
    await expect(policy.wrap(handler)(1, toContext({ signal }))).rejects.toBe(reason);
    let runs = 0;
    await expect(policy.execute(async () => ++runs, { signal })).rejects.toBe(reason);
    expect(calls).toEqual([]);
    expect(runs).toBe(0);
    expect(policy.stats().calls).toBe(0);
  });

  it('execute() checks its options: a wrong signal is a TypeError, an unknown name an InvalidOptionError', async () => {
    const policy = retry({ name: 'api' });
    await expect(
      policy.execute(async () => 1, { signal: 'x' as unknown as AbortSignal }),
    ).rejects.toThrow('retry(api).execute(): option signal must be an AbortSignal, got "x".');
    await expect(
      policy.execute(async () => 1, { scop: 'a' } as unknown as { scope: string }),
    ).rejects.toSatisfy((e: unknown) => InvalidOptionError.is(e));
  });

  it('decides retryability through isRetryable; the default refuses abort and fail-fast errors', async () => {
    expect(defaultIsRetryable(new Error('x'))).toBe(true);
    expect(defaultIsRetryable(new DOMException('a', 'AbortError'))).toBe(false);
    expect(defaultIsRetryable({ failFast: true })).toBe(false);
    expect(defaultIsRetryable(new CircuitOpenError('open', 0, false), true)).toBe(true);

    // A hook of its own replaces the built-in exclusions: here an open circuit is retried.
    const clock = new TestClock();
    const open = new CircuitOpenError('open', 0, false);
    const seen: [unknown, number][] = [];
    const policy = retry({
      backoff: 5,
      clock,
      isRetryable: (error, attempt) => {
        seen.push([error, attempt]);
        return true;
      },
    });
    const { handler } = flaky(1, () => open);
    const result = policy.wrap(handler)(1, toContext());
    await clock.runAll();
    await expect(result).resolves.toBe('ok:1');
    expect(seen).toEqual([[open, 1]]);

    // And one that refuses stops at once with reason 'not-retryable'.
    const gaveUp: GiveUpEvent[] = [];
    const strict = retry({ isRetryable: () => false, name: 'strict' });
    strict.onGiveUp((e) => gaveUp.push(e));
    const boom = flaky(3);
    await expect(strict.wrap(boom.handler)(1, toContext())).rejects.toBe(boom.errors[0]);
    expect(gaveUp).toEqual([
      { name: 'strict', error: boom.errors[0], attempts: 1, reason: 'not-retryable' },
    ]);
    expect(() => retry({ isRetryable: 1 as unknown as () => boolean })).toThrow(
      'retry(): option isRetryable must be a function, got 1.',
    );
  });

  it('backoff lives in core; retry re-exports the same functions', () => {
    expect(exponentialBackoff).toBe(coreExponentialBackoff);
  });

  it('takes a name, carried by its events and channels', async () => {
    expect(retry().name).toBe('retry');
    const clock = new TestClock();
    const policy = retry({ name: 'api', backoff: 1, clock });
    const events: RetryEvent[] = [];
    policy.onRetry((e) => events.push(e));
    const { handler, errors } = flaky(1);
    const result = policy.wrap(handler)(1, toContext());
    await clock.runAll();
    await result;
    expect(events).toEqual([{ name: 'api', error: errors[0], attempt: 1, delayMs: 1 }]);
    expect(retryChannels.giveUp.name).toBe('batchflight:retry:give-up');
  });
});
