/**
 * A worker process of the SQLite kill test (run by `killLoop`): runs a
 * `Worker` whose `effect` handler's effect row is written by `onComplete`
 * inside the completion transaction, so it commits exactly when the job's
 * success does. Arguments: <db> <index> <generation>.
 */
import { Worker } from 'batchflight/jobs';
import { SqliteJobStore } from '../store.js';

const [path, index = '0', generation = '0'] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: fault-worker.ts <db> <index> <generation>');
const workerId = `w${index}.${generation}`;

const store = new SqliteJobStore({
  path,
  onComplete: (db, done) => {
    const insert = db.prepare('INSERT INTO effects (job_id, epoch, worker) VALUES (?, ?, ?)');
    for (const d of done) insert.run(d.id, d.epoch, workerId);
  },
});
await store.init();
const worker = new Worker(
  store,
  {
    effect: async (payload: { n: number }) => {
      // Yield once, as real work would: kills land while jobs are in flight.
      await new Promise((resolve) => setImmediate(resolve));
      return payload.n;
    },
  },
  { concurrency: 10, claimBatch: 200, leaseMs: 2_000, heartbeatMs: 500, pollMs: 50, workerId },
);
// Ready to be killed once it has really worked (its first completion), so that on a loaded
// machine the kills land on working processes, not on ones still loading their code.
const sub = worker.onCompleted(() => {
  sub.dispose();
  process.stdout.write('ready\n');
});
