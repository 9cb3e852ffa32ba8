/**
 * Rate-limit and cache scenarios of `npm run demo`, on the real clock:
 *
 * 1. `rate-limit-queue`: 50 concurrent callers of an API that admits 10
 *    requests per second (fixed one-second windows), asking for 15 distinct
 *    resources: naive calls vs `rateLimit` (wait, evenly spaced) behind
 *    `singleflight`;
 * 2. `xfetch-stampede`: a hot key under steady load (2 000 requests/s)
 *    crossing its expiry several times: a plain TTL cache vs the batchflight
 *    cache coalesced only vs coalesced with XFetch early refresh, run side by
 *    side against three identical upstreams.
 */
import { cache } from 'batchflight/cache';
import { type Handler, stack, toContext } from 'batchflight/core';
import { rateLimit } from 'batchflight/rate-limit';
import { SingleFlight } from 'batchflight/singleflight';
import { FakeUpstream } from '@batchflight/testing';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, ms, percentile } from '../table.js';

const pct = (part: number, whole: number): string =>
  whole === 0 ? '0.0 %' : `${((100 * part) / whole).toFixed(1)} %`;

interface Outcome {
  readonly ok: boolean;
  readonly latencyMs: number;
}

async function timed(call: () => Promise<unknown>): Promise<Outcome> {
  const started = performance.now();
  try {
    await call();
    return { ok: true, latencyMs: performance.now() - started };
  } catch {
    return { ok: false, latencyMs: performance.now() - started };
  }
}

/** 50 concurrent callers, 15 distinct resources, an API that admits 10 requests per second. */
export const rateLimitQueueScenario: Scenario = {
  id: 'rate-limit-queue',
  capability: 'rate-limit',
  title:
    'API limited to 10 requests/s, 50 concurrent callers over 15 resources: rateLimit + singleflight',
  async run(): Promise<ScenarioReport> {
    const callers = 50;
    const path = (i: number): string => `/v1/items/${String(i % 15)}`;

    const naiveApi = new FakeUpstream<string, string>({ ratePerSecond: 10, latencyMs: 20 });
    const naiveStarted = performance.now();
    const naive = await Promise.all(
      Array.from({ length: callers }, (_, i) => timed(() => naiveApi.get(path(i)))),
    );
    const naiveMs = performance.now() - naiveStarted;

    const api = new FakeUpstream<string, string>({ ratePerSecond: 10, latencyMs: 20 });
    // burst 1 spaces calls 100 ms apart: a fixed-window limit of 10/s never
    // sees more than 10 in one window (a burst of 10 then 10/s could put 19 there).
    const limiter = rateLimit<string>({ rate: 10, per: 'second', burst: 1, whenLimited: 'wait' });
    const flights = new SingleFlight<string>();
    const getItem: Handler<string, string> = stack<string, string>(
      flights.layer<string, string>({ key: (p) => p }), // identical calls share one admission
      limiter,
    ).wrap((p, { signal }) => api.get(p, { signal }));
    const started = performance.now();
    const protectedRun = await Promise.all(
      Array.from({ length: callers }, (_, i) => timed(() => getItem(path(i), toContext()))),
    );
    const protectedMs = performance.now() - started;
    await limiter.close();

    const ok = (o: readonly Outcome[]): number => o.filter((x) => x.ok).length;
    const p99 = (o: readonly Outcome[]): number =>
      percentile(
        o.map((x) => x.latencyMs),
        99,
      );
    return {
      columns: ['naive', 'rateLimit + singleflight'],
      rows: [
        ['concurrent callers', count(callers), count(callers)],
        ['successes', count(ok(naive)), count(ok(protectedRun))],
        ['failures (429)', count(callers - ok(naive)), count(callers - ok(protectedRun))],
        ['calls made to the API', count(naiveApi.stats.calls), count(api.stats.calls)],
        ['calls refused by the API', count(naiveApi.stats.throttled), count(api.stats.throttled)],
        ['callers that waited in the queue', '0', count(limiter.stats().waited)],
        ['total time', ms(naiveMs), ms(protectedMs)],
        ['p99 latency', ms(p99(naive)), ms(p99(protectedRun))],
      ],
      // Queued behind the limiter, no caller may be refused; identical paths share one call.
      claims: [
        { what: 'callers refused', actual: callers - ok(protectedRun), atMost: 0 },
        { what: 'API calls for 15 distinct resources', actual: api.stats.calls, atMost: 15 },
        { what: 'calls refused by the API (429)', actual: api.stats.throttled, atMost: 0 },
      ],
      verdict:
        `naive: ${pct(callers - ok(naive), callers)} of callers fail with 429; ` +
        `rateLimit + singleflight: ${pct(callers - ok(protectedRun), callers)} fail, ` +
        `${count(api.stats.calls)} calls for ${count(callers)} callers, none refused.`,
    };
  },
};

interface StampedeResult {
  readonly upstreamCalls: number;
  readonly maxConcurrent: number;
  readonly waited: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly requests: number;
}

