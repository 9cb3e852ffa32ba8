import { describe, expect, it } from 'vitest';

describe('examples/config-live', () => {
  it('retunes every primitive by configure() and through the registry', async () => {
    const { results } = await import('./config-live.js');
    expect(results.refused).toBe(
      'InvalidOptionError: bulkhead(): option maxConcurrent must be an integer >= 1, got 0.',
    );
    expect(results.applied).toEqual([
      'github: rate, per, burst, maxStallMs',
      'db: maxConcurrent, maxQueued',
      'api: maxAttempts, backoff, budget',
      'slow: ms',
      'replicas: afterMs',
      'payments: threshold, halfOpenAfterMs',
      'users: version, ttlMs, staleIfErrorMs',
    ]);
    expect(results.settings).toEqual({
      github: { rate: 5000, per: 3_600_000, burst: 100, maxQueued: 10_000, maxStallMs: 10_000 },
      db: { maxConcurrent: 16, maxQueued: 200 },
      api: { maxAttempts: 3, budget: 50 },
      slow: { ms: 1500 },
      replicas: { afterMs: 60, maxHedges: 2 },
      payments: { kind: 'consecutive', halfOpenAfterMs: 30_000 },
      users: {
        ttlMs: 10_000,
        staleWhileRevalidateMs: 30_000,
        staleIfErrorMs: 300_000,
        negativeTtlMs: 0,
        earlyRefresh: false,
        version: 7,
      },
    });
  });
});
