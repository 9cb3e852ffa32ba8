/**
 * `batchflight config …` through the CLI's own entry (`main`, as `bin.ts` calls it), against
 * real Redis and real PostgreSQL, with a real follower applying what the command publishes;
 * and once as a child process, for the exit code the shell sees.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigRegistry, openConfigChannel, retunableBatch } from '@batchflight/config';
import { SOURCE_NODE_ARGS } from '@batchflight/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The server probes of the store packages (CI=true fails without a server) and unique names.
import {
  dropSchema,
  PG_URL,
  pgUnavailable,
  schemaName,
} from '../../postgres/src/__fixtures__/pg.js';
import {
  connect,
  dropPrefix,
  REDIS_URL,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { main } from './cli.js';

interface Outcome {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function cli(argv: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    writeOut: (text) => (out += text),
    writeErr: (text) => (err += text),
    env,
  });
  return { code, out, err };
}

let dir = '';
const file = (name: string) => join(dir, name);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-command-'));
  await writeFile(file('five.yaml'), 'primitives:\n  users:\n    batch: { maxSize: 5 }\n');
  await writeFile(
    file('two.json'),
    '{ "primitives": { "users": { "batch": { "maxSize": 2, "maxWaitMs": 3 } }, "payments": { "circuitBreaker": { "isolated": true } } } }\n',
  );
  await writeFile(file('bad.yaml'), 'primitives:\n  users:\n    batch: { maxSize: 0 }\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('batchflight config validate | diff (offline)', () => {
  it('validate: a good file exits 0 and names its primitives; a bad one exits 2 naming file, line, path, value and contract', async () => {
    expect(await cli(['config', 'validate', file('two.json')])).toEqual({
      code: 0,
      out: `${file('two.json')}: valid (2 primitives: users, payments)\n`,
      err: '',
    });
    const bad = await cli(['config', 'validate', file('bad.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      `${file('bad.yaml')}:3:23 primitives.users.batch.maxSize: got 0; expected an integer >= 1\n`,
    );
    const missing = await cli(['config', 'validate', file('nosuch.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('expected a readable file (ENOENT)');
  });

  it('diff: one line per setting, YAML against JSON', async () => {
    const r = await cli(['config', 'diff', file('five.yaml'), file('two.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      '+ primitives.payments: {"circuitBreaker":{"isolated":true}}\n' +
        '~ primitives.users.batch.maxSize: 5 -> 2\n' +
        '+ primitives.users.batch.maxWaitMs: 3\n',
    );
    expect((await cli(['config', 'diff', file('five.yaml'), file('five.yaml')])).out).toBe(
      'no differences\n',
    );
  });

  it('a store command without a store is a usage error; an unknown scheme too', async () => {
    const none = await cli(['config', 'status']);
    expect(none.code).toBe(2);
    expect(none.err).toContain('--store redis://…|postgres://… is required');
    const wrong = await cli(['config', 'status', '--store', 'mysql://127.0.0.1']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain('got "mysql://127.0.0.1"; expected a URL starting with redis://');
  });
});

const redisSkip = await redisUnavailable();
const pgSkip = (await pgUnavailable()) ?? null;

const stores = [
  {
    name: 'Redis',
    skip: redisSkip,
    url: REDIS_URL,
    namespace: () => uniquePrefix('config-cli').slice(0, -1),
    cleanup: async (namespace: string) => {
      const redis = connect();
      await dropPrefix(redis, namespace);
      redis.disconnect();
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    url: PG_URL,
    namespace: () => schemaName('config_cli'),
    cleanup: dropSchema,
  },
];

describe.each(stores)(
  'batchflight config publish | status | history | rollback over $name',
  (store) => {
    const namespace = store.namespace();
    afterAll(async () => {
      if (store.skip === null) await store.cleanup(namespace);
    });

    it.skipIf(store.skip !== null)(
      'publishes revisions a running process applies, lists it, rolls back, and refuses a bad file',
      async () => {
        const flags = ['--store', store.url, '--namespace', namespace];
        // A process of the fleet, following the store.
        const registry = new ConfigRegistry();
        const users = retunableBatch({
          name: 'users',
          load: (ids: readonly number[]) => Promise.resolve(ids),
        });
        registry.register('users', users.tunable);
        const opened = await openConfigChannel(store.url, { namespace });
        const follower = opened.channel.follow(registry, { processId: 'api-1', pollMs: 100 });
        await follower.ready;

        const first = await cli([
          'config',
          'publish',
          file('five.yaml'),
          ...flags,
          '--author',
          'ops',
          '--wait',
          '10000',
        ]);
        expect(first.err).toBe('');
        expect(first.code).toBe(0);
        expect(first.out).toMatch(
          /^published revision 1 to (redis|postgres) \S+ by ops \(1 change\)\n {2}\+ primitives\.users: \{"batch":\{"maxSize":5\}\}\napplied by 1\/1 live process in \d+ ms\n$/,
        );
        expect(follower.revision).toBe(1);
        expect(registry.config.primitives['users']).toEqual({ batch: { maxSize: 5 } });

        // Invalid: exit 2, the file's own message, nothing stored.
        const bad = await cli(['config', 'publish', file('bad.yaml'), ...flags]);
        expect(bad.code).toBe(2);
        expect(bad.err).toBe(
          `${file('bad.yaml')}:3:23 primitives.users.batch.maxSize: got 0; expected an integer >= 1\n`,
        );

        const second = await cli([
          'config',
          'publish',
          file('two.json'),
          ...flags,
          '--wait',
          '10000',
        ]);
        expect(second.code).toBe(0);
        expect(second.out).toContain('published revision 2');
        expect(second.out).toContain('  ~ primitives.users.batch.maxSize: 5 -> 2\n');
        expect(second.out).toContain('by '); // user@host by default
        expect(follower.revision).toBe(2);

        const status = await cli(['config', 'status', ...flags]);
        expect(status.code).toBe(0);
        expect(status.out).toContain('revision 2, by ');
        expect(status.out).toContain('1 live process, 0 stale');
        expect(status.out).toMatch(
          /PROCESS\s+HOST\s+PID\s+REVISION\s+STATE\s+LAST REPORT\s+ERROR\n/,
        );
        expect(status.out).toMatch(
          new RegExp(`api-1\\s+\\S+\\s+${String(process.pid)}\\s+2\\s+current\\s+`),
        );
        const json = JSON.parse((await cli(['config', 'status', ...flags, '--json'])).out) as {
          latest: number;
          processes: { processId: string; revision: number; stale: boolean }[];
        };
        expect(json.latest).toBe(2);
        expect(json.processes.map((p) => [p.processId, p.revision, p.stale])).toEqual([
          ['api-1', 2, false],
        ]);

        const rollback = await cli([
          'config',
          'rollback',
          '1',
          ...flags,
          '--author',
          'oncall',
          '--wait',
          '10000',
        ]);
        expect(rollback.code).toBe(0);
        expect(rollback.out).toContain('rolled back to revision 1 as revision 3 (3 changes)');
        await follower.poll();
        expect(follower.revision).toBe(3);
        expect(registry.config.primitives['users']).toEqual({ batch: { maxSize: 5 } });

        const history = await cli(['config', 'history', ...flags]);
        expect(history.out).toMatch(/revision 1 {2}\S+Z {2}ops {2}\(1 change\)\n/);
        expect(history.out).toMatch(
          /revision 3 {2}\S+Z {2}oncall {2}\(3 changes, rollback of 1\)\n/,
        );

        const nosuch = await cli(['config', 'rollback', '9', ...flags]);
        expect(nosuch.code).toBe(2);
        expect(nosuch.err).toContain('no revision 9 (the last is 3)');

        await follower.close();
        await opened.close();
        await users.close();
      },
    );
  },
);

describe('batchflight config as a child process', () => {
  const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
  const run = (args: readonly string[]) =>
    new Promise<Outcome>((resolve) => {
      execFile(
        process.execPath,
        [...SOURCE_NODE_ARGS, bin, ...args],
        { timeout: 25_000 },
        (error, out, err) => {
          resolve({
            code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
            out,
            err,
          });
        },
      );
    });

  it('exits 2 for a bad file and 1 for a store that does not answer', async () => {
    const [bad, down] = await Promise.all([
      run(['config', 'publish', file('bad.yaml'), '--store', 'redis://127.0.0.1:1']),
      run(['config', 'status', '--store', 'redis://127.0.0.1:1']),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('primitives.users.batch.maxSize: got 0; expected an integer >= 1');
    expect(down.code).toBe(1);
    expect(down.err).toContain('error: cannot reach redis://127.0.0.1:1');
    expect(down.err).not.toMatch(/\n\s+at /);
  });
});
