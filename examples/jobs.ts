/** docs/jobs.md: a queue and a worker on the embedded SQLite store, with stand-in mailer and resizer. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Stand-in downstreams: count what reached them. */
export const sent: number[] = [];
const mailer = {
  async send(userId: number, _options: { signal: AbortSignal }) {
    sent.push(userId);
    await Promise.resolve();
    return { id: `msg-${String(userId)}`, bounced: false };
  },
};
interface Resized {
  readonly ok: boolean;
  readonly url: string;
  readonly error?: string;
}
const resizeAll = async (payloads: readonly unknown[]): Promise<Resized[]> =>
  payloads.map((_, i) => ({ ok: true, url: `thumb-${String(i)}.png` }));
/** In the docs the file is `jobs.db`; here a fresh scratch directory holds it. */
const dir = mkdtempSync(join(tmpdir(), 'bf-example-jobs-'));
const path = join(dir, 'jobs.db');

// #region usage
import { Queue, Worker, NonRetryableError } from 'batchflight/jobs';
import { SqliteJobStore } from '@batchflight/sqlite';

await using store = new SqliteJobStore({ path }); // e.g. 'jobs.db'
await store.init(); // applies the migrations (safe from concurrent processes)

const emails = new Queue(store, { name: 'emails' });
const { id, created } = await emails.add(
  'welcome',
  { userId: 42 },
  { idempotencyKey: 'welcome:42', partitionKey: 'tenant-7', priority: 1, maxAttempts: 5 },
);

await using worker = new Worker(
  store,
  {
    welcome: async (payload: { userId: number }, ctx) => {
      // A durable step: memoized under the job, never repeated by a retry.
      const msg = await ctx.step('send', () => mailer.send(payload.userId, { signal: ctx.signal }));
      if (msg.bounced) throw new NonRetryableError('bad address'); // dead now, no retry
      return { messageId: msg.id };
    },
    thumbnail: {
      // A batch handler: one downstream bulk call, one outcome per job; only failures retry.
      handleMany: async (jobs) =>
        (await resizeAll(jobs.map((j) => j.job.payload))).map((r) =>
          r.ok ? { ok: true, result: r.url } : { ok: false, error: r.error },
        ),
    },
  },
  { concurrency: 10, claimBatch: 100 },
);
// #endregion

await new Queue(store, { name: 'images' }).add('thumbnail', { file: 'a.png' });
await worker.drain();
export const results = { id, created, job: await store.get(id), counts: await store.counts() };
