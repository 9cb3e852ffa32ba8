import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { TestClock } from '@batchflight/testing';
import { InvalidOptionError, toContext, type Handler } from '../core/index.js';
import {
  CircuitBreaker,
  CircuitBreakerPolicy,
  CircuitOpenError,
  circuitBreaker,
  circuitBreakerChannels,
  consecutive,
  sampling,
  type StateChangeEvent,
} from './index.js';

/** A switchable upstream: fails while `failing`, counts the calls that reach it. */
function upstream() {
  const state = { failing: false, calls: 0 };
  const handler: Handler<number, string> = async (n) => {
    state.calls++;
    if (state.failing) throw new Error(`down ${String(n)}`);
    return `ok:${String(n)}`;
  };
  return { state, handler };
}

const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

describe('circuitBreaker', () => {
  it('opens after n consecutive failures and refuses calls without reaching the upstream', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(3),
      halfOpenAfterMs: 1_000,
      clock,
    });
    const changes: StateChangeEvent[] = [];
    breaker.onStateChange((e) => changes.push(e));
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    state.failing = true;
    for (let i = 0; i < 3; i++) await settle(call(i, toContext()));
    expect(breaker.state).toBe('open');
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ from: 'closed', to: 'open' });
    await clock.advance(400);
    const refused = await settle(call(9, toContext()));
    expect(CircuitOpenError.is(refused)).toBe(true);
    expect((refused as CircuitOpenError).retryAfterMs).toBe(600);
    expect((refused as CircuitOpenError).code).toBe('ERR_BATCHFLIGHT_CIRCUIT_OPEN');
    expect(state.calls).toBe(3);
    expect(breaker.stats()).toMatchObject({ state: 'open', rejections: 1, failures: 3, opens: 1 });
  });

  it('a success resets the consecutive count', async () => {
    const breaker = circuitBreaker<number, string>({ policy: consecutive(2) });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    state.failing = true;
    await settle(call(1, toContext()));
    state.failing = false;
    await call(2, toContext());
    state.failing = true;
    await settle(call(3, toContext()));
    expect(breaker.state).toBe('closed');
  });

  it('half-opens after halfOpenAfterMs, admits the configured probes and closes when all succeed', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(1),
      halfOpenAfterMs: 1_000,
      halfOpenProbes: 2,
      clock,
    });
    const changes: string[] = [];
    breaker.onStateChange((e) => changes.push(`${e.from}->${e.to}`));
    let release: (() => void) | undefined;
    let calls = 0;
    let failing = true;
    const call = breaker.wrap(async (n: number) => {
      calls++;
      if (failing) throw new Error('down');
      await new Promise<void>((resolve) => (release = resolve));
      return `ok:${String(n)}`;
    });
    await settle(call(0, toContext()));
    expect(breaker.state).toBe('open');
    await clock.advance(1_000);
    expect(breaker.state).toBe('half-open');
    failing = false;
    const probe1 = call(1, toContext());
    const probe2Release: (() => void)[] = [];
    await Promise.resolve();
    probe2Release.push(release!);
    const probe2 = call(2, toContext());
    await Promise.resolve();
    probe2Release.push(release!);
    const third = await settle(call(3, toContext()));
    expect(CircuitOpenError.is(third)).toBe(true);
    expect(calls).toBe(3);
    for (const r of probe2Release) r();
    await expect(probe1).resolves.toBe('ok:1');
    await expect(probe2).resolves.toBe('ok:2');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('a failed probe opens the circuit again for another halfOpenAfterMs', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(1),
      halfOpenAfterMs: 500,
      clock,
    });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    state.failing = true;
    await settle(call(0, toContext()));
    await clock.advance(500);
    await settle(call(1, toContext()));
    expect(breaker.state).toBe('open');
    await clock.advance(499);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.stats().opens).toBe(2);
  });

  it("does not count the caller's own abort, and frees an aborted probe's slot", async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(1),
      halfOpenAfterMs: 100,
      clock,
    });
    const controller = new AbortController();
    const call = breaker.wrap(async (_n, { signal }) => {
      throw signal.aborted ? (signal.reason as Error) : new Error('down');
    });
    controller.abort(new Error('bye'));
    await settle(call(0, { signal: controller.signal }));
    expect(breaker.state).toBe('closed');
    await settle(call(0, toContext()));
    await clock.advance(100);
    await settle(call(1, { signal: controller.signal }));
    expect(breaker.state).toBe('half-open');
    await settle(call(2, toContext()));
    expect(breaker.state).toBe('open');
  });

  it('counts only the errors failureOn accepts; the others count as successes', async () => {
    const breaker = circuitBreaker<number, string>({
      policy: consecutive(2),
      failureOn: (e) => (e as { status?: number }).status !== 404,
    });
    const notFound = Object.assign(new Error('nope'), { status: 404 });
    const call = breaker.wrap(async () => {
      throw notFound;
    });
    for (let i = 0; i < 5; i++) await expect(call(i, toContext())).rejects.toBe(notFound);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0, successes: 5 });
  });

  it('sampling opens on the failure rate over the rolling window once the volume is reached', async () => {
    const clock = new TestClock(0);
    const breaker = circuitBreaker<number, string>({
      policy: sampling({ threshold: 0.5, windowMs: 1_000, buckets: 10, minimumCalls: 4 }),
      clock,
    });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    // Old successes fall out of the window and stop diluting the rate.
    for (let i = 0; i < 10; i++) await call(i, toContext());
    await clock.advance(1_500);
    state.failing = true;
    await settle(call(1, toContext()));
    await settle(call(2, toContext()));
    await settle(call(3, toContext()));
    expect(breaker.state).toBe('closed'); // 3 calls: below the minimum volume
    state.failing = false;
    await call(4, toContext());
    expect(breaker.state).toBe('closed'); // 3 of 4 failed, but a success never trips
    state.failing = true;
    await settle(call(5, toContext()));
    expect(breaker.state).toBe('open'); // 4 of 5 failed
  });

  it('sampling stays closed while the failure rate is below the threshold', async () => {
    const clock = new TestClock(0);
    const breaker = circuitBreaker<number, string>({
      policy: sampling({ threshold: 0.5, windowMs: 1_000, minimumRps: 2 }),
      clock,
    });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    for (let i = 0; i < 30; i++) {
      state.failing = i % 4 === 0; // 25% < 50%
      await settle(call(i, toContext()));
      await clock.advance(10);
    }
    expect(breaker.state).toBe('closed');
  });

  it('saves and restores its state with toJSON / initialState', async () => {
    const clock = new TestClock();
    const policy = consecutive(3);
    const first = circuitBreaker<number, string>({ policy, halfOpenAfterMs: 1_000, clock });
    const { state, handler } = upstream();
    state.failing = true;
    await settle(first.wrap(handler)(1, toContext()));
    await settle(first.wrap(handler)(2, toContext()));
    const midway = JSON.parse(JSON.stringify(first)) as ReturnType<typeof first.toJSON>;
    expect(midway).toEqual({ state: 'closed', openedAt: null, policy: { failures: 2 } });
    const second = circuitBreaker<number, string>({ policy, initialState: midway, clock });
    await settle(second.wrap(handler)(3, toContext()));
    expect(second.state).toBe('open');

    const saved = second.toJSON();
    const third = circuitBreaker<number, string>({
      policy,
      halfOpenAfterMs: 1_000,
      initialState: saved,
      clock,
    });
    expect(third.state).toBe('open');
    await clock.advance(1_000);
    expect(third.state).toBe('half-open');
  });

  it('restores a sampling window', async () => {
    const clock = new TestClock(0);
    const policy = sampling({ threshold: 0.5, windowMs: 1_000, minimumCalls: 2 });
    const first = circuitBreaker<number, string>({ policy, clock });
    const { state, handler } = upstream();
    state.failing = true;
    await settle(first.wrap(handler)(1, toContext()));
    const restored = circuitBreaker<number, string>({
      policy,
      clock,
      initialState: JSON.parse(JSON.stringify(first.toJSON())) as ReturnType<typeof first.toJSON>,
    });
    await settle(restored.wrap(handler)(2, toContext()));
    expect(restored.state).toBe('open');
  });

  it('isolate() holds the circuit open until every handle is released', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, string>({ halfOpenAfterMs: 10, clock });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    const a = breaker.isolate();
    const b = breaker.isolate();
    await clock.advance(1_000);
    const refused = await settle(call(1, toContext()));
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ isolated: true, retryAfterMs: Infinity });
    expect(breaker.stats()).toMatchObject({ state: 'open', isolated: true });
    a.dispose();
    a.dispose();
    expect(breaker.isolated).toBe(true);
    b[Symbol.dispose]();
    expect(breaker.state).toBe('closed');
    await expect(call(2, toContext())).resolves.toBe('ok:2');
    expect(state.calls).toBe(1);
  });

  it('execute() runs a plain function through the breaker', async () => {
    const breaker = circuitBreaker({ policy: consecutive(1) });
    await expect(breaker.execute(async ({ signal }) => signal.aborted)).resolves.toBe(false);
    await settle(breaker.execute(() => Promise.reject(new Error('x'))));
    await expect(breaker.execute(async () => 1)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('reports refusals on onRejected', async () => {
    const breaker = circuitBreaker({ policy: consecutive(1), name: 'users' });
    const seen: unknown[] = [];
    breaker.onRejected((e) => seen.push(e));
    await settle(breaker.execute(() => Promise.reject(new Error('x'))));
    await settle(breaker.execute(async () => 1));
    expect(seen).toEqual([{ name: 'users', state: 'open', retryAfterMs: 10_000, isolated: false }]);
  });

  it('validates its options', () => {
    expect(() => circuitBreaker({ halfOpenAfterMs: -1 })).toThrow(
      'circuitBreaker(): option halfOpenAfterMs must be a finite number >= 0, got -1.',
    );
    expect(() => consecutive(0)).toThrow(InvalidOptionError);
    expect(() => sampling({ threshold: 1.5 })).toThrow(
      'sampling(): option threshold must be a finite number > 0 and <= 1, got 1.5.',
    );
    expect(() => sampling({ threshold: 0.5, minimumCalls: 3, minimumRps: 1 })).toThrow(
      'give either minimumCalls or minimumRps',
    );
    expect(() => circuitBreaker({ policy: {} as never })).toThrow(InvalidOptionError);
  });

  it('property: consecutive(n) follows its model, and no call reaches the upstream while open', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ fail: fc.boolean(), waitMs: fc.constantFrom(0, 0, 0, 600) }), {
          maxLength: 40,
        }),
        async (n, steps) => {
          const clock = new TestClock(0);
          const breaker = circuitBreaker<number, string>({
            policy: consecutive(n),
            halfOpenAfterMs: 500,
            clock,
          });
          let failing = false;
          let upstreamCalls = 0;
          const call = breaker.wrap(async (i: number) => {
            upstreamCalls++;
            if (failing) throw new Error(`down ${String(i)}`);
            return 'ok';
          });
          // The model: closed with a count, open since a time, or half-open.
          let model: 'closed' | 'open' | 'half-open' = 'closed';
          let count = 0;
          let openedAt = 0;
          for (const [i, step] of steps.entries()) {
            await clock.advance(step.waitMs);
            if (model === 'open' && clock.now() - openedAt >= 500) model = 'half-open';
            failing = step.fail;
            const before = upstreamCalls;
            const outcome = await settle(call(i, toContext()));
            if (model === 'open') {
              expect(CircuitOpenError.is(outcome)).toBe(true);
              expect(upstreamCalls).toBe(before);
              continue;
            }
            expect(upstreamCalls).toBe(before + 1);
            if (!step.fail) {
              model = 'closed';
              count = 0;
            } else if (model === 'half-open' || ++count >= n) {
              model = 'open';
              openedAt = clock.now();
              count = 0;
            }
            expect(breaker.state).toBe(model);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('circuitBreaker: aborted callers, name, class name', () => {
  it('a call whose signal is already aborted reaches nothing, counts nothing and takes no probe slot', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker({ policy: consecutive(1), halfOpenAfterMs: 100, clock });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    const reason = new Error('left');
    const signal = AbortSignal.abort(reason);
    await expect(call(1, toContext({ signal }))).rejects.toBe(reason);
    await expect(breaker.execute(async () => 1, { signal })).rejects.toBe(reason);
    expect(state.calls).toBe(0);
    expect(breaker.stats()).toMatchObject({ calls: 0, successes: 0, rejections: 0 });
    // Half-open with one probe slot: an aborted caller must not use it up.
    state.failing = true;
    await settle(call(1, toContext()));
    await clock.advance(100);
    expect(breaker.state).toBe('half-open');
    await expect(call(2, toContext({ signal }))).rejects.toBe(reason);
    state.failing = false;
    await expect(call(3, toContext())).resolves.toBe('ok:3');
    expect(breaker.state).toBe('closed');
  });

  it('names its execute() in option errors and keeps the old class name as an alias', async () => {
    const breaker = circuitBreaker({ name: 'payments' });
    await expect(
      breaker.execute(async () => 1, { signal: 'x' as unknown as AbortSignal }),
    ).rejects.toThrow(
      'circuitBreaker(payments).execute(): option signal must be an AbortSignal, got "x".',
    );
    expect(() => circuitBreaker({ name: 5 as unknown as string })).toThrow(
      'circuitBreaker(): option name must be a non-empty string, got 5.',
    );
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expect(CircuitBreaker).toBe(CircuitBreakerPolicy);
    expect(breaker).toBeInstanceOf(CircuitBreakerPolicy);
    expect(circuitBreakerChannels.stateChange.name).toBe(
      'batchflight:circuit-breaker:state-change',
    );
    expect(new CircuitOpenError('open', 0, false).failFast).toBe(true);
  });
});
