/**
 * The `JobStore` conformance suite, stored values part: every store refuses
 * a payload that JSON would change or the store could not keep (U+0000,
 * lone surrogates, `NaN`, `Map`, `Date`, functions, cycles, …) the same way,
 * naming the path. (What a `Worker` does with a result it cannot keep is in
 * the `StepStore` suite: a `Worker` needs both contracts.)
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import { Queue, UnstorableValueError, type JobStore } from 'batchflight/jobs';
import { rejection } from '../deferred.js';
import type { JobSuiteContext } from './harness.js';

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
export function jobPayloadConformance(t: JobSuiteContext<JobStore>): void {
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

    it('enqueue refuses U+0000 in a name, queue, key or dependency', async () => {
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
      expect(await t.store.query({ limit: 100 })).toEqual([]);
    });
  });
}
