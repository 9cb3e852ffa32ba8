import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { toContext } from '../core/index.js';
import { TimeoutError, timeout, timeoutChannels, type TimeoutConfiguredEvent } from './index.js';

/** Calls that never settle on their own: only a deadline ends them. */
const hanging = (): Promise<never> => new Promise<never>(() => undefined);

describe('TimeoutPolicy#configure()', () => {
  it('a new deadline applies to calls started after; calls in flight keep theirs', async () => {
    const clock = new TestClock();
    const t = timeout<number, never>({ ms: 100, clock });
    const call = t.wrap(hanging);
    const outcome = (p: Promise<unknown>) =>
      p.catch((e: unknown) => (TimeoutError.is(e) ? `timeout ${String(e.timeoutMs)}` : e));
    const before = [1, 2, 3].map((n) => outcome(call(n, toContext())));
    t.configure({ ms: 1_000 });
    const after = [4, 5].map((n) => outcome(call(n, toContext())));
    expect(t.settings).toEqual({ ms: 1_000 });

    await clock.advance(100);
    expect(t.stats()).toEqual({ calls: 5, timeouts: 3, inFlight: 2 });
    expect(await Promise.all(before)).toEqual(['timeout 100', 'timeout 100', 'timeout 100']);
    await clock.advance(899);
    expect(t.stats().timeouts).toBe(3);
    await clock.advance(1);
    expect(await Promise.all(after)).toEqual(['timeout 1000', 'timeout 1000']);

    // Shorter again: the new calls time out before the older, longer ones.
    const long = outcome(call(6, toContext()));
    t.configure({ ms: 10 });
    const short = outcome(call(7, toContext()));
    await clock.advance(10);
    expect(await short).toBe('timeout 10');
    expect(t.stats()).toMatchObject({ timeouts: 6, inFlight: 1 });
    await clock.advance(990);
    expect(await long).toBe('timeout 1000');
  });

  it('turns the deadline off and on again for handlers already wrapped', async () => {
    const clock = new TestClock();
    const t = timeout<number, never>({ ms: Infinity, clock });
    const call = t.wrap(hanging);
    t.configure({ ms: 50 });
    const timedOut = call(1, toContext()).catch((e: unknown) => e);
    await clock.advance(50);
    expect(TimeoutError.is(await timedOut)).toBe(true);
    t.configure({ ms: Infinity });
    void call(2, toContext());
    await clock.advance(10_000);
    expect(t.stats()).toEqual({ calls: 1, timeouts: 1, inFlight: 0 });
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', () => {
    const t = timeout({ ms: 100 });
    expect(() => {
      t.configure({ ms: 0 });
    }).toThrow('timeout(): option ms must be a number > 0, got 0.');
    expect(() => timeout({ ms: -5 })).toThrow('timeout(): option ms must be a number > 0, got -5.');
    expect(() => {
      t.configure({ ms: -5 });
    }).toThrow('timeout(): option ms must be a number > 0, got -5.');
    expect(() => {
      t.configure({ deadline: 5 } as never);
    }).toThrow('timeout(): unknown option "deadline"; known options are ms.');
    t.configure({ ms: 5 }, { dryRun: true });
    expect(t.ms).toBe(100);
  });

  it('publishes configured with the old and new deadline', () => {
    const seen: TimeoutConfiguredEvent[] = [];
    const listener = (message: unknown) => seen.push(message as TimeoutConfiguredEvent);
    diagnosticsChannel.subscribe(timeoutChannels.configured.name, listener);
    const t = timeout({ name: 't-configured', ms: 100 });
    t.configure({ ms: 250 });
    t.configure({ ms: 250 });
    diagnosticsChannel.unsubscribe(timeoutChannels.configured.name, listener);
    expect(seen.filter((e) => e.name === 't-configured')).toEqual([
      { name: 't-configured', previous: { ms: 100 }, current: { ms: 250 } },
    ]);
  });
});
