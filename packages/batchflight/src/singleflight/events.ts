/**
 * What a single flight reports: the payloads of its hooks (`onShared`,
 * `onSettled`) and of its diagnostics channels, `batchflight:singleflight:<event>`,
 * published only when someone subscribes.
 */
import { type EventChannel, eventChannel } from '../core/index.js';

/** Payload of {@link SingleFlight.onShared} and the `shared` channel: a caller joined a running flight. */
export interface FlightSharedEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** Callers of the flight so far, this one included (so at least 2). */
  readonly callers: number;
}

/** Payload of {@link SingleFlight.onSettled} and the `settled` channel: a flight produced its outcome. */
export interface FlightSettledEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** Callers the flight had in all, including those that left. */
  readonly callers: number;
  readonly ok: boolean;
  /** The error when `ok` is false (a `ClosedError` when a forced close abandoned the flight). */
  readonly error: unknown;
  /**
   * Run time in milliseconds on the instance's clock; measured only for flights
   * started while someone listened (a hook or a diagnostics subscriber).
   */
  readonly durationMs: number | undefined;
}

/** Payload of the `start` diagnostics channel. */
export interface FlightStartEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
}

/** Payload of the `leave` and `abort` diagnostics channels. */
export interface FlightLeaveEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** `signal.reason` of the caller, or the `TimeoutError` of its wait. */
  readonly reason: unknown;
}

/** Payload of the `close` diagnostics channel: a group was closed. */
export interface FlightCloseEvent {
  readonly name: string | undefined;
  /** True when the deadline passed or the signal aborted before every flight had settled. */
  readonly forced: boolean;
  /** Flights still running when the close was forced (0 for a graceful close). */
  readonly abandoned: number;
}

/** The diagnostics channels of single flight, by event; see {@link singleFlightChannels}. */
export interface SingleFlightChannels {
  /** A flight started (a caller found no flight of its key). */
  readonly start: EventChannel<FlightStartEvent>;
  /** A caller joined a running flight. */
  readonly shared: EventChannel<FlightSharedEvent>;
  /** A caller left by abort or timeout. */
  readonly leave: EventChannel<FlightLeaveEvent>;
  /** The last caller left: the execution's signal was aborted. */
  readonly abort: EventChannel<FlightLeaveEvent>;
  /** A flight produced its outcome. */
  readonly settled: EventChannel<FlightSettledEvent>;
  /** A group finished closing. */
  readonly close: EventChannel<FlightCloseEvent>;
}

/**
 * Diagnostics channels, `batchflight:singleflight:<event>`, one per field of
 * {@link SingleFlightChannels}.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(singleFlightChannels.shared.name, (event) => {
 *   const { key, callers } = event as FlightSharedEvent;
 * });
 * ```
 */
export const singleFlightChannels: SingleFlightChannels = {
  start: eventChannel<FlightStartEvent>('singleflight', 'start'),
  shared: eventChannel<FlightSharedEvent>('singleflight', 'shared'),
  leave: eventChannel<FlightLeaveEvent>('singleflight', 'leave'),
  abort: eventChannel<FlightLeaveEvent>('singleflight', 'abort'),
  settled: eventChannel<FlightSettledEvent>('singleflight', 'settled'),
  close: eventChannel<FlightCloseEvent>('singleflight', 'close'),
};
