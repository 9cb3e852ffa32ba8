/** README.md and packages/sqlite/README.md: durable jobs on the embedded SQLite store. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Stand-in mailer: the users it sent to. */
export const sent: number[] = [];
const mailer = { send: async (userId: number) => void sent.push(userId) };
const cwd = process.cwd();
process.chdir(mkdtempSync(join(tmpdir(), 'bf-example-quick-jobs-'))); // jobs.db goes there

// #region usage
import { Queue, Worker } from 'batchflight/jobs';
import { SqliteJobStore } from '@batchflight/sqlite';

const store = new SqliteJobStore({ path: 'jobs.db' });
await store.init(); // applies the shipped migrations (safe from concurrent processes)
await new Queue(store).add('welcome', { userId: 42 }, { idempotencyKey: 'welcome:42' });
const worker = new Worker(store, {
  welcome: async ({ userId }: { userId: number }) => mailer.send(userId),
});
// #endregion

await worker.drain();
await worker.close();
await store.close();
process.chdir(cwd);
