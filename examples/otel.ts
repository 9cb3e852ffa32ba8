/** docs/observability.md and packages/otel/README.md: metrics, a Prometheus scrape and batch logs. */
import { collectingProvider } from '../packages/otel/src/__fixtures__/collect.js';

/** Stand-in database: records each bulk query. */
export const db = {
  queries: 0,
  findUsers(ids: readonly number[]) {
    this.queries++;
    return Promise.resolve(ids.map((id) => ({ id })));
  },
};
/** The text a Prometheus server would have scraped. */
export const scraped: string[] = [];
/** The records the logger received. */
export const logged: Record<string, unknown>[] = [];
const { provider: meterProvider, reader } = collectingProvider(); // any SDK MeterProvider

// #region instrument
import { instrument } from '@batchflight/otel';

// Every primitive's diagnostics channels, recorded as OpenTelemetry metrics. Without
// `meterProvider`, the global one of @opentelemetry/api (set by your SDK setup) is used.
const instrumentation = instrument({ meterProvider });
// #endregion

// #region prometheus
import { servePrometheus } from '@batchflight/otel/prometheus';
import { batch } from 'batchflight/batch';

const endpoint = await servePrometheus({ port: 0 }); // 9464 by default; 0 picks a free port
const users = batch({ name: 'users', maxSize: 100, load: (ids: number[]) => db.findUsers(ids) });
await Promise.all([1, 2, 3].map((id) => users.load(id)));
const text = await (await fetch(endpoint.url)).text(); // what Prometheus scrapes
// text contains: batchflight_batch_size_sum{batchflight_capability="batch",batchflight_name="users",…} 3
// #endregion
scraped.push(text);

// #region logs
import { logBatches } from '@batchflight/otel';
import { pino } from 'pino';

const logger = pino(
  { base: null },
  {
    write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>),
  },
);
const logs = logBatches({ logger }); // one record per bulk call, flight, cache load, job attempt
await users.load(4);
// {"level":30,"event":"batch","name":"users","size":1,"attempt":1,"waitMs":0,"durationMs":0,
//  "outcome":"ok","msg":"batch settled"}: no key, no payload
// #endregion

await users.close();
logs.close();
/** What the in-process provider collected, for the example's test. */
export const collected = await reader.points();
instrumentation.close();
await endpoint.close();
