import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { flushMicrotasks } from '@batchflight/testing';
import { toContext } from '../core/index.js';
import {
  BulkheadFullError,
  bulkhead,
  bulkheadChannels,
  type BulkheadConfiguredEvent,
  type BulkheadQueueEvent,
} from './index.js';

/** Calls that settle when released; `started` lists them in the order they began. */
function held() {
  const started: number[] = [];
  const release = new Map<number, () => void>();
  const handler = (n: number): Promise<number> => {
    started.push(n);
    return new Promise((resolve) =>
      release.set(n, () => {
        resolve(n);
      }),
    );
  };
  return { handler, started, release: (n: number) => release.get(n)?.() };
}

describe('BulkheadPolicy#configure()', () => {
  it('a raised limit starts queued callers at once, oldest first', async () => {
    const pool = bulkhead<number, number>({ maxConcurrent: 2, maxQueued: 10 });
    const { handler, started, release } = held();
    const call = pool.wrap(handler);
    const results = Array.from({ length: 8 }, (_, i) => call(i, toContext()));
    await flushMicrotasks();
    expect(started).toEqual([0, 1]);
    pool.configure({ maxConcurrent: 5 });
    await flushMicrotasks();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(pool.stats()).toMatchObject({ active: 5, queued: 3 });
    expect(pool.settings).toEqual({ maxConcurrent: 5, maxQueued: 10 });
    for (let i = 0; i < 8; i++) release(i);
    await flushMicrotasks();
    for (let i = 5; i < 8; i++) release(i);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a lowered limit aborts nothing: slots are given back as running calls finish', async () => {
    const pool = bulkhead<number, number>({ maxConcurrent: 4, maxQueued: 10 });
    const { handler, started, release } = held();
    const call = pool.wrap(handler);
    const results = Array.from({ length: 7 }, (_, i) => call(i, toContext()));
    await flushMicrotasks();
    expect(started).toEqual([0, 1, 2, 3]);
    pool.configure({ maxConcurrent: 2 });
    expect(pool.stats()).toMatchObject({ active: 4, queued: 3 });
    // Two finish: the slots go back (4 -> 2), nothing new starts.
    release(0);
    release(1);
    await flushMicrotasks();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(pool.stats()).toMatchObject({ active: 2, queued: 3 });
    // At the new limit a freed slot passes to the queue again, one for one.
    release(2);
    await flushMicrotasks();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(pool.stats()).toMatchObject({ active: 2, queued: 2 });
    for (const n of [3, 4, 5, 6]) {
      release(n);
      await flushMicrotasks();
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('a lowered queue refuses newcomers and keeps the queued; a raised one wakes ready()', async () => {
    const pool = bulkhead<number, number>({ maxConcurrent: 1, maxQueued: 3 });
    const { handler, release } = held();
    const call = pool.wrap(handler);
    const results = [0, 1, 2, 3].map((n) => call(n, toContext()));
    await flushMicrotasks();
    pool.configure({ maxQueued: 1 });
    expect(pool.stats().queued).toBe(3);
    await expect(call(9, toContext())).rejects.toBeInstanceOf(BulkheadFullError);
    let ready = false;
    void pool.ready().then(() => (ready = true));
    await flushMicrotasks();
    expect(ready).toBe(false);
    pool.configure({ maxQueued: 4 });
    await flushMicrotasks();
    expect(ready).toBe(true);
    for (const n of [0, 1, 2, 3]) {
      release(n);
      await flushMicrotasks();
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
  });

  it('refuses invalid settings with the constructor message and keeps the old ones', () => {
    const pool = bulkhead({ maxConcurrent: 3, maxQueued: 2 });
    for (const bad of [{ maxConcurrent: 0 }, { maxQueued: -1 }, { maxQueued: 1.5 }]) {
      let message = '';
      try {
        bulkhead({ maxConcurrent: 1, ...bad });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      expect(() => {
        pool.configure(bad);
      }).toThrow(message);
    }
    expect(() => {
      pool.configure({ maxConcurrent: 0 });
    }).toThrow('bulkhead(): option maxConcurrent must be an integer >= 1, got 0.');
    pool.configure({ maxConcurrent: 9 }, { dryRun: true });
    expect(pool.settings).toEqual({ maxConcurrent: 3, maxQueued: 2 });
    expect(pool.maxConcurrent).toBe(3);
  });

  it('publishes queued, dequeued (the queue depth) and configured', async () => {
    const seen: [string, unknown][] = [];
    const listeners = (['queued', 'dequeued', 'configured'] as const).map((event) => {
      const listener = (message: unknown) => {
        if ((message as { name: string }).name === 'bh-events') seen.push([event, message]);
      };
      diagnosticsChannel.subscribe(bulkheadChannels[event].name, listener);
      return () => diagnosticsChannel.unsubscribe(bulkheadChannels[event].name, listener);
    });
    const pool = bulkhead<number, number>({ name: 'bh-events', maxConcurrent: 1, maxQueued: 5 });
    const { handler, release } = held();
    const call = pool.wrap(handler);
    const results = [0, 1, 2].map((n) => call(n, toContext()));
    pool.configure({ maxConcurrent: 2 });
    release(0);
    await flushMicrotasks();
    release(1);
    release(2);
    await Promise.all(results);
    for (const dispose of listeners) dispose();
    const queue = (active: number, queued: number): BulkheadQueueEvent => ({
      name: 'bh-events',
      active,
      queued,
    });
    const configured: BulkheadConfiguredEvent = {
      name: 'bh-events',
      previous: { maxConcurrent: 1, maxQueued: 5 },
      current: { maxConcurrent: 2, maxQueued: 5 },
    };
    expect(seen).toEqual([
      ['queued', queue(1, 1)],
      ['queued', queue(1, 2)],
      ['dequeued', queue(2, 1)],
      ['configured', configured],
      ['dequeued', queue(2, 0)],
    ]);
  });
});
