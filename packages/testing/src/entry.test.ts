/**
 * The main entry is the runtime face of the kit: a demo or a tool that
 * imports it must not load vitest or fast-check (issue 11). A child process
 * imports it with a resolve hook that lists every module file it loads.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SOURCE_NODE_ARGS } from './fault/kill-loop.js';

const run = promisify(execFile);

/** Logs the URL of every file module the process resolves, one `MODULE <url>` line each. */
const LIST_MODULES = `
import { register } from 'node:module';
const hooks = 'export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith("file:")) console.log("MODULE " + r.url); return r; }';
register('data:text/javascript,' + encodeURIComponent(hooks));
`;

/** The module files a fresh Node process loads to import `specifier` (workspace sources). */
async function modulesLoadedBy(specifier: string): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    [
      ...SOURCE_NODE_ARGS,
      '--import',
      `data:text/javascript,${encodeURIComponent(LIST_MODULES)}`,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(specifier)}); console.log('IMPORTED');`,
    ],
    { cwd: process.cwd() },
  );
  const lines = stdout.split('\n');
  expect(lines).toContain('IMPORTED');
  return lines.filter((l) => l.startsWith('MODULE ')).map((l) => l.slice('MODULE '.length));
}

const TEST_RUNNER = /[\\/]node_modules[\\/](vitest|@vitest|fast-check|chai|tinyspy)[\\/]/;

describe('@batchflight/testing entry points', () => {
  it('the main entry loads no vitest or fast-check module', async () => {
    const loaded = await modulesLoadedBy('@batchflight/testing');
    expect(loaded.some((url) => url.includes('/packages/testing/src/test-clock.ts'))).toBe(true);
    expect(loaded.filter((url) => TEST_RUNNER.test(url))).toEqual([]);
  }, 30_000);

  it('the ./conformance subpath is where the suites (and vitest) are', async () => {
    // The control of the test above: the probe does see vitest when it is loaded.
    const loaded = await modulesLoadedBy('@batchflight/testing/conformance');
    expect(loaded.some((url) => TEST_RUNNER.test(url))).toBe(true);
  }, 30_000);
});
