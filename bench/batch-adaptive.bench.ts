/**
 * The adaptive window against hand-tuned static windows, at load levels up
 * to what the upstream can serve.
 *
 * Upstream: a FakeUpstream whose bulk call costs `BASE_MS + PER_ITEM_MS * n`
 * and which serves `CONCURRENCY` calls at once (the rest queue), like a
 * database with a small pool: at most about 160k keys/s, and 800 keys/s one
 * key per call. Load: open-loop Poisson arrivals (seeded) at each rate, keys
 * from a large space (no dedupe). Each trial warms up for `WARM_UP_MS`, then
 * measures for `MEASURE_MS`; a configuration that falls behind is seen
 * falling behind, not rescued by a drain: throughput is the keys settled
 * within the measured window over its length, and a key issued in the window
 * but still unsettled `GRACE_MS` after its end counts as infinitely late in
 * the p99.
 * Latency runs from a key's scheduled arrival (generator lag included) to
 * its settlement.
 *
 * Per rate, every static configuration of the sweep runs once; the adaptive
 * window (only `latencyTargetMs` given) runs `STARTUPS` times per target
 * from fresh start-ups (other seeds). "Best static" is the static
 * configuration with the highest throughput among those that met the
 * target (p99 <= target); if none did, the one with the highest throughput.
 *
 * Target: in every start-up, adaptive throughput >= 90% of the best static,
 * and adaptive p99 within the target wherever some static configuration
 * met it.
 *
 * Run: `npm run bench -- batch-adaptive` (about four minutes, real clock).
 */
import { batch, type BatchOptions } from 'batchflight/batch';
import { FakeUpstream } from '@batchflight/testing';

const BASE_MS = 5;
const PER_ITEM_MS = 0.02;
const CONCURRENCY = 4;
const TARGETS_MS = [50, 25];
const WARM_UP_MS = 500;
const MEASURE_MS = 2_000;
/** After the window, how long its keys may still take to settle before they count as never. */
const GRACE_MS = 500;
const STARTUPS = 3;
const RATES = [2_000, 20_000, 30_000, 60_000, 120_000];
const SIZES = [64, 256, 1_000];
const WAITS = [0, 2, 10];

interface Result {
  readonly label: string;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly batches: number;
  readonly meanSize: number;
}

function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function trial(
  label: string,
  rate: number,
  seed: number,
  options: Omit<BatchOptions<number, string>, 'load'>,
): Promise<Result> {
  const upstream = new FakeUpstream<number, string>({
    latencyMs: (keys) => BASE_MS + PER_ITEM_MS * keys.length,
    concurrency: CONCURRENCY,
  });
  const loader = batch<number, string>({
    ...options,
    load: (keys, ctx) => upstream.getMany(keys, { signal: ctx.signal }),
  });
  const next = random(seed);
  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + WARM_UP_MS;
  const end = measureFrom + MEASURE_MS;
  let arrival = start;
  let issued = 0;
  let settledInWindow = 0;
  let key = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = Math.min(performance.now(), end);
      while (arrival <= now) {
        const at = arrival;
        const counted = at >= measureFrom;
        if (counted) issued++;
        loader.load((key = (key + 7919) % 1_000_003)).then(
          () => {
            const done = performance.now();
            if (done <= end && done >= measureFrom) settledInWindow++;
            if (counted) latencies.push(done - at);
          },
          () => undefined, // abandoned by the forced close below
        );
        arrival += (-Math.log(1 - next()) * 1000) / rate;
      }
      if (now >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await new Promise((resolve) => setTimeout(resolve, GRACE_MS));
  const stats = loader.stats();
  // What has not settled by then is abandoned, not drained.
  await loader.close({ signal: AbortSignal.abort() });
  latencies.sort((a, b) => a - b);
  // Ranked over every key issued in the window: one not settled in it is later than all that were.
  const rank = (p: number): number => latencies[Math.ceil((p / 100) * issued) - 1] ?? Infinity;
  return {
    label,
    throughput: (settledInWindow / MEASURE_MS) * 1000,
    p50: rank(50),
    p99: rank(99),
    batches: stats.batches,
    meanSize: stats.meanBatchSize,
  };
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '∞');
const row = (r: Result): string =>
  `  ${r.label.padEnd(30)} ${r.throughput.toFixed(0).padStart(7)}/s  p50 ${ms(r.p50).padStart(7)} ms  p99 ${ms(r.p99).padStart(7)} ms  ${String(r.batches).padStart(6)} calls  mean size ${r.meanSize.toFixed(1)}`;

console.log(
  `upstream: ${String(BASE_MS)} ms + ${String(PER_ITEM_MS)} ms/key, ${String(CONCURRENCY)} calls at once (capacity < ${String(Math.round((CONCURRENCY / PER_ITEM_MS) * 1000))} keys/s); Poisson arrivals; ${String(WARM_UP_MS)} ms warm-up + ${String(MEASURE_MS)} ms measured per trial; adaptive: ${String(STARTUPS)} start-ups per target\n`,
);
const summary: string[] = [];
let missed = 0;
for (const rate of RATES) {
  console.log(`### ${rate.toLocaleString('en-US')} keys/s`);
  const statics: Result[] = [];
  for (const maxSize of SIZES) {
    for (const maxWaitMs of WAITS) {
      const result = await trial(
        `static size ${String(maxSize)}, wait ${String(maxWaitMs)}`,
        rate,
        1,
        {
          maxSize,
          maxWaitMs,
        },
      );
      statics.push(result);
      console.log(row(result));
    }
  }
  for (const target of TARGETS_MS) {
    const adaptive: Result[] = [];
    for (let s = 0; s < STARTUPS; s++) {
      const result = await trial(
        `adaptive ${String(target)} ms, start-up ${String(s + 1)}`,
        rate,
        1 + s,
        {
          window: 'adaptive',
          latencyTargetMs: target,
        },
      );
      adaptive.push(result);
      console.log(row(result));
    }
    const meeting = statics.filter((r) => r.p99 <= target);
    const pool = meeting.length > 0 ? meeting : statics;
    const best = [...pool].sort(
      (a, b) => b.throughput - a.throughput || a.p99 - b.p99,
    )[0] as Result;
    const ratios = adaptive.map((r) => r.throughput / best.throughput);
    const ok =
      ratios.every((r) => r >= 0.9) &&
      (meeting.length === 0 || adaptive.every((r) => r.p99 <= target));
    if (!ok) missed++;
    const line = `${rate.toLocaleString('en-US').padStart(7)}/s target ${String(target)} ms: best static ${best.label} (${best.throughput.toFixed(0)}/s, p99 ${ms(best.p99)} ms${meeting.length === 0 ? ', none met the target' : ''}); adaptive/best throughput ${ratios.map((r) => r.toFixed(3)).join(' / ')}, adaptive p99 ${adaptive.map((r) => ms(r.p99)).join(' / ')} ms: ${ok ? 'OK' : 'MISSED'}`;
    summary.push(line);
    console.log(`=> ${line}`);
  }
  console.log('');
}
console.log('## adaptive window: summary (per start-up)');
for (const line of summary) console.log(`  ${line}`);
console.log(
  `\n${missed === 0 ? 'all met' : `${String(missed)} of ${String(summary.length)} missed`}`,
);
