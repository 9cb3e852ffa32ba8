/**
 * The `batchflight` command's argument handling, in process: what each
 * command line hands to the demo, and which ones are usage errors. The demo
 * itself is injected (`runDemo`), so these tests start no scenario.
 */
import { describe, expect, it } from 'vitest';
import type { DemoOptions } from './demo/run.js';
import { main } from './cli.js';

interface Outcome {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  readonly runs: DemoOptions[];
}

async function cli(argv: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  let out = '';
  let err = '';
  const runs: DemoOptions[] = [];
  const code = await main(argv, {
    writeOut: (text) => (out += text),
    writeErr: (text) => (err += text),
    env,
    runDemo: (options) => {
      runs.push(options);
      return Promise.resolve(0);
    },
  });
  return { code, out, err, runs };
}

describe('batchflight demo: server URLs', () => {
  it('accepts a URL after --redis and --postgres, as the usage line advertises', async () => {
    const r = await cli([
      'demo',
      '--redis',
      'redis://127.0.0.1:6379',
      '--postgres',
      'postgres://postgres@127.0.0.1:5432/test',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]?.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(r.runs[0]?.postgresUrl).toBe('postgres://postgres@127.0.0.1:5432/test');
  });

  it('accepts --redis=url, and a bare flag takes the environment URL, else the local default', async () => {
    expect((await cli(['demo', '--redis=redis://127.0.0.1:6380'])).runs[0]?.redisUrl).toBe(
      'redis://127.0.0.1:6380',
    );
    expect((await cli(['demo', '--redis'])).runs[0]?.redisUrl).toBe('redis://127.0.0.1:6379');
    const fromEnv = await cli(['demo', '--postgres'], {
      BATCHFLIGHT_PG_URL: 'postgres://app@127.0.0.1:5433/app',
    });
    expect(fromEnv.runs[0]?.postgresUrl).toBe('postgres://app@127.0.0.1:5433/app');
  });

  it('adds a server from its environment URL alone, and leaves it out without either', async () => {
    const r = await cli(['demo'], { BATCHFLIGHT_REDIS_URL: 'redis://127.0.0.1:6381' });
    expect(r.runs[0]?.redisUrl).toBe('redis://127.0.0.1:6381');
    expect(r.runs[0]?.postgresUrl).toBeUndefined();
  });

  it('refuses a URL of the wrong scheme, naming the option and the value', async () => {
    const r = await cli(['demo', '--redis', 'postgres://127.0.0.1']);
    expect(r.code).toBe(2);
    expect(r.runs).toHaveLength(0);
    expect(r.err).toContain('--redis');
    expect(r.err).toContain('postgres://127.0.0.1');
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('batchflight demo --only', () => {
  it('passes the listed names, split on commas and repeatable', async () => {
    const r = await cli(['demo', '--only', 'singleflight, bulk-page', '--only', 'jobs-run']);
    expect(r.code).toBe(0);
    expect(r.runs[0]?.only).toEqual(['singleflight', 'bulk-page', 'jobs-run']);
  });

  it('refuses an unknown name and lists the valid ones, running nothing', async () => {
    const r = await cli(['demo', '--only', 'nosuch,singleflight']);
    expect(r.code).toBe(2);
    expect(r.runs).toHaveLength(0);
    expect(r.err).toContain('nosuch');
    for (const valid of ['singleflight', 'db-pool', 'jobs-run-postgres', 'fleet', 'redis']) {
      expect(r.err).toContain(valid);
    }
  });

  it('refuses an empty list', async () => {
    const r = await cli(['demo', '--only', ' , ']);
    expect(r.code).toBe(2);
    expect(r.runs).toHaveLength(0);
  });
});

describe('batchflight help', () => {
  for (const argv of [['--help'], ['-h'], ['help'], []]) {
    it(`${argv.join(' ') || '(no arguments)'} prints the commands and exits 0`, async () => {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Usage: batchflight');
      expect(r.out).toContain('demo');
      expect(r.runs).toHaveLength(0);
    });
  }

  for (const argv of [
    ['demo', '--help'],
    ['demo', '-h'],
    ['help', 'demo'],
  ]) {
    it(`${argv.join(' ')} prints the demo's options and exits 0`, async () => {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toContain('Usage: batchflight demo');
      for (const option of ['--only', '--redis [url]', '--postgres [url]', '--list']) {
        expect(r.out).toContain(option);
      }
      expect(r.runs).toHaveLength(0);
    });
  }

  it('demo --list prints every scenario id with its capability and runs nothing', async () => {
    const r = await cli(['demo', '--list']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/db-pool\s+singleflight/);
    expect(r.out).toMatch(/jobs-run-postgres\s+jobs\s+needs postgres/);
    expect(r.runs).toHaveLength(0);
  });

  it('an unknown command or option is a usage error (exit 2), without a stack trace', async () => {
    for (const argv of [['worker'], ['demo', '--nosuch'], ['demo', 'extra']]) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/error/i);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(r.runs).toHaveLength(0);
    }
  });

  it('exits 1 when a scenario failed', async () => {
    const code = await main(['demo'], {
      writeOut: () => {},
      writeErr: () => {},
      env: {},
      runDemo: () => Promise.resolve(2),
    });
    expect(code).toBe(1);
  });
});
