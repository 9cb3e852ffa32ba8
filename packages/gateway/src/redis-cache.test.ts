import { afterAll, describe, expect, it } from 'vitest';
import { TestClock } from '@batchflight/testing';
// The Redis test support of @batchflight/redis: the server probe (CI=true fails without one),
// fresh connections and a key prefix of our own.
import {
  connect,
  countPrefix,
  dropPrefix,
  REDIS_URL,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { createGateway, type Gateway } from './gateway.js';
import type { GatewayConfigInput } from './config.js';
import { validateGatewayConfig } from './config.js';
import { call, startUpstream, until, type TestUpstream } from './__fixtures__/upstream.js';

const skip = await redisUnavailable();

/** Two gateways on one Redis with the same cached route, and the upstream behind them. */
async function fleet(
  prefix: string,
  store: 'redis' | 'tiered',
  upstream: TestUpstream,
): Promise<{ a: string; b: string; clock: TestClock; close(): Promise<void> }> {
  const config: GatewayConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    redis: { url: REDIS_URL, prefix },
    upstreams: { api: { url: upstream.url } },
    routes: [
      {
        method: 'GET',
        path: '/doc/:id',
        upstream: 'api',
        policies: [{ cache: { ttlMs: 60_000, store } }],
      },
    ],
  };
  // Redis expires entries on its own clock: the test clock starts at the real now.
  const clock = new TestClock(Date.now());
  const gateways: Gateway[] = [createGateway(config, { clock }), createGateway(config, { clock })];
  const [a = '', b = ''] = await Promise.all(gateways.map((gateway) => gateway.listen()));
  return {
    a,
    b,
    clock,
    async close() {
      await Promise.all(gateways.map((gateway) => gateway.close()));
    },
  };
}

describe.skipIf(skip !== null)('cache in Redis', () => {
  const admin = skip === null ? connect('gateway-cache-admin') : undefined;
  const prefixes: string[] = [];
  afterAll(async () => {
    if (admin !== undefined) {
      for (const prefix of prefixes) await dropPrefix(admin, prefix);
      await admin.quit();
    }
  });

  it('answers a second gateway from the first one’s upstream call, bytes intact', async () => {
    const prefix = uniquePrefix('gateway-cache');
    prefixes.push(prefix);
    // Not UTF-8: the stored body must survive as bytes.
    const bytes = Buffer.from([0, 255, 128, 10, 13, 0xc3]);
    const upstream = await startUpstream((_received, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-origin': 'api' });
      response.end(bytes);
    });
    const f = await fleet(prefix, 'redis', upstream);
    try {
      const first = await fetch(`${f.a}/doc/1`, { headers: { 'x-tenant-id': 't1' } });
      expect(Buffer.from(await first.arrayBuffer())).toEqual(bytes);
      const second = await fetch(`${f.b}/doc/1`, { headers: { 'x-tenant-id': 't1' } });
      expect(second.status).toBe(200);
      expect(second.headers.get('x-origin')).toBe('api');
      expect(Buffer.from(await second.arrayBuffer())).toEqual(bytes);
      expect(upstream.received).toHaveLength(1);
      // Another tenant never reads t1's entry, from either gateway.
      await call(f.b, '/doc/1', { headers: { 'x-tenant-id': 't2' } });
      expect(upstream.received).toHaveLength(2);
      expect(await countPrefix(admin ?? connect(), prefix)).toBeGreaterThan(0);
    } finally {
      await f.close();
      await upstream.close();
    }
  });

  it('revalidates an entry another gateway stored: a 304 and no body on the wire', async () => {
    const prefix = uniquePrefix('gateway-cache-etag');
    prefixes.push(prefix);
    const upstream = await startUpstream((received, response) => {
      const headers = { etag: '"r1"', 'cache-control': 'max-age=1' };
      if (received.headers['if-none-match'] === '"r1"') {
        response.writeHead(304, headers);
        response.end();
        return;
      }
      response.writeHead(200, { ...headers, 'content-type': 'application/json' });
      response.end(JSON.stringify({ rev: 1 }));
    });
    const f = await fleet(prefix, 'tiered', upstream);
    try {
      expect((await call(f.a, '/doc/7')).body).toEqual({ rev: 1 });
      await f.clock.advance(1_500);
      // Gateway b has never seen /doc/7 itself: the validator comes from the shared entry.
      expect(await call(f.b, '/doc/7')).toMatchObject({ status: 200, body: { rev: 1 } });
      await until(() => upstream.received.length === 2, 'the conditional request');
      expect(upstream.received[1]?.headers['if-none-match']).toBe('"r1"');
    } finally {
      await f.close();
      await upstream.close();
    }
  });
});

describe('cache store configuration', () => {
  it('refuses a redis cache store without a redis section, naming the path', () => {
    expect(() =>
      validateGatewayConfig({
        upstreams: { api: { url: 'http://127.0.0.1:9' } },
        routes: [
          {
            method: 'GET',
            path: '/x',
            upstream: 'api',
            policies: [{ cache: { ttlMs: 1_000, store: 'redis' } }],
          },
        ],
      }),
    ).toThrow(/routes\.0\.policies\.0\.cache\.store|routes\[0\]\.policies\[0\]\.cache\.store/);
  });
});
