/**
 * docs/jobs/scheduler.md and packages/scheduler/README.md: recurring
 * schedules on the embedded SQLite store. Time comes from a TestClock
 * (outside the regions), so the example runs in a moment and checks what it
 * enqueued: one job per slot.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestClock } from '@batchflight/testing';

const clock = new TestClock(Date.parse('2026-03-28T12:00:00Z'));
const path = join(mkdtempSync(join(tmpdir(), 'bf-example-scheduler-')), 'jobs.db');

// #region define
import { SqliteJobStore } from '@batchflight/sqlite';
import { scheduler, SqliteScheduleStore } from '@batchflight/scheduler';

const store = new SqliteJobStore({ path, clock });
await store.init();
const schedules = new SqliteScheduleStore({ db: store.db }); // its own table, in the same file
const cron = scheduler({ store, schedules, clock, name: 'app' });

// 03:00 in Berlin, whatever the season; after downtime, enqueue at most the 2 latest missed nights.
await cron.every('nightly-report', '0 3 * * *', {
  queue: 'reports',
  timezone: 'Europe/Berlin',
  payload: { format: 'pdf' },
  backfill: { catchUp: 2 },
});
// Every 15 minutes (slots are multiples of everyMs since the epoch, the same in every process).
await cron.every('sync', { everyMs: 15 * 60_000 }, { queue: 'sync', jobName: 'pull' });
// #endregion

// #region manage
await cron.pause('sync'); // fleet-wide: no process fires it until resumed
for (const s of await cron.list()) {
  console.log(s.name, s.paused, s.lastFiredSlot && new Date(s.lastFiredSlot).toISOString());
}
await cron.resume('sync'); // from the next slot on; the slots of the pause are not backfilled
await cron.remove('sync'); // jobs already enqueued stay
// #endregion

// Two days pass on the clock; a slot fires when its timer does.
for (let i = 0; i < 48; i++) {
  await clock.advance(3_600_000);
  await cron.tick();
}

// #region slot
import { Worker } from 'batchflight/jobs';
import { scheduledSlot } from '@batchflight/scheduler';

const worker = new Worker(store, {
  'nightly-report': async (payload: { format: string }, ctx) => {
    const slot = scheduledSlot(ctx.job); // { schedule: 'nightly-report', slotMs } from its idempotency key
    return { format: payload.format, night: new Date(slot?.slotMs ?? 0).toISOString() };
  },
});
// #endregion

/** The reports enqueued: 29 March (spring forward) and 30 March at 03:00 Berlin time. */
export const reports = (await store.query({ queue: 'reports' })).map((j) =>
  new Date(j.runAt).toISOString(),
);
if (reports.join() !== '2026-03-29T01:00:00.000Z,2026-03-30T01:00:00.000Z') {
  throw new Error(`unexpected slots: ${reports.join()}`);
}
await worker.close();
await cron.close();
await store.close();
