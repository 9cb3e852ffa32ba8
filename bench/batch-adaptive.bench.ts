/**
 * The adaptive window against hand-tuned static windows.
 *
 * Upstream: a FakeUpstream whose bulk call costs `BASE_MS + PER_ITEM_MS * n`
 * and which serves `CONCURRENCY` calls at once (the rest queue), like a
 * database with a small pool. Load: open-loop arrivals at three rates, each
 * for `DURATION_MS` of real time, keys drawn from a large space (no dedupe).
 *
 * For each rate, every static configuration of the sweep (maxSize ×
 * maxWaitMs) runs, then `window: 'adaptive'` with only the latency target
 * given (no tuning). Throughput is items / time until the last one settled;
 * latency is per item, from load() to settlement.
 *
 * Target: at each rate, adaptive throughput >= 90% of the best static
 * configuration's, with adaptive p99 under the latency target.
 *
 * Run: `npm run bench -- batch-adaptive` (about a minute, real clock).
 */
import { batch, type BatchOptions } from 'batchflight/batch';
import { FakeUpstream } from '@batchflight/testing';

const BASE_MS = 5;
const PER_ITEM_MS = 0.05;
const CONCURRENCY = 4;
const TARGET_MS = 50;
const DURATION_MS = 1_000;
const RATES = [200, 2_000, 20_000];
const SIZES = [1, 10, 50, 200, 1_000];
const WAITS = [0, 2, 10];

interface Result {
  readonly label: string;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly batches: number;
  readonly meanSize: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function trial(
  label: string,
  rate: number,
  options: Omit<BatchOptions<number, string>, 'load'>,
): Promise<Result> {
  const upstream = new FakeUpstream<number, string>({
    latencyMs: (keys) => BASE_MS + PER_ITEM_MS * keys.length,
    concurrency: CONCURRENCY,
  });
  const loader = batch<number, string>({
    ...options,
    load: (keys) => upstream.getMany(keys),
  });
  const latencies: number[] = [];
  const settled: Promise<void>[] = [];
  const start = performance.now();
  let issued = 0;
  let key = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - start;
      const due = Math.min(
        Math.floor((elapsed * rate) / 1000),
        Math.floor((DURATION_MS * rate) / 1000),
      );
      while (issued < due) {
        issued++;
        const at = performance.now();
        settled.push(
          loader.load((key = (key + 7919) % 1_000_003)).then(() => {
            latencies.push(performance.now() - at);
          }),
        );
      }
      if (elapsed >= DURATION_MS) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(settled);
  const elapsed = performance.now() - start;
  await loader.close();
  latencies.sort((a, b) => a - b);
  const stats = loader.stats();
  return {
    label,
    throughput: (issued / elapsed) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    batches: stats.batches,
    meanSize: stats.meanBatchSize,
  };
}

const row = (r: Result): string =>
  `  ${r.label.padEnd(28)} ${r.throughput.toFixed(0).padStart(7)}/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  ${String(r.batches).padStart(6)} calls  mean size ${r.meanSize.toFixed(1)}`;

console.log(
  `upstream: ${String(BASE_MS)} ms + ${String(PER_ITEM_MS)} ms/item, ${String(CONCURRENCY)} calls at once; latency target ${String(TARGET_MS)} ms; ${String(DURATION_MS)} ms per trial\n`,
);
const verdicts: string[] = [];
for (const rate of RATES) {
  console.log(`### ${rate.toLocaleString('en-US')} loads/s`);
  const statics: Result[] = [];
  for (const maxSize of SIZES) {
    for (const maxWaitMs of WAITS) {
      const result = await trial(
        `static size ${String(maxSize)}, wait ${String(maxWaitMs)}`,
        rate,
        {
          maxSize,
          maxWaitMs,
        },
      );
      statics.push(result);
      console.log(row(result));
    }
  }
  const adaptive = await trial('adaptive (target 50 ms)', rate, {
    window: 'adaptive',
    latencyTargetMs: TARGET_MS,
  });
  console.log(row(adaptive));
  // "Best" static: highest throughput; among those within 1% of it, the lowest p99.
  const top = Math.max(...statics.map((s) => s.throughput));
  const best = statics
    .filter((s) => s.throughput >= top * 0.99)
    .sort((a, b) => a.p99 - b.p99)[0] as Result;
  const share = (adaptive.throughput / best.throughput) * 100;
  const ok = share >= 90 && adaptive.p99 < TARGET_MS;
  const verdict = `${rate.toLocaleString('en-US')}/s: adaptive ${share.toFixed(1)}% of the best static (${best.label}, p99 ${best.p99.toFixed(1)} ms); adaptive p99 ${adaptive.p99.toFixed(1)} ms vs target ${String(TARGET_MS)} ms: ${ok ? 'OK' : 'MISSED'}`;
  verdicts.push(verdict);
  console.log(`=> ${verdict}\n`);
}
console.log('## adaptive window: summary');
for (const v of verdicts) console.log(`  ${v}`);
