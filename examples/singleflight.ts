/**
 * docs/singleflight.md: the three ways to use a single flight, on an in-memory stand-in database,
 * and a distributed flight on the in-process store.
 */
import { stack, toContext } from 'batchflight/core';

interface User {
  readonly id: number;
  readonly name: string;
}
/** Stand-in database: counts the queries it answers. */
export const db = {
  queries: 0,
  async findUser(id: number, _options?: { signal?: AbortSignal }): Promise<User> {
    this.queries++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { id, name: `user ${String(id)}` };
  },
};
const docs = { get: async (tenant: string, id: string) => `${tenant}/${id}` };
const id = 7;
const tenantId = 'tenant-a';
const request = { signal: new AbortController().signal };
const signal = request.signal;

// #region usage
import { SingleFlight, singleflight } from 'batchflight/singleflight';

// 1. Wrap a function: same signature, keys from the arguments.
const getUser = singleflight(async (id: number) => db.findUser(id));
await Promise.all([getUser(1), getUser(1), getUser(2)]); // two queries
getUser.flight.stats(); // { hits: 1, misses: 2, errors: 0, active: 0, hitRate: 1 / 3 }

// Custom key and a scope (tenant): two scopes never share a result.
const getDoc = singleflight(async (tenant: string, id: string) => docs.get(tenant, id), {
  key: (_tenant, id) => id,
  scope: (tenant) => tenant,
});

// 2. Explicit keys, per-caller cancellation and timeouts.
const flights = new SingleFlight<User>({ timeoutMs: 2_000, flightTimeoutMs: 10_000 });
const user = await flights.run(`user:${String(id)}`, ({ signal }) => db.findUser(id, { signal }), {
  signal: request.signal, // this caller may leave; the query stops when the last one has left
  scope: tenantId,
});
const { value, shared } = await flights.runShared('user:1', () => db.findUser(1)); // shared: joined?

// 3. As a Layer over a Handler<I, O>: coalesces within ctx.scope, callers leave through
//    ctx.signal, and the handler receives the execution's signal.
const loadUser = stack(flights.layer({ key: (id: number) => `user:${String(id)}` })).wrap(
  (id, ctx) => db.findUser(id, { signal: ctx.signal }),
);
await loadUser(42, toContext({ scope: 'tenant-a', signal }));
// #endregion

// #region close
// Shutdown: new calls reject with ClosedError, running flights finish; after 5 s the close is
// forced (waiting callers reject with ClosedError, execution signals abort). `await using` closes too.
const reports = new SingleFlight<string>({ name: 'reports' });
const daily = reports.run('daily', () => Promise.resolve('report of the day'));
await reports.close({ timeoutMs: 5_000 });
// #endregion

/** Stand-in for an expensive build: counts its runs. */
export const builds = { count: 0 };
const buildExport = async (day: string, _options: { signal: AbortSignal }) => {
  builds.count++;
  await Promise.resolve();
  return `export of ${day}`;
};

// #region distributed
// One execution per key across every DistributedFlight sharing a FlightStore: a
// RedisFlightStore (@batchflight/redis) for a fleet, the MemoryFlightStore for one process
// (flights with options of their own) and for tests.
import { DistributedFlight, MemoryFlightStore } from 'batchflight/singleflight';

const flightStore = new MemoryFlightStore();
const nightly = new DistributedFlight({ store: flightStore, name: 'nightly', leaseMs: 60_000 });
const adHoc = new DistributedFlight({ store: flightStore, name: 'ad-hoc', timeoutMs: 2_000 });
const [a, b] = await Promise.all([
  nightly.run('export:2026-12-03', ({ signal }) => buildExport('2026-12-03', { signal })),
  adHoc.run('export:2026-12-03', ({ signal }) => buildExport('2026-12-03', { signal })),
]); // one build; both get its value
await Promise.all([nightly.close(), adHoc.close()]);
// #endregion

export const results = {
  stats: getUser.flight.stats(),
  doc: await getDoc('t', 'd'),
  user,
  value,
  shared,
  daily: await daily,
  exports: [a, b],
};
