import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { abortReasonOf, toContext, type CallContext } from '../core/index.js';
import { bulkhead } from '../bulkhead/index.js';
import { TimeoutError, timeout, timeoutChannels } from './index.js';

/** A handler that settles only when told to, recording the context it was given. */
function controllable<T>() {
  const contexts: CallContext[] = [];
  const pending: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  const handler = (_input: unknown, ctx: CallContext): Promise<T> => {
    contexts.push(ctx);
    return new Promise<T>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { handler, contexts, pending };
}

describe('timeout', () => {
  it('passes a value through and creates no timer per call and no controller unless the signal is read', async () => {
    const clock = new TestClock();
    const t = timeout<number, number>({ ms: 100, clock });
    const seen: CallContext[] = [];
    const call = t.wrap(async (n, ctx) => {
      seen.push(ctx);
      return n * 2;
    });
    const results = await Promise.all([1, 2, 3].map((n) => call(n, toContext({ scope: 's' }))));
    expect(results).toEqual([2, 4, 6]);
    expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    expect(seen[0]?.scope).toBe('s');
    expect((seen[0] as unknown as { controller: unknown }).controller).toBeUndefined();
    expect(t.stats()).toEqual({ calls: 3, timeouts: 0, inFlight: 0 });
    // The single timer fires once, finds nothing to expire and is not re-armed.
    await clock.advance(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at the deadline with a TimeoutError that is also the inner abort reason', async () => {
    const clock = new TestClock();
    const t = timeout<number, string>({ ms: 100, clock });
    const events: unknown[] = [];
    t.onTimeout((e) => events.push(e));
    const { handler, contexts, pending } = controllable<string>();
    const result = t
      .wrap(handler)(1, toContext())
      .catch((e: unknown) => e);
    const signal = contexts[0]!.signal;
    await clock.advance(99);
    expect(signal.aborted).toBe(false);
    await clock.advance(1);
    const error = await result;
    expect(TimeoutError.is(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_BATCHFLIGHT_TIMEOUT', timeoutMs: 100 });
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(error);
    expect(events).toEqual([{ name: 'timeout', timeoutMs: 100 }]);
    // A late answer is discarded.
    pending[0]!.resolve('late');
    expect(t.stats()).toEqual({ calls: 1, timeouts: 1, inFlight: 0 });
  });

  it('gives an already-aborted signal to a handler that reads it after the deadline', async () => {
    const clock = new TestClock();
    const t = timeout<number, string>({ ms: 10, clock });
    const { handler, contexts } = controllable<string>();
    const result = t
      .wrap(handler)(1, toContext())
      .catch((e: unknown) => e);
    await clock.advance(10);
    const error = await result;
    expect(contexts[0]!.signal.aborted).toBe(true);
    expect(contexts[0]!.signal.reason).toBe(error);
  });

  it('expires each call at its own deadline with one timer re-armed for the oldest', async () => {
    const clock = new TestClock();
    const t = timeout<number, string>({ ms: 100, clock });
    const { handler, pending } = controllable<string>();
    const call = t.wrap(handler);
    const outcomes: string[] = [];
    const track = (name: string, p: Promise<string>) =>
      p.then(
        (v) => outcomes.push(`${name}:${v}`),
        (e: unknown) => outcomes.push(`${name}:${TimeoutError.is(e) ? 'timeout' : 'error'}`),
      );
    void track('a', call(1, toContext()));
    await clock.advance(30);
    void track('b', call(2, toContext()));
    await clock.advance(30);
    void track('c', call(3, toContext()));
    pending[1]!.resolve('ok');
    await clock.advance(40); // t=100: a expires
    expect(outcomes).toEqual(['b:ok', 'a:timeout']);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(59);
    expect(outcomes).toHaveLength(2);
    await clock.advance(1); // t=160: c expires
    expect(outcomes).toEqual(['b:ok', 'a:timeout', 'c:timeout']);
    expect(clock.pendingTimers).toBe(0);
  });

  it("tells the caller's own abort apart: rejects with its reason and aborts the inner signal with it", async () => {
    const clock = new TestClock();
    const t = timeout<number, string>({ ms: 100, clock });
    const { handler, contexts } = controllable<string>();
    const controller = new AbortController();
    const result = t.wrap(handler)(1, { signal: controller.signal });
    const inner = contexts[0]!.signal;
    const reason = new Error('user left');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(inner.reason).toBe(reason);
    expect(TimeoutError.is(reason)).toBe(false);
    await clock.advance(200);
    expect(t.stats().timeouts).toBe(0);
  });

  it('rejects at once, without calling, when the caller signal is already aborted', async () => {
    const t = timeout<number, string>({ ms: 100 });
    const controller = new AbortController();
    controller.abort(new Error('already'));
    let called = false;
    const result = t.wrap(async () => {
      called = true;
      return 'x';
    })(1, { signal: controller.signal });
    await expect(result).rejects.toThrow('already');
    expect(called).toBe(false);
  });

  it('passes errors through unchanged and removes the caller listener when done', async () => {
    const t = timeout<number, string>({ ms: 100, clock: new TestClock() });
    const controller = new AbortController();
    const boom = new Error('boom');
    await expect(
      t.wrap(async () => {
        throw boom;
      })(1, { signal: controller.signal }),
    ).rejects.toBe(boom);
    await expect(
      t.wrap(() => {
        throw boom;
      })(1, toContext()),
    ).rejects.toBe(boom);
    controller.abort(); // must not reach the finished call
    expect(t.stats()).toMatchObject({ inFlight: 0, timeouts: 0 });
  });

  it('execute() and ms: Infinity', async () => {
    const clock = new TestClock();
    const t = timeout({ ms: 50, clock });
    const result = t.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            reject(signal.reason as Error);
          });
        }),
    );
    const caught = result.catch((e: unknown) => e);
    await clock.advance(50);
    expect(await caught).toBeInstanceOf(TimeoutError);
    // No deadline: the call passes straight through (no timer, not counted).
    const none = timeout<unknown, number>({ ms: Infinity, clock });
    expect(await none.wrap(async () => 1)(undefined, toContext())).toBe(1);
    expect(none.stats()).toEqual({ calls: 0, timeouts: 0, inFlight: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('validates its options', () => {
    expect(() => timeout({ ms: 0 })).toThrow('timeout(): option ms must be a number > 0, got 0.');
    expect(() => timeout({ ms: 10, deadline: 5 } as never)).toThrow('unknown option "deadline"');
  });
});

describe('timeout: name and lazy abort state', () => {
  it('a timed-out call reports its TimeoutError to inner layers, which then start nothing', async () => {
    const clock = new TestClock();
    const t = timeout({ ms: 100, name: 'users', clock });
    expect(t.name).toBe('users');
    expect(timeoutChannels.timeout.name).toBe('batchflight:timeout:timeout');
    const { handler, contexts } = controllable<string>();
    const result = t.wrap(handler)(1, toContext());
    const caught = result.catch((e: unknown) => e);
    await clock.advance(100);
    const error = await caught;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe('timeout(users): the call did not settle within 100 ms.');
    const inner = contexts[0] as CallContext;
    expect(abortReasonOf(inner)).toBe(error);
    // A layer called with that context afterwards (e.g. a retry's next attempt) starts nothing.
    let started = 0;
    await expect(bulkhead({ maxConcurrent: 1 }).wrap(async () => ++started)(1, inner)).rejects.toBe(
      error,
    );
    expect(started).toBe(0);
  });
});
