// Multi-process tests: real child processes on a real Redis.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Worker, spawnWorker } from './__fixtures__/fleet.js';
import {
  REDIS_URL,
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';

const skip = await redisUnavailable();

interface FlightResult {
  readonly values: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly stats: { led: number; takeovers: number; participants: number; calls: number };
}

describe.skipIf(skip !== null)('distributed mode across child processes', () => {
  const prefix = uniquePrefix('fleet');
  let admin: Redis;
  beforeAll(() => {
    admin = connect();
  });
  afterAll(async () => {
    await dropPrefix(admin, prefix);
    expect(await countPrefix(admin, prefix)).toBe(0);
    admin.disconnect();
  });

  it(
    '8 processes × 500 concurrent identical calls: exactly one upstream execution, 4,000 values',
    { timeout: 60_000 },
    async () => {
      const own = `${prefix}one:`;
      const workers = Array.from({ length: 8 }, () =>
        spawnWorker({
          mode: 'flight',
          url: REDIS_URL,
          prefix: own,
          key: 'cold',
          callers: 500,
          upstreamMs: 300,
          leaseMs: 5000,
          timeoutMs: 30_000,
          hangFirst: false,
        }),
      );
      await Promise.all(workers.map((w) => w.waitFor('ready')));
      for (const w of workers) w.start();
      const results = (await Promise.all(workers.map((w) => w.result))) as FlightResult[];
      expect(await admin.get(`${own}upstream-calls`)).toBe('1');
      const values = results.reduce((n, r) => n + (r.values['computed by execution 1'] ?? 0), 0);
      expect(values).toBe(4000);
      expect(results.every((r) => Object.keys(r.errors).length === 0)).toBe(true);
      expect(results.reduce((n, r) => n + r.stats.led, 0)).toBe(1);
      // Local coalescing first: each process sent one participant to Redis for its 500 callers.
      expect(results.every((r) => r.stats.participants === 1 && r.stats.calls === 500)).toBe(true);
    },
  );

  it(
    'leader SIGKILLed mid-flight: one waiter takes over after the lease; every caller gets a value or a clear error, none hangs',
    { timeout: 60_000 },
    async () => {
      const own = `${prefix}kill:`;
      const leaseMs = 1000;
      const workers: Worker[] = Array.from({ length: 4 }, () =>
        spawnWorker({
          mode: 'flight',
          url: REDIS_URL,
          prefix: own,
          key: 'doomed',
          callers: 50,
          upstreamMs: 50,
          leaseMs,
          timeoutMs: leaseMs + 5000,
          hangFirst: true,
        }),
      );
      await Promise.all(workers.map((w) => w.waitFor('ready')));
      for (const w of workers) w.start();
      const leader = await Promise.race(workers.map((w) => w.waitFor('leading').then(() => w)));
      leader.child.kill('SIGKILL');
      await expect(leader.result).rejects.toThrow(/SIGKILL/);
      const survivors = workers.filter((w) => w !== leader);
      const results = (await Promise.all(survivors.map((w) => w.result))) as FlightResult[];
      // Execution 1 died with its process; execution 2 is the takeover, shared by all survivors.
      expect(await admin.get(`${own}upstream-calls`)).toBe('2');
      for (const r of results) {
        const got = r.values['computed by execution 2'] ?? 0;
        const timedOut = r.errors.TimeoutError ?? 0;
        expect(got + timedOut).toBe(50);
        expect(Object.keys(r.errors).filter((e) => e !== 'TimeoutError')).toEqual([]);
      }
      expect(results.reduce((n, r) => n + r.stats.takeovers, 0)).toBe(1);
      expect(results.reduce((n, r) => n + (r.values['computed by execution 2'] ?? 0), 0)).toBe(150);
    },
  );

  it(
    '4 processes sharing 50/s for 3 s: the upstream never sees more than burst + 50/s · t',
    { timeout: 60_000 },
    async () => {
      const own = `${prefix}rate:`;
      const rate = 50;
      const burst = 10;
      const workers = Array.from({ length: 4 }, () =>
        spawnWorker({
          mode: 'rate',
          url: REDIS_URL,
          prefix: own,
          rate,
          burst,
          durationMs: 3000,
          concurrency: 4,
        }),
      );
      await Promise.all(workers.map((w) => w.waitFor('ready')));
      for (const w of workers) w.start();
      const results = (await Promise.all(workers.map((w) => w.result))) as { admitted: number[] }[];
      const times = results.flatMap((r) => r.admitted).sort((a, b) => a - b);
      // Every process got a share: the limit is shared, not per process.
      expect(results.every((r) => r.admitted.length > 0)).toBe(true);
      // In every window [t_i, t_j] the upstream saw at most burst + rate · (t_j − t_i).
      // The upstream stamps a call one round trip after its admission, so a window
      // may look shorter than the limiter's by that delay: one extra unit of slack.
      let worst = -Infinity;
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          const allowed = burst + (rate * ((times[j] as number) - (times[i] as number))) / 1000 + 2;
          worst = Math.max(worst, j - i + 1 - allowed);
        }
      }
      expect(worst).toBeLessThanOrEqual(0);
      expect(times.length).toBeLessThanOrEqual(burst + rate * 3 + 2);
    },
  );
});
