/**
 * What each workspace package would publish (`npm pack --dry-run --json`):
 * its build, sources and README, never a test, a type test or a test fixture.
 * (The conformance suites of @batchflight/testing are its product and ship.)
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const packages = readdirSync(new URL('../../', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
const NOT_SHIPPED =
  /(^|\/)__fixtures__\/|\.test\.[cm]?[jt]s(\.map)?$|\.test-d\.ts$|\.test\.d\.ts(\.map)?$/;

function packedFiles(dir: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts', `--workspace=packages/${dir}`],
      { cwd: root, timeout: 25_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => {
        if (error !== null) {
          reject(new Error(`npm pack failed for packages/${dir}`, { cause: error }));
          return;
        }
        const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
        resolve(report.files.map((f) => f.path));
      },
    );
  });
}

describe('package tarballs', () => {
  for (const dir of packages) {
    it(`packages/${dir} ships no tests or fixtures`, async () => {
      const files = await packedFiles(dir);
      expect(files).toContain('package.json');
      expect(files.filter((f) => NOT_SHIPPED.test(f))).toEqual([]);
    });
  }
});
