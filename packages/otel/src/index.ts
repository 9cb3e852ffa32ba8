/**
 * OpenTelemetry metrics from the diagnostics channels of every batchflight primitive, and
 * batch logs that never carry keys or payloads. The Prometheus endpoint helper is the
 * `@batchflight/otel/prometheus` subpath (it needs the OpenTelemetry SDK and exporter).
 *
 * @packageDocumentation
 */
export {
  instrument,
  METER_NAME,
  type InstrumentOptions,
  type Instrumentation,
  type InstrumentedCapability,
} from './instrument.js';
export {
  ATTR,
  BYTE_BUCKETS,
  DURATION_BUCKETS,
  METRICS,
  SIZE_BUCKETS,
  type InstrumentKind,
  type MetricName,
  type MetricSpec,
} from './catalog.js';
export { traceCallers, MAX_CALLER_LINKS, SPAN_ATTR } from './traces.js';
export {
  logBatches,
  type BatchLogRecord,
  type BatchLogOptions,
  type BatchLogger,
  type BatchLogging,
} from './batch-log.js';
