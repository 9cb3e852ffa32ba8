/**
 * `batchflight demo`: runs every scenario and prints one report.
 *
 * The scenarios run on the embedded default (memory and SQLite) with no
 * server; scenarios that need Redis or PostgreSQL run only when a URL is given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from 'batchflight/core';
import { scenarios } from './scenarios.js';
import { claimHolds, describeClaim, type DemoEnv, type Scenario } from './scenario.js';
import { renderTable } from './table.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /**
   * Run only the scenarios whose id or capability is listed (see
   * {@link scenarioNames}); an unknown name is an `InvalidOptionError`.
   */
  readonly only?: readonly string[];
  readonly redisUrl?: string | undefined;
  readonly postgresUrl?: string | undefined;
  /** The scenarios to choose from. Default: every scenario of the demo. */
  readonly scenarios?: readonly Scenario[];
  /** Where to print. Default: stdout. */
  readonly write?: (text: string) => void;
}

/** Runs the demo; resolves to the number of scenarios that failed. */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const write = options.write ?? ((text: string) => process.stdout.write(`${text}\n`));
  const workDir = mkdtempSync(join(tmpdir(), 'batchflight-demo-'));
  const selected = selectScenarios(options.only ?? [], options.scenarios);
  let failures = 0;
  let skipped = 0;
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
        skipped++;
        continue;
      }
      const started = performance.now();
      try {
        const report = await scenario.run(env);
        write(renderTable(['', ...report.columns], report.rows));
        if (report.verdict) write(`=> ${report.verdict}`);
        const broken = (report.claims ?? []).filter((claim) => !claimHolds(claim));
        for (const claim of report.claims ?? []) {
          write(
            `   ${claimHolds(claim) ? 'claim holds' : 'CLAIM FAILED'}: ${describeClaim(claim)}`,
          );
        }
        if (report.failed === true || broken.length > 0) failures++;
        write(`   (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
      } catch (error) {
        failures++;
        write(
          `   FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
      }
    }
    write(
      failures === 0
        ? `batchflight demo: every claim held (${String(selected.length - skipped)} scenario(s) run, ${String(skipped)} skipped)`
        : `batchflight demo: ${String(failures)} scenario(s) FAILED`,
    );
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return failures;
}

/** Every name `only` accepts: the scenario ids, then the capabilities, each once. */
export function scenarioNames(from: readonly Scenario[] = scenarios): readonly string[] {
  return [...new Set([...from.map((s) => s.id), ...from.map((s) => s.capability)])];
}

/**
 * The scenarios named by `only` (all of them when it is empty), in run order.
 * A name that is neither a scenario id nor a capability throws, so a typo
 * never turns into a demo that runs nothing and passes.
 */
export function selectScenarios(
  only: readonly string[],
  from: readonly Scenario[] = scenarios,
): readonly Scenario[] {
  const valid = new Set(scenarioNames(from));
  const unknown = only.filter((name) => !valid.has(name));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      'only',
      `only must list scenario ids or capabilities, but got ${unknown.map((n) => JSON.stringify(n)).join(', ')}; valid names: ${[...valid].join(', ')}`,
    );
  }
  return only.length === 0
    ? from
    : from.filter((s) => only.includes(s.id) || only.includes(s.capability));
}

function available(scenario: Scenario, env: DemoEnv): boolean {
  if (scenario.requires === 'redis') return env.redisUrl !== undefined;
  if (scenario.requires === 'postgres') return env.postgresUrl !== undefined;
  return true;
}
