import { Queue, MemoryJobStore, Worker } from 'batchflight/jobs';
import { batch } from 'batchflight/batch';
import { bulkhead } from 'batchflight/bulkhead';
import { cache } from 'batchflight/cache';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';
import { rateLimit } from 'batchflight/rate-limit';
import { retry } from 'batchflight/retry';
import { SingleFlight } from 'batchflight/singleflight';
import { timeout } from 'batchflight/timeout';
import { TestClock, deferred, flushMicrotasks } from '@batchflight/testing';
import { ConfigRegistry } from '@batchflight/config';
import { RedisConfigChannel } from '@batchflight/config/redis';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { collectingProvider, total, type Point } from './__fixtures__/collect.js';
import { ATTR, instrument, METRICS, type Instrumentation } from './index.js';

const open: Instrumentation[] = [];
afterEach(() => {
  for (const i of open.splice(0)) i.close();
});

function setUp(options: Parameters<typeof instrument>[0] = {}) {
  const { provider, reader } = collectingProvider();
  open.push(instrument({ ...options, meterProvider: provider }));
  return reader;
}

const named = (name: string): Record<string, string> => ({ [ATTR.name]: name });

describe('instrument()', () => {
  it('records batch sizes, waits, outcomes and the upstream calls batching saved', async () => {
    const reader = setUp();
    const users = batch({
      name: 'users',
      maxSize: 3,
      load: (ids: readonly number[]) => Promise.resolve(ids.map((id) => id * 10)),
    });
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((id) => users.load(id)));
    await users.close();
    const points = await reader.points();
    // 7 keys in calls of at most 3: 3 + 3 + 1, so 7 - 3 = 4 calls saved.
    expect(total(points, 'batchflight.batch.size', named('users'), 'count')).toBe(3);
    expect(total(points, 'batchflight.batch.size', named('users'))).toBe(7);
    expect(
      total(points, 'batchflight.batch.calls', { ...named('users'), [ATTR.outcome]: 'ok' }),
    ).toBe(3);
    expect(total(points, 'batchflight.batch.wait.duration', named('users'), 'count')).toBe(3);
    expect(
      total(points, 'batchflight.upstream.calls_saved', {
        ...named('users'),
        [ATTR.capability]: 'batch',
      }),
    ).toBe(4);
  });

  it('records flights, the callers that shared one and cache loads by reason', async () => {
    const reader = setUp();
    const flights = new SingleFlight({ name: 'config' });
    const gate = deferred<string>();
    const runs = [1, 2, 3].map(() => flights.run('settings', () => gate.promise));
    gate.resolve('v');
    await Promise.all(runs);
    const profiles = cache({ name: 'profiles', ttlMs: 60_000 });
    await profiles.get('p1', () => 'ada');
    await profiles.get('p1', () => 'ada');
    await expect(profiles.get('p2', () => Promise.reject(new TypeError('down')))).rejects.toThrow();
    await profiles.close();
    const points = await reader.points();
    expect(
      total(points, 'batchflight.upstream.calls_saved', {
        ...named('config'),
        [ATTR.capability]: 'singleflight',
      }),
    ).toBe(2);
    expect(
      total(points, 'batchflight.singleflight.flights', {
        ...named('config'),
        [ATTR.outcome]: 'ok',
      }),
    ).toBe(1);
    expect(
      total(points, 'batchflight.cache.loads', {
        ...named('profiles'),
        [ATTR.reason]: 'miss',
        [ATTR.outcome]: 'ok',
      }),
    ).toBe(1);
    expect(
      total(points, 'batchflight.cache.loads', { ...named('profiles'), [ATTR.outcome]: 'error' }),
    ).toBe(1);
  });

  it('records breaker transitions and state, limiter refusals, retries, bulkhead and timeout', async () => {
    const reader = setUp();
    const clock = new TestClock();
    const breaker = circuitBreaker({ name: 'payments', policy: consecutive(2), clock });
    const boom = Object.assign(new Error('boom'), { code: 'ECONNRESET' });
    for (let i = 0; i < 2; i++)
      await expect(breaker.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(breaker.execute(() => Promise.resolve(1))).rejects.toThrow();

    const limiter = rateLimit({ name: 'api', rate: 1, burst: 1, whenLimited: 'reject', clock });
    await limiter.acquire();
    await expect(limiter.acquire()).rejects.toThrow();

    // Backoff 0 on the system clock: the sleeps are zero-length timers, nothing is timed.
    const policy = retry({ maxAttempts: 3, backoff: 0 });
    await expect(policy.execute(() => Promise.reject(boom))).rejects.toBe(boom);

    const pool = bulkhead({ maxConcurrent: 1 });
    const held = deferred<undefined>();
    const running = pool.execute(() => held.promise);
    await expect(pool.execute(() => Promise.resolve())).rejects.toThrow();
    held.resolve(undefined);
    await running;

    const limit = timeout({ ms: 50, clock });
    const slow = limit.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            reject(signal.reason as Error);
          });
        }),
    );
    const timedOut = expect(slow).rejects.toThrow('did not settle within 50 ms');
    await flushMicrotasks();
    await clock.advance(50);
    await timedOut;

    const points = await reader.points();
    expect(
      total(points, 'batchflight.circuit_breaker.transitions', {
        ...named('payments'),
        [ATTR.from]: 'closed',
        [ATTR.to]: 'open',
      }),
    ).toBe(1);
    expect(total(points, 'batchflight.circuit_breaker.rejections', named('payments'))).toBe(1);
    expect(
      total(points, 'batchflight.circuit_breaker.failures', {
        ...named('payments'),
        [ATTR.errorType]: 'ECONNRESET',
      }),
    ).toBe(2);
    const state = (s: string): number =>
      total(points, 'batchflight.circuit_breaker.state', { ...named('payments'), [ATTR.state]: s });
    expect([state('closed'), state('open'), state('half-open')]).toEqual([0, 1, 0]);
    expect(
      total(points, 'batchflight.rate_limit.limited', { ...named('api'), [ATTR.reason]: 'reject' }),
    ).toBe(1);
    expect(total(points, 'batchflight.retry.retries', { [ATTR.errorType]: 'ECONNRESET' })).toBe(2);
    expect(total(points, 'batchflight.retry.give_ups', { [ATTR.reason]: 'max-attempts' })).toBe(1);
    expect(total(points, 'batchflight.bulkhead.rejections')).toBe(1);
    expect(total(points, 'batchflight.timeout.timeouts')).toBe(1);
  });

  it('records jobs throughput, outcomes, latencies and depth by queue and state', async () => {
    const reader = setUp();
    const store = new MemoryJobStore();
    await new Queue(store, { name: 'emails' }).addMany([
      { name: 'mail', payload: { n: 1 } },
      { name: 'mail', payload: { n: 2 } },
      { name: 'mail', payload: { n: 3 }, options: { maxAttempts: 1 } },
    ]);
    await new Queue(store, { name: 'later' }).add('mail', { n: 4 }, { delayMs: 3_600_000 });
    const worker = new Worker(
      store,
      {
        mail: ({ n }: { n: number }) =>
          n === 3 ? Promise.reject(new Error('bounce')) : Promise.resolve(),
      },
      { depthSampleMs: 0, pollMs: 10 },
    );
    await worker.drain();
    await worker.sampleDepth();
    await worker.close();
    const points = await reader.points();
    const emails = { [ATTR.queue]: 'emails', [ATTR.jobName]: 'mail' };
    expect(total(points, 'batchflight.jobs.enqueued')).toBe(4);
    expect(
      total(points, 'batchflight.jobs.settled', { ...emails, [ATTR.outcome]: 'succeeded' }),
    ).toBe(2);
    expect(total(points, 'batchflight.jobs.settled', { ...emails, [ATTR.outcome]: 'dead' })).toBe(
      1,
    );
    expect(total(points, 'batchflight.jobs.queue.duration', emails, 'count')).toBe(3);
    expect(total(points, 'batchflight.jobs.run.duration', emails, 'count')).toBe(3);
    const depth = (q: string, state: string): number =>
      total(points, 'batchflight.jobs.depth', { [ATTR.queue]: q, [ATTR.state]: state });
    expect(depth('emails', 'succeeded')).toBe(2);
    expect(depth('emails', 'dead')).toBe(1);
    expect(depth('later', 'pending')).toBe(1);
    expect(points.get('batchflight.jobs.oldest_ready.age')).toHaveLength(1);
  });

  it('never puts a key, a payload or a scope in an attribute unless scopes are asked for', async () => {
    const reader = setUp();
    const secret = 'sk_live_4242';
    const b = batch({ name: 'secrets', load: (keys: readonly string[]) => Promise.resolve(keys) });
    await b.load(secret, { scope: `tenant-${secret}` });
    await b.close();
    const flights = new SingleFlight({ name: 'sf' });
    await flights.run(secret, () => secret, { scope: secret });
    const points = await reader.points();
    const everything = JSON.stringify([...points.values()].flat().map((p: Point) => p.attributes));
    expect(everything).not.toContain(secret);

    const scoped = setUp({ scopes: true });
    const c = batch({ name: 'scoped', load: (keys: readonly string[]) => Promise.resolve(keys) });
    await c.load('k', { scope: 'tenant-a' });
    await c.close();
    const withScopes = await scoped.points();
    expect(total(withScopes, 'batchflight.batch.size', { [ATTR.scope]: 'tenant-a' })).toBe(1);
  });

  it('stops recording once closed, and refuses options it does not know', async () => {
    const { provider, reader } = collectingProvider();
    const instrumentation = instrument({ meterProvider: provider });
    instrumentation.close();
    instrumentation.close();
    const b = batch({ name: 'after', load: (keys: readonly number[]) => Promise.resolve(keys) });
    await b.load(1);
    await b.close();
    expect(total(await reader.points(), 'batchflight.batch.size', named('after'), 'count')).toBe(0);
    expect(() => instrument({ meterprovider: provider } as never)).toThrow(
      'instrument(): unknown option "meterprovider"',
    );
    expect(() => instrument({ capabilities: ['batches'] } as never)).toThrow(
      `instrument(): option capabilities must be one of 'batch', 'singleflight', 'cache', 'circuit-breaker', 'rate-limit', 'policies', 'jobs', 'stream', 'config', got "batches".`,
    );
  });

  it('records a histogram point per flight and cache load only with callDurations', async () => {
    const quiet = setUp();
    const timed = setUp({ callDurations: true });
    const flights = new SingleFlight({ name: 'timed' });
    await flights.run('k', () => 1);
    const durations = async (reader: typeof quiet) =>
      total(await reader.points(), 'batchflight.singleflight.duration', named('timed'), 'count');
    expect(await durations(quiet)).toBe(0);
    expect(await durations(timed)).toBe(1);
    expect(total(await quiet.points(), 'batchflight.singleflight.flights', named('timed'))).toBe(1);
  });

  it('names every instrument once, in the OpenTelemetry style', () => {
    const names = METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^batchflight(\.[a-z][a-z0-9_]*)+$/);
    for (const m of METRICS)
      if (m.kind === 'histogram' && m.unit !== 's' && m.unit !== 'By')
        expect(m.unit).toMatch(/^\{/);
  });
});

describe('instrument(): the fleet configuration follower', () => {
  it('reports the revision it runs, that the coordinator is unreachable, and the failed reads', async () => {
    const reader = setUp({ capabilities: ['config'] });
    // Nothing listens on port 1: the follower's reads fail at once and it keeps revision 0.
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    redis.on('error', () => undefined);
    const follower = new RedisConfigChannel({ redis, prefix: 'otel-unreachable' }).follow(
      new ConfigRegistry(),
    );
    await follower.ready;
    await follower.close();
    redis.disconnect();
    const points = await reader.points();
    expect(total(points, 'batchflight.config.revision')).toBe(0);
    expect(points.get('batchflight.config.reachable')?.map((p) => p.value)).toEqual([0]);
    expect(
      total(points, 'batchflight.config.refusals', { [ATTR.reason]: 'unreachable' }),
    ).toBeGreaterThan(0);
  });
});
