import { describe, expect, it } from 'vitest';
import { redisUnavailable } from '../packages/redis/src/__fixtures__/redis.js';

const skip = await redisUnavailable(); // with CI=true a missing Redis fails

describe.skipIf(skip !== null)('examples/config-fleet', () => {
  it('the published revision reaches the following process', async () => {
    const { applied, refused, results } = await import('./config-fleet.js');
    expect(applied).toEqual([1]);
    expect(results.maxSize).toBe(25);
    expect(results.revision).toBe(1);
    // The running limiter took the published rate; the refused revision changed nothing.
    expect(results.rate).toBe(100);
    expect(results.after).toEqual({ revision: 1, rate: 100 });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('rateLimit(): give either rate/per/burst or limits, not both.');
  });
});
