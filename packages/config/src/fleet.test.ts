import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { circuitBreaker, CircuitOpenError } from 'batchflight/circuit-breaker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  breakerTunable,
  diffConfigs,
  ConfigError,
  ConfigRegistry,
  fleetConfigSchema,
  parseConfigText,
  retunableBatch,
  watchConfigFile,
  type ApplyReport,
  type FleetConfig,
  type Tunable,
} from './index.js';

const parse = (text: string): FleetConfig =>
  parseConfigText(text, { source: 'fleet.yaml' }, fleetConfigSchema);

/** A batcher over a recording bulk function: the sizes of its bulk calls, in order. */
function usersBatch(registry: ConfigRegistry) {
  const sizes: number[] = [];
  const users = retunableBatch({
    name: 'users',
    load: (ids: readonly number[]) => {
      sizes.push(ids.length);
      return Promise.resolve(ids.map((id) => ({ id })));
    },
    ...registry.settingsFor('users', 'batch'),
  });
  registry.register('users', users.tunable);
  return { users, sizes };
}

const loadAll = (users: { load(id: number): Promise<unknown> }, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => users.load(i)));

describe('fleet configuration schema', () => {
  it('names the path, the value and the contract of every bad tunable', () => {
    let error: unknown;
    try {
      parse(
        'primitives:\n  users:\n    batch: { maxSize: 0, maxWaitMs: -1 }\n  api:\n    rateLimit: { per: year }\n',
      );
    } catch (e) {
      error = e;
    }
    expect(ConfigError.is(error)).toBe(true);
    expect((error as ConfigError).message).toBe(
      [
        'fleet.yaml: 3 problems',
        '  fleet.yaml:3:23 primitives.users.batch.maxSize: got 0; expected an integer >= 1',
        '  fleet.yaml:3:37 primitives.users.batch.maxWaitMs: got -1; expected a finite number >= 0',
        "  fleet.yaml:5:23 primitives.api.rateLimit.per: got \"year\"; expected 'second', 'minute', 'hour', 'day' or a number of ms > 0",
      ].join('\n'),
    );
    expect(() => parse('primitives:\n  users:\n    batch: {}\n    timeout: { ms: 5 }\n')).toThrow(
      'primitives.users: got {"batch":{},"timeout":{"ms":5}}; expected exactly one of batch, rateLimit, circuitBreaker, timeout, retry, cache, worker, bulkhead, hedge',
    );
    expect(() => parse('primitives:\n  users:\n    batch: { maxsize: 5 }\n')).toThrow(
      'expected no unknown key (found "maxsize"); the keys are window, maxSize, maxWaitMs, latencyTargetMs, maxConcurrentBatches, maxPending',
    );
  });
});

describe('diffConfigs', () => {
  it('lists every setting that differs, and whole entries added, removed or moved', () => {
    const a = parse(
      'primitives:\n  users:\n    batch: { maxSize: 100, maxWaitMs: 2 }\n  old:\n    timeout: { ms: 5 }\n  moved:\n    retry: { maxAttempts: 2 }\n',
    );
    const b = parse(
      'primitives:\n  users:\n    batch: { maxSize: 50, window: adaptive }\n  new:\n    cache: { version: 2 }\n  moved:\n    timeout: { ms: 9 }\n',
    );
    expect(diffConfigs(a, b)).toEqual([
      { path: 'primitives.moved', from: { retry: { maxAttempts: 2 } }, to: { timeout: { ms: 9 } } },
      { path: 'primitives.new', to: { cache: { version: 2 } } },
      { path: 'primitives.old', from: { timeout: { ms: 5 } } },
      { path: 'primitives.users.batch.maxSize', from: 100, to: 50 },
      { path: 'primitives.users.batch.maxWaitMs', from: 2 },
      { path: 'primitives.users.batch.window', to: 'adaptive' },
    ]);
    expect(diffConfigs(a, a)).toEqual([]);
  });
});

