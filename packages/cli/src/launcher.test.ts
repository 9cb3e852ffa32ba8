/**
 * The committed launcher `bin/batchflight.js`, run as a child process: it is
 * what `npm install` links as `node_modules/.bin/batchflight`, before any build.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const launcher = fileURLToPath(new URL('../bin/batchflight.js', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'bf-launcher-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { cwd, timeout: 25_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A copy of the launcher in a package folder of its own, with or without a dist/. */
function layout(name: string, distBin?: string): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  copyFileSync(launcher, join(dir, 'bin', 'batchflight.js'));
  if (distBin !== undefined) {
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'bin.js'), distBin);
  }
  return join(dir, 'bin', 'batchflight.js');
}

describe('bin/batchflight.js', () => {
  it('without a build, says to run npm run build and exits 1', async () => {
    const r = await run(process.execPath, [layout('unbuilt'), '--help'], scratch);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('npm run build');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('once built, runs dist/bin.js with the same arguments', async () => {
    const script = layout(
      'built',
      'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n',
    );
    const r = await run(process.execPath, [script, 'demo', '--only', 'singleflight'], scratch);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['demo', '--only', 'singleflight']);
  });

  it('is what `npx batchflight` runs at the repository root', async () => {
    // npm links the committed launcher at install time, build or not.
    expect(realpathSync(join(root, 'node_modules', '.bin', 'batchflight'))).toBe(
      realpathSync(launcher),
    );
    // --offline: a missing local bin must fail here, never fetch a package of that name.
    const r = await run('npx', ['--offline', 'batchflight', '--help'], root);
    if (existsSync(join(root, 'packages', 'cli', 'dist', 'bin.js'))) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: batchflight');
      expect(r.stdout).toContain('demo');
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('npm run build');
    }
  });
});
