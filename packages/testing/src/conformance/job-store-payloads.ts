/**
 * The `JobStore` conformance suite, stored values part: every store refuses
 * a payload or run input that JSON would change or the store could not keep
 * (U+0000, lone surrogates, `NaN`, `Map`, `Date`, functions, cycles, …) the
 * same way, naming the path; and a `Worker` on the store isolates a result
 * or error it could not keep: the job fails with a clear reason, every other
 * job of the same commit succeeds, nothing stays leased, `close()` resolves.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import { Queue, UnstorableValueError, Worker } from 'batchflight/jobs';
import type { SuiteContext } from './job-store-context.js';

/** Resolves with what `promise` rejects with (undefined when it resolves). */
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/** Rejects when `promise` has not settled within `ms` of real time: bounds a hang. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} did not settle within ${String(ms)} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

class Point {
  constructor(readonly x: number) {}
}

function cycle(): unknown {
  const a: Record<string, unknown> = { name: 'a' };
  a['self'] = a;
  return a;
}

/** Payloads every store refuses, with the path the error must name. */
const UNSTORABLE: [string, () => unknown, string][] = [
  ['NaN', () => ({ n: Number.NaN }), 'payload.n'],
  ['Infinity', () => [1, Infinity], 'payload[1]'],
  ['a Map', () => new Map([['a', 1]]), 'payload'],
  ['a Set', () => ({ tags: new Set(['x']) }), 'payload.tags'],
  ['a Date', () => ({ at: new Date(0) }), 'payload.at'],
  ['a class instance', () => ({ items: [new Point(1)] }), 'payload.items[0]'],
  ['a function', () => () => 1, 'payload'],
  ['a nested function', () => ({ cb: () => 1 }), 'payload.cb'],
  ['a BigInt', () => ({ id: 10n }), 'payload.id'],
  ['a cycle', cycle, 'payload.self'],
  // eslint-disable-next-line no-sparse-arrays -- the hole is the point
  ['a hole', () => [1, , 3], 'payload[1]'],
  ['U+0000 in a string', () => ({ items: [{ name: 'a\u0000b' }] }), 'payload.items[0].name'],
  ['U+0000 in a key', () => ({ 'k\u0000': 1 }), 'payload["k\\u0000"]'],
  ['a lone surrogate', () => ({ s: 'x\ud800' }), 'payload.s'],
];

