/**
 * The cost of `@batchflight/otel`: per-call time with the instrumentation on against off,
 * in one process, for the three paths the operability issue names:
 *
 * - `batch().load`: 1,000 loads in one tick (bulk calls of 100), per load;
 * - single flight: `SingleFlight#run` with unique keys, 100 awaited calls, per call;
 * - the protection stack `stack(retry, circuitBreaker, timeout, bulkhead)` on an
 *   immediately resolving call, 100 awaited calls, per call.
 *
 * "On" is `instrument()` onto a real SDK MeterProvider (aggregation included; the reader
 * collects at the end of each round, as a Prometheus scrape would). The diagnostics
 * channels are process-wide, so on and off cannot run side by side as two mitata
 * benchmarks: instead each round times every path off, then instruments and times them
 * on, then closes the instrumentation. Rounds interleave so a burst of load on the
 * machine hits both sides; the median of the per-round ratios is reported with its range,
 * and the ratio of the best rounds (the least disturbed by other load).
 *
 * Run: `npm run bench -- otel`. The target is on/off <= 1.10.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { stack, toContext, type CallContext } from 'batchflight/core';
import { batch } from 'batchflight/batch';
import { bulkhead } from 'batchflight/bulkhead';
import { circuitBreaker } from 'batchflight/circuit-breaker';
import { retry } from 'batchflight/retry';
import { SingleFlight } from 'batchflight/singleflight';
import { timeout } from 'batchflight/timeout';
import { instrument } from '@batchflight/otel';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);
const BATCH_LOADS = 1_000;
const CALLS = 100;
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 20); // iterations per path per side in a round

class Reader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}
const reader = new Reader();
const meterProvider = new MeterProvider({ readers: [reader] });

const work = (n: number, _ctx?: CallContext): Promise<number> => Promise.resolve(n);
const ctx = toContext();
const users = batch({
  name: 'users',
  maxSize: 100,
  load: (ids: readonly number[]) => Promise.resolve(ids),
});
const flights = new SingleFlight({ name: 'flights' });
const protectedCall = stack(
  retry<number, number>(),
  circuitBreaker<number, number>({ name: 'upstream' }),
  timeout<number, number>({ ms: 1_000 }),
  bulkhead<number, number>({ maxConcurrent: 1_000 }),
).wrap(work);

let key = 0;
/** Each path: its name, calls per iteration, and one iteration. */
const paths: [string, number, () => Promise<unknown>][] = [
  [
    'batch().load',
    BATCH_LOADS,
    () => Promise.all(Array.from({ length: BATCH_LOADS }, () => users.load(key++))),
  ],
  [
    'SingleFlight#run',
    CALLS,
    async () => {
      for (let i = 0; i < CALLS; i++) await flights.run(String(key++), () => i);
    },
  ],
  [
    'stack(retry, breaker, timeout, bulkhead)',
    CALLS,
    async () => {
      for (let i = 0; i < CALLS; i++) await protectedCall(i, ctx);
    },
  ],
];

/** ns per call of `REPEAT` iterations of a path. */
async function time(calls: number, iteration: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let r = 0; r < REPEAT; r++) await iteration();
  return Number(process.hrtime.bigint() - started) / (REPEAT * calls);
}

// Warm-up: both sides, so neither pays the JIT.
for (let w = 0; w < 3; w++) {
  for (const [, calls, it] of paths) await time(calls, it);
  const warm = instrument({ meterProvider });
  for (const [, calls, it] of paths) await time(calls, it);
  warm.close();
}

const off = new Map<string, number[]>();
const on = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, calls, it] of paths)
    (off.get(name) ?? off.set(name, []).get(name))?.push(await time(calls, it));
  const instrumentation = instrument({ meterProvider });
  for (const [name, calls, it] of paths)
    (on.get(name) ?? on.set(name, []).get(name))?.push(await time(calls, it));
  await reader.collect();
  instrumentation.close();
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
console.log(
  `${String(ROUNDS)} interleaved rounds, ${String(REPEAT)} iterations per side per round\n`,
);
console.log(
  'path                                        off ns/call  on ns/call  on/off median  range',
);
for (const [name] of paths) {
  const a = off.get(name) ?? [];
  const b = on.get(name) ?? [];
  const ratios = a.map((x, i) => (b[i] ?? NaN) / x);
  console.log(
    `${name.padEnd(42)}  ${median(a).toFixed(0).padStart(11)}  ${median(b).toFixed(0).padStart(10)}  ${median(ratios).toFixed(3).padStart(13)}  ${`${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`.padEnd(10)}  ${Math.min(
      ...a,
    )
      .toFixed(0)
      .padStart(8)}  ${Math.min(...b)
      .toFixed(0)
      .padStart(7)}  ${(Math.min(...b) / Math.min(...a)).toFixed(3).padStart(11)}`,
  );
}
await users.close();
await meterProvider.shutdown();
