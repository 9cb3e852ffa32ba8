/**
 * Micro-batching scenarios of `npm run demo`, run against fake upstreams on
 * the real clock:
 *
 * 1. `bulk-page`: a page needs 50 items from an API that admits 10 requests
 *    per second and has a bulk endpoint: 50 single-item calls vs `batch()`;
 * 2. `startup`: a mobile app's startup needs five data sources (profile,
 *    settings, notifications, feed, recommendations): five round trips
 *    (one after the other, or in parallel) vs one consolidated round trip
 *    whose server side fetches the five in parallel and merges them.
 */
import { batch } from 'batchflight/batch';
import { FakeUpstream, UpstreamError } from '@batchflight/testing';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, ms } from '../table.js';

/** A page of 50 items against an API limited to 10 requests/s with a bulk endpoint. */
export const bulkPageScenario: Scenario = {
  id: 'bulk-page',
  capability: 'batch',
  title: 'a page needs 50 items; API limited to 10 requests/s, with a bulk endpoint',
  async run(): Promise<ScenarioReport> {
    const ids = Array.from({ length: 50 }, (_, i) => 1000 + i);
    const api = (): FakeUpstream<number> =>
      new FakeUpstream<number, string>({
        ratePerSecond: 10,
        latencyMs: (keys) => 30 + 0.2 * keys.length,
        value: (id) => `item ${String(id)}`,
      });
    const render = async (
      load: (id: number) => Promise<string>,
    ): Promise<{ ms: number; shown: number; throttled: number }> => {
      const started = performance.now();
      const results = await Promise.allSettled(ids.map(load));
      const throttled = results.filter(
        (r) =>
          r.status === 'rejected' && r.reason instanceof UpstreamError && r.reason.status === 429,
      ).length;
      return {
        ms: performance.now() - started,
        shown: results.filter((r) => r.status === 'fulfilled').length,
        throttled,
      };
    };

    const naiveApi = api();
    const without = await render((id) => naiveApi.get(id));

    // The polite client: single calls that wait out each 429's Retry-After.
    const politeApi = api();
    const polite = await render(async function retrying(id): Promise<string> {
      try {
        return await politeApi.get(id);
      } catch (error) {
        if (!(error instanceof UpstreamError) || error.status !== 429) throw error;
        await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs ?? 100));
        return retrying(id);
      }
    });

    const bulkApi = api();
    const items = batch({ load: (keys: number[]) => bulkApi.getMany(keys), maxSize: 100 });
    const withBatch = await render((id) => items.load(id));
    await items.close();

    return {
      columns: ['50 single calls', 'single calls + retry', 'batch()'],
      rows: [
        [
          'calls made',
          count(naiveApi.stats.calls),
          count(politeApi.stats.calls),
          count(bulkApi.stats.calls),
        ],
        [
          '429 Too Many Requests',
          count(naiveApi.stats.throttled),
          count(politeApi.stats.throttled),
          count(bulkApi.stats.throttled),
        ],
        [
          'items shown',
          `${String(without.shown)} / 50`,
          `${String(polite.shown)} / 50`,
          `${String(withBatch.shown)} / 50`,
        ],
        ['time', ms(without.ms), ms(polite.ms), ms(withBatch.ms)],
      ],
      // The page must render whole from one bulk call with no 429.
      claims: [
        {
          what: `bulk calls for a page of ${String(ids.length)} items`,
          actual: bulkApi.stats.calls,
          atMost: 1,
        },
        { what: 'calls refused with 429', actual: bulkApi.stats.throttled, atMost: 0 },
        { what: 'items shown', actual: withBatch.shown, atLeast: ids.length },
      ],
      verdict:
        `batch() turned ${String(ids.length)} calls into ${String(bulkApi.stats.calls)}: no 429, ` +
        `the whole page in ${ms(withBatch.ms)} instead of ${ms(polite.ms)} of retrying single calls.`,
    };
  },
};

