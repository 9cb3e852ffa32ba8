/** batch(): concurrency, backpressure, scopes, abort, events, close, options, the adaptive window, properties. */
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ManualScheduler,
  TestClock,
  flushMicrotasks,
  deferred,
  outcome,
} from '@batchflight/testing';
import { ClosedError, InvalidOptionError, stack, toContext, type Layer } from '../core/index.js';
import {
  BackpressureError,
  BatchContractError,
  batch,
  type BatchDispatchEvent,
  type BatchLoadContext,
  type BatchSettledEvent,
} from './index.js';
import { abortListeners, recorder } from './__fixtures__/recorder.js';

describe('concurrency and backpressure', () => {
  it('keeps at most maxConcurrentBatches in flight; closed batches wait in order', async () => {
    const gates: { keys: number[]; gate: ReturnType<typeof deferred<number[]>> }[] = [];
    const users = batch({
      maxSize: 1,
      maxConcurrentBatches: 2,
      load: (keys: number[]) => {
        const gate = deferred<number[]>();
        gates.push({ keys, gate });
        return gate.promise;
      },
    });
    const loads = [1, 2, 3, 4].map((k) => users.load(k));
    expect(gates.map((g) => g.keys)).toEqual([[1], [2]]);
    expect(users.stats()).toMatchObject({ inFlightBatches: 2, queuedBatches: 2, queueDepth: 2 });
    gates[1]?.gate.resolve([2]);
    await flushMicrotasks();
    expect(gates.map((g) => g.keys)).toEqual([[1], [2], [3]]);
    for (const g of gates.slice(0)) g.gate.resolve(g.keys);
    await flushMicrotasks();
    for (const g of gates) g.gate.resolve(g.keys);
    await expect(Promise.all(loads)).resolves.toEqual([1, 2, 3, 4]);
  });

  it('rejects beyond maxPending with BackpressureError when whenFull is reject', async () => {
    const gate = deferred<number[]>();
    const users = batch({ maxPending: 2, whenFull: 'reject', load: () => gate.promise });
    const a = users.load(1);
    const b = users.load(2);
    const dup = users.load(1); // joining a pending key takes no room
    await expect(users.load(3)).rejects.toSatisfy(
      (e: unknown) =>
        BackpressureError.is(e) &&
        e.message ===
          'batch(batch): 2 keys are already pending (maxPending); retry later or await ready() before loading.',
    );
    gate.resolve([1, 2]);
    await expect(Promise.all([a, b, dup])).resolves.toEqual([1, 2, 1]);
    expect(users.stats().errors.backpressure).toBe(1);
  });

  it('makes callers wait for room when whenFull is wait, abortably, and ready() follows the room', async () => {
    const gates: ReturnType<typeof deferred<number[]>>[] = [];
    const users = batch({
      maxPending: 1,
      load: () => {
        const gate = deferred<number[]>();
        gates.push(gate);
        return gate.promise;
      },
    });
    const first = users.load(1);
    let readyResolved = false;
    const ready = users.ready().then(() => (readyResolved = true));
    const controller = new AbortController();
    const leaver = outcome(users.load(2, { signal: controller.signal }));
    const waiter = users.load(3);
    await flushMicrotasks();
    expect(gates).toHaveLength(1);
    controller.abort(new Error('no wait'));
    expect(await leaver).toMatchObject({ ok: false, error: { message: 'no wait' } });
    expect(abortListeners(controller.signal)).toBe(0);
    gates[0]?.resolve([1]);
    await expect(first).resolves.toBe(1);
    await flushMicrotasks();
    expect(gates).toHaveLength(2);
    expect(readyResolved).toBe(false);
    gates[1]?.resolve([3]);
    await expect(waiter).resolves.toBe(3);
    await ready;
    expect(users.stats().pending).toBe(0);
    await expect(users.ready()).resolves.toBeUndefined();
  });
});

