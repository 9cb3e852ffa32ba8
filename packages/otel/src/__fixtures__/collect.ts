/**
 * Reads what a real SDK MeterProvider collected: a MetricReader with no exporter, whose
 * collect() is the SDK's own aggregation, flattened to `name -> points` for assertions.
 */
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

/** One data point: a sum or gauge value, or a histogram's count and sum. */
export interface Point {
  readonly attributes: Attributes;
  readonly value: number;
  readonly count?: number;
}

/** A reader that only collects on demand. */
export class CollectingReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every point, by instrument name. */
  async points(): Promise<Map<string, Point[]>> {
    const { resourceMetrics } = await this.collect();
    const byName = new Map<string, Point[]>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const points: Point[] = [];
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          for (const p of metric.dataPoints) {
            points.push({
              attributes: p.attributes,
              value: p.value.sum ?? 0,
              count: p.value.count,
            });
          }
        } else {
          for (const p of metric.dataPoints) {
            points.push({ attributes: p.attributes, value: p.value as number });
          }
        }
        byName.set(metric.descriptor.name, points);
      }
    }
    return byName;
  }
}

/** A provider with a {@link CollectingReader}. */
export function collectingProvider(): { provider: MeterProvider; reader: CollectingReader } {
  const reader = new CollectingReader();
  return { provider: new MeterProvider({ readers: [reader] }), reader };
}

/** The sum of the points of `name` whose attributes include `match`. */
export function total(
  points: Map<string, Point[]>,
  name: string,
  match: Attributes = {},
  field: 'value' | 'count' = 'value',
): number {
  let sum = 0;
  for (const p of points.get(name) ?? []) {
    if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) sum += p[field] ?? 0;
  }
  return sum;
}
