/**
 * `instrument()`: one call that turns the diagnostics channels of every primitive into
 * OpenTelemetry metrics.
 */
import { metrics, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { booleanOption, functionOption, knownOptions, oneOfOption } from 'batchflight/kit';
import { subscribeChannels, type ChannelHandlers } from './channels.js';
import { batchHandlers, cacheHandlers, singleFlightHandlers } from './metrics/batching.js';
import { configHandlers } from './metrics/config.js';
import { jobsHandlers } from './metrics/jobs.js';
import { breakerHandlers, policyHandlers, rateLimitHandlers } from './metrics/protection.js';
import { streamHandlers } from './metrics/stream.js';
import { Recorder } from './recorder.js';
import { traceHandlers } from './traces.js';

/** The instrumentation scope name every instrument is created under. */
export const METER_NAME = '@batchflight/otel';

/** Groups of channels {@link instrument} can observe. */
export type InstrumentedCapability =
  | 'batch'
  | 'singleflight'
  | 'cache'
  | 'circuit-breaker'
  | 'rate-limit'
  | 'policies'
  | 'jobs'
  | 'stream'
  | 'config';

const GROUPS: Readonly<Record<InstrumentedCapability, (r: Recorder) => ChannelHandlers>> = {
  batch: batchHandlers,
  singleflight: singleFlightHandlers,
  cache: cacheHandlers,
  'circuit-breaker': breakerHandlers,
  'rate-limit': rateLimitHandlers,
  policies: policyHandlers,
  jobs: jobsHandlers,
  stream: streamHandlers,
  config: configHandlers,
};

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where the instruments are created. Default: the global provider of `@opentelemetry/api`. */
  readonly meterProvider?: MeterProvider;
  /**
   * Where the spans go: with it, every bulk call of a batcher is a span linked to the
   * spans of the callers it served (see `traceCallers`), and every single flight a span
   * of its leader linked to the waiters, each waiter's wait a span linked to the leader.
   * Default: no spans (metrics only).
   */
  readonly tracerProvider?: TracerProvider;
  /** Which groups to observe. Default: every one. */
  readonly capabilities?: readonly InstrumentedCapability[];
  /**
   * Record the scope (tenant) of batch, single-flight and rate-limit events as
   * `batchflight.scope`. Default false: a scope is often a tenant id, and every distinct
   * value is a new time series.
   */
  readonly scopes?: boolean;
  /**
   * Also record `batchflight.singleflight.duration` and `batchflight.cache.load.duration`,
   * one histogram point per flight and per cache computation. Default false: a histogram
   * point costs the SDK about as much as a whole single flight, while the other
   * instruments are summed in plain counters or recorded once per bulk call.
   */
  readonly callDurations?: boolean;
  /**
   * Called when recording an event throws (a broken exporter, say). The primitive that
   * published never sees the error. Default: ignored.
   */
  readonly onError?: (error: unknown, channel: string) => void;
}

/** A running instrumentation: close it to unsubscribe. */
export interface Instrumentation extends Disposable {
  /** Unsubscribes every channel and detaches the gauges. Idempotent. */
  close(): void;
}

const OPTIONS = [
  'meterProvider',
  'tracerProvider',
  'capabilities',
  'scopes',
  'callDurations',
  'onError',
];
const WHERE = 'instrument()';

/**
 * Subscribes to the `batchflight:<capability>:<event>` diagnostics channels and records the
 * instruments listed in {@link METRICS} (see the observability docs for the table), and,
 * with a `tracerProvider`, the spans of batches and single flights.
 * Primitives publish only while someone listens, so an uninstrumented process pays nothing.
 *
 * @example
 * ```ts
 * const instrumentation = instrument({ meterProvider });
 * // … later
 * instrumentation.close();
 * ```
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  knownOptions(WHERE, options, OPTIONS);
  const known = Object.keys(GROUPS) as InstrumentedCapability[];
  const groups = (options.capabilities ?? known).map((group) =>
    oneOfOption(WHERE, 'capabilities', group, known),
  );
  const scopes = booleanOption(WHERE, 'scopes', options.scopes ?? false);
  const callDurations = booleanOption(WHERE, 'callDurations', options.callDurations ?? false);
  const onError = functionOption<NonNullable<InstrumentOptions['onError']>>(
    WHERE,
    'onError',
    options.onError ?? (() => undefined),
  );
  const provider = options.meterProvider ?? metrics.getMeterProvider();
  const recorder = new Recorder(provider.getMeter(METER_NAME), { scopes, callDurations });
  const handlers: Record<string, ChannelHandlers[string]> = {};
  for (const group of new Set(groups)) Object.assign(handlers, GROUPS[group](recorder));
  const unsubscribe = subscribeChannels(handlers, onError);
  // Spans subscribe on their own: a channel has a metrics handler and a span handler.
  let traces: { unsubscribe(): void; close(): void } | undefined;
  if (options.tracerProvider !== undefined) {
    const spans = traceHandlers(options.tracerProvider.getTracer(METER_NAME), scopes);
    const wanted = Object.fromEntries(
      Object.entries(spans.handlers).filter(([name]) =>
        groups.includes(name.split(':')[1] as InstrumentedCapability),
      ),
    );
    traces = {
      unsubscribe: subscribeChannels(wanted, onError),
      close: () => {
        spans.close();
      },
    };
  }
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe();
    recorder.close();
    traces?.unsubscribe();
    traces?.close(); // spans still open end now, not never
  };
  return { close, [Symbol.dispose]: close };
}
