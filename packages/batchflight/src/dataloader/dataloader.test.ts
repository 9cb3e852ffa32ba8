import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import OriginalDataLoader from 'dataloader';
import { ManualScheduler, TestClock, flushMicrotasks } from '@batchflight/testing';
import { InvalidOptionError } from '../core/index.js';
import DefaultExport, { DataLoader, TtlCacheMap } from './index.js';

type Loader = Pick<
  DataLoader<number, string, unknown>,
  'load' | 'loadMany' | 'clear' | 'clearAll' | 'prime'
>;
type LoaderClass = new (
  fn: (keys: readonly number[]) => PromiseLike<ArrayLike<string | Error>>,
  options?: object,
) => Loader;

type Op =
  | { readonly op: 'load'; readonly key: number }
  | { readonly op: 'loadNull' }
  | { readonly op: 'loadMany'; readonly keys: number[] }
  | { readonly op: 'clear'; readonly key: number }
  | { readonly op: 'clearAll' }
  | { readonly op: 'prime'; readonly key: number; readonly error: boolean }
  | { readonly op: 'tick' }
  | { readonly op: 'micro' };

const key = fc.integer({ min: 0, max: 9 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: key.map((k) => ({ op: 'load' as const, key: k })) },
  { weight: 1, arbitrary: fc.constant({ op: 'loadNull' as const }) },
  {
    weight: 2,
    arbitrary: fc.array(key, { maxLength: 4 }).map((keys) => ({ op: 'loadMany' as const, keys })),
  },
  { weight: 1, arbitrary: key.map((k) => ({ op: 'clear' as const, key: k })) },
  { weight: 1, arbitrary: fc.constant({ op: 'clearAll' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('prime' as const), key, error: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'tick' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'micro' as const }) },
);

const optionsArb = fc.record(
  {
    batch: fc.boolean(),
    maxBatchSize: fc.integer({ min: 1, max: 4 }),
    cache: fc.boolean(),
    cacheKeyFn: fc.constant((k: number) => k % 6),
    name: fc.string(),
  },
  { requiredKeys: [] },
);

/** The bulk function both loaders get: values, per-item errors, whole failures, contract breaks. */
function bulk(log: string[]) {
  return (keys: readonly number[]): PromiseLike<ArrayLike<string | Error>> => {
    log.push(`batch:${keys.join(',')}`);
    if (keys.includes(7) && keys.length === 1) throw new Error('sync throw');
    if (keys.includes(9)) return Promise.reject(new Error('batch failed'));
    if (keys.includes(8) && keys.length > 1) return Promise.resolve(keys.slice(1).map(String));
    return Promise.resolve(
      keys.map((k) => (k % 4 === 3 ? new Error(`item ${String(k)}`) : `v${String(k)}`)),
    );
  };
}

function describeOutcome(value: unknown): string {
  if (value instanceof Error) return `${value.name}:${value.message}`;
  if (Array.isArray(value)) return `[${value.map(describeOutcome).join('|')}]`;
  return String(value);
}

async function run(Loader: LoaderClass, options: object, ops: readonly Op[]): Promise<string[]> {
  const log: string[] = [];
  const loader = new Loader(bulk(log), options);
  const track = (id: number, promise: Promise<unknown>): void => {
    promise.then(
      (value) => log.push(`${String(id)}:ok:${describeOutcome(value)}`),
      (error: unknown) => log.push(`${String(id)}:err:${describeOutcome(error)}`),
    );
  };
  for (const [id, op] of ops.entries()) {
    switch (op.op) {
      case 'load':
        track(id, loader.load(op.key));
        break;
      case 'loadNull':
        try {
          void loader.load(null as unknown as number);
        } catch (error) {
          log.push(`${String(id)}:threw:${describeOutcome(error)}`);
        }
        break;
      case 'loadMany':
        track(id, loader.loadMany(op.keys));
        break;
      case 'clear':
        loader.clear(op.key);
        break;
      case 'clearAll':
        loader.clearAll();
        break;
      case 'prime':
        loader.prime(
          op.key,
          op.error ? new Error(`primed ${String(op.key)}`) : `p${String(op.key)}`,
        );
        break;
      case 'tick':
        await flushMicrotasks();
        break;
      case 'micro':
        await Promise.resolve();
        break;
    }
  }
  for (let i = 0; i < 5; i++) await flushMicrotasks();
  return log;
}

