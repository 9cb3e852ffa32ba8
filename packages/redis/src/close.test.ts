/**
 * Finding 14: a process that closes its stores and disconnects its client
 * exits by itself, whether Redis is up, silent or on a closed port. Each case
 * runs `__fixtures__/close-child.ts` in a child process that never calls
 * process.exit; a child still alive after the guard below is a failure (the
 * guard is a hang detector, not a timing assertion).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SilentServer, closedPort, startSilentServer } from './__fixtures__/faults.js';
import {
  REDIS_URL,
  connect,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';

const CHILD = fileURLToPath(new URL('./__fixtures__/close-child.ts', import.meta.url));
const HANG_GUARD_MS = 25_000;

/** Runs the child on `url`; resolves to how it ended and what it printed. */
function runChild(
  url: string,
  prefix: string,
): Promise<{ code: number | null; hung: boolean; out: string; err: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@batchflight/source', '--import', 'tsx', CHILD, url, prefix],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_GUARD_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, hung, out, err });
    });
  });
}

const skip = await redisUnavailable();

describe('closing the stores and disconnecting the client lets the process exit', () => {
  const prefix = uniquePrefix('close');
  let silent: SilentServer;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => {
    await silent.close();
    if (skip === null) {
      const admin = connect();
      await dropPrefix(admin, prefix);
      admin.disconnect();
    }
  });

  it.skipIf(skip !== null)('with Redis up', { timeout: 40_000 }, async () => {
    const run = await runChild(REDIS_URL, prefix);
    expect(run, run.err).toMatchObject({ code: 0, hung: false });
    expect(JSON.parse(run.out)).toEqual({ value: 'v', admitted: true });
  });

  it('with a server that never answers', { timeout: 40_000 }, async () => {
    const run = await runChild(silent.url, prefix);
    expect(run, run.err).toMatchObject({ code: 0, hung: false });
    expect(JSON.parse(run.out)).toEqual({ value: 'v', admitted: false });
  });

  it('with Redis on a closed port', { timeout: 40_000 }, async () => {
    const run = await runChild(`redis://127.0.0.1:${String(await closedPort())}`, prefix);
    expect(run, run.err).toMatchObject({ code: 0, hung: false });
    expect(JSON.parse(run.out)).toEqual({ value: 'v', admitted: false });
  });
});
