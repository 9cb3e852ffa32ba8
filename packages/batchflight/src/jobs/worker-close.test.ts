import { describe, expect, it, vi } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { ClosedError, type Timer, type TimerOptions } from '../core/index.js';
import { gate, setup, tick, withMethods } from './__fixtures__/worker.js';
import { MemoryJobStore } from './memory-store.js';
import { Queue } from './queue.js';
import type { FullJobStore, LeaseRef } from './store.js';
import { UncommittedResultsError } from './errors.js';
import { Worker, type JobContext } from './worker.js';

const hang = () => new Promise<never>(() => {});

/** Yields to the event loop a few times (timers phase included) without touching the clock. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** A worker whose `complete` calls always fail, with one finished result waiting for its commit. */
async function resultThatCannotCommit(options: { leaseMs?: number } = {}) {
  const { store, queue, clock } = setup();
  const { id } = await queue.add('x', null);
  const failing = withMethods(store, {
    complete: () => Promise.reject(new Error('store down')),
  });
  const worker = new Worker(failing, { x: () => 'ok' }, { clock, pollMs: 100, ...options });
  const errors: string[] = [];
  worker.onError((e) => errors.push(e.during));
  for (let i = 0; i < 3; i++) await tick();
  expect(errors).toEqual(['flush']);
  return { store, clock, worker, errors, id };
}