describe('DataLoader, differential against the dataloader package', () => {
  it('makes the same batch calls and settles every load the same way, in the same order', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, fc.array(opArb, { maxLength: 40 }), async (options, ops) => {
        const theirs = await run(OriginalDataLoader as unknown as LoaderClass, options, ops);
        const ours = await run(DataLoader, options, ops);
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 300 },
    );
  });

  it('throws the same construction errors', () => {
    const cases: [unknown, object | undefined][] = [
      [42, undefined],
      [() => Promise.resolve([]), { maxBatchSize: 0 }],
      [() => Promise.resolve([]), { batchScheduleFn: 5 }],
      [() => Promise.resolve([]), { cacheKeyFn: 'x' }],
      [() => Promise.resolve([]), { cacheMap: { get() {} } }],
    ];
    for (const [fn, options] of cases) {
      const message = (Ctor: unknown): string => {
        try {
          new (Ctor as new (a: unknown, b: unknown) => unknown)(fn, options);
          return 'no error';
        } catch (error) {
          return describeOutcome(error);
        }
      };
      expect(message(DataLoader)).toBe(message(OriginalDataLoader));
      expect(message(DataLoader)).not.toBe('no error');
    }
  });

  it('reports a batch function that returns no promise, or no array, with the same messages', async () => {
    for (const result of [undefined, Promise.resolve(42)]) {
      const messages = await Promise.all(
        [OriginalDataLoader, DataLoader].map(async (Ctor) => {
          const loader = new (Ctor as unknown as LoaderClass)(() => result as never);
          return loader.load(1).then(String, describeOutcome);
        }),
      );
      expect(messages[0]).toBe(messages[1]);
      expect(messages[0]).toContain('DataLoader must be constructed with a function');
    }
    const loader = new DataLoader<number, number>(() => Promise.resolve([]));
    expect(() => loader.loadMany(5 as unknown as number[])).toThrow(
      'The loader.loadMany() function must be called with Array<key> but got: 5.',
    );
  });

  it('chains clear, clearAll and prime, and ignores the cache methods when caching is off', async () => {
    const loader = new DataLoader<number, string>((keys) => Promise.resolve(keys.map(String)));
    expect(loader.prime(1, 'one').clear(2).clearAll().prime(1, 'uno')).toBe(loader);
    await expect(loader.load(1)).resolves.toBe('uno');
    const uncached = new DataLoader<number, string>((keys) => Promise.resolve(keys.map(String)), {
      cache: false,
    });
    await expect(uncached.prime(1, 'one').load(1)).resolves.toBe('1');
  });

  it('is the default export and keeps the name option', () => {
    expect(DefaultExport).toBe(DataLoader);
    expect(new DataLoader(() => Promise.resolve([]), { name: 'users' }).name).toBe('users');
    expect(new DataLoader(() => Promise.resolve([])).name).toBeNull();
  });

  it('supports manual dispatch through batchScheduleFn', async () => {
    const scheduler = new ManualScheduler();
    const calls: (readonly number[])[] = [];
    const loader = new DataLoader<number, number>(
      (keys) => {
        calls.push(keys);
        return Promise.resolve([...keys]);
      },
      { batchScheduleFn: scheduler.schedule },
    );
    const loads = [loader.load(1), loader.load(2)];
    await flushMicrotasks();
    expect(calls).toEqual([]);
    scheduler.flush();
    await expect(Promise.all(loads)).resolves.toEqual([1, 2]);
    expect(calls).toEqual([[1, 2]]);
  });
});

