/** batch(): windows, dedupe, result shapes and routing, errors and retry. */
import { describe, expect, it } from 'vitest';
import {
  ManualScheduler,
  TestClock,
  flushMicrotasks,
  deferred,
  outcome,
} from '@batchflight/testing';
import { BatchContractError, NotFoundError, batch, type BatchLoadContext } from './index.js';
import { recorder } from './__fixtures__/recorder.js';

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

  it('rejects a key the key encoder refuses (never a synchronous throw), naming the key', async () => {
    class Id {
      readonly #id: number;
      constructor(id: number) {
        this.#id = id;
      }
      get id(): number {
        return this.#id;
      }
    }
    const { calls, load } = recorder<unknown>(() => 'v');
    const users = batch({ load, maxPending: 1 });
    for (const key of [new Id(1), Promise.resolve(1), new Error('boom')]) {
      let loaded: Promise<unknown> | undefined;
      expect(() => (loaded = users.load(key))).not.toThrow();
      await expect(loaded).rejects.toThrow(TypeError);
      await expect(loaded).rejects.toThrow(/Cannot build a key: key is /);
    }
    const many = await users.loadMany([new Id(2), { id: 3 }]);
    expect(many[0]).toBeInstanceOf(TypeError);
    expect(many[1]).toBe('v');
    // The refused keys took no room: maxPending 1 still admits a load.
    await expect(users.load({ id: 4 })).resolves.toBe('v');
    expect(calls).toEqual([[{ id: 3 }], [{ id: 4 }]]);
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