describe('ConfigRegistry', () => {
  it('retunes a running batcher: the next batches use the new size, in-flight ones are untouched', async () => {
    const registry = new ConfigRegistry(
      parse('primitives:\n  users:\n    batch: { maxSize: 10 }\n'),
    );
    const { users, sizes } = usersBatch(registry);
    await loadAll(users, 25);
    expect(sizes).toEqual([10, 10, 5]);

    const report = registry.apply(parse('primitives:\n  users:\n    batch: { maxSize: 4 }\n'));
    expect(report).toEqual({
      applied: [{ name: 'users', capability: 'batch', keys: ['maxSize'] }],
      restartRequired: [],
      unregistered: [],
    });
    sizes.length = 0;
    await loadAll(users, 10);
    expect(sizes).toEqual([4, 4, 2]);
    expect(users.generation).toBe(2);

    // A key the configuration no longer sets goes back to the base options (unbounded).
    registry.apply(parse('primitives:\n  users:\n    batch: {}\n'));
    sizes.length = 0;
    await loadAll(users, 10);
    expect(sizes).toEqual([10]);
    await users.close();
  });

  it('applies nothing when one primitive refuses, and keeps the last good configuration', async () => {
    const first = parse(
      'primitives:\n  users:\n    batch: { maxSize: 3 }\n  strict:\n    timeout: { ms: 10 }\n',
    );
    const registry = new ConfigRegistry(first);
    const { users, sizes } = usersBatch(registry);
    const refusing: Tunable<'timeout'> = {
      capability: 'timeout',
      live: ['ms'],
      prepare: (settings) => {
        throw new RangeError(`timeout(): option ms must be <= 1000, got ${String(settings.ms)}.`);
      },
    };
    registry.register('strict', refusing);
    expect(() =>
      registry.apply(
        parse(
          'primitives:\n  users:\n    batch: { maxSize: 50 }\n  strict:\n    timeout: { ms: 5000 }\n',
        ),
        'fleet.yaml',
      ),
    ).toThrow(
      'fleet.yaml primitives.strict.timeout: got {"ms":5000}; expected settings strict accepts (timeout(): option ms must be <= 1000, got 5000.)',
    );
    expect(registry.config).toBe(first);
    await loadAll(users, 6);
    expect(sizes).toEqual([3, 3]);
    expect(users.generation).toBe(1);
    await users.close();
  });

  it('reports what needs a restart and what this process does not run', () => {
    const registry = new ConfigRegistry(
      parse('primitives:\n  payments:\n    circuitBreaker: { threshold: 5 }\n'),
    );
    const breaker = circuitBreaker({ name: 'payments' });
    registry.register('payments', breakerTunable(breaker));
    const pollOnly: Tunable<'worker'> = {
      capability: 'worker',
      live: ['pollMs'],
      prepare: () => ({ commit() {}, abandon() {} }),
    };
    registry.register('mail', pollOnly);
    const report = registry.apply(
      parse(
        'primitives:\n  payments:\n    circuitBreaker: { threshold: 3, isolated: true }\n  github:\n    rateLimit: { rate: 10 }\n  mail:\n    worker: { concurrency: 4 }\n',
      ),
    );
    expect(report).toEqual<ApplyReport>({
      applied: [
        { name: 'payments', capability: 'circuitBreaker', keys: ['threshold', 'isolated'] },
      ],
      restartRequired: [{ name: 'mail', capability: 'worker', keys: ['concurrency'] }],
      unregistered: ['github'],
    });
    expect(breaker.settings.policy.kind).toBe('consecutive');
    expect(breaker.state).toBe('open');
    return expect(breaker.execute(() => Promise.resolve(1)))
      .rejects.toSatisfy((e: unknown) => CircuitOpenError.is(e))
      .then(() => {
        registry.apply(parse('primitives:\n  payments:\n    circuitBreaker: { threshold: 3 }\n'));
        expect(breaker.state).toBe('closed');
      });
  });

  it('refuses a second registration of one name and a settingsFor of another capability', () => {
    const registry = new ConfigRegistry(
      parse('primitives:\n  users:\n    batch: { maxSize: 3 }\n'),
    );
    const tunable = breakerTunable(circuitBreaker({}));
    const registration = registry.register('b', tunable);
    expect(() => registry.register('b', tunable)).toThrow(
      'ConfigRegistry#register(): "b" is registered already.',
    );
    registration[Symbol.dispose]();
    registry.register('b', tunable);
    expect(() => registry.settingsFor('users', 'rateLimit')).toThrow(
      'ConfigRegistry#settingsFor(): primitives.users configures batch, not rateLimit.',
    );
  });
});

describe('watchConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bf-config-watch-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies an edit without a restart, refuses a bad one and keeps the last good', async () => {
    const file = join(dir, 'fleet.yaml');
    await writeFile(file, 'primitives:\n  users:\n    batch: { maxSize: 8 }\n');
    const registry = new ConfigRegistry();
    const { users, sizes } = usersBatch(registry);
    const applied: ApplyReport[] = [];
    const refused: unknown[] = [];
    let next: (() => void) | undefined;
    const event = () => new Promise<void>((resolve) => (next = resolve));
    const watcher = watchConfigFile(file, registry, {
      debounceMs: 10,
      onApplied: (report) => {
        applied.push(report);
        next?.();
      },
      onRefused: (error) => {
        refused.push(error);
        next?.();
      },
    });
    await watcher.reload();
    await loadAll(users, 16);
    expect(sizes).toEqual([8, 8]);

    let seen = event();
    // Saved the way editors do: a new file renamed into place.
    await writeFile(
      join(dir, 'fleet.yaml.tmp'),
      'primitives:\n  users:\n    batch: { maxSize: 2 }\n',
    );
    await rename(join(dir, 'fleet.yaml.tmp'), file);
    await seen;
    sizes.length = 0;
    await loadAll(users, 4);
    expect(sizes).toEqual([2, 2]);

    seen = event();
    await writeFile(file, 'primitives:\n  users:\n    batch: { maxSize: "lots" }\n');
    await seen;
    expect(refused).toHaveLength(1);
    expect(String(refused[0])).toContain(
      'primitives.users.batch.maxSize: got "lots"; expected a number',
    );
    sizes.length = 0;
    await loadAll(users, 4);
    expect(sizes).toEqual([2, 2]);
    expect(registry.config.primitives['users']).toEqual({ batch: { maxSize: 2 } });
    watcher.close();
    watcher.close();
    await users.close();
  });
});
