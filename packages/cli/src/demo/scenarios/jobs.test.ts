/**
 * The durable run scenario end to end on both stores (real worker processes,
 * a real SIGKILL, real PostgreSQL): every item's effect exactly once, and the
 * PostgreSQL schema gone afterwards. Figures about time are not asserted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

async function run(
  scenario: Scenario,
  dir = workDir,
): Promise<{ rows: Map<string, ReportRow>; log: string[]; verdict: string }> {
  const log: string[] = [];
  const env: DemoEnv = {
    redisUrl: undefined,
    postgresUrl: PG_URL,
    workDir: dir,
    log: (m) => log.push(m),
  };
  const report = await scenario.run(env);
  return {
    rows: new Map(report.rows.map((row) => [row[0], row])),
    log,
    verdict: report.verdict ?? '',
  };
}

const figure = (rows: Map<string, ReportRow>, metric: string, column: 1 | 2): number =>
  Number((rows.get(metric)?.[column] ?? 'NaN').replaceAll(',', ''));

/** The killed run resumed; every item has exactly one effect; the handler reruns are reported. */
function expectExactlyOnce({
  rows,
  verdict,
}: {
  rows: Map<string, ReportRow>;
  verdict: string;
}): void {
  expect(verdict).not.toMatch(/FAILED/);
  expect(rows.get('items whose effect was written twice')?.[2]).toBe('0');
  expect(rows.get('effect rows at the end')?.[2]).toBe('100,000');
  expect(rows.get('distinct items with an effect')?.[2]).toBe('100,000');
  expect(rows.get('run state')?.[2]).toBe('succeeded');
  // Only the slices in flight at the kill (2 chunks x 500 items at most) ran twice.
  const twice = figure(rows, 'items whose handler ran twice', 2);
  expect(twice).toBeLessThanOrEqual(1_000);
  const before = figure(rows, 'items handled before the kill', 2);
  const after = figure(rows, 'items handled after the restart', 2);
  expect(before + after).toBe(100_000 + twice);
  // The kill landed mid-run: a restart from zero would have redone those items.
  expect(figure(rows, 'items whose effect was written twice', 1)).toBeGreaterThan(0);
}

describe('jobs demo scenarios', () => {
  it('a worker process that dies fails the scenario with a message instead of hanging it', async () => {
    // Preloaded into the worker process only: it exits (code 3) right after reporting ready.
    const dir = mkdtempSync(join(workDir, 'dies-'));
    const preload = join(dir, 'die-after-ready.cjs');
    writeFileSync(
      preload,
      `const write = process.stdout.write.bind(process.stdout);
       process.stdout.write = (chunk, ...rest) => {
         const done = write(chunk, ...rest);
         if (String(chunk).startsWith('ready')) setImmediate(() => process.exit(3));
         return done;
       };`,
    );
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `${saved ?? ''} --require ${JSON.stringify(preload)}`;
    try {
      await expect(run(jobsScenario, dir)).rejects.toThrow(/jobs worker exited \(3\)/);
    } finally {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    }
  }, 60_000);

  it('jobs-run (SQLite): the killed run resumes, every item has exactly one effect', async () => {
    expectExactlyOnce(await run(jobsScenario));
  }, 120_000);

  it('jobs-run-postgres: the same on PostgreSQL, and its schema is dropped at the end', async () => {
    const result = await run(jobsPostgresScenario);
    expectExactlyOnce(result);
    const { log } = result;
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
