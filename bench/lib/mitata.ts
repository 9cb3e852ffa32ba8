/**
 * Runs the mitata benchmarks a bench file registered and hands back their
 * medians, the figure every bench prints its ratios from.
 */
import { run } from 'mitata';

/**
 * Runs every registered benchmark (printing mitata's own table) and returns
 * a lookup of each one's median time per iteration in ns, by name; NaN for
 * a name that did not run, so a misspelt name shows in the output instead
 * of throwing after minutes of measuring.
 */
export async function runMedians(): Promise<(name: string) => number> {
  const result = await run();
  const medians = new Map<string, number>();
  for (const trial of result.benchmarks) {
    const stats = trial.runs[0]?.stats;
    if (stats !== undefined) medians.set(trial.alias, stats.p50);
  }
  return (name) => medians.get(name) ?? NaN;
}
