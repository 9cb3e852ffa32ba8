/**
 * Measures how long `counts()` holds the event loop on a file with 100,000
 * pending jobs and 1,000 in other states (issue 18: the Worker samples the
 * depth every 5 s). Not a test: figures vary with the machine.
 *
 *   npx tsx --conditions=@batchflight/source packages/sqlite/src/__fixtures__/counts-timing.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteJobStore } from '../store.js';

const dir = mkdtempSync(join(tmpdir(), 'bf-counts-'));
const store = new SqliteJobStore({ path: join(dir, 'jobs.db') });
await store.init();
for (let i = 0; i < 101; i++) {
  await store.enqueue(
    Array.from({ length: 1_000 }, (_, k) => ({
      name: 'n',
      payload: k,
      queue: i % 2 === 0 ? 'a' : 'b',
      ...(k % 10 === 0 ? { partitionKey: `p${String(k % 7)}` } : {}),
    })),
  );
}
const claimed = await store.claim({ workerId: 'w', limit: 1_000, leaseMs: 60_000 });
await store.complete(claimed.slice(0, 500).map((j) => ({ id: j.id, epoch: j.epoch })));
const samples: number[] = [];
for (let i = 0; i < 21; i++) {
  const t0 = performance.now();
  await store.counts();
  samples.push(performance.now() - t0);
}
samples.sort((a, b) => a - b);
const c = await store.counts();
console.log(
  `counts() on ${String(c.byState.pending)} pending, ${String(c.byState.leased)} leased, ${String(c.byState.succeeded)} succeeded: median ${(samples[10] ?? 0).toFixed(2)} ms, max ${(samples[20] ?? 0).toFixed(2)} ms`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
