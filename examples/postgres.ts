/**
 * docs/jobs/postgres.md: a queue and a worker on PostgreSQL at DATABASE_URL
 * (default the local test database), effects written in the completion
 * transaction. The schema and the effect table are dropped at the end.
 */
import pg from 'pg';

const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query('CREATE TABLE IF NOT EXISTS example_sent (job_id text NOT NULL)');
await admin.query('TRUNCATE example_sent');
await admin.query('DROP SCHEMA IF EXISTS example_jobs CASCADE');
/** Stand-in mailer: the addresses it was asked to send to. */
export const mailed: string[] = [];
const send = async (to: string) => {
  mailed.push(to);
  await Promise.resolve();
};

// #region usage
import { Queue, Worker } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';

await using store = new PostgresJobStore({
  connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test', // or pool: an existing pg.Pool
  schema: 'example_jobs',
  // Optional: write a job's effects in the completion transaction (exactly once).
  onComplete: async (client, done) => {
    await client.query('INSERT INTO example_sent (job_id) SELECT unnest($1::text[])', [
      done.map((d) => d.id),
    ]);
  },
});
await store.init(); // creates the schema and applies the shipped migrations
const queue = new Queue(store);
await queue.add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42' });
await using worker = new Worker(
  store,
  { email: async ({ to }: { to: string }) => send(to) },
  { concurrency: 10 },
);
// #endregion

await worker.drain();
await worker.close();
export const results = {
  effects: (await admin.query<{ n: string }>('SELECT count(*) AS n FROM example_sent')).rows[0]?.n,
};
await store.close();
await admin.query('DROP SCHEMA IF EXISTS example_jobs CASCADE');
await admin.query('DROP TABLE IF EXISTS example_sent');
await admin.end();
