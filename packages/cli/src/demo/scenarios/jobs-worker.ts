/**
 * The worker process of the `jobs` demo scenarios: processes the run JOBS_RUN
 * until it is finished (or SIGKILLed), in the SQLite file JOBS_DB
 * (JOBS_STORE=sqlite) or in the PostgreSQL schema JOBS_PG_SCHEMA at
 * JOBS_PG_URL (JOBS_STORE=postgres). Each slice's effect rows are written by
 * the store's `onCheckpoint` hook, in the same transaction as the checkpoint:
 * an item's effect exists if and only if the checkpoint moved past it.
 *
 * Every handler invocation is appended to JOBS_LOG (`<JOBS_TAG> <from> <to>`)
 * before the slice runs, with a synchronous write that a SIGKILL cannot lose:
 * the scenario counts from it how often each item was handled, which the
 * effect rows cannot show (a slice whose checkpoint never committed leaves no
 * effect, but its handler did run). Exits 1 when the run ends failed or
 * cancelled.
 */
import { appendFileSync } from 'node:fs';
import { RunWorker, type FullJobStore, type RunSlice } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';
import { SqliteJobStore } from '@batchflight/sqlite';

const runId = process.env['JOBS_RUN'] ?? '';
const sliceLog = process.env['JOBS_LOG'] ?? '';
const tag = process.env['JOBS_TAG'] ?? 'worker';

/** A slice's values, or undefined for a checkpoint without items (a lease renewal or hand-back). */
const sliceValues = (data: unknown): readonly number[] | undefined =>
  data as readonly number[] | undefined;

function openStore(): FullJobStore {
  if (process.env['JOBS_STORE'] === 'postgres') {
    const schema = process.env['JOBS_PG_SCHEMA'] ?? '';
    return new PostgresJobStore({
      connectionString: process.env['JOBS_PG_URL'] ?? '',
      schema,
      poolSize: 3,
      onCheckpoint: async (client, checkpoint) => {
        const values = sliceValues(checkpoint.data);
        if (values === undefined) return;
        await client.query(
          `INSERT INTO "${schema}".imported (item, value)
           SELECT $1::int + t.i::int - 1, t.v FROM unnest($2::int[]) WITH ORDINALITY AS t(v, i)`,
          [checkpoint.from, values],
        );
      },
    });
  }
  return new SqliteJobStore({
    path: process.env['JOBS_DB'] ?? '',
    onCheckpoint: (db, checkpoint) => {
      const values = sliceValues(checkpoint.data);
      if (values === undefined) return;
      const insert = db.prepare('INSERT INTO imported (item, value) VALUES (?, ?)');
      values.forEach((value, i) => insert.run(checkpoint.from + i, value));
    },
  });
}

const store = openStore();
await store.init();
const worker = new RunWorker(
  store,
  {
    import: {
      sliceSize: 500,
      processSlice: ({ from, to }: RunSlice) => {
        appendFileSync(sliceLog, `${tag} ${String(from)} ${String(to)}\n`);
        // The "work": transform each item of the slice.
        const values: number[] = [];
        for (let item = from; item < to; item++) values.push((item * 7919) % 10_007);
        return values;
      },
    },
  },
  { concurrency: 2, leaseMs: 1_000, pollMs: 50, runId },
);
worker.onError(({ error }) => {
  process.stderr.write(`jobs worker: ${error instanceof Error ? error.message : String(error)}\n`);
});
process.stdout.write('ready\n');
let state: string | undefined;
while (state !== 'succeeded' && state !== 'failed' && state !== 'cancelled') {
  await new Promise((resolve) => setTimeout(resolve, 25));
  state = (await store.getRun(runId))?.state ?? 'missing';
  if (state === 'missing') break;
}
await worker.close();
await store.close();
process.stdout.write(`done ${state} ${JSON.stringify(worker.stats())}\n`);
if (state !== 'succeeded') process.exitCode = 1;
