import { describe, expect, it } from 'vitest';
import { FakeUpstream, TestClock } from '@batchflight/testing';
import { toContext } from 'batchflight/core';
import { protectUsers } from './protection.js';

describe('examples/protection', () => {
  it('answers from the upstream when healthy and from the stale source when it is down', async () => {
    const clock = new TestClock();
    const upstream = new FakeUpstream<number, string>({ clock, latencyMs: 20 });
    const { handler, budget } = protectUsers(
      (id, { signal }) => upstream.get(id, { signal }),
      (id) => `stale:${String(id)}`,
      clock,
    );
    const healthy = handler(1, toContext());
    await clock.runAll();
    await expect(healthy).resolves.toBe('value:1');

    upstream.down();
    const down = handler(2, toContext());
    await clock.runAll();
    await expect(down).resolves.toBe('stale:2');
    expect(upstream.stats.calls).toBe(1 + 4);
    expect(budget.tokens).toBe(500 - 3 * 5);
  });
});
