import { describe, expect, it } from 'vitest';
import { TestClock } from '@batchflight/testing';
import { InvalidOptionError } from '../core/index.js';
import { MemoryJobStore } from './memory-store.js';

// The contract itself is tested by jobStoreConformance (packages/testing); this
// file covers what is specific to the memory store.
describe('MemoryJobStore', () => {
  it('records payloads in the attempt log only when asked', async () => {
    for (const attemptPayloads of [false, true]) {
      const store = new MemoryJobStore({ clock: new TestClock(), attemptPayloads });
      const [r] = await store.enqueue([{ name: 'x', payload: { card: 'tok_1' } }]);
      const [job] = await store.claim({ workerId: 'w', limit: 1, leaseMs: 1000 });
      await store.complete([{ id: r!.id, epoch: job!.epoch }]);
      const [entry] = await store.attempts({ jobId: r!.id });
      if (attemptPayloads) expect(entry?.payload).toEqual({ card: 'tok_1' });
      else expect(entry).not.toHaveProperty('payload');
    }
  });

  it('rejects calls after close', async () => {
    const store = new MemoryJobStore();
    await store.close();
    await store.close();
    await expect(store.enqueue([{ name: 'x', payload: 1 }])).rejects.toThrow(/closed/);
  });

  it('rejects unknown and ill-typed options', () => {
    const misspelt = { clok: 1 } as unknown as ConstructorParameters<typeof MemoryJobStore>[0];
    expect(() => new MemoryJobStore(misspelt)).toThrow(InvalidOptionError);
    expect(() => new MemoryJobStore(misspelt)).toThrow(/unknown option "clok"/);
    expect(() => new MemoryJobStore({ attemptPayloads: 1 as never })).toThrow(/attemptPayloads/);
    expect(() => new MemoryJobStore({ onCheckpoint: 'x' as never })).toThrow(/onCheckpoint/);
  });
});
