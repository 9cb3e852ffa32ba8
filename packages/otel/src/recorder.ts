/**
 * The instruments of {@link METRICS}, created on one meter, and the attribute helpers every
 * capability's handlers share.
 */
import type {
  Attributes,
  BatchObservableCallback,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
  ObservableResult,
} from '@opentelemetry/api';
import {
  ATTR,
  BYTE_BUCKETS,
  DURATION_BUCKETS,
  METRICS,
  SIZE_BUCKETS,
  type MetricName,
} from './catalog.js';

/** Options the handlers read. */
export interface RecorderOptions {
  /** Record the call's scope (tenant) as `batchflight.scope`. Default false. */
  readonly scopes: boolean;
  /** Record the per-flight and per-cache-load duration histograms. Default false. */
  readonly callDurations: boolean;
}

/** One time series of a counter: its attributes and its running total. */
interface Series {
  readonly attributes: Attributes;
  value: number;
}

/**
 * The series key of a set of attributes: every key and value, in the order the handler
 * built them (each handler builds a metric's attributes in one order).
 */
function seriesKey(attributes: Attributes): string {
  let key = '';
  for (const name in attributes) key += `${name}\u0000${String(attributes[name])}\u0001`;
  return key;
}

/**
 * Records into the instruments of the catalog by name.
 *
 * Counters are summed here, in plain maps, and reported through observable counters when
 * the SDK collects: an SDK counter hashes its attributes on every `add` (about a
 * microsecond), which would cost more than the single flight it counts. Histograms are
 * recorded as they happen (there is no observable histogram); they are fed per bulk call,
 * per flight and per job, not per key.
 */
export class Recorder {
  readonly #counters = new Map<string, ObservableCounter>();
  readonly #sums = new Map<string, Map<string, Series>>();
  readonly #report: BatchObservableCallback;
  readonly #attributes = new Map<string, Attributes>();
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
        this.#counters.set(metric.name, meter.createObservableCounter(metric.name, common));
        this.#sums.set(metric.name, new Map());
      } else if (metric.kind === 'histogram') {
        const buckets =
          metric.unit === 's'
            ? DURATION_BUCKETS
            : metric.unit === 'By'
              ? BYTE_BUCKETS
              : SIZE_BUCKETS;
        this.#histograms.set(
          metric.name,
          meter.createHistogram(metric.name, {
            ...common,
            advice: { explicitBucketBoundaries: [...buckets] },
          }),
        );
      }
    }
    this.#report = (result) => {
      for (const [name, counter] of this.#counters) {
        for (const series of this.#sums.get(name)?.values() ?? []) {
          result.observe(counter, series.value, series.attributes);
        }
      }
    };
    meter.addBatchObservableCallback(this.#report, [...this.#counters.values()] as Observable[]);
  }

  /** Adds `value` to the counter `name`. */
  add(name: MetricName, value: number, attributes: Attributes): void {
    if (!(value > 0)) return;
    const sums = this.#sums.get(name);
    if (sums === undefined) return;
    const key = seriesKey(attributes);
    const series = sums.get(key);
    if (series === undefined) sums.set(key, { attributes, value });
    else series.value += value;
  }

  /**
   * Adds `value` to the series `key` of the counter `name`, building its attributes only
   * the first time the key is seen: the hot handlers (one event per flight) pay a string
   * and a map lookup, not an object and its hashing.
   */
  addKeyed(name: MetricName, value: number, key: string, attributes: () => Attributes): void {
    const sums = this.#sums.get(name);
    if (sums === undefined || !(value > 0)) return;
    const series = sums.get(key);
    if (series === undefined) sums.set(key, { attributes: attributes(), value });
    else series.value += value;
  }

  /** The attributes of `key`, built by `build` the first time and kept. */
  attributes(key: string, build: () => Attributes): Attributes {
    let attributes = this.#attributes.get(key);
    if (attributes === undefined) {
      attributes = build();
      this.#attributes.set(key, attributes);
    }
    return attributes;
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

  /** Detaches the observable callbacks (histograms need nothing). */
  close(): void {
    // Callbacks hold the handlers' state; removing them lets a closed instrumentation go
    // and stops it reporting stale values.
    for (const [gauge, observe] of this.#gauges.splice(0)) gauge.removeCallback(observe);
    this.#meter.removeBatchObservableCallback(this.#report, [
      ...this.#counters.values(),
    ] as Observable[]);
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