describe('Worker.close()', () => {
  it('a forced close commits results that finished before it, waiting or in a commit, and hands none back', async () => {
    const { store, queue, clock } = setup();
    const [first, second, third] = await queue.addMany(
      ['first', 'second', 'hangs'].map((payload) => ({ name: 'w', payload })),
    );
    const commit = gate();
    const released: LeaseRef[] = [];
    let completes = 0;
    const held = withMethods(store, {
      complete: async (original, completions) => {
        if (completes++ === 0) await commit.promise;
        return original(completions);
      },
      release: (original, leases) => {
        released.push(...leases);
        return original(leases);
      },
    });
    const secondDone = gate<string>();
    const worker = new Worker(
      held,
      {
        w: (payload: string) =>
          payload === 'first' ? 'one' : payload === 'second' ? secondDone.promise : hang(),
      },
      { clock, concurrency: 3 },
    );
    for (let i = 0; i < 3; i++) await tick();
    // 'first' is in a commit held open; 'second' finishes while it is in flight.
    expect(completes).toBe(1);
    secondDone.open('two');
    await tick();
    const closing = worker.close({ force: true });
    await tick();
    commit.open();
    await closing;
    expect(released).toEqual([]);
    expect(await store.get(first?.id ?? '')).toMatchObject({ state: 'succeeded', result: 'one' });
    expect(await store.get(second?.id ?? '')).toMatchObject({ state: 'succeeded', result: 'two' });
    expect(await store.get(third?.id ?? '')).toMatchObject({ state: 'leased', attempts: 1 });
    expect(worker.stats()).toMatchObject({ succeeded: 2, refused: 0, leaseLost: 0 });
  });

  it('a forced close abandons a started job with its lease: it expires, counts, and a hanging job goes dead after maxAttempts', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('poison', null, { maxAttempts: 2 });
    let starts = 0;
    const reasons: unknown[] = [];
    const poison = (_: null, ctx: JobContext) => {
      starts++;
      ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason));
      return hang();
    };
    for (let round = 0; round < 4; round++) {
      const worker = new Worker(store, { poison }, { clock, leaseMs: 1_000, pollMs: 100 });
      await tick();
      await worker.close({ force: true });
      if (round === 0) {
        // Not handed back: the abandoned handler may still be running.
        expect(await store.get(id)).toMatchObject({ state: 'leased', attempts: 1 });
        expect(await store.claim({ workerId: 'thief', limit: 1, leaseMs: 1_000 })).toEqual([]);
      }
      await clock.advance(1_000);
    }
    expect(starts).toBe(2);
    expect(reasons.every((r) => ClosedError.is(r))).toBe(true);
    expect(await store.get(id)).toMatchObject({ state: 'dead', attempts: 2 });
    const log = await store.attempts({ jobId: id });
    expect(log.map((a) => a.outcome)).toEqual(['expired', 'expired']);
  });

  it('close({ timeoutMs }) turns forced at the timeout; unstarted jobs are released, the running one keeps its lease', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany([1, 2, 3].map((n) => ({ name: 'w', payload: n })));
    let reason: unknown;
    const worker = new Worker(
      store,
      {
        w: (_: number, ctx: JobContext) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
          });
          return hang();
        },
      },
      { clock, concurrency: 1, leaseMs: 1_000 },
    );
    await tick();
    let closed = false;
    const closing = worker.close({ timeoutMs: 500 }).then(() => (closed = true));
    await clock.advance(499);
    expect(closed).toBe(false);
    expect((await store.counts()).byState).toMatchObject({ pending: 2, leased: 1 });
    await clock.advance(1);
    await closing;
    expect(ClosedError.is(reason)).toBe(true);
    const [running] = await store.query({ state: 'leased' });
    expect(running).toMatchObject({ attempts: 1 });
    await clock.advance(1_000);
    const claimed = await store.claim({ workerId: 'next', limit: 3, leaseMs: 1_000 });
    expect(claimed.map((j) => j.attempts).sort()).toEqual([1, 1, 2]);
    const log = await store.attempts({ jobId: running?.id ?? '' });
    expect(log.map((e) => e.outcome)).toEqual(['expired']);
  });

  it('a forced close after a graceful one stops waiting for the running handlers', async () => {
    const { store, queue, clock } = setup();
    await queue.add('w', null);
    const worker = new Worker(store, { w: hang }, { clock });
    await tick();
    const graceful = worker.close();
    await tick();
    expect(worker.stats().state).toBe('closing');
    await worker.close({ force: true });
    await graceful;
    expect(worker.stats().state).toBe('closed');
  });

  it('close({ force }) with a store that keeps failing tries once more, then rejects with the number not committed', async () => {
    const { store, worker, errors, id } = await resultThatCannotCommit();
    const error: unknown = await worker.close({ force: true }).catch((e: unknown) => e);
    expect(UncommittedResultsError.is(error)).toBe(true);
    expect(error).toMatchObject({ uncommitted: 1, cause: { message: 'store down' } });
    expect((error as Error).message).toMatch(/1 job result\(s\) could not be committed/);
    expect(errors).toEqual(['flush', 'flush']);
    expect(await store.get(id)).toMatchObject({ state: 'leased' });
    expect(worker.stats().state).toBe('closed');
  });

  it('close({ timeoutMs }) retries a failing commit until the deadline, then rejects', async () => {
    const { clock, worker, errors } = await resultThatCannotCommit();
    let outcome: unknown;
    const closing = worker.close({ timeoutMs: 1_000 }).catch((e: unknown) => (outcome = e));
    await clock.advance(999);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    await closing;
    expect(UncommittedResultsError.is(outcome)).toBe(true);
    // The attempt while running, one per pollMs (100) while closing, and the last one at the deadline.
    expect(errors).toHaveLength(11);
  });

  it('close() without a timeout gives up once commits failed for leaseMs', async () => {
    const { clock, worker } = await resultThatCannotCommit({ leaseMs: 1_000 });
    let outcome: unknown;
    const closing = worker.close().catch((e: unknown) => (outcome = e));
    // Closing sees its first failure at the next retry (pollMs 100), and gives up leaseMs later.
    await clock.advance(1_099);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    await closing;
    expect(UncommittedResultsError.is(outcome)).toBe(true);
  });

  it('the timeoutMs timer keeps the process alive until it fires, and is cancelled when the close ends sooner', async () => {
    const timers: { delayMs: number; unref: boolean | undefined; timer: Timer }[] = [];
    class RecordingClock extends TestClock {
      override setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer {
        const timer = super.setTimer(callback, delayMs, options);
        timers.push({ delayMs, unref: options?.unref, timer });
        return timer;
      }
    }
    const clock = new RecordingClock();
    const store = new MemoryJobStore({ clock });
    await new Queue(store, { clock }).add('w', null);
    const done = gate<string>();
    const worker = new Worker(store, { w: () => done.promise }, { clock, depthSampleMs: 0 });
    await tick();
    const closing = worker.close({ timeoutMs: 60_000 });
    expect(timers.filter((t) => t.delayMs === 60_000).map((t) => t.unref)).toEqual([false]);
    done.open('ok');
    await closing;
    expect(clock.pendingTimers).toBe(0);
  });

  it('drain() waits without polling: nothing is scheduled until the running job ends', async () => {
    const { store, queue, clock } = setup();
    await queue.add('w', null);
    const done = gate<string>();
    const worker = new Worker(store, { w: () => done.promise }, { clock });
    await tick();
    const immediates = vi.spyOn(globalThis, 'setImmediate');
    try {
      let drained = false;
      const draining = worker.drain().then(() => (drained = true));
      await turns(5);
      expect(drained).toBe(false);
      expect(immediates).not.toHaveBeenCalled();
      done.open('ok');
      await draining;
      expect(worker.stats()).toMatchObject({ succeeded: 1, running: 0, buffered: 0 });
    } finally {
      immediates.mockRestore();
    }
    await worker.close();
  });

  it('drain() returns when the worker starts closing', async () => {
    const { store, queue, clock } = setup();
    await queue.add('w', null);
    const worker = new Worker(store, { w: hang }, { clock });
    await tick();
    const draining = worker.drain();
    const closing = worker.close({ force: true });
    await draining;
    await closing;
  });

  it('the jobs of a worker that stops (store calls cut, then forced close) run elsewhere within leaseMs + pollMs by default', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('job', null);
    let cut = false;
    const unreachable = new Proxy(store, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const call = (value as (...args: unknown[]) => unknown).bind(target);
        return (...args: unknown[]) =>
          cut ? Promise.reject(new Error('connection lost')) : call(...args);
      },
    }) as FullJobStore;
    const a = new Worker(unreachable, { job: hang }, { clock, workerId: 'A' });
    await tick();
    expect(await store.get(id)).toMatchObject({ state: 'leased', leaseOwner: 'A' });
    cut = true;
    await a.close({ force: true });
    const b = new Worker(store, { job: () => 'done by B' }, { clock, workerId: 'B' });
    await tick();
    // Defaults: lease 8 000 ms (no heartbeat from A renews it), poll 1 000 ms.
    await clock.advance(7_999);
    expect(await store.get(id)).toMatchObject({ state: 'leased', leaseOwner: 'A' });
    await clock.advance(8_000 + 1_000 - 7_999);
    expect(await store.get(id)).toMatchObject({
      state: 'succeeded',
      result: 'done by B',
      attempts: 2,
    });
    expect((await store.attempts({ jobId: id })).map((e) => [e.workerId, e.outcome])).toEqual([
      ['A', 'expired'],
      ['B', 'succeeded'],
    ]);
    await b.close();
  });

  it('await using closes a running worker gracefully: the job in flight is committed', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('w', null);
    const done = gate<string>();
    let outer: Worker | undefined;
    {
      await using worker = new Worker(store, { w: () => done.promise }, { clock });
      outer = worker;
      await tick();
      expect(worker.stats()).toMatchObject({ state: 'running', running: 1 });
      // Finishes while the end of the scope is waiting for it.
      setImmediate(() => {
        done.open('finished');
      });
    }
    expect(outer.stats().state).toBe('closed');
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: 'finished' });
  });
});
