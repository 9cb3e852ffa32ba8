/**
 * The stats part of `Worker`: latency reservoirs, the throughput window and
 * the `batchflight:jobs:settled` message of one commit.
 */
import type { JobRecord } from './store.js';
import { waitedMs } from './worker-run.js';
import type { LatencySummary, SettledJob } from './worker-types.js';

/** Samples kept per reservoir. */
const SAMPLES = 1024;

/** The last {@link SAMPLES} values of a latency, for p50 / p99 / max. */
export class Reservoir {
  readonly #values: number[] = [];
  #next = 0;
  add(v: number): void {
    if (this.#values.length < SAMPLES) this.#values.push(v);
    else this.#values[this.#next++ % SAMPLES] = v;
  }
  summary(): LatencySummary {
    const sorted = [...this.#values].sort((a, b) => a - b);
    const at = (q: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
  }
}

/**
 * Successes per second over the last 10 s (fewer right after the start):
 * a count per wall-clock second of the worker's clock, older seconds pruned.
 */
export class Throughput {
  readonly #perSecond = new Map<number, number>();

  /** Counts one success at `now` (ms). */
  add(now: number): void {
    const second = Math.floor(now / 1000);
    this.#perSecond.set(second, (this.#perSecond.get(second) ?? 0) + 1);
    if (this.#perSecond.size > 20) {
      for (const key of this.#perSecond.keys()) if (key < second - 10) this.#perSecond.delete(key);
    }
  }

  /** The rate at `now` of a worker started at `startedAt` (ms). */
  perSecond(now: number, startedAt: number): number {
    const second = Math.floor(now / 1000);
    let recent = 0;
    for (const [key, n] of this.#perSecond) if (key > second - 10 && key <= second) recent += n;
    return recent / Math.min(10, Math.max(1, (now - startedAt) / 1000));
  }
}

/** A `batchflight:jobs:settled` message being built. */
export interface SettledReport {
  readonly workerId: string;
  succeeded: number;
  failed: number;
  dead: number;
  refused: number;
  readonly jobs: SettledJob[];
}

export function newReport(workerId: string): SettledReport {
  return { workerId, succeeded: 0, failed: 0, dead: 0, refused: 0, jobs: [] };
}

export function addToReport(
  report: SettledReport,
  job: JobRecord,
  outcome: SettledJob['outcome'],
  runMs: number,
): void {
  report[outcome]++;
  report.jobs.push({
    id: job.id,
    name: job.name,
    queue: job.queue,
    partition: job.partition,
    attempt: job.attempts,
    outcome,
    enqueueToStartMs: waitedMs(job),
    runMs,
  });
}