describe('scope, abort and the handler', () => {
  it('never puts two scopes in one batch and passes the scope to load', async () => {
    const seen: [string | undefined, number[]][] = [];
    const users = batch({
      load: (keys: number[], ctx: BatchLoadContext) => {
        seen.push([ctx.scope, keys]);
        return keys.map((k) => `${ctx.scope ?? '-'}:${String(k)}`);
      },
    });
    const results = await Promise.all([
      users.load(1, { scope: 'a' }),
      users.load(1, { scope: 'b' }),
      users.load(2, { scope: 'a' }),
      users.load(1),
    ]);
    expect(results).toEqual(['a:1', 'b:1', 'a:2', '-:1']);
    // Windows close in the order they opened.
    expect(seen).toEqual([
      ['a', [1, 2]],
      ['b', [1]],
      [undefined, [1]],
    ]);
  });

  it('lets an aborted caller leave alone with the signal reason, its listener removed', async () => {
    const gate = deferred<string[]>();
    const users = batch({ load: () => gate.promise });
    const controller = new AbortController();
    const leaving = outcome(users.load(1, { signal: controller.signal }));
    const staying = users.load(1);
    await flushMicrotasks();
    const reason = new Error('user left');
    controller.abort(reason);
    expect(await leaving).toEqual({ ok: false, error: reason });
    expect(abortListeners(controller.signal)).toBe(0);
    gate.resolve(['v']);
    await expect(staying).resolves.toBe('v');
    expect(users.stats().errors.aborted).toBe(1);
  });

  it('removes the abort listener when the load settles', async () => {
    const users = batch({ load: (keys: number[]) => keys });
    const controller = new AbortController();
    await users.load(1, { signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects at once for an already aborted signal', async () => {
    const { calls, load } = recorder<number>();
    const users = batch({ load });
    const reason = new Error('already');
    await expect(users.load(1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await flushMicrotasks();
    expect(calls).toEqual([]);
  });

  it('drops a key nobody waits for from a batch not yet sent', async () => {
    const scheduler = new ManualScheduler();
    const { calls, load } = recorder<number>();
    const users = batch({ load, scheduler: scheduler.schedule });
    const controller = new AbortController();
    const dropped = outcome(users.load(1, { signal: controller.signal }));
    const kept = users.load(2);
    controller.abort(new Error('left'));
    await dropped;
    scheduler.flush();
    await expect(kept).resolves.toBe('v2');
    expect(calls).toEqual([[2]]);
    expect(users.stats().pending).toBe(0);
  });

  it('aborts ctx.signal of a sent batch when every caller has left', async () => {
    let signal: AbortSignal | undefined;
    const calls: number[][] = [];
    const users = batch({
      load: (keys: number[], ctx: BatchLoadContext) => {
        calls.push(keys);
        if (calls.length > 1) return keys;
        signal = ctx.signal;
        return new Promise<number[]>(() => undefined);
      },
    });
    const a = new AbortController();
    const b = new AbortController();
    const pending = [
      outcome(users.load(1, { signal: a.signal })),
      outcome(users.load(2, { signal: b.signal })),
    ];
    await flushMicrotasks();
    a.abort(new Error('a'));
    expect(signal?.aborted).toBe(false);
    b.abort(new Error('b'));
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toEqual(new Error('b'));
    await Promise.all(pending);
    // A newcomer for a key of the abandoned batch does not join it: it gets a fresh call.
    await expect(users.load(1)).resolves.toBe(1);
    expect(calls).toEqual([[1, 2], [1]]);
  });

  it('works as a Handler inside stack(), honouring ctx.scope, ctx.urgent and ctx.signal', async () => {
    const scheduler = new ManualScheduler();
    const seen: (string | undefined)[] = [];
    const users = batch({
      scheduler: scheduler.schedule,
      load: (keys: number[], ctx: BatchLoadContext) => {
        seen.push(ctx.scope);
        return keys.map((k) => k * 2);
      },
    });
    const log: string[] = [];
    const logging: Layer<number, number> = {
      wrap: (next) => async (input, ctx) => {
        log.push(`in:${String(input)}`);
        return next(input, ctx);
      },
    };
    const handler = stack(logging).wrap(users.handler);
    await expect(handler(21, toContext({ scope: 't1', urgent: true }))).resolves.toBe(42);
    expect(seen).toEqual(['t1']);
    expect(log).toEqual(['in:21']);
    const controller = new AbortController();
    const call = outcome(handler(5, { signal: controller.signal }));
    await flushMicrotasks();
    controller.abort(new Error('stop'));
    expect(await call).toMatchObject({ ok: false, error: { message: 'stop' } });
  });

  it('loadMany resolves each key to its value or its Error', async () => {
    const users = batch({
      load: (keys: number[]) => keys.map((k) => (k < 0 ? new Error(`neg ${String(k)}`) : k)),
    });
    const [a, b] = await users.loadMany([1, -1]);
    expect(a).toBe(1);
    expect(b).toBeInstanceOf(Error);
  });
});

describe('observability', () => {
  it('counts batches, items and sizes and reports each call to hooks and channels', async () => {
    const clock = new TestClock();
    const { load } = recorder<number>();
    const users = batch({ load, clock, maxWaitMs: 5, name: 'users' });
    const dispatched: BatchDispatchEvent[] = [];
    const settled: BatchSettledEvent[] = [];
    const channel: unknown[] = [];
    const sub = users.onDispatch((e) => dispatched.push(e));
    users.onBatch((e) => settled.push(e));
    const onChannel = (message: unknown): void => {
      channel.push(message);
    };
    diagnosticsChannel.subscribe('batchflight:batch:settled', onChannel);
    try {
      const loads = [users.load(1), users.load(2), users.load(2)];
      await clock.advance(5);
      await Promise.all(loads);
    } finally {
      diagnosticsChannel.unsubscribe('batchflight:batch:settled', onChannel);
    }
    expect(dispatched).toEqual([
      { name: 'users', scope: undefined, size: 2, attempt: 1, waitMs: 5 },
    ]);
    expect(settled).toEqual([
      {
        name: 'users',
        scope: undefined,
        size: 2,
        attempt: 1,
        waitMs: 5,
        durationMs: 0,
        outcome: 'ok',
      },
    ]);
    expect(channel).toEqual(settled);
    expect(settled[0]).not.toHaveProperty('keys');
    sub.dispose();
    expect(users.stats()).toMatchObject({
      loads: 3,
      batches: 1,
      items: 2,
      meanBatchSize: 2,
      maxBatchSize: 2,
      callsSaved: 2,
      queueDepth: 0,
      pending: 0,
    });
  });

  it('includes keys in events only when asked', async () => {
    const users = batch({ load: (keys: number[]) => keys, eventKeys: true });
    const events: BatchSettledEvent[] = [];
    users.onBatch((e) => events.push(e));
    await Promise.all([users.load(1), users.load(2)]);
    expect(events[0]?.keys).toEqual([1, 2]);
  });
});

describe('close', () => {
  it('drains pending batches, rejects later loads with ClosedError and is idempotent', async () => {
    const clock = new TestClock();
    const { calls, load } = recorder<number>();
    const users = batch({ load, clock, maxWaitMs: 1000 });
    const pending = users.load(1);
    const closing = users.close();
    expect(users.close()).toBe(closing);
    expect(calls).toEqual([[1]]);
    await closing;
    await expect(pending).resolves.toBe('v1');
    await expect(users.load(2)).rejects.toSatisfy((e: unknown) => ClosedError.is(e));
    await users[Symbol.asyncDispose]();
  });

  it('waits for in-flight batches before resolving', async () => {
    const gate = deferred<number[]>();
    const users = batch({ load: () => gate.promise });
    const pending = users.load(1);
    await flushMicrotasks();
    let closed = false;
    const closing = users.close().then(() => (closed = true));
    await flushMicrotasks();
    expect(closed).toBe(false);
    gate.resolve([1]);
    await closing;
    await expect(pending).resolves.toBe(1);
  });

  it('forces the close when its signal aborts: pending callers fail, in-flight loads are aborted', async () => {
    let signal: AbortSignal | undefined;
    const users = batch({
      maxConcurrentBatches: 1,
      maxSize: 1,
      load: (_keys: number[], ctx: BatchLoadContext) => {
        signal = ctx.signal;
        return new Promise<number[]>(() => undefined);
      },
    });
    const calls = [outcome(users.load(1)), outcome(users.load(2))];
    const controller = new AbortController();
    const closing = users.close({ signal: controller.signal });
    controller.abort(new Error('shutdown'));
    await closing;
    for (const call of calls) {
      const result = await call;
      expect(result.ok).toBe(false);
      expect(ClosedError.is((result as { error: unknown }).error)).toBe(true);
    }
    expect(signal?.aborted).toBe(true);
  });

  it('a forced close abandons a backlog of 300,000 waiting keys without overflowing the stack', async () => {
    const clock = new TestClock();
    // One window holds them all: its 1 s timer never fires on a clock that stands still.
    const users = batch({
      maxWaitMs: 1_000,
      clock,
      load: () => new Promise<number[]>(() => undefined),
    });
    const calls: Promise<unknown>[] = [];
    for (let k = 0; k < 300_000; k++) calls.push(users.load(k).catch((error: unknown) => error));
    await users.close({ signal: AbortSignal.abort() });
    const results = await Promise.all(calls);
    expect(results.every((error) => ClosedError.is(error))).toBe(true);
    expect(users.stats().pending).toBe(0);
  });
});

describe('options', () => {
  it('are validated with messages that echo the value and the contract', () => {
    const load = (keys: number[]): number[] => keys;
    expect(() => batch({ load, maxSize: 0 })).toThrow(
      'batch(): option maxSize must be an integer >= 1 or Infinity, got 0.',
    );
    expect(() => batch({ load, whenFull: 'drop' as 'wait' })).toThrow(InvalidOptionError);
    expect(() => batch({ load, maxsize: 3 } as unknown as { load: typeof load })).toThrow(
      'batch(): unknown option "maxsize"',
    );
    expect(() => batch({} as { load: typeof load })).toThrow(
      'batch(): option load must be a function, got undefined.',
    );
    expect(() =>
      batch({ load, retry: { maxAttempts: 2, backoff: 'x' as unknown as number } }),
    ).toThrow('option backoff must be a Backoff');
  });
});

describe('adaptive window', () => {
  it('sends at the end of the tick when idle, holds while busy, and sends the held keys on completion', async () => {
    const gates: { keys: number[]; gate: ReturnType<typeof deferred<number[]>> }[] = [];
    const users = batch({
      window: 'adaptive',
      // A clock that stands still: on a loaded machine the real one could fire the hold timer
      // between two steps and send the held keys before the completion this test is about.
      clock: new TestClock(),
      load: (keys: number[]) => {
        const gate = deferred<number[]>();
        gates.push({ keys, gate });
        return gate.promise;
      },
    });
    const first = [users.load(1), users.load(2)];
    await flushMicrotasks();
    expect(gates.map((g) => g.keys)).toEqual([[1, 2]]);
    const held = [users.load(3), users.load(4), users.load(5)];
    await flushMicrotasks();
    expect(gates).toHaveLength(1);
    gates[0]?.gate.resolve([1, 2]);
    await Promise.all(first);
    expect(gates.map((g) => g.keys)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    gates[1]?.gate.resolve([3, 4, 5]);
    await expect(Promise.all(held)).resolves.toEqual([3, 4, 5]);
  });

  it('sends a held window when its hold time (maxWaitMs) passes, even while busy', async () => {
    const clock = new TestClock();
    const calls: number[][] = [];
    const users = batch({
      window: 'adaptive',
      clock,
      latencyTargetMs: 40,
      load: (keys: number[]) => {
        calls.push(keys);
        return new Promise<number[]>(() => undefined);
      },
    });
    void users.load(1);
    await flushMicrotasks();
    void users.load(2);
    await clock.advance(9);
    expect(calls).toEqual([[1]]);
    await clock.advance(1);
    expect(calls).toEqual([[1], [2]]);
  });

  it('grows the size limit while calls are fast and the limit binds, and halves it when slow', async () => {
    const clock = new TestClock();
    let latency = 1;
    const users = batch({
      window: 'adaptive',
      clock,
      latencyTargetMs: 100,
      maxWaitMs: 1000,
      load: async (keys: number[]) => {
        await new Promise((resolve) => {
          clock.setTimer(() => {
            resolve(undefined);
          }, latency);
        });
        return keys;
      },
    });
    const limit = (): number => users.stats().sizeLimit;
    expect(limit()).toBe(8);
    // 20 keys in one tick: one call of 8 (the limit binds) goes at once, more follow.
    const loads = Array.from({ length: 20 }, (_, i) => users.load(i));
    await clock.advance(1);
    await clock.advance(1);
    await clock.advance(1);
    await Promise.all(loads);
    expect(limit()).toBeGreaterThan(8);
    const grown = limit();
    latency = 80; // slower than half the target
    const slow = Array.from({ length: 3 }, (_, i) => users.load(100 + i));
    await clock.advance(80);
    await Promise.all(slow);
    expect(limit()).toBe(Math.floor(grown / 2));
  });
});

describe('more windows and limits', () => {
  it('adaptive: respects maxConcurrentBatches and lets an urgent key go as soon as a call may leave', async () => {
    const gates: { keys: number[]; gate: ReturnType<typeof deferred<number[]>> }[] = [];
    const users = batch({
      window: 'adaptive',
      maxConcurrentBatches: 1,
      load: (keys: number[]) => {
        const gate = deferred<number[]>();
        gates.push({ keys, gate });
        return gate.promise;
      },
    });
    const first = users.load(1);
    await flushMicrotasks();
    const held = users.load(2);
    const urgent = users.load(3, { urgent: true });
    await flushMicrotasks();
    expect(gates.map((g) => g.keys)).toEqual([[1]]);
    gates[0]?.gate.resolve([1]);
    await first;
    expect(gates.map((g) => g.keys)).toEqual([[1], [2, 3]]);
    gates[1]?.gate.resolve([2, 3]);
    await expect(Promise.all([held, urgent])).resolves.toEqual([2, 3]);
    expect(users.stats().inFlightBatches).toBe(0);
  });

  it('end-of-tick windows of several batchers in one tick all leave, in the order they opened', async () => {
    const order: string[] = [];
    const a = batch({ load: (keys: number[]) => (order.push('a'), keys) });
    const b = batch({ load: (keys: number[]) => (order.push('b'), keys) });
    await Promise.all([b.load(1), a.load(1), b.load(2)]);
    expect(order).toEqual(['b', 'a']);
  });

  it('close() turns away callers waiting for room with ClosedError', async () => {
    const gate = deferred<number[]>();
    const users = batch({ maxPending: 1, load: () => gate.promise });
    const first = users.load(1);
    const waiting = outcome(users.load(2));
    const closing = users.close();
    const result = await waiting;
    expect(result.ok).toBe(false);
    expect(ClosedError.is((result as { error: unknown }).error)).toBe(true);
    gate.resolve([1]);
    await closing;
    await expect(first).resolves.toBe(1);
  });
});

describe('bad signals and ready() after close', () => {
  it('rejects a signal that is not an AbortSignal, naming the option and the method', async () => {
    const users = batch({ load: (keys: number[]) => keys });
    const bad = { signal: 'x' as unknown as AbortSignal };
    await expect(users.load(1, bad)).rejects.toThrow(
      'batch(batch): load() option signal must be an AbortSignal, got "x".',
    );
    await expect(users.loadMany([1], bad)).rejects.toThrow(
      'batch(batch): loadMany() option signal must be an AbortSignal, got "x".',
    );
    await expect(users.close(bad)).rejects.toThrow(
      'batch(batch): close() option signal must be an AbortSignal (aborting it forces the close), got "x".',
    );
    expect(users.stats().pending).toBe(0);
    await users.close();
  });

  it('ready() rejects with ClosedError after close(), and so do callers already waiting', async () => {
    const gate = deferred<number[]>();
    const users = batch({ maxPending: 1, load: () => gate.promise });
    const first = users.load(1);
    const waiting = outcome(users.ready());
    const closing = users.close();
    const waited = await waiting;
    expect(waited.ok).toBe(false);
    expect(ClosedError.is((waited as { error: unknown }).error)).toBe(true);
    await expect(users.ready()).rejects.toThrow('ready() after close()');
    gate.resolve([1]);
    await closing;
    await expect(first).resolves.toBe(1);
    const idle = batch({ load: (keys: number[]) => keys });
    await idle.close();
    await expect(idle.ready()).rejects.toSatisfy((e: unknown) => ClosedError.is(e));
  });
});

describe('properties', () => {
  it('every caller gets the value or error of its own key, whatever the shape and the duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom('array', 'map', 'record', 'routed'),
        fc.integer({ min: 1, max: 8 }),
        fc.func(fc.boolean()),
        async (keys, shape, maxSize, failing) => {
          const calls: number[][] = [];
          const answer = (k: number): { id: number; v: string } | Error =>
            failing(k) ? new Error(`e${String(k)}`) : { id: k, v: `v${String(k)}` };
          const users = batch<number, { id: number; v: string }>({
            maxSize,
            ...(shape === 'routed' && { resultKey: (item: { id: number }) => item.id }),
            load: async (ks) => {
              calls.push(ks);
              await Promise.resolve();
              const shuffled = [...ks].reverse();
              switch (shape) {
                case 'array':
                  return ks.map(answer);
                case 'map':
                  return new Map(shuffled.map((k) => [k, answer(k)]));
                case 'record':
                  return Object.fromEntries(shuffled.map((k) => [String(k), answer(k)]));
                default:
                  return shuffled.map(answer).filter((x) => !(x instanceof Error));
              }
            },
          });
          const results = await Promise.all(keys.map((k) => outcome(users.load(k))));
          results.forEach((result, i) => {
            const k = keys[i] as number;
            const expected = answer(k);
            if (expected instanceof Error) {
              if (shape === 'routed') expect(result).toEqual({ ok: true, value: undefined });
              else expect(result).toEqual({ ok: false, error: expected });
            } else expect(result).toEqual({ ok: true, value: expected });
          });
          // Each distinct key went out exactly once, no call exceeded maxSize, none was empty.
          const sent = calls.flat();
          expect(new Set(sent).size).toBe(sent.length);
          expect(new Set(sent)).toEqual(new Set(keys));
          for (const call of calls) expect(call.length).toBeGreaterThanOrEqual(1);
          for (const call of calls) expect(call.length).toBeLessThanOrEqual(maxSize);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a wrong-length array fails every caller of that call with the contract error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer(), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: -5, max: 5 }).filter((d) => d !== 0),
        async (keys, delta) => {
          const users = batch({
            load: (ks: number[]) => Array.from({ length: Math.max(0, ks.length + delta) }, () => 1),
          });
          const results = await Promise.all(keys.map((k) => outcome(users.load(k))));
          for (const result of results) {
            expect(result.ok).toBe(false);
            const error = (result as { error: BatchContractError }).error;
            expect(BatchContractError.is(error)).toBe(true);
            expect(error.keyCount).toBe(keys.length);
            expect(error.resultLength).toBe(Math.max(0, keys.length + delta));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
