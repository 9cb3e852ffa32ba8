/**
 * Single flight scenarios of `npm run demo`, each run without and with
 * coalescing against a fake upstream on the real clock:
 *
 * 1. `db-pool`: 100 concurrent identical requests, a database pool of 10
 *    connections and 60 ms queries;
 * 2. `stampede`: 100 users hit a cache key the moment it expires, with a
 *    200 ms recomputation;
 * 3. `rate-limit`: 50 concurrent identical calls to an API limited to 10
 *    requests per second.
 */
import { SingleFlight, singleflight } from 'batchflight/singleflight';
import { FakeUpstream } from '@batchflight/testing';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, mean, ms, percentile } from '../table.js';

const COLUMNS = ['without', 'with singleflight'] as const;

interface Timed {
  readonly totalMs: number;
  readonly latencies: readonly number[];
}

/** Starts `n` concurrent calls and times each and all of them. */
async function concurrently(n: number, call: () => Promise<unknown>): Promise<Timed> {
  const started = performance.now();
  const latencies = await Promise.all(
    Array.from({ length: n }, async () => {
      const t = performance.now();
      await call();
      return performance.now() - t;
    }),
  );
  return { totalMs: performance.now() - started, latencies };
}

const pct = (part: number, whole: number): string =>
  whole === 0 ? '0.0 %' : `${((100 * part) / whole).toFixed(1)} %`;

/** 100 concurrent requests against a pool of 10 connections, 60 ms per query. */
export const dbPoolScenario: Scenario = {
  id: 'db-pool',
  capability: 'singleflight',
  title: '100 concurrent identical requests, database pool of 10, 60 ms queries',
  async run(): Promise<ScenarioReport> {
    const requests = 100;
    const query = 'SELECT * FROM products WHERE id = 42';
    const naiveDb = new FakeUpstream<string, string>({ concurrency: 10, latencyMs: 60 });
    const without = await concurrently(requests, () => naiveDb.get(query));

    const db = new FakeUpstream<string, string>({ concurrency: 10, latencyMs: 60 });
    const getProduct = singleflight((sql: string) => db.get(sql));
    const withSf = await concurrently(requests, () => getProduct(query));

    return {
      columns: COLUMNS,
      rows: [
        ['concurrent requests', count(requests), count(requests)],
        ['queries made', count(naiveDb.stats.calls), count(db.stats.calls)],
        ['total time', ms(without.totalMs), ms(withSf.totalMs)],
        ['average latency', ms(mean(without.latencies)), ms(mean(withSf.latencies))],
        [
          'p99 latency',
          ms(percentile(without.latencies, 99)),
          ms(percentile(withSf.latencies, 99)),
        ],
      ],
      // 100 identical concurrent requests must cost exactly one query.
      claims: [
        {
          what: `queries for ${String(requests)} identical requests`,
          actual: db.stats.calls,
          atMost: 1,
        },
      ],
      verdict:
        `${count(naiveDb.stats.calls - db.stats.calls)} queries saved; total time ` +
        `${(without.totalMs / withSf.totalMs).toFixed(1)}x shorter, p99 ` +
        `${(percentile(without.latencies, 99) / percentile(withSf.latencies, 99)).toFixed(1)}x lower.`,
    };
  },
};

/** A cache entry expires and 100 users ask for it at once; recomputing costs 200 ms. */
export const stampedeScenario: Scenario = {
  id: 'stampede',
  capability: 'singleflight',
  title: 'cache stampede: 100 users hit a key the moment it expires (200 ms recompute)',
  async run(): Promise<ScenarioReport> {
    const users = 100;
    const key = 'homepage:feed';

    /** A read-through cache whose entry for `key` has just expired. */
    const makeCache = (load: (k: string) => Promise<string>) => {
      const entries = new Map<string, { value: string; expiresAt: number }>();
      entries.set(key, { value: 'stale', expiresAt: Date.now() - 1 });
      return async (k: string): Promise<string> => {
        const entry = entries.get(k);
        if (entry !== undefined && entry.expiresAt > Date.now()) return entry.value;
        const value = await load(k);
        entries.set(k, { value, expiresAt: Date.now() + 60_000 });
        return value;
      };
    };

    const naiveDb = new FakeUpstream<string, string>({ latencyMs: 200 });
    const naive = makeCache((k) => naiveDb.get(k));
    const without = await concurrently(users, () => naive(key));

    const db = new FakeUpstream<string, string>({ latencyMs: 200 });
    const flights = new SingleFlight<string>();
    // Only the miss path is coalesced: the cache stays a plain cache.
    const protectedCache = makeCache((k) => flights.run(k, ({ signal }) => db.get(k, { signal })));
    const withSf = await concurrently(users, () => protectedCache(key));
    const { hitRate } = flights.stats();

    return {
      columns: COLUMNS,
      rows: [
        ['users', count(users), count(users)],
        ['database queries', count(naiveDb.stats.calls), count(db.stats.calls)],
        ['duration', ms(without.totalMs), ms(withSf.totalMs)],
        ['coalescing rate', pct(0, users), pct(hitRate * users, users)],
      ],
      claims: [
        {
          what: `recomputations for ${String(users)} users at expiry`,
          actual: db.stats.calls,
          atMost: 1,
        },
      ],
      verdict: `${count(naiveDb.stats.calls - db.stats.calls)} of ${count(users)} recomputations avoided; the expiry costs one query.`,
    };
  },
};

/** 50 concurrent identical calls to an API that admits 10 requests per second. */
export const rateLimitScenario: Scenario = {
  id: 'rate-limit',
  capability: 'singleflight',
  title: 'API limited to 10 requests/s, 50 concurrent identical calls',
  async run(): Promise<ScenarioReport> {
    const callers = 50;
    const attempt = async (call: () => Promise<unknown>): Promise<boolean> => {
      try {
        await call();
        return true;
      } catch {
        return false;
      }
    };

    const naiveApi = new FakeUpstream<string, string>({ ratePerSecond: 10, latencyMs: 20 });
    const naive = await Promise.all(
      Array.from({ length: callers }, () => attempt(() => naiveApi.get('/v1/rates/EUR'))),
    );

    const api = new FakeUpstream<string, string>({ ratePerSecond: 10, latencyMs: 20 });
    const getRates = singleflight((path: string) => api.get(path));
    const coalesced = await Promise.all(
      Array.from({ length: callers }, () => attempt(() => getRates('/v1/rates/EUR'))),
    );

    const ok = (results: boolean[]): number => results.filter(Boolean).length;
    return {
      columns: COLUMNS,
      rows: [
        ['concurrent callers', count(callers), count(callers)],
        ['successes', count(ok(naive)), count(ok(coalesced))],
        ['failures (429)', count(callers - ok(naive)), count(callers - ok(coalesced))],
        ['calls made to the API', count(naiveApi.stats.calls), count(api.stats.calls)],
      ],
      // One shared call fits the limit: every coalesced caller must succeed.
      claims: [
        {
          what: `API calls for ${String(callers)} identical callers`,
          actual: api.stats.calls,
          atMost: 1,
        },
        { what: 'coalesced callers rate limited', actual: callers - ok(coalesced), atMost: 0 },
      ],
      verdict: `without coalescing ${pct(callers - ok(naive), callers)} of callers are rate limited; with it ${pct(callers - ok(coalesced), callers)}.`,
    };
  },
};

/** The single flight scenarios, in the order they run. */
export const singleflightScenarios: readonly Scenario[] = [
  dbPoolScenario,
  stampedeScenario,
  rateLimitScenario,
];
