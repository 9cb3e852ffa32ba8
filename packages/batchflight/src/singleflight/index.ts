/**
 * `batchflight/singleflight`: concurrent identical calls share one execution.
 *
 * - `new SingleFlight()` with `run(key, fn, { signal, scope, timeoutMs })` for explicit keys;
 * - `singleflight(fn, { key, scope })` wraps a function, keys from its arguments;
 * - `SingleFlight#layer({ key })` coalesces a `Handler` inside `stack(...)`.
 */
export {
  SingleFlight,
  singleflight,
  singleFlightChannels,
  type SingleFlightOptions,
  type SingleflightOptions,
  type SingleflightFunction,
  type SingleFlightLayerOptions,
  type SingleFlightStats,
  type FlightRunOptions,
  type SharedResult,
  type FlightSharedEvent,
  type FlightSettledEvent,
  type FlightStartEvent,
  type FlightLeaveEvent,
} from './single-flight.js';
export { FlightReentryError } from './errors.js';
export type {
  FlightStore,
  FlightLease,
  FlightClaim,
  FlightEvent,
  FlightWatch,
} from './flight-store.js';
