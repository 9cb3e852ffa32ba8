/**
 * A worker process of the PostgreSQL kill test: runs a `Worker` whose `effect`
 * handler's effect row is written by `onComplete` inside the completion
 * transaction, so it commits exactly when the job's success does.
 * Arguments: <schema> <index> <generation>.
 */
import { Worker } from 'batchflight/jobs';
import { PostgresJobStore } from '../store.js';
import { PG_URL } from './pg.js';

const [schema = '', index = '0', generation = '0'] = process.argv.slice(2);
const store = new PostgresJobStore({
  connectionString: PG_URL,
  schema,
  poolSize: 3,
  onComplete: async (client, done) => {
    await client.query(
      `INSERT INTO "${schema}".effects (job_id, epoch, worker) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`,
      [done.map((d) => d.id), done.map((d) => d.epoch), done.map(() => `w${index}.${generation}`)],
    );
  },
});
const debug = process.env.BF_FAULT_DEBUG === '1';
if (debug) console.error('start', process.uptime());
await store.init();
if (debug) console.error('init', process.uptime());
const worker = new Worker(
  store,
  { effect: (payload: { n: number }) => ({ n: payload.n }) },
  {
    concurrency: 10,
    claimBatch: 25,
    leaseMs: 2_000,
    heartbeatMs: 500,
    pollMs: 250,
    workerId: `w${index}.${generation}`,
    depthSampleMs: 0,
  },
);
// Ready to be killed once it has really worked (its first completion), so that on a loaded
// machine the kills land on working processes, not on ones still loading their code.
const sub = worker.onCompleted(() => {
  sub.dispose();
  if (debug) console.error('first completion', process.uptime());
  console.log('ready');
});
process.on('SIGTERM', () => {
  void worker
    .close()
    .then(() => store.close())
    .then(() => process.exit(0));
});
