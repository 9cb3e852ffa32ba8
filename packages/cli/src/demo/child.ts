/**
 * Worker processes of the demo scenarios: a script beside its scenario,
 * started with the same Node.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Starts `script` (a name without extension) from the scenario module's
 * folder: its `.js` file once built, its `.ts` file through tsx (and the
 * workspace source condition) when the demo itself runs from source.
 *
 * @example
 * ```ts
 * const child = spawnScript(import.meta.url, 'fleet-worker', { stdio: 'pipe' });
 * ```
 */
export function spawnScript(
  scenarioUrl: string,
  script: string,
  options: SpawnOptions,
): ChildProcess {
  const fromSource = scenarioUrl.endsWith('.ts');
  const file = fileURLToPath(new URL(`./${script}${fromSource ? '.ts' : '.js'}`, scenarioUrl));
  const args = fromSource ? ['--conditions=@batchflight/source', '--import', 'tsx', file] : [file];
  return spawn(process.execPath, args, options);
}