describe('DataLoader opt-in fixes', () => {
  it('cacheErrors: false asks again for a key whose result was an Error', async () => {
    let calls = 0;
    const fn = (keys: readonly number[]): Promise<(number | Error)[]> => {
      calls++;
      return Promise.resolve(keys.map((k) => (calls === 1 ? new Error('first') : k)));
    };
    const compatible = new DataLoader(fn);
    await expect(compatible.load(1)).rejects.toThrow('first');
    await expect(compatible.load(1)).rejects.toThrow('first'); // cached, like the original
    calls = 0;
    const fixed = new DataLoader(fn, { cacheErrors: false });
    await expect(fixed.load(1)).rejects.toThrow('first');
    await expect(fixed.load(1)).resolves.toBe(1);
    expect(calls).toBe(2);
  });

  it('cacheTtlMs and cacheMaxEntries bound the cache on the injected clock', async () => {
    const clock = new TestClock();
    const calls: (readonly number[])[] = [];
    const loader = new DataLoader<number, number>(
      (keys) => {
        calls.push(keys);
        return Promise.resolve([...keys]);
      },
      { cacheTtlMs: 1000, cacheMaxEntries: 2, clock },
    );
    await loader.load(1);
    await loader.load(1);
    expect(calls).toEqual([[1]]);
    await clock.advance(1000);
    await loader.load(1);
    expect(calls).toEqual([[1], [1]]);
    await Promise.all([loader.load(2), loader.load(3)]); // evicts 1
    await loader.load(1);
    expect(calls).toEqual([[1], [1], [2, 3], [1]]);
    expect(() => new DataLoader(() => Promise.resolve([]), { cacheTtlMs: 0 })).toThrow(
      'new DataLoader(): option cacheTtlMs must be a number > 0, got 0.',
    );
  });

  it('refuses cacheTtlMs / cacheMaxEntries with a cacheMap of its own or with caching off', () => {
    const batchFn = (): Promise<never[]> => Promise.resolve([]);
    expect(() => new DataLoader(batchFn, { cacheTtlMs: 5, cacheMap: new Map() })).toThrow(
      'new DataLoader(): option cacheTtlMs bounds the cache DataLoader builds itself, so it cannot be combined with cacheMap (an instance of Map); bound your own cacheMap instead (e.g. a TtlCacheMap), or drop cacheTtlMs.',
    );
    expect(() => new DataLoader(batchFn, { cacheMaxEntries: 10, cache: false })).toThrow(
      'new DataLoader(): option cacheMaxEntries bounds the cache DataLoader builds itself, so it cannot be combined with cache: false; bound your own cacheMap instead (e.g. a TtlCacheMap), or drop cacheMaxEntries.',
    );
    expect(() => new DataLoader(batchFn, { cacheTtlMs: 5, cacheMap: null })).toThrow(
      'cannot be combined with cacheMap (null)',
    );
    let error: unknown;
    try {
      new DataLoader(batchFn, { cacheTtlMs: 5, cache: false });
    } catch (e) {
      error = e;
    }
    expect(InvalidOptionError.is(error)).toBe(true);
    expect((error as InvalidOptionError).option).toBe('cacheTtlMs');
    // A bounded cacheMap of the caller's is the way to have both.
    const clock = new TestClock();
    expect(
      () => new DataLoader(batchFn, { cacheMap: new TtlCacheMap({ ttlMs: 5, clock }) }),
    ).not.toThrow();
  });

  it('TtlCacheMap expires entries on read and evicts the oldest', () => {
    const clock = new TestClock();
    const cache = new TtlCacheMap<string, number>({ ttlMs: 10, maxEntries: 2, clock });
    cache.set('a', 1).set('b', 2).set('c', 3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe(2);
    expect(cache.size).toBe(2);
    expect(cache.delete('b')).toBe(true);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('sameCachedPromise: true returns the cached promise itself on a hit (dataloader #377)', async () => {
    const fn = (keys: readonly number[]): Promise<number[]> => Promise.resolve([...keys]);
    const compatible = new DataLoader(fn);
    const first = compatible.load(1);
    expect(compatible.load(1)).not.toBe(first);
    const fixed = new DataLoader(fn, { sameCachedPromise: true });
    const a = fixed.load(1);
    expect(fixed.load(1)).toBe(a);
    await expect(a).resolves.toBe(1);
  });

  it('maxConcurrentBatches keeps later batches waiting until one settles', async () => {
    const gates: { keys: readonly number[]; resolve: (v: number[]) => void }[] = [];
    const loader = new DataLoader<number, number>(
      (keys) =>
        new Promise((resolve) => {
          gates.push({ keys, resolve });
        }),
      { maxBatchSize: 1, maxConcurrentBatches: 1 },
    );
    const loads = [loader.load(1), loader.load(2)];
    await flushMicrotasks();
    expect(gates.map((g) => g.keys)).toEqual([[1]]);
    gates[0]?.resolve([1]);
    await flushMicrotasks();
    expect(gates.map((g) => g.keys)).toEqual([[1], [2]]);
    gates[1]?.resolve([2]);
    await expect(Promise.all(loads)).resolves.toEqual([1, 2]);
  });
});
