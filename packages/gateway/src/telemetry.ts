/**
 * The gateway's counters through OpenTelemetry, and its diagnostics channels.
 *
 * The primitives inside a route (single flight, cache, batch, breaker, …) already publish on
 * their own `batchflight:<capability>:*` channels under the route's name, which
 * `@batchflight/otel` maps to metrics. What only the gateway knows (requests per route, calls
 * that reached the upstream, revalidations) is offered two ways:
 *
 * - `meterProvider` (an OpenTelemetry `MeterProvider`): observable counters that read the
 *   routes' stats at each collection, so the request path pays nothing for them;
 * - the `batchflight:gateway:request` and `batchflight:gateway:upstream` channels (channels.ts),
 *   one event per answered request and per upstream call, published only while someone
 *   subscribes.
 *
 * The provider is typed structurally (the methods used, as `@opentelemetry/api` declares them),
 * so the gateway does not depend on the OpenTelemetry API package.
 */
import type { RouteStats } from './route.js';

/** One observation of an observable instrument (OpenTelemetry's `ObservableResult`). */
export interface ObservationSink {
  observe(value: number, attributes?: Readonly<Record<string, string>>): void;
}

/** The part of an OpenTelemetry `ObservableCounter` the gateway uses. */
export interface ObservableCounterLike {
  addCallback(callback: (result: ObservationSink) => void): void;
  removeCallback(callback: (result: ObservationSink) => void): void;
}

/** The part of an OpenTelemetry `Meter` the gateway uses. */
export interface MeterLike {
  createObservableCounter(
    name: string,
    options?: { readonly description?: string; readonly unit?: string },
  ): ObservableCounterLike;
}

/** The part of an OpenTelemetry `MeterProvider` the gateway uses. */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}

/** Name of the meter the gateway's instruments belong to. */
export const GATEWAY_METER = '@batchflight/gateway';

// The attributes follow @batchflight/otel's: the primitive's name and its capability.
const attributesOf = (route: string) =>
  ({ 'batchflight.capability': 'gateway', 'batchflight.name': route }) as const;

type Counter = [name: string, unit: string, description: string, value: (s: RouteStats) => number];

const COUNTERS: readonly Counter[] = [
  [
    'batchflight.gateway.requests',
    '{request}',
    'Requests answered by the route.',
    (s) => s.requests,
  ],
  [
    'batchflight.gateway.upstream.calls',
    '{call}',
    'Calls that reached the upstream (a bulk call counts once).',
    (s) => s.upstreamCalls,
  ],
  [
    'batchflight.gateway.upstream.calls_saved',
    '{call}',
    'Requests answered without an upstream call of their own (coalescing, cache, batching).',
    (s) => s.saved,
  ],
  [
    'batchflight.gateway.cache.revalidated',
    '{response}',
    'Stale cached answers made fresh again by a 304 Not Modified, without a body transfer.',
    (s) => s.revalidated ?? 0,
  ],
];

/**
 * Registers the gateway's observable counters on `provider`; they read `stats()` at each
 * collection. Returns the function that removes them. A reload starts new routes, whose
 * counters start at 0 again: a cumulative backend reads that as a counter reset.
 */
export function observeGateway(
  provider: MeterProviderLike,
  stats: () => readonly RouteStats[],
): () => void {
  const meter = provider.getMeter(GATEWAY_METER);
  const removers = COUNTERS.map(([name, unit, description, value]) => {
    const counter = meter.createObservableCounter(name, { description, unit });
    const callback = (result: ObservationSink): void => {
      for (const route of stats()) result.observe(value(route), attributesOf(route.route));
    };
    counter.addCallback(callback);
    return () => {
      counter.removeCallback(callback);
    };
  });
  return () => {
    for (const remove of removers.splice(0)) remove();
  };
}
