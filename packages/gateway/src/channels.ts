/**
 * The gateway's diagnostics channels (`batchflight:gateway:<event>`): one event per answered
 * request and per upstream call, published only while someone subscribes, for observers such as
 * `@batchflight/otel`. Apart from telemetry.ts so that the routes, which publish, and the
 * counters, which read the routes' stats, do not import each other.
 */
import { eventChannel } from 'batchflight/core';

/** Payload of `batchflight:gateway:request`: a route answered a request. */
export interface GatewayRequestEvent {
  /** The route, `METHOD /path/pattern`. */
  readonly name: string;
  /** The request's method. */
  readonly method: string;
  /** The status answered (the gateway's own for a refusal: 429, 503, 504, …). */
  readonly status: number;
  /** From the route's first policy to its answer's headers, in ms of the gateway's clock. */
  readonly durationMs: number;
  /** True when the body streams through (its transfer is not in `durationMs`). */
  readonly streamed: boolean;
}

/** Payload of `batchflight:gateway:upstream`: a call reached the upstream and was answered. */
export interface GatewayUpstreamEvent {
  /** The route that made the call. */
  readonly name: string;
  /** The configured upstream's name. */
  readonly upstream: string;
  /** The upstream's status, or undefined when the call failed without one (network, abort). */
  readonly status: number | undefined;
  /** From sending the request to the upstream's headers, in ms of the gateway's clock. */
  readonly durationMs: number;
}

/** The diagnostics channels of the gateway (`batchflight:gateway:<event>`). */
export const gatewayChannels = {
  request: eventChannel<GatewayRequestEvent>('gateway', 'request'),
  upstream: eventChannel<GatewayUpstreamEvent>('gateway', 'upstream'),
} as const;
