import { describe, expect, it, vi } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { MemoryJobStore } from './memory-store.js';
import { RunWorker, type RunSlice } from './run-worker.js';
import type { FullJobStore } from './store.js';

/** A promise and the function that resolves it. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** `store` with one method's calls held until `until` resolves, when `when` says so. */
function holding<K extends 'claimChunks' | 'checkpointChunk'>(
  store: FullJobStore,
  method: K,
  until: Promise<void>,
  when: (...args: Parameters<FullJobStore[K]>) => boolean = () => true,
): FullJobStore {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const call = (value as (...args: unknown[]) => unknown).bind(target);
      if (prop !== method) return call;
      return async (...args: Parameters<FullJobStore[K]>) => {
        if (when(...args)) await until;
        return call(...args);
      };
    },
  });
}

/** A worker on a one-chunk run whose first slice runs until `slice.open()`. */
async function workerInSlice(): Promise<{ worker: RunWorker; slice: ReturnType<typeof gate> }> {
  const clock = new TestClock();
  const store = new MemoryJobStore({ clock });
  await store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
  const started = gate();
  const slice = gate();
  const worker = new RunWorker(
    store,
    {
      r: {
        processSlice: () => {
          started.open();
          return slice.opened;
        },
      },
    },
    { clock },
  );
  await started.opened;
  return { worker, slice };
}

