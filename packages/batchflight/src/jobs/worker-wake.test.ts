import { describe, expect, it } from 'vitest';

import { TestClock, flushMicrotasks } from '@batchflight/testing';
import { MemoryJobStore } from './memory-store.js';
import { Queue } from './queue.js';
import type { ClaimOptions, JobRecord } from './store.js';
import { Worker } from './worker.js';

describe('Worker wake-ups', () => {
  it('claims again at once when a job is enqueued while a claim is in flight', async () => {
    const clock = new TestClock();
    const store = new MemoryJobStore({ clock });
    const queue = new Queue(store, { clock });
    // Hold the worker's first claim open: it is evaluated before the job exists.
    let releaseFirstClaim!: () => void;
    const firstClaimHeld = new Promise<void>((resolve) => (releaseFirstClaim = resolve));
    const claim = store.claim.bind(store);
    let claims = 0;
    store.claim = async (options: ClaimOptions): Promise<JobRecord[]> => {
      claims++;
      if (claims === 1) {
        const answer = await claim(options);
        await firstClaimHeld;
        return answer;
      }
      return claim(options);
    };
    const done: unknown[] = [];
    const worker = new Worker(
      store,
      { echo: (payload: unknown) => done.push(payload) },
      { clock, pollMs: 60_000 },
    );
    await flushMicrotasks();
    expect(claims).toBe(1);
    await queue.add('echo', 'late');
    releaseFirstClaim();
    // No time passes: the job must be picked up by an immediate second claim, not the next poll.
    for (let i = 0; i < 5; i++) await flushMicrotasks();
    expect(claims).toBeGreaterThanOrEqual(2);
    expect(done).toEqual(['late']);
    await worker.close();
    await store.close();
  });
});
