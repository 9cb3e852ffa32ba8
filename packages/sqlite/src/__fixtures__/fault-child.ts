/**
 * A child process of the SQLite duplicate-enqueue fault test (run through tsx
 * by the test; the kill test's worker is `fault-worker.ts`).
 *
 *   fault-child.ts enqueue <db> <n> enqueue n jobs with idempotency keys
 *                                  k0..k(n-1), racing the other processes
 */
import { Queue } from 'batchflight/jobs';
import { SqliteJobStore } from '../store.js';

const [mode, path, count] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: fault-child.ts enqueue <db> <n>');

// Exit with the parent: the test kills children, but never leave orphans behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

if (mode === 'enqueue') {
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
