import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { toContext, type Handler } from '../core/index.js';
import {
  circuitBreaker,
  circuitBreakerChannels,
  consecutive,
  sampling,
  type BreakerConfiguredEvent,
} from './index.js';

/** Fails while `failing`; counts the calls that reach it. */
function upstream() {
  const state = { failing: true, calls: 0 };
  const handler: Handler<number, number> = async (n) => {
    state.calls++;
    if (state.failing) throw new Error(`down ${String(n)}`);
    return n;
  };
  return { state, handler };
}

describe('CircuitBreakerPolicy#configure()', () => {
  it('a lowered threshold opens sooner; the failures already counted still count', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, number>({ policy: consecutive(10), clock });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    for (let i = 0; i < 2; i++) await call(i, toContext()).catch(() => undefined);
    expect(breaker.state).toBe('closed');
    breaker.configure({ policy: consecutive(3) });
    await call(2, toContext()).catch(() => undefined);
    expect(breaker.state).toBe('open');
    for (let i = 0; i < 5; i++) await call(i, toContext()).catch(() => undefined);
    expect(state.calls).toBe(3);
    expect(breaker.stats()).toMatchObject({ calls: 3, failures: 3, rejections: 5, opens: 1 });
  });

  it('a new halfOpenAfterMs moves the current open period; new probes apply to the next', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, number>({
      policy: consecutive(1),
      halfOpenAfterMs: 10_000,
      clock,
    });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    await call(0, toContext()).catch(() => undefined);
    expect(breaker.state).toBe('open');
    await clock.advance(1_000);
    breaker.configure({ halfOpenAfterMs: 1_000, halfOpenProbes: 2 });
    expect(breaker.state).toBe('half-open');
    state.failing = false;
    expect(await call(1, toContext())).toBe(1);
    expect(breaker.state).toBe('half-open'); // one probe of the two
    expect(await call(2, toContext())).toBe(2);
    expect(breaker.state).toBe('closed');
  });

  it('switches from consecutive to sampling', async () => {
    const clock = new TestClock();
    const breaker = circuitBreaker<number, number>({ policy: consecutive(100), clock });
    const { state, handler } = upstream();
    const call = breaker.wrap(handler);
    breaker.configure({ policy: sampling({ threshold: 0.5, minimumCalls: 4 }) });
    state.failing = false;
    await call(0, toContext());
    await call(1, toContext());
    state.failing = true;
    await call(2, toContext()).catch(() => undefined);
    expect(breaker.state).toBe('closed');
    await call(3, toContext()).catch(() => undefined);
    expect(breaker.state).toBe('open');
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', () => {
    const breaker = circuitBreaker({ halfOpenAfterMs: 500 });
    for (const bad of [{ halfOpenAfterMs: -1 }, { halfOpenProbes: 0 }, { policy: 5 }]) {
      let message = '';
      try {
        circuitBreaker(bad as never);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^circuitBreaker\(\): option/);
      expect(() => {
        breaker.configure(bad as never);
      }).toThrow(message);
    }
    const before = breaker.settings;
    breaker.configure({ halfOpenAfterMs: 1 }, { dryRun: true });
    expect(breaker.settings).toEqual(before);
    expect(breaker.halfOpenAfterMs).toBe(500);
  });

  it('publishes configured with the old and new settings', () => {
    const seen: BreakerConfiguredEvent[] = [];
    const listener = (message: unknown) => seen.push(message as BreakerConfiguredEvent);
    diagnosticsChannel.subscribe(circuitBreakerChannels.configured.name, listener);
    const breaker = circuitBreaker({ name: 'cb-configured' });
    breaker.configure({ halfOpenProbes: 3 });
    diagnosticsChannel.unsubscribe(circuitBreakerChannels.configured.name, listener);
    expect(seen.filter((e) => e.name === 'cb-configured')).toMatchObject([
      {
        previous: { halfOpenAfterMs: 10_000, halfOpenProbes: 1, policy: { kind: 'consecutive' } },
        current: { halfOpenAfterMs: 10_000, halfOpenProbes: 3, policy: { kind: 'consecutive' } },
      },
    ]);
  });
});
