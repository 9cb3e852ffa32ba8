/** packages/postgres/README.md: the PostgreSQL store at DATABASE_URL (default the local test database). */
import pg from 'pg';

const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const dropSchema = async () => {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('DROP SCHEMA IF EXISTS example_quick CASCADE');
  await admin.end();
};
await dropSchema();

// #region usage
import { Queue } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';

await using store = new PostgresJobStore({
  connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  schema: 'example_quick',
});
await store.init(); // creates the schema and applies the shipped migrations
await new Queue(store).add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42' });
// #endregion

export const results = { counts: await store.counts() };
await store.close();
await dropSchema();
