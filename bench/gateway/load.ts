/**
 * The bench's load generator, in a process of its own (autocannon-like, on undici): either a
 * closed loop of `connections` workers, each sending its next request when the last answered,
 * (at most `maxRequests` requests) or an open loop at `rate` requests per second. Paths are taken round-robin. Prints one JSON
 * line: requests, errors (non-2xx included), requests/s and client latency p50/p99 in ms.
 */
import { Pool } from 'undici';

interface LoadSpec {
  readonly origin: string;
  readonly paths: readonly string[];
  readonly connections: number;
  readonly durationMs: number;
  /** Open loop: requests per second; closed loop when absent. */
  readonly rate?: number;
  /** Closed loop: stop after this many requests even if `durationMs` is not over. */
  readonly maxRequests?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const pool = new Pool(spec.origin, { connections: spec.connections, pipelining: 1 });
const latencies: number[] = [];
let errors = 0;
let next = 0;

async function one(): Promise<void> {
  const path = spec.paths[next++ % spec.paths.length] ?? '/';
  const started = performance.now();
  try {
    const answer = await pool.request({ method: 'GET', path, headersTimeout: 60_000 });
    await answer.body.dump();
    if (answer.statusCode >= 300) errors++;
  } catch {
    errors++;
  }
  latencies.push(performance.now() - started);
}

const started = performance.now();
const end = started + spec.durationMs;
if (spec.rate === undefined) {
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < end && next < (spec.maxRequests ?? Infinity)) await one();
    }),
  );
} else {
  const interval = 1000 / spec.rate;
  const running: Promise<void>[] = [];
  for (let i = 0; started + i * interval < end; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    running.push(one());
  }
  await Promise.all(running);
}
const elapsed = performance.now() - started;
latencies.sort((a, b) => a - b);
const at = (p: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, errors, rps: (latencies.length * 1000) / elapsed, p50: at(50), p99: at(99) })}\n`,
);
await pool.close();
