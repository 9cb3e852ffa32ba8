/**
 * A child process of the multi-process tests. Reads its task from the
 * FLEET_TASK environment variable (JSON), prints `ready` once connected and
 * subscribed, waits for `go` on stdin, runs, prints one JSON result line.
 * It exits if its stdin closes before `go`, so it never outlives its parent.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { DistributedFlight } from 'batchflight/singleflight';
import { RedisFlightStore } from '../flight-store.js';
import { RedisRateLimitStore } from '../rate-limit-store.js';

interface FlightTask {
  readonly mode: 'flight';
  readonly url: string;
  readonly prefix: string;
  readonly key: string;
  readonly callers: number;
  readonly upstreamMs: number;
  readonly leaseMs: number;
  readonly timeoutMs: number;
  /** The first upstream execution (fleet-wide) never returns: its process is to be killed. */
  readonly hangFirst: boolean;
}
interface RateTask {
  readonly mode: 'rate';
  readonly url: string;
  readonly prefix: string;
  readonly rate: number;
  readonly burst: number;
  readonly durationMs: number;
  readonly concurrency: number;
}

/** Dies at once with `code`, before `ready` (to test the harness). */
interface DieTask {
  readonly mode: 'die';
  readonly code: number;
}

const task = JSON.parse(process.env.FLEET_TASK ?? '{}') as FlightTask | RateTask | DieTask;
if (task.mode === 'die') process.exit(task.code);
const client = new Redis(task.url);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const go = new Promise<void>((resolve) => {
  let started = false;
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (line.trim() !== 'go') return;
      started = true;
      resolve();
    })
    .on('close', () => {
      // The parent is gone (its test failed or was cut short): nobody will send `go`.
      if (!started) process.exit(2);
    });
});

async function runFlight(t: FlightTask): Promise<unknown> {
  // 8 processes start at once on a loaded machine: their first subscription (a new
  // connection, its ready check, SUBSCRIBE) can take longer than the default 1 s bound,
  // which faults.test.ts covers. This test is about coalescing, so it waits longer.
  const store = new RedisFlightStore({ client, prefix: t.prefix, commandTimeoutMs: 10_000 });
  const flight = new DistributedFlight({ store, leaseMs: t.leaseMs, resultTtlMs: 10_000 });
  // Open the subscriber before the start signal, as a long-running process would have.
  (await store.watch('warm-up', () => undefined)).dispose();
  const counter = `${t.prefix}upstream-calls`;
  const upstream = async (): Promise<{ value: string }> => {
    const n = await client.incr(counter);
    if (t.hangFirst && n === 1) {
      process.stdout.write('leading\n');
      await new Promise(() => undefined);
    }
    await sleep(t.upstreamMs);
    return { value: `computed by execution ${String(n)}` };
  };
  process.stdout.write('ready\n');
  await go;
  const outcomes = await Promise.allSettled(
    Array.from({ length: t.callers }, () =>
      flight.run(t.key, upstream, { timeoutMs: t.timeoutMs }),
    ),
  );
  const values: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const o of outcomes) {
    if (o.status === 'fulfilled') {
      const v = o.value.value;
      values[v] = (values[v] ?? 0) + 1;
    } else {
      const name = (o.reason as Error).name;
      errors[name] = (errors[name] ?? 0) + 1;
    }
  }
  store.close();
  return { values, errors, stats: flight.stats() };
}

async function runRate(t: RateTask): Promise<unknown> {
  const store = new RedisRateLimitStore({ client, prefix: t.prefix, commandTimeoutMs: 10_000 });
  const rule = { key: 'shared', rate: t.rate, perMs: 1000, burst: t.burst };
  await client.ping();
  process.stdout.write('ready\n');
  await go;
  // For each admitted call: [sent, admitted] local times around the acquisition. The
  // server decided somewhere in between (same host, same clock).
  const admitted: [number, number][] = [];
  const end = Date.now() + t.durationMs;
  const now = () => performance.timeOrigin + performance.now();
  await Promise.all(
    Array.from({ length: t.concurrency }, async () => {
      while (Date.now() < end) {
        const sent = now();
        const d = await store.acquire({ rules: [rule], cost: 1 });
        if (d.allowed) {
          admitted.push([sent, now()]);
        } else {
          await sleep(Math.max(1, Math.min(d.retryAfterMs, end - Date.now())));
        }
      }
    }),
  );
  return { admitted };
}

const result = task.mode === 'flight' ? await runFlight(task) : await runRate(task);
process.stdout.write(`${JSON.stringify(result)}\n`);
client.disconnect();
process.exit(0);
