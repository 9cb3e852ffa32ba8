/**
 * The adaptive window against a simulated upstream, on a TestClock: an
 * upstream that serves 4 calls at once (the rest queue) and costs
 * 5 ms + 0.02 ms per key (capacity ≈ 160k keys/s), Poisson arrivals from a
 * seeded generator, several simulated seconds. Deterministic: no real time.
 */
import { describe, expect, it } from 'vitest';
import { FakeUpstream, TestClock } from '@batchflight/testing';
import { AdaptiveControl } from './adaptive.js';
import { batch } from './index.js';

/** mulberry32: a small seeded generator, so every start-up is reproducible. */
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

/** Poisson-distributed count with mean `mean` (Knuth; fine for means of a few dozen). */
function poisson(next: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let count = 0;
  let product = next();
  while (product > limit) {
    count++;
    product *= next();
  }
  return count;
}

interface Run {
  readonly arrived: number;
  readonly served: number;
  readonly pendingAtEnd: number;
  readonly minSizeLimit: number;
  readonly p99: number;
}

async function simulate(options: {
  readonly seed: number;
  readonly ratePerSecond: number;
  readonly latencyTargetMs: number;
  readonly durationMs: number;
  readonly warmUpMs: number;
}): Promise<Run> {
  const clock = new TestClock(0);
  const upstream = new FakeUpstream<number, string>({
    clock,
    latencyMs: (keys) => 5 + 0.02 * keys.length,
    concurrency: 4,
  });
  const loader = batch<number, string>({
    window: 'adaptive',
    latencyTargetMs: options.latencyTargetMs,
    clock,
    load: (keys) => upstream.getMany(keys),
  });
  const next = random(options.seed);
  const perMs = options.ratePerSecond / 1000;
  const latencies: number[] = [];
  let arrived = 0;
  let served = 0;
  let key = 0;
  let minSizeLimit = Infinity;
  for (let t = 0; t < options.durationMs; t++) {
    const count = poisson(next, perMs);
    for (let i = 0; i < count; i++) {
      const at = clock.now();
      const counted = t >= options.warmUpMs;
      if (counted) arrived++;
      void loader.load(key++).then(() => {
        if (!counted) return;
        served++;
        latencies.push(clock.now() - at);
      });
    }
    await clock.advance(1);
    if (t >= options.warmUpMs) minSizeLimit = Math.min(minSizeLimit, loader.stats().sizeLimit);
  }
  const pendingAtEnd = loader.stats().pending;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.max(0, Math.ceil(latencies.length * 0.99) - 1)] ?? Infinity;
  const closing = loader.close();
  await clock.runAll(100_000);
  await closing;
  return { arrived, served, pendingAtEnd, minSizeLimit, p99 };
}

describe('adaptive window under load (simulated upstream, TestClock)', () => {
  // 30k keys/s is about a fifth of what the upstream can serve in bulk, and
  // 150 times what it serves one key per call: the window must keep batches big.
  for (const latencyTargetMs of [50, 25]) {
    for (const seed of [1, 2, 3]) {
      it(`keeps up with 30,000 keys/s at a ${String(latencyTargetMs)} ms target (start-up seed ${String(seed)})`, async () => {
        const run = await simulate({
          seed,
          ratePerSecond: 30_000,
          latencyTargetMs,
          durationMs: 3_000,
          warmUpMs: 500,
        });
        expect(run.served / run.arrived).toBeGreaterThanOrEqual(0.95);
        // Queue bounded: no more than the arrivals of one latency target are unsettled.
        expect(run.pendingAtEnd).toBeLessThanOrEqual(30 * latencyTargetMs);
        expect(run.minSizeLimit).toBeGreaterThan(1);
        expect(run.p99).toBeLessThanOrEqual(latencyTargetMs);
      });
    }
  }
});

describe('AdaptiveControl', () => {
  const at = (now: number, size: number, durationMs: number, inFlightAtStart = 1) => ({
    size,
    durationMs,
    inFlightAtStart,
    binding: true,
    now,
  });

  it('grows C after a call that was alone in flight, however its duration compares with the model', () => {
    const control = new AdaptiveControl(1000, Infinity, 25, 50);
    // Small calls teach a model with no per-key cost; a large call then takes 5× the model.
    control.settled(at(10, 8, 5));
    control.settled(at(20, 16, 5));
    control.blocked();
    control.settled(at(50, 1000, 25));
    // Alone in flight, it queued behind none of ours: C may grow (it stayed at 1 for ever).
    expect(control.concurrency).toBe(2);
  });

  it('cuts C below the concurrency a call met when that call was queued, and leaves L alone', () => {
    const control = new AdaptiveControl(1000, Infinity, 25, 50);
    for (let i = 1; i <= 4; i++) {
      control.blocked();
      control.settled(at(i * 10, 64, 6, i));
    }
    expect(control.concurrency).toBe(5);
    const limit = control.limit;
    control.settled(at(100, 64, 30, 5)); // 5× the service time, with 5 in flight
    expect(control.concurrency).toBe(4);
    expect(control.limit).toBe(limit);
  });
});
