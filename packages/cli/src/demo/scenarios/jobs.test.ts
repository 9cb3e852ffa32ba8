/**
 * The durable run scenario end to end on both stores (real worker processes,
 * a real SIGKILL, real PostgreSQL): every item's effect exactly once, and the
 * PostgreSQL schema gone afterwards. Figures about time are not asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresJobStore } from '@batchflight/postgres';
import type { DemoEnv, ReportRow, Scenario } from '../scenario.js';
import { jobsPostgresScenario, jobsScenario } from './jobs.js';

const PG_URL = process.env['BATCHFLIGHT_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const workDir = mkdtempSync(join(tmpdir(), 'bf-demo-jobs-'));
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

async function run(scenario: Scenario): Promise<{ rows: Map<string, ReportRow>; log: string[] }> {
  const log: string[] = [];
  const env: DemoEnv = {
    redisUrl: undefined,
    postgresUrl: PG_URL,
    workDir,
    log: (m) => log.push(m),
  };
  const report = await scenario.run(env);
  return { rows: new Map(report.rows.map((row) => [row[0], row])), log };
}

/** The killed run resumed; every item has exactly one effect. */
function expectExactlyOnce(rows: Map<string, ReportRow>): void {
  expect(rows.get('items processed twice')?.[2]).toBe('0');
  expect(rows.get('effect rows at the end')?.[2]).toBe('100,000');
  expect(rows.get('distinct items with an effect')?.[2]).toBe('100,000');
  expect(rows.get('run state')?.[2]).toBe('succeeded');
  // The kill landed mid-run: a restart from zero would have redone those items.
  expect(rows.get('items processed twice')?.[1]).not.toBe('0');
}

describe('jobs demo scenarios', () => {
  it('jobs-run (SQLite): the killed run resumes, every item has exactly one effect', async () => {
    expectExactlyOnce((await run(jobsScenario)).rows);
  }, 120_000);

  it('jobs-run-postgres: the same on PostgreSQL, and its schema is dropped at the end', async () => {
    const { rows, log } = await run(jobsPostgresScenario);
    expectExactlyOnce(rows);
    const schema = /schema (\S+) /.exec(log.join('\n'))?.[1];
    expect(schema).toMatch(/^bf_demo_/);
    // Only its pool is used: a store that is never initialised creates nothing.
    const probe = new PostgresJobStore({ connectionString: PG_URL, poolSize: 1 });
    try {
      const { rows: left } = await probe.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1',
        [schema],
      );
      expect(left[0]?.n).toBe(0);
    } finally {
      await probe.close();
    }
  }, 120_000);
});
