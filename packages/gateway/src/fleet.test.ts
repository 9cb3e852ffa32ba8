import { afterAll, describe, expect, it } from 'vitest';
// The Redis test support of @batchflight/redis: the server probe (CI=true fails without one),
// fresh connections and a key prefix of our own.
import {
  connect,
  dropPrefix,
  REDIS_URL,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { createGateway, type Gateway } from './gateway.js';
import { call, json, startUpstream } from './__fixtures__/upstream.js';

const skip = await redisUnavailable();
const prefix = uniquePrefix('gateway-fleet');

describe.skipIf(skip !== null)('fleet-wide rate limit through Redis', () => {
  const admin = skip === null ? connect('gateway-fleet-admin') : undefined;
  afterAll(async () => {
    if (admin !== undefined) {
      await dropPrefix(admin, prefix);
      await admin.quit();
    }
  });

  it('shares one budget between two gateways: the second answers 429', async () => {
    const upstream = await startUpstream((_received, response) => {
      json(response, 200, {});
    });
    const config = {
      listen: { host: '127.0.0.1', port: 0 },
      redis: { url: REDIS_URL, prefix },
      upstreams: { api: { url: upstream.url } },
      routes: [
        {
          method: 'GET' as const,
          path: '/quote',
          upstream: 'api',
          policies: [{ rateLimit: { rate: 1, per: 'minute' as const, burst: 1, fleet: true } }],
        },
      ],
    };
    const gateways: Gateway[] = [createGateway(config), createGateway(config)];
    try {
      const [a, b] = await Promise.all(gateways.map((gateway) => gateway.listen()));
      const tenant = { 'x-tenant-id': 'acme' };
      expect((await call(a ?? '', '/quote', { headers: tenant })).status).toBe(200);
      const limited = await call(b ?? '', '/quote', { headers: tenant });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(upstream.received).toHaveLength(1);
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()));
      await upstream.close();
    }
  });
});
