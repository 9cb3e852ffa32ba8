/**
 * Every instrument this package records, stated once: the instruments are created from this
 * list and the table in the observability docs is checked against it by a test.
 *
 * Naming follows the OpenTelemetry conventions: a `batchflight.` namespace, dot-separated
 * lowercase components, snake_case words inside a component, no unit in the name (the unit
 * is metadata: `s` for durations, `{key}`-style annotations for counts), counters not
 * suffixed `_total` (the Prometheus exporter adds it).
 */

/** Attribute keys. Values are names, capabilities and small enums: never keys or payloads. */
export const ATTR = {
  /** The primitive's `name` option (absent when the primitive has none). */
  name: 'batchflight.name',
  /** The capability that published: `batch`, `singleflight`, `cache`, `circuit-breaker`, … */
  capability: 'batchflight.capability',
  /** How something ended: `ok` / `partial` / `error`, or a job outcome. */
  outcome: 'batchflight.outcome',
  /** Why something ran or happened (cache load reason, hedge reason, give-up reason, …). */
  reason: 'batchflight.reason',
  /** A circuit state: `closed`, `open`, `half-open`. */
  state: 'batchflight.state',
  /** The state a transition left. */
  from: 'batchflight.state.from',
  /** The state a transition entered. */
  to: 'batchflight.state.to',
  /** `first` for the first bulk call of a batch, `retry` for the calls after it. */
  attempt: 'batchflight.attempt',
  /** A job queue. */
  queue: 'batchflight.queue',
  /** A job's handler name (a name in code, not user data). */
  jobName: 'batchflight.job.name',
  /** A job partition number, or `none`. */
  partition: 'batchflight.partition',
  /** The role of a distributed-flight participant. */
  role: 'batchflight.role',
  /** The scope (tenant) of a call: recorded only with `scopes: true`. */
  scope: 'batchflight.scope',
  /** The OpenTelemetry semantic-convention key for the class of an error. */
  errorType: 'error.type',
} as const;

/** The kind of an OpenTelemetry instrument. */
export type InstrumentKind = 'counter' | 'histogram' | 'gauge';

/** One instrument: what the docs table shows and what {@link instrument} creates. */
export interface MetricSpec {
  readonly name: string;
  readonly kind: InstrumentKind;
  readonly unit: string;
  readonly description: string;
  /** Attribute keys besides `batchflight.name` and `batchflight.capability`. */
  readonly attributes: readonly string[];
  /** The diagnostics channels it is recorded from. */
  readonly channels: readonly string[];
}

/** Bucket bounds of the size histograms: keys per bulk call. */
export const SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] as const;
/** Bucket bounds of the byte histograms (256 B to 16 MiB). */
export const BYTE_BUCKETS = [
  256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216,
] as const;
/** Bucket bounds of the duration histograms, in seconds (1 ms to 1 min). */
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

const spec = (
  name: string,
  kind: InstrumentKind,
  unit: string,
  channels: readonly string[],
  attributes: readonly string[],
  description: string,
): MetricSpec => ({ name, kind, unit, description, attributes, channels });

