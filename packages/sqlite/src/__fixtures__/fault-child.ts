/**
 * A worker process for the SQLite fault tests (run through tsx by the test).
 *
 *   fault-child.ts work <db>       run a Worker until killed; effects are
 *                                  written by onComplete, atomically with the
 *                                  completion
 *   fault-child.ts enqueue <db> <n> enqueue n jobs with idempotency keys
 *                                  k0..k(n-1), racing the other processes
 */
import { Queue, Worker } from 'batchflight/jobs';
import { SqliteJobStore } from '../store.js';

const [mode, path, count] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: fault-child.ts work|enqueue <db> [n]');

// Exit with the parent: the test kills children, but never leave orphans behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

if (mode === 'work') {
  const store = new SqliteJobStore({
    path,
    onComplete: (db, done) => {
      const insert = db.prepare('INSERT INTO effects (job_id, epoch, pid) VALUES (?, ?, ?)');
      for (const d of done) insert.run(d.id, d.epoch, process.pid);
    },
  });
  await store.init();
  new Worker(
    store,
    {
      effect: async (payload: { n: number }) => {
        // Yield once, as real work would: kills land while jobs are in flight.
        await new Promise((resolve) => setImmediate(resolve));
        return payload.n;
      },
    },
    { concurrency: 10, claimBatch: 200, leaseMs: 2_000, heartbeatMs: 500, pollMs: 50 },
  );
  process.stdout.write('ready\n');
} else if (mode === 'enqueue') {
  const store = new SqliteJobStore({ path });
  await store.init();
  const queue = new Queue(store);
  const n = Number(count);
  // Interleave small batches so the processes really race on the same keys.
  for (let start = 0; start < n; start += 50) {
    await queue.addMany(
      Array.from({ length: Math.min(50, n - start) }, (_, i) => ({
        name: 'dup',
        payload: { k: start + i },
        options: { idempotencyKey: `k${String(start + i)}` },
      })),
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  await store.close();
  process.exit(0);
}
