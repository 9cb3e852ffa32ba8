/** The retune scenario end to end: a real file watch, a real Prometheus scrape over HTTP. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimHolds } from '../scenario.js';
import { retuneScenario } from './metrics.js';

const workDir = mkdtempSync(join(tmpdir(), 'bf-demo-retune-'));
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('demo: retune', () => {
  it('retunes the running batcher from the file, refuses the bad edit, and the scrape counts it all', async () => {
    const log: string[] = [];
    const report = await retuneScenario.run({
      redisUrl: undefined,
      postgresUrl: undefined,
      workDir,
      log: (m) => log.push(m),
    });
    expect(report.claims?.filter((c) => !claimHolds(c))).toEqual([]);
    expect(report.claims).toHaveLength(6);
    expect(log.some((l) => l.includes('batchflight_batch_size_count{'))).toBe(true);
  });
});
