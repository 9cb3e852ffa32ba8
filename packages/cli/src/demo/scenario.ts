/**
 * The shape of one demo scenario: a workload run against a fake upstream,
 * once the naive way and once with batchflight, reported side by side.
 */

/** What the demo hands every scenario. */
export interface DemoEnv {
  /** Redis URL when the run may use Redis (`--redis` or `BATCHFLIGHT_REDIS_URL`). */
  readonly redisUrl: string | undefined;
  /** PostgreSQL URL when the run may use PostgreSQL (`--postgres` or `BATCHFLIGHT_PG_URL`). */
  readonly postgresUrl: string | undefined;
  /** A scratch directory the scenario may write files into (SQLite databases). */
  readonly workDir: string;
  /** Prints a progress line under the scenario's heading. */
  log(message: string): void;
}

/** One row of a report: a metric's name, then one cell per column. */
export type ReportRow = readonly [metric: string, ...cells: string[]];

/**
 * A count a scenario promises to keep within bounds: upstream calls,
 * queries, duplicates, never a time. `npm run demo` checks every claim and
 * fails when one does not hold, which makes the demo the CI gate against a
 * change that sends more calls to an upstream.
 */
export interface Claim {
  /** What is counted, e.g. `queries for 100 identical requests`. */
  readonly what: string;
  /** The measured count. */
  readonly actual: number;
  /** Inclusive upper bound. */
  readonly atMost?: number;
  /** Inclusive lower bound. */
  readonly atLeast?: number;
}

/** True when `claim.actual` lies within its bounds. */
export function claimHolds(claim: Claim): boolean {
  return (
    Number.isFinite(claim.actual) &&
    (claim.atMost === undefined || claim.actual <= claim.atMost) &&
    (claim.atLeast === undefined || claim.actual >= claim.atLeast)
  );
}

/** `what = 3 (≤ 5)`: a claim and its bounds, as the demo prints it. */
export function describeClaim(claim: Claim): string {
  const bounds =
    claim.atMost !== undefined && claim.atMost === claim.atLeast
      ? `= ${String(claim.atMost)}`
      : [
          claim.atLeast === undefined ? '' : `≥ ${String(claim.atLeast)}`,
          claim.atMost === undefined ? '' : `≤ ${String(claim.atMost)}`,
        ]
          .filter(Boolean)
          .join(', ');
  return `${claim.what}: ${String(claim.actual)} (expected ${bounds})`;
}

/** The result of one scenario. */
export interface ScenarioReport {
  /** Column headings after the metric column, e.g. `['without', 'with batchflight']`. */
  readonly columns: readonly string[];
  readonly rows: readonly ReportRow[];
  /** One line that says what the figures show. */
  readonly verdict?: string;
  /**
   * True when the figures contradict the claim the scenario demonstrates
   * (e.g. an item processed twice): the demo reports it and exits non-zero.
   */
  readonly failed?: boolean;
  /** The counts the scenario promises; one that does not hold fails the scenario. */
  readonly claims?: readonly Claim[];
}

/** A runnable scenario of `npm run demo`. */
export interface Scenario {
  /** Short id for `--only`, e.g. `db-pool`. */
  readonly id: string;
  /** Capability it shows, e.g. `singleflight`. */
  readonly capability: string;
  /** One-line description of the workload. */
  readonly title: string;
  /** A server the scenario needs; without it the scenario is listed as skipped. */
  readonly requires?: 'redis' | 'postgres';
  run(env: DemoEnv): Promise<ScenarioReport>;
}