const SOURCES = {
  profile: 20,
  settings: 15,
  notifications: 35,
  feed: 60,
  recommendations: 45,
} as const;
type Source = keyof typeof SOURCES;
const NAMES = Object.keys(SOURCES) as Source[];
/** One mobile-network round trip, in milliseconds. */
const ROUND_TRIP_MS = 80;

interface Backend {
  /** Counts the round trips between the app and the API. */
  readonly network: FakeUpstream<string>;
  readonly fetch: (source: Source) => Promise<string>;
}

function backend(): Backend {
  const services = new Map(
    NAMES.map((name) => [
      name,
      new FakeUpstream<string>({
        latencyMs: SOURCES[name],
        value: (user) => `${name} of ${user}`,
      }),
    ]),
  );
  return {
    network: new FakeUpstream<string>({ latencyMs: ROUND_TRIP_MS }),
    fetch: (source) => (services.get(source) as FakeUpstream<string>).get('user-7'),
  };
}

/** Five data sources at startup: five round trips vs one consolidated call. */
export const startupScenario: Scenario = {
  id: 'startup',
  capability: 'batch',
  title: `app startup needs 5 data sources; ${String(ROUND_TRIP_MS)} ms mobile round trip`,
  async run(): Promise<ScenarioReport> {
    const timed = async (
      start: () => Promise<Record<string, string>>,
    ): Promise<{ ms: number; fields: number }> => {
      const started = performance.now();
      const screen = await start();
      return { ms: performance.now() - started, fields: Object.keys(screen).length };
    };

    // One endpoint per source, called one after the other (the common `await` chain).
    const seq = backend();
    const sequential = await timed(async () => {
      const screen: Record<string, string> = {};
      for (const name of NAMES) {
        await seq.network.get(`/${name}`);
        screen[name] = await seq.fetch(name);
      }
      return screen;
    });

    // One endpoint per source, all five requests in flight at once.
    const par = backend();
    const parallel = await timed(async () => {
      const values = await Promise.all(
        NAMES.map(async (name) => {
          await par.network.get(`/${name}`);
          return par.fetch(name);
        }),
      );
      return Object.fromEntries(NAMES.map((name, i) => [name, values[i] as string]));
    });

    // The same app code (one load per source), batched into a consolidated
    // endpoint: one round trip, the server fetches the sources in parallel and
    // answers with one merged record.
    const con = backend();
    const startup = batch({
      name: 'startup',
      load: async (sources: Source[]) => {
        await con.network.get(`/startup?include=${sources.join(',')}`);
        const values = await Promise.all(sources.map((name) => con.fetch(name)));
        return Object.fromEntries(sources.map((name, i) => [name, values[i] as string]));
      },
    });
    const consolidated = await timed(async () => {
      const values = await Promise.all(NAMES.map((name) => startup.load(name)));
      return Object.fromEntries(NAMES.map((name, i) => [name, values[i] as string]));
    });
    await startup.close();

    return {
      columns: ['5 calls, one by one', '5 calls, in parallel', 'batch(): 1 consolidated'],
      rows: [
        [
          'round trips',
          count(seq.network.stats.calls),
          count(par.network.stats.calls),
          count(con.network.stats.calls),
        ],
        [
          'sources in the screen',
          String(sequential.fields),
          String(parallel.fields),
          String(consolidated.fields),
        ],
        ['time to first screen', ms(sequential.ms), ms(parallel.ms), ms(consolidated.ms)],
      ],
      claims: [
        {
          what: `round trips for ${String(NAMES.length)} sources`,
          actual: con.network.stats.calls,
          atMost: 1,
        },
        { what: 'sources in the screen', actual: consolidated.fields, atLeast: NAMES.length },
      ],
      verdict:
        `one round trip instead of five: ${(sequential.ms / consolidated.ms).toFixed(1)}x faster than the ` +
        `sequential startup and as fast as five parallel requests, with 4 fewer requests on the radio.`,
    };
  },
};

export const batchScenarios: readonly Scenario[] = [bulkPageScenario, startupScenario];
