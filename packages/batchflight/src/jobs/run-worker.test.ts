import { describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { MemoryJobStore } from './memory-store.js';
import { RunWorker, type RunSlice } from './run-worker.js';

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

  it('pause stops claiming; resume continues; cancel fences active chunks', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const run = await store.createRun({ name: 'r', input: null, total: 100, chunkSize: 10 });
    await store.pauseRun(run.id);
    let items = 0;
    const worker = new RunWorker(
      store,
      { r: { processSlice: ({ from, to }: RunSlice) => void (items += to - from) } },
      { clock, pollMs: 100 },
    );
    await worker.drain();
    expect(items).toBe(0);
    await store.resumeRun(run.id);
    await clock.advance(100);
    await worker.drain();
    expect(items).toBe(100);
    expect((await store.getRun(run.id))?.state).toBe('succeeded');
    await worker.close();
  });
});