/** A hot key under steady load crossing its expiry: plain TTL vs coalesced vs coalesced + XFetch. */
export const xfetchStampedeScenario: Scenario = {
  id: 'xfetch-stampede',
  capability: 'cache',
  title:
    'hot key at 2,000 requests/s crossing its 400 ms TTL for 1.3 s, 40 ms recompute: plain TTL cache vs batchflight cache',
  async run(): Promise<ScenarioReport> {
    const ttlMs = 400;
    const recomputeMs = 40;
    const durationMs = 1_300;
    const tickMs = 5;
    const perTick = 10; // 2 000 requests per second
    const key = 'homepage:feed';
    // A request slower than this waited for a recomputation (a hit takes microseconds).
    const waitedMs = recomputeMs / 2;

    const makeUpstream = (): FakeUpstream<string> =>
      new FakeUpstream<string, string>({ latencyMs: recomputeMs });

    // 1. The usual read-through cache: a Map with an expiry, no coalescing.
    const plainDb = makeUpstream();
    const entries = new Map<string, { value: string; expiresAt: number }>();
    const plain = async (k: string): Promise<string> => {
      const entry = entries.get(k);
      if (entry !== undefined && entry.expiresAt > Date.now()) return entry.value;
      const value = await plainDb.get(k);
      entries.set(k, { value, expiresAt: Date.now() + ttlMs });
      return value;
    };

    // 2. batchflight cache, misses coalesced, no early refresh.
    const coalescedDb = makeUpstream();
    const coalesced = cache({ ttlMs });
    // 3. batchflight cache, misses coalesced and XFetch early refresh (β = 1).
    const xfetchDb = makeUpstream();
    const xfetch = cache({ ttlMs, earlyRefresh: true });

    const readers: readonly (() => Promise<unknown>)[] = [
      () => plain(key),
      () => coalesced.get(key, ({ signal }) => coalescedDb.get(key, { signal })),
      () => xfetch.get(key, ({ signal }) => xfetchDb.get(key, { signal })),
    ];
    // Warm every cache first: the run measures expiry under load, not the cold start.
    await Promise.all(readers.map((read) => read()));
    for (const db of [plainDb, coalescedDb, xfetchDb]) db.resetStats();

    const latencies: number[][] = readers.map(() => []);
    const pending: Promise<void>[] = [];
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      for (let i = 0; i < perTick; i++) {
        readers.forEach((read, r) => {
          const t = performance.now();
          pending.push(
            read().then(() => {
              latencies[r]?.push(performance.now() - t);
            }),
          );
        });
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    await Promise.all(pending);
    await Promise.all([coalesced.close(), xfetch.close()]);

    const results: StampedeResult[] = [plainDb, coalescedDb, xfetchDb].map((db, r) => {
      const l = latencies[r] ?? [];
      return {
        upstreamCalls: db.stats.calls,
        maxConcurrent: db.stats.maxInFlight,
        waited: l.filter((x) => x >= waitedMs).length,
        p99Ms: percentile(l, 99),
        maxMs: Math.max(0, ...l),
        requests: l.length,
      };
    });
    const [p, c, x] = results as [StampedeResult, StampedeResult, StampedeResult];
    const row = (name: string, f: (s: StampedeResult) => string): [string, ...string[]] => [
      name,
      ...results.map(f),
    ];
    // Real clock: the key expires at most once per TTL (plus its recompute) while
    // the load runs, so coalescing allows one recomputation per expiry; XFetch
    // may refresh early, at most about twice per TTL.
    const expiries = Math.ceil(durationMs / ttlMs) + 1;
    return {
      claims: [
        { what: 'upstream calls, coalesced', actual: c.upstreamCalls, atMost: expiries },
        {
          what: 'upstream calls, coalesced + XFetch',
          actual: x.upstreamCalls,
          atMost: 2 * expiries,
        },
        { what: 'concurrent recomputations, coalesced', actual: c.maxConcurrent, atMost: 1 },
        { what: 'concurrent recomputations, XFetch', actual: x.maxConcurrent, atMost: 1 },
      ],
      columns: ['plain TTL cache', 'batchflight, coalesced', 'batchflight, coalesced + XFetch'],
      rows: [
        row('requests', (s) => count(s.requests)),
        row('upstream calls (recomputations)', (s) => count(s.upstreamCalls)),
        row('max concurrent recomputations', (s) => count(s.maxConcurrent)),
        row('requests that waited for a recompute', (s) => count(s.waited)),
        row('p99 latency', (s) => ms(s.p99Ms)),
        row('max latency', (s) => ms(s.maxMs)),
      ],
      verdict:
        `at each expiry the plain cache sends every request upstream (${count(p.upstreamCalls)} calls, ` +
        `${count(p.maxConcurrent)} at once); coalescing makes it ${count(c.upstreamCalls)} calls but ` +
        `${count(c.waited)} requests still wait; XFetch refreshes before expiry: ` +
        `${count(x.upstreamCalls)} calls, ${count(x.waited)} requests waited.`,
    };
  },
};

/** The rate-limit and cache scenarios, in the order they run. */
export const protectionCacheScenarios: readonly Scenario[] = [
  rateLimitQueueScenario,
  xfetchStampedeScenario,
];
