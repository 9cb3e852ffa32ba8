/**
 * Several processes (child processes, each its own scheduler, store
 * connection and clock) on one SQLite file and on one PostgreSQL schema,
 * firing the same slots at the same instants: one job per slot, and the
 * processes' `fired` counts add up to the number of slots.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SqliteJobStore } from '@batchflight/sqlite';
import { PostgresJobStore } from '@batchflight/postgres';
import type { JobStore } from 'batchflight/jobs';
import { describe, expect, it } from 'vitest';
import type { SchedulerStats } from './index.js';

const CHILD = fileURLToPath(new URL('./__fixtures__/fleet-child.ts', import.meta.url));
const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const START = Date.parse('2026-10-25T00:00:30Z');
const TICKS = 8;

function child(args: string[]): Promise<SchedulerStats> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--conditions=@batchflight/source', '--import', 'tsx', CHILD, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as SchedulerStats);
      else reject(new Error(`child exited ${String(code)}: ${err}`));
    });
  });
}

async function pgUp(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function check(jobs: JobStore, stats: SchedulerStats[]): Promise<void> {
  const rows = await jobs.query({ queue: 'beat', limit: 1_000 });
  const slots = rows.map((j) => j.runAt);
  expect(slots).toEqual(Array.from({ length: TICKS }, (_, i) => START - 30_000 + (i + 1) * 60_000));
  expect(stats.reduce((n, s) => n + s.fired, 0)).toBe(TICKS);
  expect(stats.reduce((n, s) => n + s.errors, 0)).toBe(0);
}

const PG_UP = await pgUp();

describe('a fleet of scheduler processes', () => {
  it('on one SQLite file fires each slot once', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-scheduler-fleet-'));
    const path = join(dir, 'jobs.db');
    try {
      const jobs = new SqliteJobStore({ path });
      await jobs.init();
      const stats = await Promise.all(
        [0, 1, 2, 3].map(() => child(['sqlite', path, String(START), String(TICKS)])),
      );
      await check(jobs, stats);
      await jobs.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!PG_UP)(
    'on one PostgreSQL schema fires each slot once',
    { timeout: 60_000 },
    async () => {
      const schema = `bf_sched_fleet_${randomBytes(4).toString('hex')}`;
      const jobs = new PostgresJobStore({ connectionString: PG_URL, schema, poolSize: 2 });
      try {
        await jobs.init();
        const stats = await Promise.all(
          [0, 1, 2, 3].map(() => child(['postgres', schema, String(START), String(TICKS)])),
        );
        await check(jobs, stats);
      } finally {
        await jobs.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await jobs.close();
      }
    },
  );
});