/** Every instrument, in the order of the docs table. */
// prettier-ignore -- one line per instrument reads as the table it documents
export const METRICS = [
  spec(
    'batchflight.batch.size',
    'histogram',
    '{key}',
    ['batch:dispatch'],
    [ATTR.attempt],
    'Keys per bulk call.',
  ),
  spec(
    'batchflight.batch.wait.duration',
    'histogram',
    's',
    ['batch:dispatch'],
    [ATTR.attempt],
    'How long the oldest key of a bulk call waited before the call left.',
  ),
  spec(
    'batchflight.batch.duration',
    'histogram',
    's',
    ['batch:settled'],
    [ATTR.outcome],
    'Duration of a bulk call.',
  ),
  spec(
    'batchflight.batch.calls',
    'counter',
    '{call}',
    ['batch:settled'],
    [ATTR.outcome, ATTR.attempt],
    'Bulk calls settled.',
  ),
  spec(
    'batchflight.upstream.calls_saved',
    'counter',
    '{call}',
    ['batch:dispatch', 'singleflight:shared'],
    [],
    'Upstream calls not made: keys beyond the first of a first bulk call, callers that joined a flight.',
  ),
  spec(
    'batchflight.singleflight.flights',
    'counter',
    '{flight}',
    ['singleflight:settled'],
    [ATTR.outcome],
    'Flights settled.',
  ),
  spec(
    'batchflight.singleflight.duration',
    'histogram',
    's',
    ['singleflight:settled'],
    [ATTR.outcome],
    'Run time of a flight (measured while someone listens).',
  ),
  spec(
    'batchflight.singleflight.aborts',
    'counter',
    '{flight}',
    ['singleflight:abort'],
    [],
    'Flights aborted because their last caller left.',
  ),
  spec(
    'batchflight.cache.loads',
    'counter',
    '{load}',
    ['cache:load'],
    [ATTR.reason, ATTR.outcome],
    'Computations run by a cache: reason `miss`, `stale` (revalidation) or `early` (early refresh).',
  ),
  spec(
    'batchflight.cache.load.duration',
    'histogram',
    's',
    ['cache:load'],
    [ATTR.reason, ATTR.outcome],
    'Duration of a cache computation.',
  ),
  spec(
    'batchflight.cache.stale_served',
    'counter',
    '{read}',
    ['cache:stale'],
    [ATTR.reason],
    'Stale values served: reason `revalidate` or `error`.',
  ),
  spec(
    'batchflight.cache.errors',
    'counter',
    '{error}',
    ['cache:error'],
    [ATTR.reason, ATTR.errorType],
    'Cache errors: reason `compute` or `store`.',
  ),
  spec(
    'batchflight.cache.invalidations',
    'counter',
    '{invalidation}',
    ['cache:invalidate'],
    [],
    'Invalidation calls.',
  ),
  spec(
    'batchflight.circuit_breaker.state',
    'gauge',
    '1',
    ['circuit-breaker:state-change'],
    [ATTR.state],
    '1 for the current state of a breaker, 0 for the others (known after its first transition).',
  ),
  spec(
    'batchflight.circuit_breaker.transitions',
    'counter',
    '{transition}',
    ['circuit-breaker:state-change'],
    [ATTR.from, ATTR.to],
    'State transitions.',
  ),
  spec(
    'batchflight.circuit_breaker.rejections',
    'counter',
    '{call}',
    ['circuit-breaker:rejected'],
    [ATTR.state],
    'Calls refused with CircuitOpenError.',
  ),
  spec(
    'batchflight.circuit_breaker.failures',
    'counter',
    '{call}',
    ['circuit-breaker:failure'],
    [ATTR.state, ATTR.errorType],
    'Failures the breaker counted.',
  ),
  spec(
    'batchflight.rate_limit.limited',
    'counter',
    '{call}',
    ['rate-limit:limited'],
    [ATTR.reason],
    'Calls that found no room: reason `wait`, `reject` or `queue-full`.',
  ),
  spec(
    'batchflight.rate_limit.wait.duration',
    'histogram',
    's',
    ['rate-limit:dequeued'],
    [],
    'How long an admitted waiter waited.',
  ),
  spec(
    'batchflight.rate_limit.store_unavailable',
    'counter',
    '{call}',
    ['redis:rate-limit-unavailable'],
    [ATTR.reason],
    'Acquisitions that fell back because Redis was unreachable: reason `local` or `fail-closed`.',
  ),
  spec(
    'batchflight.retry.retries',
    'counter',
    '{retry}',
    ['retry:retry'],
    [ATTR.errorType],
    'Retries made, by the class of the error retried.',
  ),
  spec(
    'batchflight.retry.give_ups',
    'counter',
    '{call}',
    ['retry:give-up'],
    [ATTR.reason, ATTR.errorType],
    'Calls a retry policy gave up on: `aborted`, `not-retryable`, `max-attempts`, `budget`.',
  ),
  spec(
    'batchflight.bulkhead.rejections',
    'counter',
    '{call}',
    ['bulkhead:rejected'],
    [],
    'Calls refused with BulkheadFullError.',
  ),
  spec(
    'batchflight.timeout.timeouts',
    'counter',
    '{call}',
    ['timeout:timeout'],
    [],
    'Calls that timed out.',
  ),
  spec(
    'batchflight.fallback.fallbacks',
    'counter',
    '{call}',
    ['fallback:fallback'],
    [ATTR.errorType],
    'Calls answered by a fallback.',
  ),
  spec(
    'batchflight.hedge.hedges',
    'counter',
    '{attempt}',
    ['hedge:hedge'],
    [ATTR.reason],
    'Hedged attempts started: reason `slow` or `failed`.',
  ),
  spec(
    'batchflight.distributed_flight.settled',
    'counter',
    '{call}',
    ['redis:flight-settled'],
    [ATTR.role, ATTR.outcome],
    'Participants of a Redis distributed flight that settled, by role.',
  ),
  spec(
    'batchflight.config.revision',
    'gauge',
    '1',
    ['config:revision'],
    [],
    'The fleet configuration revision this process runs (0: none yet).',
  ),
  spec(
    'batchflight.config.reachable',
    'gauge',
    '1',
    ['config:revision'],
    [],
    '1 when the last read of the configuration coordinator answered, 0 when the process runs its last good revision without it.',
  ),
  spec(
    'batchflight.config.refusals',
    'counter',
    '{revision}',
    ['config:revision'],
    [ATTR.reason],
    'Revisions refused (reason `refused`) and outages of the configuration store (`unreachable`, once per outage).',
  ),
  spec(
    'batchflight.stream.write.size',
    'histogram',
    '{item}',
    ['stream:write'],
    [ATTR.outcome, ATTR.attempt],
    'Items per `writeMany` of a stream sink.',
  ),
  spec(
    'batchflight.stream.write.bytes',
    'histogram',
    'By',
    ['stream:write'],
    [ATTR.outcome, ATTR.attempt],
    "Bytes per write by the sink's `sizeOf` (not recorded without it).",
  ),
  spec(
    'batchflight.stream.write.duration',
    'histogram',
    's',
    ['stream:write'],
    [ATTR.outcome, ATTR.attempt],
    'Duration of `writeMany`.',
  ),
  spec(
    'batchflight.stream.wait.duration',
    'histogram',
    's',
    ['stream:write'],
    [ATTR.outcome, ATTR.attempt],
    'How long the oldest item of a write waited in the sink before it.',
  ),
  spec(
    'batchflight.stream.writes',
    'counter',
    '{write}',
    ['stream:write'],
    [ATTR.outcome, ATTR.attempt],
    'Writes, `committed` or `failed` (then retried, split or dead-lettered).',
  ),
  spec(
    'batchflight.stream.items.written',
    'counter',
    '{item}',
    ['stream:write'],
    [],
    'Items committed.',
  ),
  spec(
    'batchflight.stream.dead_letters',
    'counter',
    '{item}',
    ['stream:dead-letter'],
    [ATTR.errorType],
    'Items given up (the `name` of the last error).',
  ),
  spec(
    'batchflight.stream.callback_errors',
    'counter',
    '{error}',
    ['stream:callback-error'],
    [ATTR.reason],
    'User callbacks that threw (reason: `onCommitted`, `ack`, `onDeadLetter`, `isRetryable`); the sink went on.',
  ),
  spec(
    'batchflight.stream.unwritten',
    'counter',
    '{item}',
    ['stream:closed'],
    [ATTR.reason],
    'Items a close left unwritten (reason `forced` or `graceful`).',
  ),
  spec(
    'batchflight.jobs.enqueued',
    'counter',
    '{job}',
    ['jobs:enqueued'],
    [ATTR.queue],
    'Jobs created by enqueue.',
  ),
  spec(
    'batchflight.jobs.claimed',
    'counter',
    '{job}',
    ['jobs:claimed'],
    [],
    'Jobs claimed by workers.',
  ),
  spec(
    'batchflight.jobs.settled',
    'counter',
    '{job}',
    ['jobs:settled'],
    [ATTR.queue, ATTR.jobName, ATTR.outcome],
    'Job attempts settled: outcome `succeeded`, `failed`, `dead` or `refused`; its rate is the throughput.',
  ),
  spec(
    'batchflight.jobs.queue.duration',
    'histogram',
    's',
    ['jobs:settled'],
    [ATTR.queue, ATTR.jobName],
    'From a job being due (max of created and runAt) to the claim that started the attempt.',
  ),
  spec(
    'batchflight.jobs.run.duration',
    'histogram',
    's',
    ['jobs:settled'],
    [ATTR.queue, ATTR.jobName, ATTR.outcome],
    'Handler run time of an attempt.',
  ),
  spec(
    'batchflight.jobs.lease_lost',
    'counter',
    '{job}',
    ['jobs:lease-lost'],
    [],
    'Leases a worker lost.',
  ),
  spec(
    'batchflight.jobs.depth',
    'gauge',
    '{job}',
    ['jobs:depth'],
    [ATTR.queue, ATTR.state],
    'Jobs by queue and state at the last depth sample.',
  ),
  spec(
    'batchflight.jobs.partition.depth',
    'gauge',
    '{job}',
    ['jobs:depth'],
    [ATTR.queue, ATTR.partition, ATTR.state],
    'Jobs by partition and state at the last depth sample (queue attribute when the sample was of one queue).',
  ),
  spec(
    'batchflight.jobs.oldest_ready.age',
    'gauge',
    's',
    ['jobs:depth'],
    [ATTR.queue],
    'Age of the oldest ready job at the last depth sample (no queue attribute: every queue).',
  ),
  spec(
    'batchflight.jobs.run_slices',
    'counter',
    '{slice}',
    ['jobs:run-slice'],
    [],
    'Run slices handed to a run worker.',
  ),
] as const satisfies readonly MetricSpec[];

/** The name of an instrument of {@link METRICS}. */
export type MetricName = (typeof METRICS)[number]['name'];
