/**
 * `batchflight demo`: runs every scenario and prints one report.
 *
 * The scenarios run on the embedded default (memory and SQLite) with no
 * server; scenarios that need Redis or PostgreSQL run only when a URL is given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarios } from './scenarios.js';
import type { DemoEnv, Scenario } from './scenario.js';
import { renderTable } from './table.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Run only the scenarios whose id or capability is listed. */
  readonly only?: readonly string[];
  readonly redisUrl?: string | undefined;
  readonly postgresUrl?: string | undefined;
  /** Where to print. Default: stdout. */
  readonly write?: (text: string) => void;
}

/** Runs the demo; resolves to the number of scenarios that failed. */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const write = options.write ?? ((text: string) => process.stdout.write(`${text}\n`));
  const workDir = mkdtempSync(join(tmpdir(), 'batchflight-demo-'));
  const selected = scenarios.filter(
    (s) =>
      !options.only?.length || options.only.includes(s.id) || options.only.includes(s.capability),
  );
  let failures = 0;
  write(`batchflight demo: ${String(selected.length)} scenario(s)\n`);
  try {
    for (const scenario of selected) {
      write(`## ${scenario.capability} / ${scenario.id}: ${scenario.title}`);
      const env: DemoEnv = {
        redisUrl: options.redisUrl,
        postgresUrl: options.postgresUrl,
        workDir,
        log: (message) => {
          write(`   ${message}`);
        },
      };
      if (!available(scenario, env)) {
        write(
          `   skipped: needs ${scenario.requires ?? ''} (pass --${scenario.requires ?? ''} or set its URL)\n`,
        );
        continue;
      }
      const started = performance.now();
      try {
        const report = await scenario.run(env);
        write(renderTable(['', ...report.columns], report.rows));
        if (report.verdict) write(`=> ${report.verdict}`);
        if (report.failed === true) failures++;
        write(`   (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
      } catch (error) {
        failures++;
        write(
          `   FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return failures;
}

function available(scenario: Scenario, env: DemoEnv): boolean {
  if (scenario.requires === 'redis') return env.redisUrl !== undefined;
  if (scenario.requires === 'postgres') return env.postgresUrl !== undefined;
  return true;
}
