/**
 * One process of the fleet test: opens the job store (SQLite file or
 * PostgreSQL schema), defines the `beat` schedule, and ticks at each of
 * `ticks` minutes on its own TestClock starting at `startMs` (every process
 * starts at the same instant, so they race on the same slots). Prints its
 * stats as JSON. Arguments: <sqlite|postgres> <path|schema> <startMs> <ticks>.
 */
import { SqliteJobStore } from '@batchflight/sqlite';
import { PostgresJobStore } from '@batchflight/postgres';
import { TestClock } from '@batchflight/testing';
import {
  PostgresScheduleStore,
  SqliteScheduleStore,
  scheduler,
  type ScheduleStore,
} from '../index.js';
import type { JobStore } from 'batchflight/jobs';

const [kind = 'sqlite', where = '', startMs = '0', ticks = '1'] = process.argv.slice(2);
const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const clock = new TestClock(Number(startMs));
let jobs: JobStore;
let schedules: ScheduleStore;
if (kind === 'sqlite') {
  const store = new SqliteJobStore({ path: where, clock });
  jobs = store;
  schedules = new SqliteScheduleStore({ db: store.db });
} else {
  const store = new PostgresJobStore({
    connectionString: PG_URL,
    schema: where,
    poolSize: 2,
    clock,
  });
  jobs = store;
  schedules = new PostgresScheduleStore({ pool: store.pool, schema: where });
}
await jobs.init();
const s = scheduler({ store: jobs, schedules, clock, start: false });
await s.every('beat', { everyMs: 60_000 }, { queue: 'beat', payload: { from: 'fleet' } });
for (let i = 0; i < Number(ticks); i++) {
  await clock.advance(60_000);
  await s.tick();
}
await s.close();
await jobs.close();
process.stdout.write(JSON.stringify(s.stats()));
