import { getEventListeners } from 'node:events';
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
  NotFoundError,
  batch,
  type BatchDispatchEvent,
  type BatchLoadContext,
  type BatchSettledEvent,
} from './index.js';

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/** A bulk function that records its calls and answers `v<key>`. */
function recorder<K>(answer: (key: K) => unknown = (key) => `v${String(key)}`): {
  calls: K[][];
  load: (keys: K[]) => Promise<unknown[]>;
} {
  const calls: K[][] = [];
  return {
    calls,
    load: (keys) => {
      calls.push([...keys]);
      return Promise.resolve(keys.map(answer));
    },
  };
}

describe('windows', () => {
  it('gathers the loads of one tick, promise continuations included, into one call', async () => {
    const { calls, load } = recorder<number>();
    const users = batch({ load });
    const direct = [users.load(1), users.load(2)];
    const later = Promise.resolve().then(() => users.load(3));
    await expect(Promise.all([...direct, later])).resolves.toEqual(['v1', 'v2', 'v3']);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('sends a full window at once, without waiting for the scheduler', async () => {
    const scheduler = new ManualScheduler();
    const { calls, load } = recorder<number>();
    const users = batch({ load, maxSize: 2, scheduler: scheduler.schedule });
    const a = users.load(1);
    const b = users.load(2);
    const c = users.load(3);
    expect(calls).toEqual([[1, 2]]);
    await expect(Promise.all([a, b])).resolves.toEqual(['v1', 'v2']);
    scheduler.flush();
    await expect(c).resolves.toBe('v3');
    expect(calls).toEqual([[1, 2], [3]]);
  });

  it('closes a timed window after maxWaitMs on the injected clock', async () => {
    const clock = new TestClock();
    const { calls, load } = recorder<number>();
    const users = batch({ load, maxWaitMs: 10, clock });
    const a = users.load(1);
    await clock.advance(5);
    const b = users.load(2);
    await clock.advance(4);
    expect(calls).toEqual([]);
    await clock.advance(1);
    expect(calls).toEqual([[1, 2]]);
    await expect(Promise.all([a, b])).resolves.toEqual(['v1', 'v2']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('uses no timer in end-of-tick mode and cancels the timer of a window closed when full', async () => {
    const clock = new TestClock();
    const { load } = recorder<number>();
    const eot = batch({ load, clock });
    await eot.load(1);
    expect(clock.pendingTimers).toBe(0);
    const timed = batch({ load, clock, maxWaitMs: 50, maxSize: 2 });
    await Promise.all([timed.load(1), timed.load(2)]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('flushes its window at once for an urgent load', async () => {
    const scheduler = new ManualScheduler();
    const { calls, load } = recorder<number>();
    const users = batch({ load, scheduler: scheduler.schedule });
    const a = users.load(1);
    const b = users.load(2, { urgent: true });
    expect(calls).toEqual([[1, 2]]);
    await expect(Promise.all([a, b])).resolves.toEqual(['v1', 'v2']);
  });

  it('flush() sends every open window now', async () => {
    const scheduler = new ManualScheduler();
    const { calls, load } = recorder<number>();
    const users = batch({ load, scheduler: scheduler.schedule });
    const a = users.load(1);
    const b = users.load(2, { scope: 't' });
    users.flush();
    expect(calls).toEqual([[1], [2]]);
    await Promise.all([a, b]);
    expect(scheduler.flush()).toBe(2); // the stale dispatches do nothing
    expect(calls).toHaveLength(2);
  });
});

describe('dedupe', () => {
  it('gives duplicate callers of a window one slot and the same promise', async () => {
    const { calls, load } = recorder<number>();
    const users = batch({ load });
    const a = users.load(1);
    const b = users.load(1);
    expect(a).toBe(b);
    await expect(Promise.all([a, b, users.load(2)])).resolves.toEqual(['v1', 'v1', 'v2']);
    expect(calls).toEqual([[1, 2]]);
    expect(users.stats()).toMatchObject({
      loads: 3,
      batches: 1,
      callsSaved: 2,
      dedupedInWindow: 1,
    });
  });

  it('lets a key already in flight join that call instead of being sent again', async () => {
    const gate = deferred<string[]>();
    const calls: number[][] = [];
    const users = batch({
      load: (keys: number[]) => {
        calls.push(keys);
        return calls.length === 1 ? gate.promise : keys.map((k) => `v${String(k)}`);
      },
    });
    const first = users.load(1);
    await flushMicrotasks();
    expect(calls).toEqual([[1]]);
    const again = users.load(1);
    const other = users.load(2);
    await flushMicrotasks();
    expect(calls).toEqual([[1], [2]]);
    gate.resolve(['one']);
    await expect(Promise.all([first, again, other])).resolves.toEqual(['one', 'one', 'v2']);
    expect(users.stats().joinedInFlight).toBe(1);
    // Once settled, the key is loaded afresh.
    await users.load(1);
    expect(calls).toEqual([[1], [2], [1]]);
  });

  it('keys objects structurally by default and by the key option when given', async () => {
    const { calls, load } = recorder<{ id: number; v?: number }>((k) => k.id);
    const structural = batch({ load });
    await Promise.all([structural.load({ id: 1, v: 2 }), structural.load({ v: 2, id: 1 })]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(1);
    const byId = batch({ load, key: (k) => k.id });
    await Promise.all([byId.load({ id: 7, v: 1 }), byId.load({ id: 7, v: 2 })]);
    expect(calls[1]).toEqual([{ id: 7, v: 1 }]);
  });

  it('never lets 1 and "1" share a slot', async () => {
    const { calls, load } = recorder<number | string>((k) => typeof k);
    const any = batch({ load });
    await expect(Promise.all([any.load(1), any.load('1')])).resolves.toEqual(['number', 'string']);
    expect(calls).toEqual([[1, '1']]);
  });
});

describe('result shapes', () => {
  it('accepts a Map, a record, and items routed by resultKey', async () => {
    const fromMap = batch({
      load: (keys: number[]) => new Map(keys.map((k) => [k, k * 10])),
    });
    await expect(Promise.all([fromMap.load(1), fromMap.load(2)])).resolves.toEqual([10, 20]);
    const fromRecord = batch({
      load: (keys: string[]) => Object.fromEntries(keys.map((k) => [k, k.toUpperCase()])),
    });
    await expect(fromRecord.load('a')).resolves.toBe('A');
    const routed = batch({
      load: (ids: number[]) => ids.map((id) => ({ id, name: `n${String(id)}` })).reverse(),
      resultKey: (item: { id: number; name: string }) => item.id,
    });
    await expect(Promise.all([routed.load(1), routed.load(2)])).resolves.toEqual([
      { id: 1, name: 'n1' },
      { id: 2, name: 'n2' },
    ]);
  });

  it('looks object keys of a Map up by identity when the Map holds equal copies', async () => {
    const users = batch({
      load: (keys: { id: number }[]) => new Map(keys.map((k) => [{ id: k.id }, k.id])),
    });
    await expect(users.load({ id: 3 })).resolves.toBe(3);
  });

  it('resolves a missing key per onMissing', async () => {
    const load = (keys: number[]): Map<number, string> =>
      new Map(keys.filter((k) => k !== 2).map((k) => [k, `v${String(k)}`]));
    await expect(batch({ load }).load(2)).resolves.toBeUndefined();
    await expect(batch({ load, onMissing: 'null' }).load(2)).resolves.toBeNull();
    const strict = batch({ load, onMissing: 'error', name: 'users' });
    const [present, missing] = await Promise.all([
      outcome(strict.load(1)),
      outcome(strict.load(2)),
    ]);
    expect(present).toEqual({ ok: true, value: 'v1' });
    expect(missing.ok).toBe(false);
    const error = (missing as { error: NotFoundError }).error;
    expect(NotFoundError.is(error)).toBe(true);
    expect(error.key).toBe(2);
    expect(error.message).toBe('batch(users): load(keys) returned no entry for key 2.');
    expect(strict.stats().errors.notFound).toBe(1);
  });

  it('fails every caller with a BatchContractError echoing both lengths on a wrong-length array', async () => {
    const users = batch({ load: (keys: number[]) => keys.slice(1), name: 'users' });
    const results = await Promise.all([outcome(users.load(1)), outcome(users.load(2))]);
    for (const result of results) {
      expect(result.ok).toBe(false);
      const error = (result as { error: BatchContractError }).error;
      expect(BatchContractError.is(error)).toBe(true);
      expect(error.message).toBe(
        'batch(users): load(keys) must return an array with one entry per key, in key order (or a Map, or a record), but returned an array of length 1 for 2 keys.',
      );
      expect([error.keyCount, error.resultLength]).toEqual([2, 1]);
    }
    expect(users.stats().errors.contract).toBe(2);
  });

  it('fails every caller with a BatchContractError when load returns no collection', async () => {
    const users = batch({ load: () => 42 as unknown as string[] });
    await expect(users.load(1)).rejects.toThrow(
      'batch(batch): load(keys) must return an array with one entry per key in key order, a Map, or a record keyed by String(key), but returned 42 for 1 keys.',
    );
  });
});

describe('unroutable results (never a crash, every caller settles)', () => {
  /** Unhandled rejections and uncaught exceptions seen while `run` runs (and a turn after). */
  async function escaped(run: () => Promise<void>): Promise<unknown[]> {
    const seen: unknown[] = [];
    const onError = (error: unknown): void => {
      seen.push(error);
    };
    process.on('unhandledRejection', onError);
    process.on('uncaughtException', onError);
    try {
      await run();
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', onError);
      process.off('uncaughtException', onError);
    }
    return seen;
  }

  for (const mode of ['async', 'sync'] as const) {
    it(`a resultKey that throws fails only the keys no routed item matched (${mode} load)`, async () => {
      const boom = new Error('no id');
      const seen = await escaped(async () => {
        const users = batch<number, { id: number }>({
          resultKey: (item) => {
            if (item.id === 2) throw boom;
            return item.id;
          },
          load: (keys) => {
            const items = keys.map((id) => ({ id }));
            return mode === 'sync' ? items : Promise.resolve(items);
          },
        });
        const [one, two, three] = await Promise.all([1, 2, 3].map((k) => outcome(users.load(k))));
        expect(one).toEqual({ ok: true, value: { id: 1 } });
        expect(three).toEqual({ ok: true, value: { id: 3 } });
        expect(two?.ok).toBe(false);
        const error = (two as { error: BatchContractError }).error;
        expect(BatchContractError.is(error)).toBe(true);
        expect(error.cause).toBe(boom);
        expect(error.message).toContain('resultKey (or key) threw for 1 of the 3 items');
        expect(users.stats().errors.contract).toBe(1);
      });
      expect(seen).toEqual([]);
    });

    it(`a record result and a key String() cannot convert: that caller fails alone (${mode} load)`, async () => {
      const seen = await escaped(async () => {
        const odd = Object.create(null) as object;
        const users = batch<object | string, number>({
          load: () => (mode === 'sync' ? { a: 1 } : Promise.resolve({ a: 1 })),
        });
        const [bad, good] = await Promise.all([outcome(users.load(odd)), outcome(users.load('a'))]);
        expect(good).toEqual({ ok: true, value: 1 });
        expect(bad.ok).toBe(false);
        const error = (bad as { error: BatchContractError }).error;
        expect(BatchContractError.is(error)).toBe(true);
        expect(error.cause).toBeInstanceOf(TypeError);
        expect(error.message).toContain('String() threw for key an object');
      });
      expect(seen).toEqual([]);
    });

    it(`a Map entry whose key has no identity fails only the keys not found (${mode} load)`, async () => {
      const seen = await escaped(async () => {
        const users = batch<{ id: number }, string>({
          load: () => {
            const result = new Map<unknown, string>([
              [{ id: 1 }, 'one'], // an equal copy: found through its identity
              [{ id: 9, f: () => 9 }, 'nine'], // a function inside: no identity
            ]);
            return (mode === 'sync' ? result : Promise.resolve(result)) as Map<
              { id: number },
              string
            >;
          },
        });
        const [one, two] = await Promise.all([
          outcome(users.load({ id: 1 })),
          outcome(users.load({ id: 2 })),
        ]);
        expect(one).toEqual({ ok: true, value: 'one' });
        expect(two.ok).toBe(false);
        const error = (two as { error: BatchContractError }).error;
        expect(BatchContractError.is(error)).toBe(true);
        expect(error.cause).toBeDefined();
        expect(error.message).toContain('the key of 1 of the 2 entries of the Map');
      });
      expect(seen).toEqual([]);
    });
  }

  it('fails every caller with a BatchContractError for a Set, an iterable or a class instance', async () => {
    class Users {
      readonly a = 1;
    }
    for (const result of [new Set([1]), new Users(), new Int8Array(1)]) {
      const users = batch<string, number>({
        load: () => result as unknown as Record<string, number>,
      });
      const got = await outcome(users.load('a'));
      expect(got.ok).toBe(false);
      const error = (got as { error: BatchContractError }).error;
      expect(BatchContractError.is(error)).toBe(true);
      expect(error.message).toContain('a Map, or a record keyed by String(key)');
      expect(error.message).toContain('but returned an instance of');
    }
  });

  it('keeps 1 and "1" apart in a record result: both fail with a BatchContractError, the rest resolve', async () => {
    const users = batch<number | string, string>({
      load: () => ({ '1': 'one', '2': 'two' }),
    });
    const [n, s, two] = await Promise.all([
      outcome(users.load(1)),
      outcome(users.load('1')),
      outcome(users.load(2)),
    ]);
    expect(two).toEqual({ ok: true, value: 'two' });
    for (const got of [n, s]) {
      expect(got.ok).toBe(false);
      const error = (got as { error: BatchContractError }).error;
      expect(BatchContractError.is(error)).toBe(true);
      expect(error.message).toContain('several keys of the batch have the string form "1"');
    }
    // Apart in separate batches, a record serves each of them.
    await expect(users.load(1)).resolves.toBe('one');
  });
});

describe('errors and retry', () => {
  it('fails only the caller whose slot holds an Error', async () => {
    const boom = new Error('bad key');
    const users = batch({ load: (keys: number[]) => keys.map((k) => (k === 2 ? boom : k)) });
    const results = await Promise.all([1, 2, 3].map((k) => outcome(users.load(k))));
    expect(results).toEqual([
      { ok: true, value: 1 },
      { ok: false, error: boom },
      { ok: true, value: 3 },
    ]);
    expect(users.stats().errors.item).toBe(1);
  });

  it('fails every caller with the same error when the bulk call rejects or throws', async () => {
    const boom = new Error('down');
    for (const load of [
      () => Promise.reject(boom),
      () => {
        throw boom;
      },
    ]) {
      const users = batch<number, number>({ load });
      const results = await Promise.all([outcome(users.load(1)), outcome(users.load(2))]);
      expect(results).toEqual([
        { ok: false, error: boom },
        { ok: false, error: boom },
      ]);
      expect(users.stats().errors.batch).toBe(2);
    }
  });

  it('retries only the failed items, after the backoff, and resolves the rest at once', async () => {
    const clock = new TestClock();
    const calls: number[][] = [];
    const attempts: number[] = [];
    const users = batch({
      clock,
      retry: { maxAttempts: 3, backoff: 100 },
      load: (keys: number[], ctx: BatchLoadContext) => {
        calls.push(keys);
        attempts.push(ctx.attempt);
        return keys.map((k) => (k === 2 && calls.length < 3 ? new Error('flaky') : k));
      },
    });
    const one = users.load(1);
    const two = users.load(2);
    await expect(one).resolves.toBe(1);
    expect(calls).toEqual([[1, 2]]);
    await clock.advance(99);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toEqual([[1, 2], [2]]);
    await clock.advance(100);
    await expect(two).resolves.toBe(2);
    expect(calls).toEqual([[1, 2], [2], [2]]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(users.stats().retries).toBe(2);
  });

  it('gives up after maxAttempts with the last error and never retries a NotFoundError', async () => {
    const clock = new TestClock();
    let calls = 0;
    const users = batch({
      clock,
      onMissing: 'error',
      retry: { maxAttempts: 2, backoff: () => 10 },
      load: (keys: number[]) => {
        calls++;
        return new Map(keys.filter((k) => k !== 9).map((k) => [k, new Error(`e${String(calls)}`)]));
      },
    });
    const failing = outcome(users.load(1));
    const missing = outcome(users.load(9));
    await clock.advance(10);
    expect(await failing).toMatchObject({ ok: false, error: { message: 'e2' } });
    expect(NotFoundError.is(((await missing) as { error: unknown }).error)).toBe(true);
    expect(calls).toBe(2);
  });

  it('retries a whole-batch failure and stops retrying when every caller has left', async () => {
    const clock = new TestClock();
    let calls = 0;
    let seen: AbortSignal | undefined;
    const users = batch<number, number>({
      clock,
      retry: { maxAttempts: 5, backoff: 50 },
      load: (_keys, ctx) => {
        calls++;
        seen = ctx.signal;
        return Promise.reject(new Error('down'));
      },
    });
    const controller = new AbortController();
    const call = outcome(users.load(1, { signal: controller.signal }));
    await clock.advance(50);
    expect(calls).toBe(2);
    controller.abort(new Error('gave up'));
    expect(await call).toMatchObject({ ok: false, error: { message: 'gave up' } });
    expect(seen?.aborted).toBe(true);
    await clock.advance(500);
    expect(calls).toBe(2);
    expect(clock.pendingTimers).toBe(0);
  });

  it('splits a failing batch in halves, one after the other, to isolate a poisoned key', async () => {
    const calls: number[][] = [];
    let running = 0;
    let maxRunning = 0;
    const users = batch({
      splitOnFailure: true,
      load: async (keys: number[]) => {
        calls.push(keys);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await flushMicrotasks();
        running--;
        if (keys.includes(3)) throw new Error('poison');
        return keys;
      },
    });
    const results = await Promise.all([1, 2, 3, 4].map((k) => outcome(users.load(k))));
    expect(results.map((r) => r.ok)).toEqual([true, true, false, true]);
    expect(calls).toEqual([[1, 2, 3, 4], [1, 2], [3, 4], [3], [4]]);
    expect(maxRunning).toBe(1);
    expect(users.stats().errors.batch).toBe(1);
  });
});

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
