/**
 * Durable jobs on the embedded SQLite store (one file, WAL, synchronous
 * NORMAL): bulk enqueue rate, and jobs/s for 20,000 no-op jobs through a
 * `Worker` (concurrency 10) at several claim batch sizes, in one process.
 * Each figure is the median of 3 runs on a fresh database file.
 *
 * Target: >= 10,000 jobs/s. There is no SQLite peer among the installed
 * devDependencies (graphile-worker and pg-boss need PostgreSQL; see
 * `jobs-postgres`); the floor printed is the store alone (claim + complete
 * in batches of 500, no worker), the cost the worker adds is the ratio.
 *
 * Run: `npm run bench -- jobs-sqlite` (about 20 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'batchflight/jobs';
import { SqliteJobStore } from '@batchflight/sqlite';

const JOBS = 20_000;
const RUNS = 3;
const dir = mkdtempSync(join(tmpdir(), 'bf-bench-sqlite-'));
let n = 0;

async function fresh(): Promise<SqliteJobStore> {
  const store = new SqliteJobStore({ path: join(dir, `b${String(n++)}.db`) });
  await store.init();
  return store;
}

const items = () => Array.from({ length: JOBS }, (_, i) => ({ name: 'noop', payload: { i } }));

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function enqueueRate(chunk: number): Promise<number> {
  const store = await fresh();
  const queue = new Queue(store);
  const all = items();
  const t = performance.now();
  for (let i = 0; i < JOBS; i += chunk) await queue.addMany(all.slice(i, i + chunk));
  const rate = JOBS / ((performance.now() - t) / 1000);
  await store.close();
  return rate;
}

async function storeFloor(): Promise<number> {
  const store = await fresh();
  await new Queue(store).addMany(items());
  const t = performance.now();
  for (;;) {
    const jobs = await store.claim({ workerId: 'floor', limit: 500, leaseMs: 30_000 });
    if (jobs.length === 0) break;
    await store.complete(jobs.map((j) => ({ id: j.id, epoch: j.epoch, result: null })));
  }
  const rate = JOBS / ((performance.now() - t) / 1000);
  await store.close();
  return rate;
}

async function workerRate(claimBatch: number): Promise<number> {
  const store = await fresh();
  await new Queue(store).addMany(items());
  const t = performance.now();
  const worker = new Worker(
    store,
    { noop: () => null },
    { concurrency: 10, claimBatch, depthSampleMs: 0, pollMs: 50 },
  );
  await worker.drain();
  const rate = JOBS / ((performance.now() - t) / 1000);
  await worker.close();
  await store.close();
  return rate;
}

async function measure(label: string, fn: () => Promise<number>): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) rates.push(await fn());
  const m = median(rates);
  console.log(`${label.padEnd(52)} ${Math.round(m).toLocaleString('en-US').padStart(10)} /s`);
  return m;
}

console.log(`SQLite job store, ${JOBS.toLocaleString('en-US')} jobs, median of ${String(RUNS)}\n`);
await measure('bulk enqueue, addMany of 1,000', () => enqueueRate(1_000));
await measure('bulk enqueue, addMany of 20,000', () => enqueueRate(JOBS));
const floor = await measure('floor: store claim+complete, batches of 500', storeFloor);
let best = 0;
for (const batch of [100, 500, 1_000]) {
  const rate = await measure(`Worker, concurrency 10, claimBatch ${String(batch)}`, () =>
    workerRate(batch),
  );
  best = Math.max(best, rate);
}
console.log(
  `\nbest Worker: ${Math.round(best).toLocaleString('en-US')} jobs/s (${(best / floor).toFixed(2)}× the store floor; target >= 10,000: ${best >= 10_000 ? 'met' : 'NOT met'})`,
);
rmSync(dir, { recursive: true, force: true });
