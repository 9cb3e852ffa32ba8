import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import { ClosedError, InvalidOptionError, sleep, toContext } from '../core/index.js';
import { BulkheadFullError, bulkhead } from './index.js';

/** A handler whose calls settle only when released, in any order. */
function gate() {
  const started: number[] = [];
  const release = new Map<number, () => void>();
  const handler = (n: number): Promise<string> => {
    started.push(n);
    return new Promise((resolve) =>
      release.set(n, () => {
        resolve(`ok:${String(n)}`);
      }),
    );
  };
  return { handler, started, release: (n: number) => release.get(n)?.() };
}

const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

describe('bulkhead', () => {
  it('runs at most maxConcurrent, queues maxQueued in FIFO order and refuses the rest', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 2, maxQueued: 2 });
    const rejected: unknown[] = [];
    pool.onRejected((e) => rejected.push(e));
    const { handler, started, release } = gate();
    const call = pool.wrap(handler);
    const results = [1, 2, 3, 4].map((n) => call(n, toContext()));
    const refused = await settle(call(5, toContext()));
    expect(refused).toBeInstanceOf(BulkheadFullError);
    expect(BulkheadFullError.is(refused)).toBe(true);
    expect(refused).toMatchObject({ code: 'ERR_BATCHFLIGHT_BULKHEAD_FULL', maxConcurrent: 2 });
    expect(rejected).toEqual([{ active: 2, queued: 2 }]);
    expect(started).toEqual([1, 2]);
    expect(pool.stats()).toMatchObject({ active: 2, queued: 2, rejected: 1 });
    release(2);
    await flushMicrotasks();
    expect(started).toEqual([1, 2, 3]);
    // A newcomer cannot overtake the queue while a waiter is still queued.
    const late = call(6, toContext());
    release(1);
    await flushMicrotasks();
    expect(started).toEqual([1, 2, 3, 4]);
    release(3);
    await flushMicrotasks();
    expect(started).toEqual([1, 2, 3, 4, 6]);
    release(4);
    release(6);
    await expect(Promise.all([...results, late])).resolves.toEqual([
      'ok:1',
      'ok:2',
      'ok:3',
      'ok:4',
      'ok:6',
    ]);
    expect(pool.stats()).toMatchObject({ active: 0, queued: 0, executed: 5 });
  });

  it('removes an aborted waiter from the queue, rejecting with signal.reason', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 1, maxQueued: 5 });
    const { handler, started, release } = gate();
    const call = pool.wrap(handler);
    const first = call(1, toContext());
    const controller = new AbortController();
    const leaving = call(2, { signal: controller.signal });
    const staying = call(3, toContext());
    const reason = new Error('no longer needed');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    expect(pool.stats()).toMatchObject({ queued: 1, aborted: 1 });
    release(1);
    await flushMicrotasks();
    expect(started).toEqual([1, 3]);
    release(3);
    await Promise.all([first, staying]);
  });

  it('lets urgent calls jump the queue, even a full one, without exceeding maxConcurrent', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 1, maxQueued: 1 });
    const { handler, started, release } = gate();
    const call = pool.wrap(handler);
    const all = [call(1, toContext()), call(2, toContext()), call(3, toContext({ urgent: true }))];
    expect(started).toEqual([1]);
    release(1);
    await flushMicrotasks();
    expect(started).toEqual([1, 3]);
    release(3);
    await flushMicrotasks();
    release(2);
    await Promise.all(all);
    expect(started).toEqual([1, 3, 2]);
  });

  it('ready() resolves when a call would no longer be refused, one waiter per free place', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 1 });
    const { handler, release } = gate();
    const call = pool.wrap(handler);
    const running = call(1, toContext());
    let readyCount = 0;
    const a = pool.ready().then(() => readyCount++);
    const b = pool.ready().then(() => readyCount++);
    const controller = new AbortController();
    const c = pool.ready({ signal: controller.signal });
    controller.abort(new Error('gone'));
    await expect(c).rejects.toThrow('gone');
    await flushMicrotasks();
    expect(readyCount).toBe(0);
    release(1);
    await running;
    await a;
    expect(readyCount).toBe(1);
    const second = call(2, toContext());
    release(2);
    await second;
    await b;
    expect(readyCount).toBe(2);
    await expect(pool.ready()).resolves.toBeUndefined();
  });

  it('releases the slot when the call fails or throws synchronously', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 1 });
    const boom = new Error('boom');
    await expect(pool.wrap(async () => Promise.reject(boom))(1, toContext())).rejects.toBe(boom);
    await expect(
      pool.wrap(() => {
        throw boom;
      })(1, toContext()),
    ).rejects.toBe(boom);
    expect(pool.stats().active).toBe(0);
    await expect(pool.execute(async () => 'fine')).resolves.toBe('fine');
  });

  it('close() refuses new calls and resolves once running and queued calls are done', async () => {
    const pool = bulkhead<number, string>({ maxConcurrent: 1, maxQueued: 1 });
    const { handler, release } = gate();
    const call = pool.wrap(handler);
    const a = call(1, toContext());
    const b = call(2, toContext());
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect(pool.close()).toBe(pool.close());
    await expect(call(3, toContext())).rejects.toBeInstanceOf(ClosedError);
    release(1);
    await flushMicrotasks();
    expect(closed).toBe(false);
    release(2);
    await Promise.all([a, b, closing]);
    expect(closed).toBe(true);
    await pool[Symbol.asyncDispose]();
  });

  it('validates its options', () => {
    expect(() => bulkhead({ maxConcurrent: 0 })).toThrow(
      'bulkhead(): option maxConcurrent must be an integer >= 1, got 0.',
    );
    expect(() => bulkhead({ maxConcurrent: 1, maxQueued: -1 })).toThrow(InvalidOptionError);
  });

  it('property: never more than maxConcurrent running, every call accounted for, FIFO start order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 50 }),
            ms: fc.integer({ min: 0, max: 30 }),
            fail: fc.boolean(),
          }),
          { maxLength: 25 },
        ),
        async (maxConcurrent, maxQueued, calls) => {
          const clock = new TestClock(0);
          const pool = bulkhead<number, number>({ maxConcurrent, maxQueued });
          let running = 0;
          let peak = 0;
          const startOrder: number[] = [];
          const call = pool.wrap(async (i) => {
            startOrder.push(i);
            running++;
            peak = Math.max(peak, running);
            await sleep(calls[i]!.ms, { clock });
            running--;
            if (calls[i]!.fail) throw new Error(`fail ${String(i)}`);
            return i;
          });
          const order = calls.map((c, i) => ({ ...c, i })).sort((a, b) => a.at - b.at || a.i - b.i);
          const outcomes: Promise<string>[] = [];
          let now = 0;
          for (const c of order) {
            if (c.at > now) {
              await clock.advance(c.at - now);
              now = c.at;
            }
            outcomes.push(
              call(c.i, toContext()).then(
                () => 'ok',
                (e: unknown) => (BulkheadFullError.is(e) ? 'full' : 'failed'),
              ),
            );
          }
          await clock.runAll();
          const results = await Promise.all(outcomes);
          expect(peak).toBeLessThanOrEqual(maxConcurrent);
          const stats = pool.stats();
          expect(stats.executed + stats.rejected).toBe(calls.length);
          expect(results.filter((r) => r === 'full')).toHaveLength(stats.rejected);
          expect(stats).toMatchObject({ active: 0, queued: 0 });
          // Started calls start in the order they arrived.
          const arrival = order.map((c) => c.i).filter((i) => startOrder.includes(i));
          expect(startOrder).toEqual(arrival);
        },
      ),
      { numRuns: 100 },
    );
  });
});
