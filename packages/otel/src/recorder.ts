/**
 * The instruments of {@link METRICS}, created on one meter, and the attribute helpers every
 * capability's handlers share.
 */
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
  ObservableResult,
} from '@opentelemetry/api';
import { ATTR, DURATION_BUCKETS, METRICS, SIZE_BUCKETS, type MetricName } from './catalog.js';

/** Options the handlers read. */
export interface RecorderOptions {
  /** Record the call's scope (tenant) as `batchflight.scope`. Default false. */
  readonly scopes: boolean;
}

/** Records into the instruments of the catalog by name. */
export class Recorder {
  readonly #counters = new Map<string, Counter>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #gauges: [ObservableGauge, (result: ObservableResult) => void][] = [];
  readonly #meter: Meter;
  readonly options: RecorderOptions;

  constructor(meter: Meter, options: RecorderOptions) {
    this.#meter = meter;
    this.options = options;
    for (const metric of METRICS) {
      const common = { description: metric.description, unit: metric.unit };
      if (metric.kind === 'counter') {
        this.#counters.set(metric.name, meter.createCounter(metric.name, common));
      } else if (metric.kind === 'histogram') {
        const buckets = metric.unit === 's' ? DURATION_BUCKETS : SIZE_BUCKETS;
        this.#histograms.set(
          metric.name,
          meter.createHistogram(metric.name, {
            ...common,
            advice: { explicitBucketBoundaries: [...buckets] },
          }),
        );
      }
    }
  }

  /** Adds `value` to the counter `name`. */
  add(name: MetricName, value: number, attributes: Attributes): void {
    if (value > 0) this.#counters.get(name)?.add(value, attributes);
  }

  /** Records `value` into the histogram `name`. */
  record(name: MetricName, value: number, attributes: Attributes): void {
    this.#histograms.get(name)?.record(value, attributes);
  }

  /** Creates the observable gauge `name`, read by `observe` at every collection. */
  gauge(name: MetricName, observe: (result: ObservableResult) => void): void {
    const metric = METRICS.find((m) => m.name === name);
    const gauge = this.#meter.createObservableGauge(name, {
      description: metric?.description ?? '',
      unit: metric?.unit ?? '',
    });
    gauge.addCallback(observe);
    this.#gauges.push([gauge, observe]);
  }

  /** Detaches the gauges' callbacks (counters and histograms need nothing). */
  close(): void {
    // Callbacks hold the handlers' state; removing them lets a closed instrumentation go
    // and stops it reporting stale values.
    for (const [gauge, observe] of this.#gauges.splice(0)) gauge.removeCallback(observe);
  }
}

/**
 * The attributes every record carries: the primitive's name (when it has one), its
 * capability and, only when asked for, its scope.
 */
export function base(
  recorder: Recorder,
  capability: string,
  name: string | undefined,
  scope?: string,
): Record<string, string> {
  const attributes: Record<string, string> = { [ATTR.capability]: capability };
  if (name !== undefined) attributes[ATTR.name] = name;
  if (recorder.options.scopes && scope !== undefined) attributes[ATTR.scope] = scope;
  return attributes;
}

/**
 * The class of an error for `error.type`: its `code` when it has a string one, else its
 * `name`, else `_OTHER` (the semantic conventions' fallback). Never the message, which may
 * carry a key or a payload.
 */
export function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code.length > 0) return code;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return '_OTHER';
}

/** Milliseconds to the seconds the duration instruments use. */
export const seconds = (ms: number): number => ms / 1000;
