/**
 * The conformance suite of the `RateLimitStore` contract
 * (`batchflight/rate-limit`). Every implementation (memory, Redis, …) runs
 * it; it goes through the contract only.
 *
 * Time: every request here carries an explicit `now` (a fixed epoch far from
 * the real clock), so the suite is deterministic against a store whose own
 * clock is a server's. One test omits `now` to check that the store's own
 * clock is used, with assertions that hold whatever that clock says.
 */
import { type RateLimitRule, type RateLimitStore } from 'batchflight/rate-limit';
import { gcra } from 'batchflight/kit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** What the factory of {@link rateLimitStoreConformance} returns. */
export interface RateLimitStoreHarness {
  /** A fresh store (its own key prefix for a shared server). */
  readonly store: RateLimitStore;
  /** Releases the store and whatever it created (keys, connections). */
  cleanup(): Promise<void>;
}

/**
 * Registers the vitest `describe`/`it` blocks of the contract.
 *
 * @param name - shown in the test names, e.g. `'MemoryRateLimitStore'`.
 * @param makeStore - called before every test for a fresh, empty store.
 *
 * @example
 * ```ts
 * rateLimitStoreConformance('MemoryRateLimitStore', async () => {
 *   const store = new MemoryRateLimitStore();
 *   return { store, cleanup: async () => store.close() };
 * });
 * ```
 */