/** Yields to the event loop a few times (timers phase included) without touching the clock. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

describe('RunWorker', () => {
  it('processes a run in checkpointed slices, every item once', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({
      name: 'sum',
      input: { k: 2 },
      total: 1_000,
      chunkSize: 300,
    });
    const seen = new Array<number>(1_000).fill(0);
    const worker = new RunWorker(
      store,
      {
        sum: {
          sliceSize: 50,
          processSlice: ({ from, to, input }: RunSlice<{ k: number }>) => {
            expect(input.k).toBe(2);
            for (let i = from; i < to; i++) seen[i] = (seen[i] ?? 0) + 1;
          },
        },
      },
      { clock, concurrency: 2 },
    );
    await worker.drain();
    expect(seen.every((n) => n === 1)).toBe(true);
    expect(await store.getRun(run.id)).toMatchObject({
      state: 'succeeded',
      processed: 1_000,
      chunksDone: 4,
    });
    expect(worker.stats()).toMatchObject({ items: 1_000, chunksDone: 4, slices: 20 });
    await worker.close();
  });

  it('a crashed worker: the run resumes at the checkpoint of the unfinished chunk', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({ name: 'r', input: null, total: 400, chunkSize: 200 });
    const done: [number, number][] = [];
    let slices = 0;
    let stall: (() => void) | undefined;
    const crashed = new RunWorker(
      store,
      {
        r: {
          sliceSize: 50,
          processSlice: ({ from, to }: RunSlice) =>
            ++slices === 3
              ? new Promise<void>((resolve) => (stall = resolve)) // hangs: the process "dies" here
              : void done.push([from, to]),
        },
      },
      { clock, leaseMs: 1_000, workerId: 'crashed' },
    );
    while (stall === undefined) await new Promise((r) => setImmediate(r));
    // The crashed worker never checkpoints again; its lease runs out.
    await crashed.close({ force: true });
    stall();
    expect((await store.getRun(run.id))?.processed).toBe(100);
    await clock.advance(1_000);
    const resumed = new RunWorker(
      store,
      {
        r: { sliceSize: 50, processSlice: ({ from, to }: RunSlice) => void done.push([from, to]) },
      },
      { clock, leaseMs: 1_000, workerId: 'resumed' },
    );
    await resumed.drain();
    expect(done).toEqual([
      [0, 50],
      [50, 100],
      [100, 150],
      [150, 200],
      [200, 250],
      [250, 300],
      [300, 350],
      [350, 400],
    ]);
    expect(await store.getRun(run.id)).toMatchObject({ state: 'succeeded', processed: 400 });
    await resumed.close();
  });

  it('pause stops claiming; resume continues; cancel fences the active chunk', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({ name: 'r', input: null, total: 100, chunkSize: 10 });
    await store.pauseRun(run.id);
    let items = 0;
    const inSlice = gate();
    const finishSlice = gate();
    const worker = new RunWorker(
      store,
      {
        r: {
          sliceSize: 5,
          processSlice: async ({ from, to }: RunSlice) => {
            items += to - from;
            if (from === 55) {
              inSlice.open();
              await finishSlice.opened;
            }
          },
        },
      },
      { clock, pollMs: 100 },
    );
    await worker.drain();
    expect(items).toBe(0);
    await store.resumeRun(run.id);
    await clock.advance(100);
    await inSlice.opened; // chunk 5, its second slice in progress
    expect(await store.cancelRun(run.id)).toBe(true);
    finishSlice.open(); // the slice ends; its checkpoint is refused and the chunk stops
    await worker.drain();
    await clock.advance(100);
    await worker.drain();
    expect(items).toBe(60);
    expect(worker.stats()).toMatchObject({ items: 55, chunksDone: 5, leaseLost: 1 });
    expect(await store.getRun(run.id)).toMatchObject({ state: 'cancelled', processed: 55 });
    await worker.close();
  });

  it('a store without failChunk: a throwing slice leaves the lease to run out, then the chunk is retried', async () => {
    const clock = new TestClock();
    const memory = new MemoryJobStore({ clock });
    const store: FullJobStore = new Proxy(memory, {
      get: (target, prop) =>
        prop === 'failChunk'
          ? undefined
          : (Reflect.get(target, prop, target) as (...args: unknown[]) => unknown).bind(target),
    });
    const run = await store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
    let calls = 0;
    const worker = new RunWorker(
      store,
      {
        r: {
          processSlice: () => {
            if (++calls === 1) throw new Error('once');
          },
        },
      },
      { clock, leaseMs: 1_000, pollMs: 100 },
    );
    await worker.drain();
    expect(worker.stats()).toMatchObject({ errors: 1, chunkFailures: 0 });
    await clock.advance(1_000);
    await worker.drain();
    expect(calls).toBe(2);
    expect(await store.getRun(run.id)).toMatchObject({
      state: 'succeeded',
      lastError: 'lease expired',
    });
    await worker.close();
  });

  it('drain() waits without polling: nothing is scheduled until the last chunk ends', async () => {
    const { worker, slice } = await workerInSlice();
    const immediates = vi.spyOn(globalThis, 'setImmediate');
    try {
      let drained = false;
      const done = worker.drain().then(() => (drained = true));
      await turns(5);
      expect(drained).toBe(false);
      expect(immediates).not.toHaveBeenCalled();
      slice.open();
      await done;
      expect(worker.stats()).toMatchObject({ items: 10, chunksDone: 1, activeChunks: 0 });
    } finally {
      immediates.mockRestore();
    }
    await worker.close();
  });

  it('drain() returns when the worker starts closing', async () => {
    const { worker, slice } = await workerInSlice();
    const drained = worker.drain();
    const closed = worker.close();
    await drained;
    expect(worker.stats()).toMatchObject({ state: 'closing', activeChunks: 1 });
    slice.open();
    await closed;
  });

  it('close() while a claim is in flight hands the claimed chunks straight back', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({ name: 'r', input: null, total: 20, chunkSize: 10 });
    const claim = gate();
    let slices = 0;
    const worker = new RunWorker(
      holding(store, 'claimChunks', claim.opened),
      {
        r: {
          processSlice: () => {
            slices++;
          },
        },
      },
      { clock, concurrency: 2, leaseMs: 60_000 },
    );
    const closed = worker.close();
    claim.open();
    await closed;
    expect(slices).toBe(0);
    const again = await store.claimChunks({ workerId: 'next', limit: 5, leaseMs: 1_000 });
    expect(again.map((c) => [c.runId, c.index, c.offset, c.epoch])).toEqual([
      [run.id, 0, 0, 2],
      [run.id, 1, 10, 2],
    ]);
  });

  it('a lease renewal in flight when close() hands the chunk back cannot extend the lease again', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
    const renewal = gate();
    const started = gate();
    const slice = gate();
    const worker = new RunWorker(
      // Renewals carry no slice data; slice checkpoints here carry 'done'.
      holding(
        store,
        'checkpointChunk',
        renewal.opened,
        (c) => c.data === undefined && c.leaseMs !== 0,
      ),
      {
        r: {
          sliceSize: 5,
          processSlice: async () => {
            started.open();
            await slice.opened;
            return 'done';
          },
        },
      },
      { clock, leaseMs: 1_000, heartbeatMs: 250 },
    );
    await started.opened;
    await clock.advance(250); // a renewal is sent and held in flight
    const closed = worker.close();
    slice.open(); // the slice is checkpointed; the hand-back waits for the renewal
    await turns(3);
    renewal.open();
    await closed;
    const [again] = await store.claimChunks({ workerId: 'next', limit: 1, leaseMs: 1_000 });
    expect(again).toMatchObject({ runId: run.id, index: 0, offset: 5, epoch: 2 });
  });
});

describe('RunWorker on a synchronous store and handler', () => {
  it('gives the event loop a turn between slices, so timers and I/O are not starved', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    await store.createRun({ name: 'r', input: null, total: 10_000, chunkSize: 1_000 });
    let slices = 0;
    const worker = new RunWorker(store, {
      r: {
        sliceSize: 10,
        processSlice: () => {
          slices++;
        },
      },
    });
    // Before: every slice of every chunk settled as microtasks ahead of this immediate (1,000).
    const beforeTheLoopTurned = await new Promise<number>((resolve) => {
      setImmediate(() => {
        resolve(slices);
      });
    });
    expect(beforeTheLoopTurned).toBeLessThan(10);
    await worker.drain();
    expect(slices).toBe(1_000);
    await worker.close();
  });
});
