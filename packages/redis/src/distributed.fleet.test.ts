// Multi-process tests: real child processes on a real Redis.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Worker, killAll, spawnWorker } from './__fixtures__/fleet.js';
import {
  REDIS_URL,
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';

const skip = await redisUnavailable();

// Deadlines of the waits on the children, each failing the test with a message
// that names what it waited for (never a hang until the test timeout). Generous:
// starting a child under tsx on a loaded machine takes seconds.
const READY_MS = 60_000;
const RUN_MS = 60_000;

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

  it('the harness never hangs on a child: one that dies before ready, or never starts, fails every wait on it with what happened', async () => {
    const dead = spawnWorker({ mode: 'die', code: 3 });
    await expect(dead.waitFor('ready', READY_MS)).rejects.toThrow(
      /waited for the line "ready", but it exited \(code 3, signal null\)/,
    );
    dead.start(); // its stdin is closed: the EPIPE is swallowed, not thrown at the test
    await expect(dead.result(RUN_MS)).rejects.toThrow(/exited \(code 3/);
    // A spawn that fails emits 'error' and 'close', never 'exit'.
    const missing = spawnWorker({ mode: 'die', code: 0 }, 'batchflight-no-such-binary');
    await expect(missing.waitFor('ready', READY_MS)).rejects.toThrow(/failed: spawn .*ENOENT/);
    await killAll([dead, missing]);
  });

  it(
    '8 processes × 500 concurrent identical calls: exactly one upstream execution, 4,000 values',
    { timeout: 180_000 },
    async () => {
      const own = `${prefix}one:`;
      const workers: Worker[] = Array.from({ length: 8 }, () =>
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
      const results = (await runAll(workers).finally(() => killAll(workers))) as FlightResult[];
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
    { timeout: 180_000 },
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
      let results: FlightResult[];
      try {
        await Promise.all(workers.map((w) => w.waitFor('ready', READY_MS)));
        for (const w of workers) w.start();
        // Rejects at once if a worker ends without leading (a crash), naming it.
        const leader = await Promise.race(
          workers.map((w) => w.waitFor('leading', RUN_MS).then(() => w)),
        );
        leader.child.kill('SIGKILL');
        await expect(leader.result(RUN_MS)).rejects.toThrow(/SIGKILL/);
        const survivors = workers.filter((w) => w !== leader);
        results = (await Promise.all(survivors.map((w) => w.result(RUN_MS)))) as FlightResult[];
      } finally {
        await killAll(workers);
      }
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
    { timeout: 180_000 },
    async () => {
      const own = `${prefix}rate:`;
      const rate = 50;
      const burst = 10;
      const workers: Worker[] = Array.from({ length: 4 }, () =>
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
      const results = (await runAll(workers).finally(() => killAll(workers))) as {
        admitted: [sent: number, admitted: number][];
      }[];
      const calls = results.flatMap((r) => r.admitted);
      // Every process got a share: the limit is shared, not per process.
      expect(results.every((r) => r.admitted.length > 0)).toBe(true);
      // The upstream sees a call when its admission reaches the process (a_k); the
      // limiter decided on the server somewhere in [sent_k, a_k]. So two observed
      // calls a_i <= a_j were decided at most maxDelay further apart than observed:
      // in every observed window, count <= burst + rate * (a_j - a_i + maxDelay).
      const maxDelay = Math.max(...calls.map(([sent, at]) => at - sent));
      const times = calls.map(([, at]) => at).sort((x, y) => x - y);
      let worst = -Infinity;
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          const span = (times[j] as number) - (times[i] as number) + maxDelay;
          worst = Math.max(worst, j - i + 1 - (burst + (rate * span) / 1000));
        }
      }
      expect(worst, `max admission delay ${maxDelay.toFixed(1)} ms`).toBeLessThanOrEqual(1e-9);
      expect(times.length).toBeGreaterThan(burst + rate); // the limit was used, not starved
    },
  );
});

/** Waits for every worker to be ready, starts them all, and collects their results. */
async function runAll(workers: readonly Worker[]): Promise<unknown[]> {
  await Promise.all(workers.map((w) => w.waitFor('ready', READY_MS)));
  for (const w of workers) w.start();
  return Promise.all(workers.map((w) => w.result(RUN_MS)));
}