/** Registers the stored-values tests on the suite's per-test store. */
export function jobPayloadConformance(t: SuiteContext): void {
  describe('stored values', () => {
    it('enqueue refuses a payload JSON would change or a store cannot keep, naming its path; nothing is enqueued', async () => {
      for (const [what, make, path] of UNSTORABLE) {
        const error = await rejection(
          t.store.enqueue([
            { name: 'ok', payload: { fine: true } },
            { name: 'task', payload: make() },
          ]),
        );
        expect(UnstorableValueError.is(error), `${what}: ${String(error)}`).toBe(true);
        const e = error as UnstorableValueError;
        expect(e.code).toBe('ERR_BATCHFLIGHT_UNSTORABLE_VALUE');
        expect(e.path, what).toBe(path);
        expect(e.message.startsWith(`enqueue(): ${path} `), e.message).toBe(true);
        expect(e.message).toMatch(/stored as JSON/);
        // The message is itself storable: it may end up in a job's lastError.
        expect(e.message).not.toMatch(/\0/);
      }
      expect(await t.store.query({ limit: 100 })).toEqual([]);
    });

    it('Queue.add and addMany refuse the same payloads; addMany names the item', async () => {
      const queue = new Queue(t.store, { clock: t.clock });
      const one = await rejection(queue.add('j', { n: Number.NaN }));
      expect(UnstorableValueError.is(one) && one.path).toBe('payload.n');
      const many = await rejection(
        queue.addMany([
          { name: 'j', payload: 1 },
          { name: 'j', payload: { at: new Date(0) } },
        ]),
      );
      expect(UnstorableValueError.is(many) && many.path).toBe('items[1].payload.at');
      expect((many as Error).message).toMatch(
        /^queue\.addMany\(\): items\[1\]\.payload\.at is a Date/,
      );
      expect(await t.store.query({ limit: 100 })).toEqual([]);
    });

    it('a payload with undefined fields or -0 is stored as JSON has it', async () => {
      const r = await t.add({ a: 1, skipped: undefined, zero: -0 });
      expect((await t.store.get(r.id))?.payload).toEqual({ a: 1, zero: 0 });
    });

    it('enqueue refuses U+0000 in a name, queue, key or dependency; createRun in its name and input', async () => {
      const specs = [
        { name: 'a\u0000' },
        { name: 'task', queue: 'q\u0000' },
        { name: 'task', idempotencyKey: 'k\u0000' },
        { name: 'task', partitionKey: 'p\u0000' },
        { name: 'task', dependsOn: ['1\u0000'] },
      ];
      for (const spec of specs) {
        const error = await rejection(t.store.enqueue([{ payload: null, ...spec }]));
        expect(InvalidOptionError.is(error), `${JSON.stringify(spec)}: ${String(error)}`).toBe(
          true,
        );
      }
      const input = await rejection(
        t.store.createRun({ name: 'r', input: { file: 'a\u0000' }, total: 1, chunkSize: 1 }),
      );
      expect(UnstorableValueError.is(input) && input.path).toBe('input.file');
      const name = await rejection(
        t.store.createRun({ name: 'r\u0000', input: null, total: 1, chunkSize: 1 }),
      );
      expect(InvalidOptionError.is(name)).toBe(true);
      expect(await t.store.query({ limit: 100 })).toEqual([]);
    });

    it('a worker isolates a result and an error the store cannot keep: the other 20 jobs succeed, nothing stays leased, close() resolves', async () => {
      const queue = new Queue(t.store, { clock: t.clock });
      await queue.addMany([
        ...Array.from({ length: 10 }, (_, i) => ({ name: 'good', payload: i })),
        { name: 'nulResult', payload: null },
        { name: 'nulError', payload: null, options: { maxAttempts: 1 } },
        ...Array.from({ length: 10 }, (_, i) => ({ name: 'good', payload: 10 + i })),
      ]);
      const worker = new Worker(
        t.store,
        {
          good: (n: number) => n * 2,
          nulResult: () => 'a\u0000b',
          nulError: () => {
            throw new Error('x\u0000y');
          },
        },
        // One claim and one commit for all 22 jobs.
        { clock: t.clock, concurrency: 22, claimBatch: 50, depthSampleMs: 0 },
      );
      const flushErrors: unknown[] = [];
      worker.onError((e) => flushErrors.push(e.error));
      try {
        await within(worker.drain(), 5_000, 'worker.drain()');
      } finally {
        await within(worker.close({ timeoutMs: 1_000 }), 5_000, 'worker.close()');
      }
      const jobs = await t.store.query({ limit: 100 });
      expect(jobs.filter((j) => j.state === 'leased')).toEqual([]);
      const good = jobs.filter((j) => j.name === 'good');
      expect(good.map((j) => [j.state, j.result])).toEqual(
        Array.from({ length: 20 }, (_, i) => ['succeeded', i * 2]),
      );
      const nulResult = jobs.find((j) => j.name === 'nulResult');
      expect(nulResult?.state).toBe('dead');
      expect(nulResult?.lastError).toMatch(
        /UnstorableValueError: result contains U\+0000, which a job store cannot keep/,
      );
      const nulError = jobs.find((j) => j.name === 'nulError');
      expect(nulError?.state).toBe('dead');
      expect(nulError?.lastError).toMatch(/^Error: x\uFFFDy/);
      expect(flushErrors).toEqual([]);
      expect(worker.stats()).toMatchObject({ succeeded: 20, dead: 2, refused: 0 });
    });

    it('a step value the store cannot keep fails the job without retrying; the step is not memoised', async () => {
      const queue = new Queue(t.store, { clock: t.clock });
      const { id } = await queue.add('steps', null);
      const worker = new Worker(
        t.store,
        {
          steps: async (_: null, ctx) => {
            await ctx.step('fine', () => 1);
            return ctx.step('bad', () => ({ at: new Date(0) }));
          },
        },
        { clock: t.clock, depthSampleMs: 0 },
      );
      try {
        await within(worker.drain(), 5_000, 'worker.drain()');
      } finally {
        await within(worker.close({ timeoutMs: 1_000 }), 5_000, 'worker.close()');
      }
      const job = await t.store.get(id);
      expect(job?.state).toBe('dead');
      expect(job?.lastError).toMatch(
        /UnstorableValueError: ctx\.step\("bad"\): value\.at is a Date/,
      );
      expect(await t.store.getStep(id, 'fine')).toEqual({ found: true, value: 1 });
      expect((await t.store.getStep(id, 'bad')).found).toBe(false);
    });
  });
}
