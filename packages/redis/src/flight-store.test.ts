import { flightStoreConformance } from '@batchflight/testing/conformance';
import type { FlightEvent } from 'batchflight';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resyncOnlyOnceSubscribed } from './__fixtures__/proxy.js';
import {
  REDIS_URL,
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

  it('after a reconnect, watchers are told resync only once the channel is subscribed again: nothing published after their claim is lost', async () => {
    // Through a proxy that holds the reconnected subscriber's SUBSCRIBE back, so
    // the server sees it only when the test says: a resync that came before
    // would send the watchers to claim while completions still go unheard.
    const own = `${prefix}${String(++seq)}:`;
    await resyncOnlyOnceSubscribed<FlightEvent>(
      REDIS_URL,
      (via) => {
        const store = new RedisFlightStore({ client: via, prefix: own });
        return {
          listen: (push) => store.watch('k', push),
          close: () => {
            store.close();
          },
        };
      },
      () => other.publish(`${own}flight`, 'd1:kafter resync'),
      { kind: 'done', outcome: 'after resync' },
    );
  });
});
