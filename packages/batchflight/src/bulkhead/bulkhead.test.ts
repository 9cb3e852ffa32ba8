import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import { ClosedError, InvalidOptionError, sleep, toContext } from '../core/index.js';
import {
  Bulkhead,
  BulkheadFullError,
  BulkheadPolicy,
  bulkhead,
  bulkheadChannels,
} from './index.js';

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
    expect(rejected).toEqual([{ name: 'bulkhead', active: 2, queued: 2 }]);
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

describe('bulkhead: aborted signals, ready() and close()', () => {
  it('ready() with an already aborted signal rejects with its reason when the bulkhead is full (was: never settled)', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    void b.wrap(() => new Promise<never>(() => undefined))(1, toContext());
    const reason = new Error('gone');
    await expect(b.ready({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    // With room too: an aborted caller is told at once, not invited in.
    const roomy = bulkhead({ maxConcurrent: 1 });
    await expect(roomy.ready({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('ready() after close() rejects with ClosedError, and so do producers already waiting', async () => {
    const g = gate();
    const b = bulkhead({ maxConcurrent: 1, name: 'db' });
    const running = b.wrap(g.handler)(1, toContext());
    const waiting = settle(b.ready());
    const closing = b.close();
    expect(ClosedError.is(await waiting)).toBe(true);
    await expect(b.ready()).rejects.toThrow('bulkhead(db): ready() after close()');
    g.release(1);
    await closing;
    await expect(running).resolves.toBe('ok:1');
  });

  it('a signal that is not an AbortSignal is a TypeError naming the method, the option and the value', async () => {
    const b = bulkhead({ maxConcurrent: 1, name: 'db' });
    const bad = { signal: 'x' as unknown as AbortSignal };
    await expect(b.ready(bad)).rejects.toThrow(
      new TypeError('bulkhead(db).ready(): option signal must be an AbortSignal, got "x".'),
    );
    await expect(b.execute(async () => 1, bad)).rejects.toThrow(
      'bulkhead(db).execute(): option signal must be an AbortSignal, got "x".',
    );
    await expect(
      b.execute(async () => 1, { sigal: AbortSignal.abort() } as unknown as {
        signal: AbortSignal;
      }),
    ).rejects.toSatisfy((e: unknown) => InvalidOptionError.is(e));
    await expect(b.close(bad)).rejects.toThrow(
      'bulkhead(db).close(): option signal must be an AbortSignal (aborting it forces the close), got "x".',
    );
  });

  it('a call whose signal is already aborted starts nothing and rejects with its reason, free slot or not', async () => {
    const b = bulkhead({ maxConcurrent: 1 });
    let calls = 0;
    const h = b.wrap(async () => ++calls);
    const reason = new Error('left');
    await expect(h(1, toContext({ signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    await expect(
      b.execute(async () => ++calls, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(calls).toBe(0);
    expect(b.stats()).toMatchObject({ active: 0, executed: 0 });
  });

  it('close({ timeoutMs }) turns forced at the deadline: the queued calls reject with ClosedError without starting', async () => {
    const clock = new TestClock();
    const g = gate();
    const b = bulkhead({ maxConcurrent: 1, maxQueued: 2, clock });
    const h = b.wrap(g.handler);
    const running = h(1, toContext());
    const queued = [settle(h(2, toContext())), settle(h(3, toContext()))];
    let closed = false;
    const closing = b.close({ timeoutMs: 1_000 }).then(() => (closed = true));
    await clock.advance(999);
    expect(closed).toBe(false);
    await clock.advance(1);
    await closing;
    for (const outcome of await Promise.all(queued)) expect(ClosedError.is(outcome)).toBe(true);
    expect(g.started).toEqual([1]);
    // The running call was not the bulkhead's to stop; it still finishes.
    g.release(1);
    await expect(running).resolves.toBe('ok:1');
    expect(b.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('close({ signal }) forces when the signal aborts, also on a close already under way', async () => {
    const g = gate();
    const b = bulkhead({ maxConcurrent: 1, maxQueued: 1 });
    const h = b.wrap(g.handler);
    void h(1, toContext());
    const queued = settle(h(2, toContext()));
    const graceful = b.close();
    const controller = new AbortController();
    const forced = b.close({ signal: controller.signal });
    expect(forced).toBe(graceful);
    controller.abort();
    await forced;
    expect(ClosedError.is(await queued)).toBe(true);
    g.release(1);
    await expect(b[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });

  it('close({ signal }) with a signal already aborted is forced at once, running calls or not', async () => {
    const g = gate();
    const b = bulkhead({ maxConcurrent: 1, maxQueued: 1 });
    const h = b.wrap(g.handler);
    const running = h(1, toContext());
    const queued = settle(h(2, toContext()));
    await b.close({ signal: AbortSignal.abort() });
    expect(ClosedError.is(await queued)).toBe(true);
    expect(g.started).toEqual([1]);
    g.release(1);
    await expect(running).resolves.toBe('ok:1');
  });

  it('takes a name, shown in its errors and events, and keeps the old class name as an alias', async () => {
    const b = bulkhead({ maxConcurrent: 1, name: 'db' });
    expect(b.name).toBe('db');
    expect(bulkhead({ maxConcurrent: 1 }).name).toBe('bulkhead');
    expect(() => bulkhead({ maxConcurrent: 1, name: '' })).toThrow(
      'bulkhead(): option name must be a non-empty string, got "".',
    );
    const events: unknown[] = [];
    b.onRejected((e) => events.push(e));
    const g = gate();
    void b.wrap(g.handler)(1, toContext());
    await expect(b.wrap(g.handler)(2, toContext())).rejects.toThrow('bulkhead(db): all 1 slots');
    expect(events).toEqual([{ name: 'db', active: 1, queued: 0 }]);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expect(Bulkhead).toBe(BulkheadPolicy);
    expect(bulkheadChannels.rejected.name).toBe('batchflight:bulkhead:rejected');
  });
});