export function rateLimitStoreConformance(
  name: string,
  makeStore: () => Promise<RateLimitStoreHarness>,
): void {
  describe(`RateLimitStore conformance: ${name}`, () => {
    let harness: RateLimitStoreHarness;
    let store: RateLimitStore;
    // A fixed epoch a year from the real one, so mixing in a store clock would show.
    const T0 = Date.UTC(2030, 0, 1);
    let keySeq = 0;
    const rule = (rate: number, perMs: number, burst: number): RateLimitRule => ({
      key: `rl-${String(++keySeq)}`,
      rate,
      perMs,
      burst,
    });

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('admits a full burst at once, then refuses with the wait until the next unit', async () => {
      const r = rule(10, 1000, 5);
      for (let i = 0; i < 5; i++) {
        const d = await store.acquire({ rules: [r], cost: 1, now: T0 });
        expect(d.allowed).toBe(true);
        expect(d.remaining).toBe(4 - i);
        expect(d.limitedBy).toBe(-1);
      }
      const denied = await store.acquire({ rules: [r], cost: 1, now: T0 });
      expect(denied.allowed).toBe(false);
      expect(denied.remaining).toBe(0);
      expect(denied.retryAfterMs).toBeCloseTo(100, 6);
      expect(denied.resetAfterMs).toBeCloseTo(500, 6);
      expect(denied.limitedBy).toBe(0);
    });

    it('replenishes at the rate with no timer: one unit per emission interval', async () => {
      const r = rule(10, 1000, 2);
      expect((await store.acquire({ rules: [r], cost: 2, now: T0 })).allowed).toBe(true);
      expect((await store.acquire({ rules: [r], cost: 1, now: T0 + 99 })).allowed).toBe(false);
      expect((await store.acquire({ rules: [r], cost: 1, now: T0 + 100 })).allowed).toBe(true);
      expect((await store.acquire({ rules: [r], cost: 1, now: T0 + 150 })).allowed).toBe(false);
      // After a long idle period the key is back to a full burst, never more.
      const later = T0 + 60_000;
      expect((await store.acquire({ rules: [r], cost: 2, now: later })).allowed).toBe(true);
      expect((await store.acquire({ rules: [r], cost: 1, now: later })).allowed).toBe(false);
    });

    it('charges weighted costs and refuses a cost that does not fit without charging', async () => {
      const r = rule(100, 1000, 10);
      const first = await store.acquire({ rules: [r], cost: 7, now: T0 });
      expect(first).toMatchObject({ allowed: true, remaining: 3 });
      const tooBig = await store.acquire({ rules: [r], cost: 4, now: T0 });
      expect(tooBig.allowed).toBe(false);
      expect(tooBig.retryAfterMs).toBeCloseTo(10, 6);
      expect(tooBig.remaining).toBe(3);
      expect((await store.acquire({ rules: [r], cost: 3, now: T0 })).allowed).toBe(true);
    });

    it('a cost of 0 peeks without charging', async () => {
      const r = rule(1, 1000, 3);
      const peek = await store.acquire({ rules: [r], cost: 0, now: T0 });
      expect(peek).toMatchObject({ allowed: true, remaining: 3 });
      await store.acquire({ rules: [r], cost: 1, now: T0 });
      expect((await store.acquire({ rules: [r], cost: 0, now: T0 })).remaining).toBe(2);
    });

    it('keys are independent', async () => {
      const a = rule(1, 1000, 1);
      const b = rule(1, 1000, 1);
      expect((await store.acquire({ rules: [a], cost: 1, now: T0 })).allowed).toBe(true);
      expect((await store.acquire({ rules: [a], cost: 1, now: T0 })).allowed).toBe(false);
      expect((await store.acquire({ rules: [b], cost: 1, now: T0 })).allowed).toBe(true);
    });

    it('several limits are all-or-nothing: a refusal by one charges none', async () => {
      const perSecond = rule(20, 1000, 20);
      const perMinute = rule(30, 60_000, 30);
      let admitted = 0;
      for (let i = 0; i < 20; i++) {
        if ((await store.acquire({ rules: [perSecond, perMinute], cost: 1, now: T0 })).allowed)
          admitted++;
      }
      expect(admitted).toBe(20);
      const denied = await store.acquire({ rules: [perSecond, perMinute], cost: 1, now: T0 });
      expect(denied.allowed).toBe(false);
      expect(denied.limitedBy).toBe(0);
      // The per-minute limit was not charged by the refusal: 10 units left there.
      expect((await store.acquire({ rules: [perMinute], cost: 10, now: T0 })).allowed).toBe(true);
      expect((await store.acquire({ rules: [perMinute], cost: 1, now: T0 })).allowed).toBe(false);
      // One second later the per-second limit has room but the per-minute one does not.
      const blocked = await store.acquire({
        rules: [perSecond, perMinute],
        cost: 1,
        now: T0 + 1000,
      });
      expect(blocked.allowed).toBe(false);
      expect(blocked.limitedBy).toBe(1);
      expect(blocked.retryAfterMs).toBeGreaterThan(0);
      // …and the per-second limit was left uncharged by that refusal.
      expect((await store.acquire({ rules: [perSecond], cost: 20, now: T0 + 1000 })).allowed).toBe(
        true,
      );
    });

    it('reports the longest wait over the limits when several refuse', async () => {
      const fast = rule(10, 1000, 1);
      const slow = rule(1, 1000, 1);
      await store.acquire({ rules: [fast, slow], cost: 1, now: T0 });
      const d = await store.acquire({ rules: [fast, slow], cost: 1, now: T0 });
      expect(d.allowed).toBe(false);
      expect(d.limitedBy).toBe(1);
      expect(d.retryAfterMs).toBeCloseTo(1000, 6);
    });

    it('reset makes keys fresh', async () => {
      const r = rule(1, 1000, 1);
      await store.acquire({ rules: [r], cost: 1, now: T0 });
      expect((await store.acquire({ rules: [r], cost: 1, now: T0 })).allowed).toBe(false);
      await store.reset([r.key]);
      expect((await store.acquire({ rules: [r], cost: 1, now: T0 })).allowed).toBe(true);
    });

    it('handles fractional emission intervals without drift', async () => {
      const r = rule(3, 1000, 1);
      // Arrivals exactly on the 333.33 ms grid are all admitted (no rounding
      // drift accumulates over 30 of them); one just before a grid point is not.
      for (let i = 0; i < 30; i++) {
        const at = T0 + (i * 1000) / 3;
        if (i > 0) {
          expect((await store.acquire({ rules: [r], cost: 1, now: at - 1 })).allowed).toBe(false);
        }
        expect((await store.acquire({ rules: [r], cost: 1, now: at })).allowed).toBe(true);
      }
    });

    it('uses its own clock when the request carries no now', async () => {
      const r = rule(1, 3_600_000, 2);
      const first = await store.acquire({ rules: [r], cost: 1 });
      expect(first).toMatchObject({ allowed: true, remaining: 1 });
      await store.acquire({ rules: [r], cost: 1 });
      const denied = await store.acquire({ rules: [r], cost: 1 });
      expect(denied.allowed).toBe(false);
      expect(denied.retryAfterMs).toBeGreaterThan(3_500_000);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(3_600_000);
    });

    it('serialises concurrent acquisitions: never more than the burst at one instant', async () => {
      const r = rule(1, 60_000, 25);
      const decisions = await Promise.all(
        Array.from({ length: 60 }, () =>
          Promise.resolve(store.acquire({ rules: [r], cost: 1, now: T0 })),
        ),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(25);
    });

    it('agrees with the reference GCRA on random sequences', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 1, max: 5 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 5 })), {
            minLength: 1,
            maxLength: 40,
            size: 'max',
          }),
          async (rate, burst, steps) => {
            const r = rule(rate, 1000, burst);
            let now = T0;
            let tat: number | undefined;
            for (const [gap, rawCost] of steps) {
              now += gap;
              const cost = Math.min(rawCost, burst);
              const expected = gcra(r, tat, cost, now);
              const got = await store.acquire({ rules: [r], cost, now });
              expect(got.allowed).toBe(expected.allowed);
              expect(got.remaining).toBe(expected.remaining);
              expect(got.retryAfterMs).toBeCloseTo(expected.retryAfterMs, 3);
              if (expected.allowed && cost > 0) tat = expected.newTat;
            }
          },
        ),
        { numRuns: 50 },
      );
    });
  });
}
