import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { sleep, toContext, type CallContext } from '../core/index.js';
import { hedge, hedgeChannels, type HedgeConfiguredEvent } from './index.js';

/** Every attempt takes `ms` on the clock (and honours its signal); counts the attempts. */
function slow(clock: TestClock, ms: number) {
  let attempts = 0;
  const handler = async (input: number, ctx: CallContext): Promise<number> => {
    attempts++;
    await sleep(ms, { clock, signal: ctx.signal });
    return input;
  };
  return { handler, attempts: () => attempts };
}

describe('HedgePolicy#configure()', () => {
  it('a new delay and hedge count apply to calls started after; races in flight keep theirs', async () => {
    const clock = new TestClock();
    const policy = hedge<number, number>({ afterMs: 100, maxHedges: 1, clock });
    const { handler, attempts } = slow(clock, 1_000);
    const call = policy.wrap(handler);
    const before = [1, 2].map((n) => call(n, toContext()));
    policy.configure({ afterMs: 10, maxHedges: 2 });
    const after = [3, 4].map((n) => call(n, toContext()));
    expect(policy.settings).toEqual({ afterMs: 10, maxHedges: 2 });

    // By 20 ms the new calls have both their hedges, the old ones none yet.
    await clock.advance(20);
    expect(attempts()).toBe(2 + 2 * 3);
    await clock.advance(80);
    expect(attempts()).toBe(2 * 2 + 2 * 3);
    await clock.advance(2_000);
    expect(await Promise.all([...before, ...after])).toEqual([1, 2, 3, 4]);
    expect(policy.stats()).toMatchObject({ calls: 4, hedges: 2 + 4 });
  });

  it('maxHedges 0 turns hedging off for new calls', async () => {
    const clock = new TestClock();
    const policy = hedge<number, number>({ afterMs: 10, clock });
    const { handler, attempts } = slow(clock, 100);
    policy.configure({ maxHedges: 0 });
    const result = policy.wrap(handler)(1, toContext());
    await clock.advance(100);
    expect(await result).toBe(1);
    expect(attempts()).toBe(1);
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', () => {
    const policy = hedge({ afterMs: 50 });
    for (const bad of [{ afterMs: -1 }, { maxHedges: 1.5 }]) {
      let message = '';
      try {
        hedge({ afterMs: 1, ...bad });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^hedge\(\): option/);
      expect(() => {
        policy.configure(bad);
      }).toThrow(message);
    }
    policy.configure({ afterMs: 5 }, { dryRun: true });
    expect(policy.settings).toEqual({ afterMs: 50, maxHedges: 1 });
  });

  it('publishes configured with the old and new settings', () => {
    const seen: HedgeConfiguredEvent[] = [];
    const listener = (message: unknown) => seen.push(message as HedgeConfiguredEvent);
    diagnosticsChannel.subscribe(hedgeChannels.configured.name, listener);
    const policy = hedge({ name: 'h-configured', afterMs: 50 });
    policy.configure({ afterMs: 70 });
    diagnosticsChannel.unsubscribe(hedgeChannels.configured.name, listener);
    expect(seen.filter((e) => e.name === 'h-configured')).toEqual([
      {
        name: 'h-configured',
        previous: { afterMs: 50, maxHedges: 1 },
        current: { afterMs: 70, maxHedges: 1 },
      },
    ]);
  });
});
