import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { abortReasonOf, sleep, toContext, type CallContext } from '../core/index.js';
import { circuitBreaker } from '../circuit-breaker/index.js';
import { HedgeCancelledError, hedge, hedgeChannels, type HedgeEvent } from './index.js';

/** A handler whose n-th call takes `latencies[n]` ms on the clock (and honours its signal). */
function replicas(clock: TestClock, latencies: number[], failures: boolean[] = []) {
  const contexts: CallContext[] = [];
  const handler = async (input: string, ctx: CallContext): Promise<string> => {
    const n = contexts.push(ctx) - 1;
    await sleep(latencies[n] ?? 0, { clock, signal: ctx.signal });
    if (failures[n] === true) throw new Error(`replica ${String(n)} failed`);
    return `${input}@${String(n)}`;
  };
  return { handler, contexts };
}

describe('hedge', () => {
  it('does not hedge a call that answers before afterMs', async () => {
    const clock = new TestClock();
    const policy = hedge<string, string>({ afterMs: 50, clock });
    const { handler, contexts } = replicas(clock, [20]);
    const result = policy.wrap(handler)('k', toContext());
    await clock.advance(100);
    await expect(result).resolves.toBe('k@0');
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.signal.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('starts a hedge after afterMs; the first answer wins and the loser is aborted', async () => {
    const clock = new TestClock();
    const policy = hedge<string, string>({ afterMs: 50, clock });
    const events: HedgeEvent[] = [];
    policy.onHedge((e) => events.push(e));
    const { handler, contexts } = replicas(clock, [500, 10]);
    const result = policy.wrap(handler)('k', toContext());
    await clock.advance(59);
    expect(contexts).toHaveLength(2);
    await clock.advance(1);
    await expect(result).resolves.toBe('k@1');
    expect(contexts[0]!.signal.aborted).toBe(true);
    expect(HedgeCancelledError.is(contexts[0]!.signal.reason)).toBe(true);
    expect(contexts[1]!.signal.aborted).toBe(false); // the winner keeps its signal
    expect(events).toEqual([{ name: 'hedge', attempt: 2, reason: 'slow' }]);
    expect(policy.stats()).toEqual({ calls: 1, hedges: 1, hedgeWins: 1 });
  });

  it('keeps at most maxHedges extra attempts, each afterMs after the previous', async () => {
    const clock = new TestClock();
    const policy = hedge<string, string>({ afterMs: 10, maxHedges: 2, clock });
    const { handler, contexts } = replicas(clock, [100, 100, 100, 1]);
    const result = policy.wrap(handler)('k', toContext());
    await clock.advance(25);
    expect(contexts).toHaveLength(3);
    // One timer per policy, whatever the number of calls waiting to hedge.
    const others = [1, 2, 3].map(() => policy.wrap(async () => 'x')('k', toContext()));
    expect(clock.pendingTimers - 3).toBeLessThanOrEqual(1); // minus the three replica sleeps
    await Promise.all(others);
    await clock.advance(100);
    await expect(result).resolves.toBe('k@0');
    expect(contexts).toHaveLength(3);
  });

  it('starts the next hedge at once when an attempt fails, and rejects with the last error when all fail', async () => {
    const clock = new TestClock();
    const policy = hedge<string, string>({ afterMs: 1_000, maxHedges: 1, clock });
    const { handler, contexts } = replicas(clock, [5, 5], [true, true]);
    const result = policy
      .wrap(handler)('k', toContext())
      .catch((e: unknown) => e);
    await clock.advance(5);
    expect(contexts).toHaveLength(2);
    await clock.advance(5);
    expect(await result).toMatchObject({ message: 'replica 1 failed' });
  });

  it("rejects with the caller's reason and aborts every attempt when the caller aborts", async () => {
    const clock = new TestClock();
    const policy = hedge<string, string>({ afterMs: 10, clock });
    const { handler, contexts } = replicas(clock, [100, 100]);
    const controller = new AbortController();
    const result = policy.wrap(handler)('k', { signal: controller.signal });
    await clock.advance(10);
    const reason = new Error('caller left');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(contexts.map((c): unknown => c.signal.reason)).toEqual([reason, reason]);
    await clock.runAll();
    expect(clock.pendingTimers).toBe(0);
  });

  it('execute() and validation', async () => {
    const clock = new TestClock();
    const result = hedge({ afterMs: 5, clock }).execute(async ({ signal }) => signal.aborted);
    await expect(result).resolves.toBe(false);
    expect(() => hedge({ afterMs: -1 })).toThrow(
      'hedge(): option afterMs must be a finite number >= 0, got -1.',
    );
    expect(() => hedge({ afterMs: 1, maxHedges: 1.5 })).toThrow('maxHedges');
  });
});

describe('hedge: name and lazy abort state', () => {
  it("takes a name; an attempt's abort is readable by inner layers (abortReasonOf) without its signal", async () => {
    const clock = new TestClock();
    const policy = hedge({ afterMs: 10, name: 'docs', clock });
    expect(policy.name).toBe('docs');
    expect(hedge({ afterMs: 1 }).name).toBe('hedge');
    expect(hedgeChannels.hedge.name).toBe('batchflight:hedge:hedge');
    const contexts: CallContext[] = [];
    const result = policy.wrap(async (n: number, ctx: CallContext) => {
      contexts.push(ctx);
      await sleep(contexts.length === 1 ? 100 : 1, { clock });
      return n;
    })(7, toContext());
    await clock.advance(11);
    await expect(result).resolves.toBe(7);
    expect(HedgeCancelledError.is(abortReasonOf(contexts[0] as CallContext))).toBe(true);
    expect(abortReasonOf(contexts[1] as CallContext)).toBeUndefined();
    // A layer inside the hedge refuses to start for an attempt that already lost.
    await expect(
      circuitBreaker().wrap(async () => 1)(1, contexts[0] as CallContext),
    ).rejects.toSatisfy((e: unknown) => HedgeCancelledError.is(e));
  });
});
