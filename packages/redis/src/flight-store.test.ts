import { flightStoreConformance } from '@batchflight/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { flightLeaseKey } from './__fixtures__/scenarios.js';
import { RedisFlightStore } from './flight-store.js';

const skip = await redisUnavailable();

describe.skipIf(skip !== null)('RedisFlightStore', () => {
  const prefix = uniquePrefix('flight-store');
  let client: Redis;
  let other: Redis;
  let seq = 0;
  beforeAll(() => {
    client = connect();
    other = connect();
  });
  afterAll(async () => {
    await dropPrefix(client, prefix);
    expect(await countPrefix(client, prefix)).toBe(0);
    client.disconnect();
    other.disconnect();
  });

  flightStoreConformance('RedisFlightStore', () => {
    const own = `${prefix}${String(++seq)}:`;
    const store = new RedisFlightStore({ client, prefix: own });
    const peer = new RedisFlightStore({ client: other, prefix: own });
    return Promise.resolve({
      store,
      peer,
      expireLease: async (key: string) => {
        await client.del(flightLeaseKey(own, key));
      },
      cleanup: async () => {
        store.close();
        peer.close();
        await dropPrefix(client, own);
      },
    });
  });
});
