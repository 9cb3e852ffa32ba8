/**
 * `batchflight/singleflight`: concurrent identical calls share one execution.
 *
 * - `new SingleFlight()` with `run(key, (ctx) => …, { signal, scope, timeoutMs })` for explicit keys,
 *   `close({ signal, timeoutMs })` / `await using` to shut down;
 * - `singleflight(fn, { key, scope })` wraps a function, keys from its arguments;
 * - `SingleFlight#layer({ key })` coalesces a `Handler` inside `stack(...)`;
 * - `new DistributedFlight({ store })`: one execution per key across every
 *   process sharing a `FlightStore` (`MemoryFlightStore` here, `RedisFlightStore`
 *   in `@batchflight/redis`).
 */
export { SingleFlight } from './single-flight.js';
export {
  singleflight,
  type SingleflightOptions,
  type SingleflightFunction,
} from './singleflight-function.js';
export type {
  FlightContext,
  SingleFlightOptions,
  SingleFlightCloseOptions,
  SingleFlightLayerOptions,
  SingleFlightStats,
  FlightRunOptions,
  SharedResult,
} from './options.js';
export {
  singleFlightChannels,
  type SingleFlightChannels,
  type FlightSharedEvent,
  type FlightSettledEvent,
  type FlightStartEvent,
  type FlightLeaveEvent,
  type FlightCloseEvent,
} from './events.js';
export { FlightReentryError } from './errors.js';
export type {
  FlightStore,
  FlightLease,
  FlightClaim,
  FlightEvent,
  FlightWatch,
} from './flight-store.js';
export { MemoryFlightStore, type MemoryFlightStoreOptions } from './memory-flight-store.js';
export {
  DistributedFlight,
  distributedFlightChannels,
  type DistributedFlightChannels,
  type DistributedFlightOptions,
  type DistributedRunOptions,
  type DistributedRole,
  type DistributedSettledEvent,
  type DistributedFlightStats,
} from './distributed-flight.js';
