import { describe, expect, it } from 'vitest';
import { redisUnavailable } from '../packages/redis/src/__fixtures__/redis.js';

const skip = await redisUnavailable(); // with CI=true a missing Redis fails

describe.skipIf(skip !== null)('examples/config-fleet', () => {
  it('the published revision reaches the following process', async () => {
    const { applied, results } = await import('./config-fleet.js');
    expect(applied).toEqual([1]);
    expect(results.maxSize).toBe(25);
    expect(results.revision).toBe(1);
  });
});
