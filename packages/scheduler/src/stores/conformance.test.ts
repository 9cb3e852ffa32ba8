/**
 * The ScheduleStore contract, run against memory, SQLite (one file, several
 * connections) and PostgreSQL (one schema per test, several pools), and the
 * scheduler over each durable store with several schedulers firing the same
 * slots at once: one job per slot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { JobStore } from 'batchflight/jobs';
import { SqliteJobStore } from '@batchflight/sqlite';
import { PostgresJobStore } from '@batchflight/postgres';
import { TestClock } from '@batchflight/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MemoryScheduleStore,
  PostgresScheduleStore,
  SqliteScheduleStore,
  scheduler,
  type ScheduleDefinition,
  type ScheduleStore,
} from '../index.js';

const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DEF: ScheduleDefinition = {
  spec: { cron: '0 3 * * *', timezone: 'Europe/Berlin' },
  queue: 'q',
  jobName: 'report',
  payload: { to: ['a'] },
  backfill: { catchUp: 2 },
};

async function pgUp(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`Skipping PostgreSQL tests: ${(error as Error).message}`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
const PG_UP = await pgUp();
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A backend: `open(i)` gives the i-th process's job store and schedule store on one database. */
interface Backend {
  readonly open: (clock: TestClock) => Promise<{ jobs: JobStore; schedules: ScheduleStore }>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'bf-scheduler-'));
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'jobs.db');
  return {
    async open(clock) {
      const jobs = new SqliteJobStore({ path, clock });
      await jobs.init();
      cleanups.push(() => jobs.close());
      return { jobs, schedules: new SqliteScheduleStore({ db: jobs.db }) };
    },
  };
}

function pgBackend(): Backend {
  const schema = `bf_sched_${randomBytes(4).toString('hex')}`;
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  return {
    async open(clock) {
      const jobs = new PostgresJobStore({ connectionString: PG_URL, schema, poolSize: 2, clock });
      await jobs.init();
      cleanups.push(() => jobs.close());
      return { jobs, schedules: new PostgresScheduleStore({ pool: jobs.pool, schema }) };
    },
  };
}

function contract(label: string, make: () => Promise<ScheduleStore>, skip = false): void {
  describe.skipIf(skip)(`ScheduleStore contract: ${label}`, () => {
    it('defines, keeps state on redefinition, pauses, advances monotonically, removes', async () => {
      const store = await make();
      await store.init();
      await store.init(); // idempotent
      const created = await store.define('nightly', DEF, 1_000);
      expect(created).toMatchObject({ name: 'nightly', ...DEF, paused: false, cursor: 1_000 });
      expect(created.lastFiredSlot).toBeNull();
      expect(await store.advance('nightly', 5_000, 5_000, 5_100)).toBe(true);
      expect(await store.advance('nightly', 5_000, 5_000, 5_200)).toBe(false);
      expect(await store.advance('nightly', 4_000, 4_000, 5_200)).toBe(false);
      expect(await store.setPaused('nightly', true, 6_000)).toBe(true);
      const redefined = await store.define('nightly', { ...DEF, queue: 'other' }, 7_000);
      expect(redefined).toMatchObject({
        queue: 'other',
        paused: true,
        cursor: 5_000,
        lastFiredSlot: 5_000,
        createdAt: 1_000,
        updatedAt: 7_000,
      });
      expect(await store.setPaused('nightly', false, 9_000)).toBe(true);
      expect((await store.get('nightly'))?.cursor).toBe(9_000);
      expect(await store.advance('nightly', 10_000, null, 10_000)).toBe(true);
      expect((await store.get('nightly'))?.lastFiredSlot).toBe(5_000);
      await store.define('adhoc', { ...DEF, spec: { everyMs: 60_000 } }, 1);
      expect((await store.list()).map((s) => s.name)).toEqual(['adhoc', 'nightly']);
      expect(await store.remove('nightly')).toBe(true);
      expect(await store.remove('nightly')).toBe(false);
      expect(await store.setPaused('nightly', true, 1)).toBe(false);
      expect(await store.advance('nightly', 99_000, null, 1)).toBe(false);
      expect(await store.get('nightly')).toBeUndefined();
    });
  });
}

contract('memory', () => Promise.resolve(new MemoryScheduleStore()));
contract('sqlite', () => {
  const db = new Database(':memory:');
  cleanups.push(() => void db.close());
  return Promise.resolve(new SqliteScheduleStore({ db }));
});
contract(
  'postgres',
  async () => {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const schema = `bf_sched_${randomBytes(4).toString('hex')}`;
    cleanups.push(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    });
    return Promise.resolve(new PostgresScheduleStore({ pool, schema }));
  },
  !PG_UP,
);

function fleet(label: string, backend: () => Backend, skip = false): void {
  describe.skipIf(skip)(`several schedulers on one ${label} database`, () => {
    it('fire each slot once, with concurrent ticks and a restart of every process', async () => {
      const clock = new TestClock(Date.parse('2026-03-29T00:00:30Z'));
      const b = backend();
      const procs = await Promise.all([0, 1, 2, 3].map(() => b.open(clock)));
      const first = procs[0];
      if (!first) throw new Error('no process');
      const schedulers = procs.map((p) =>
        scheduler({ store: p.jobs, schedules: p.schedules, clock, start: false }),
      );
      await Promise.all(
        schedulers.map((s) =>
          s.every('beat', { everyMs: 60_000 }, { queue: 'beat', payload: { n: 1 } }),
        ),
      );
      for (let i = 0; i < 6; i++) {
        await clock.advance(60_000);
        await Promise.all(schedulers.map((s) => s.tick()));
      }
      // A restart of every process: new schedulers, the same slots are not fired again.
      await Promise.all(schedulers.map((s) => s.close()));
      const again = procs.map((p) =>
        scheduler({ store: p.jobs, schedules: p.schedules, clock, start: false }),
      );
      await Promise.all(again.map((s) => s.tick()));
      await clock.advance(60_000);
      await Promise.all(again.map((s) => s.tick()));
      const jobs = await first.jobs.query({ queue: 'beat', limit: 1_000 });
      const slots = jobs.map((j) => new Date(j.runAt).toISOString());
      expect(slots).toEqual(
        [1, 2, 3, 4, 5, 6, 7].map((m) => `2026-03-29T00:0${String(m)}:00.000Z`),
      );
      const fired = [...schedulers, ...again].reduce((n, s) => n + s.stats().fired, 0);
      expect(fired).toBe(7);
      const [info] = await first.schedules.list();
      expect(info?.lastFiredSlot).toBe(Date.parse('2026-03-29T00:07:00Z'));
      await Promise.all(again.map((s) => s.close()));
    });
  });
}

fleet('SQLite', sqliteBackend);
fleet('PostgreSQL', pgBackend, !PG_UP);
