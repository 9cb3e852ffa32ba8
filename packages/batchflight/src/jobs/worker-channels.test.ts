import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { setup, tick, withMethods } from './__fixtures__/worker.js';
import { RunWorker } from './run-worker.js';
import { partitionOf } from './store-kit.js';
import {
  Worker,
  type JobContext,
  type JobsDepthMessage,
  type JobsSettledMessage,
} from './worker.js';

/** Runs `body` with a subscriber on each `batchflight:jobs:<event>` channel; returns what each received. */
async function listen(
  events: readonly string[],
  body: () => Promise<void>,
): Promise<Record<string, unknown[]>> {
  const seen: Record<string, unknown[]> = {};
  const subscribers = events.map((event) => {
    const received: unknown[] = [];
    seen[event] = received;
    const onMessage = (message: unknown) => received.push(message);
    diagnosticsChannel.subscribe(`batchflight:jobs:${event}`, onMessage);
    return () => diagnosticsChannel.unsubscribe(`batchflight:jobs:${event}`, onMessage);
  });
  try {
    await body();
  } finally {
    for (const unsubscribe of subscribers) unsubscribe();
  }
  return seen;
}

describe('jobs diagnostics channels', () => {
  it('enqueued, claimed, settled (per job: outcome, enqueue→start, run time) and depth', async () => {
    const { store, queue, clock } = setup();
    const seen = await listen(['enqueued', 'claimed', 'settled', 'depth'], async () => {
      await queue.addMany([
        { name: 'x', payload: 'ok', options: { partitionKey: 'tenant-1' } },
        { name: 'x', payload: 'bad', options: { maxAttempts: 1 } },
      ]);
      await clock.advance(250);
      const worker = new Worker(
        store,
        {
          x: async (payload: string) => {
            await clock.advance(40);
            if (payload === 'bad') throw new Error('bad');
            return payload;
          },
        },
        { clock, workerId: 'w1', concurrency: 1, depthSampleMs: 1_000 },
      );
      await worker.drain();
      await clock.advance(1_000);
      await worker.close();
    });
    expect(seen.enqueued).toEqual([{ queue: 'default', count: 2, created: 2 }]);
    expect(seen.claimed).toEqual([{ workerId: 'w1', count: 2 }]);
    const settled = seen.settled as JobsSettledMessage[];
    const jobs = settled.flatMap((m) => m.jobs);
    expect(jobs.map((j) => [j.outcome, j.enqueueToStartMs, j.runMs, j.attempt])).toEqual([
      ['succeeded', 250, 40, 1],
      ['dead', 250, 40, 1],
    ]);
    expect(jobs[0]).toMatchObject({
      name: 'x',
      queue: 'default',
      partition: partitionOf('tenant-1'),
    });
    expect(jobs[1]?.partition).toBeNull();
    const totals = settled.reduce((sum, m) => sum + m.succeeded + m.dead, 0);
    expect(totals).toBe(2);
    const depth = seen.depth as JobsDepthMessage[];
    expect(depth).toHaveLength(1);
    expect(depth[0]).toMatchObject({ workerId: 'w1', queue: undefined });
    expect(depth[0]?.counts.byState).toMatchObject({ succeeded: 1, dead: 1, pending: 0 });
    expect(depth[0]?.counts.oldestReadyAgeMs).toBe(0);
  });

  it('depth samples one queue when the worker claims from one, with the age of the oldest ready job', async () => {
    const { store, queue, clock } = setup();
    const seen = await listen(['depth'], async () => {
      await queue.add('later', null, { delayMs: 100 });
      await clock.advance(600);
      const worker = new Worker(store, { x: () => null }, { clock, queues: ['default'] });
      await worker.sampleDepth();
      await worker.close();
    });
    const [message] = seen.depth as JobsDepthMessage[];
    expect(message?.queue).toBe('default');
    expect(message?.counts.byState.pending).toBe(1);
    expect(message?.counts.oldestReadyAgeMs).toBe(500);
  });

  it('lease-lost names the job whose lease was lost; its result is never committed', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('long', null);
    const seen = await listen(['lease-lost', 'settled'], async () => {
      const worker = new Worker(
        store,
        {
          long: (_: null, ctx: JobContext) =>
            new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => {
                reject(ctx.signal.reason as Error);
              });
            }),
        },
        { clock, workerId: 'w2', leaseMs: 4_000, heartbeatMs: 1_000 },
      );
      await tick();
      await store.cancel([id]);
      await clock.advance(1_000);
      await worker.close();
    });
    expect(seen['lease-lost']).toEqual([{ workerId: 'w2', jobId: id, epoch: 1 }]);
    // The result of a lost lease is dropped before any commit.
    expect(seen.settled).toEqual([]);
  });

  it('settled reports a result the store refused', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('x', null);
    const refusing = withMethods(store, {
      complete: (_original, completions) =>
        Promise.resolve({
          accepted: [],
          refused: completions.map((c) => ({
            id: c.id,
            epoch: c.epoch,
            reason: 'stale-epoch' as const,
          })),
        }),
    });
    const seen = await listen(['settled', 'lease-lost'], async () => {
      const worker = new Worker(refusing, { x: () => 'late' }, { clock, workerId: 'w3' });
      await worker.drain();
      await worker.close();
    });
    const [message] = seen.settled as JobsSettledMessage[];
    expect(message).toMatchObject({ workerId: 'w3', succeeded: 0, refused: 1 });
    expect(message?.jobs.map((j) => [j.id, j.outcome])).toEqual([[id, 'refused']]);
    expect(seen['lease-lost']).toEqual([{ workerId: 'w3', jobId: id, epoch: 1 }]);
  });

  it('run-slice: one message per checkpointed slice', async () => {
    const { store, clock } = setup();
    const run = await store.createRun({ name: 'r', input: null, total: 25, chunkSize: 25 });
    const seen = await listen(['run-slice'], async () => {
      const worker = new RunWorker(
        store,
        { r: { sliceSize: 10, processSlice: () => undefined } },
        { clock },
      );
      await worker.drain();
      await worker.close();
    });
    expect(seen['run-slice']).toEqual([
      { runId: run.id, chunk: 0, from: 0, to: 10 },
      { runId: run.id, chunk: 0, from: 10, to: 20 },
      { runId: run.id, chunk: 0, from: 20, to: 25 },
    ]);
  });
});
