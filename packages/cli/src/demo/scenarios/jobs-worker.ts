/**
 * The worker process of the `jobs` demo scenario: processes the run in the
 * SQLite file given in JOBS_DB until it is finished (or SIGKILLed). Each
 * slice's effect rows are written by the store's `onCheckpoint` hook, in the
 * same transaction as the checkpoint: an item's effect exists if and only if
 * the checkpoint moved past it.
 */
import { RunWorker, type RunSlice } from 'batchflight/jobs';
import { SqliteJobStore } from '@batchflight/sqlite';

const path = process.env['JOBS_DB'] ?? '';
const runId = process.env['JOBS_RUN'] ?? '';

const store = new SqliteJobStore({
  path,
  onCheckpoint: (db, checkpoint) => {
    const values = checkpoint.data as readonly number[] | undefined;
    if (values === undefined) return; // a lease renewal: no items
    const insert = db.prepare('INSERT INTO imported (item, value) VALUES (?, ?)');
    values.forEach((value, i) => insert.run(checkpoint.from + i, value));
  },
});
await store.init();
const worker = new RunWorker(
  store,
  {
    import: {
      sliceSize: 500,
      processSlice: ({ from, to }: RunSlice) => {
        // The "work": transform each item of the slice.
        const values: number[] = [];
        for (let item = from; item < to; item++) values.push((item * 7919) % 10_007);
        return values;
      },
    },
  },
  { concurrency: 2, leaseMs: 1_000, pollMs: 50, runId },
);
process.stdout.write('ready\n');
for (;;) {
  await new Promise((resolve) => setTimeout(resolve, 25));
  const run = await store.getRun(runId);
  if (run?.state === 'succeeded') break;
}
await worker.close();
await store.close();
process.stdout.write(`done ${JSON.stringify(worker.stats())}\n`);
