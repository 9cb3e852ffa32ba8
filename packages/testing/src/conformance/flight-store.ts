/**
 * The conformance suite of the `FlightStore` contract
 * (`batchflight/singleflight`). Every implementation runs it; it goes
 * through the contract only, plus one harness hook to end a lease early
 * (a store whose leases expire on a server's clock cannot be driven by a
 * TestClock, and waiting out a real lease would make the suite slow).
 */
import { ClosedError } from 'batchflight';
import type { FlightEvent, FlightStore } from 'batchflight/singleflight';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** What the factory of {@link flightStoreConformance} returns. */
export interface FlightStoreHarness {
  /** A fresh store (its own key prefix for a shared server). */
  readonly store: FlightStore;
  /** A second store on the same backing state, as another process would have. */
  readonly peer: FlightStore;
  /** Makes the current lease of `key` expire now, as if its holder died. */
  expireLease(key: string): Promise<void>;
  /** Releases both stores and whatever they created (keys, connections). */
  cleanup(): Promise<void>;
  /**
   * Moves the store's clock forward (a `TestClock`'s `advance`), for a store
   * whose leases and outcomes expire on a clock the test can drive (the
   * memory store). With it the suite also checks expiry; without it (a
   * server's clock), that part is left to the store's own tests.
   */
  readonly advance?: ((ms: number) => Promise<void>) | undefined;
}

/** Resolves when `events` has `count` entries (pub/sub delivery is asynchronous). */
async function until(events: readonly unknown[], count: number): Promise<void> {
  for (let i = 0; i < 2000 && events.length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Options of {@link flightStoreConformance}. */
export interface FlightStoreConformanceOptions {
  /** Every harness has `advance`: register the expiry tests too. Default false. */
  readonly drivesClock?: boolean | undefined;
}

/**
 * Registers the vitest `describe`/`it` blocks of the contract.
 *
 * @param name - shown in the test names, e.g. `'RedisFlightStore'`.
 * @param makeStore - called before every test for fresh, empty stores.
 * @param options - `drivesClock` when the harness can move the store's clock.
 *
 * @example
 * ```ts
 * flightStoreConformance('RedisFlightStore', async () => {
 *   const prefix = uniquePrefix();
 *   const store = new RedisFlightStore({ client, prefix });
 *   const peer = new RedisFlightStore({ client: other, prefix });
 *   return { store, peer, expireLease: (k) => deleteLeaseKey(k), cleanup: … };
 * });
 * ```
 */
export function flightStoreConformance(
  name: string,
  makeStore: () => Promise<FlightStoreHarness>,
  options: FlightStoreConformanceOptions = {},
): void {
  describe(`FlightStore conformance: ${name}`, () => {
    let harness: FlightStoreHarness;
    let store: FlightStore;
    let peer: FlightStore;
    const LEASE = 30_000;

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
      peer = harness.peer;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('gives the lease of a free key to exactly one of many concurrent claims', async () => {
      const claims = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store : peer).claim('k', LEASE)),
      );
      const leaders = claims.filter((c) => c.kind === 'leader');
      expect(leaders).toHaveLength(1);
      for (const c of claims) {
        if (c.kind === 'held') {
          expect(c.leaseRemainingMs).toBeGreaterThan(0);
          expect(c.leaseRemainingMs).toBeLessThanOrEqual(LEASE);
        } else expect(c.kind).toBe('leader');
      }
    });

    it('complete tells every watcher the outcome, and later claims read it', async () => {
      const lead = await store.claim('k', LEASE);
      if (lead.kind !== 'leader') throw new Error(`expected leader, got ${lead.kind}`);
      expect(lead.lease.key).toBe('k');
      const seen: FlightEvent[] = [];
      const watch = await peer.watch('k', (e) => seen.push(e));
      expect((await peer.claim('k', LEASE)).kind).toBe('held');
      expect(await store.complete(lead.lease, 'the outcome ✓', 60_000)).toBe(true);
      await until(seen, 1);
      expect(seen).toEqual([{ kind: 'done', outcome: 'the outcome ✓' }]);
      expect(await peer.claim('k', LEASE)).toEqual({ kind: 'done', outcome: 'the outcome ✓' });
      watch.dispose();
    });

    it('release tells the watchers and frees the key for a new lease with a higher fence', async () => {
      const first = await store.claim('k', LEASE);
      if (first.kind !== 'leader') throw new Error('expected leader');
      const seen: FlightEvent[] = [];
      const watch = await peer.watch('k', (e) => seen.push(e));
      expect(await store.release(first.lease)).toBe(true);
      await until(seen, 1);
      expect(seen).toEqual([{ kind: 'released' }]);
      const second = await peer.claim('k', LEASE);
      if (second.kind !== 'leader') throw new Error('expected leader');
      expect(second.lease.fence).toBeGreaterThan(first.lease.fence);
      expect(second.lease.token).not.toBe(first.lease.token);
      watch.dispose();
    });

    it('extends a current lease; a stale leader can neither extend, complete nor release', async () => {
      const first = await store.claim('k', LEASE);
      if (first.kind !== 'leader') throw new Error('expected leader');
      expect(await store.extend(first.lease, LEASE)).toBe(true);
      await harness.expireLease('k');
      const second = await peer.claim('k', LEASE);
      if (second.kind !== 'leader') throw new Error('expected a takeover');
      expect(second.lease.fence).toBeGreaterThan(first.lease.fence);
      expect(await store.extend(first.lease, LEASE)).toBe(false);
      expect(await store.complete(first.lease, 'stale', 60_000)).toBe(false);
      expect(await store.release(first.lease)).toBe(false);
      // The stale leader wrote nothing and freed nothing: the new lease still holds.
      expect((await store.claim('k', LEASE)).kind).toBe('held');
      expect(await peer.complete(second.lease, 'fresh', 60_000)).toBe(true);
      expect(await store.claim('k', LEASE)).toEqual({ kind: 'done', outcome: 'fresh' });
    });

    it('keys are independent, whatever their characters', async () => {
      const keys = ['a', 'A', 'a}b', '{a}', '', 'ünï 🙂', 'a:b'];
      const claims = await Promise.all(keys.map((k) => store.claim(k, LEASE)));
      expect(claims.map((c) => c.kind)).toEqual(keys.map(() => 'leader'));
      const seen: string[] = [];
      const watches = await Promise.all(
        keys.map((k) =>
          peer.watch(k, (e) => {
            seen.push(`${k}=${e.kind === 'done' ? e.outcome : e.kind}`);
          }),
        ),
      );
      const [, second] = claims;
      if (second?.kind !== 'leader') throw new Error('expected leader');
      expect(await store.complete(second.lease, 'only A', 60_000)).toBe(true);
      await until(seen, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).toEqual(['A=only A']);
      expect((await peer.claim('a', LEASE)).kind).toBe('held');
      for (const w of watches) w.dispose();
    });

    it('a disposed watch is told nothing more', async () => {
      const lead = await store.claim('k', LEASE);
      if (lead.kind !== 'leader') throw new Error('expected leader');
      const seen: FlightEvent[] = [];
      const kept: FlightEvent[] = [];
      const watch = await peer.watch('k', (e) => seen.push(e));
      const other = await peer.watch('k', (e) => kept.push(e));
      watch.dispose();
      watch.dispose();
      expect(await store.complete(lead.lease, 'x', 60_000)).toBe(true);
      await until(kept, 1);
      expect(kept).toHaveLength(1);
      expect(seen).toHaveLength(0);
      other.dispose();
    });

    it('after close, watch rejects with a ClosedError (never taken for an outage)', async () => {
      await store.close?.();
      const error: unknown = await store
        .watch('k', () => undefined)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(ClosedError.is(error)).toBe(true);
    });

    it.skipIf(options.drivesClock !== true)(
      'an un-extended lease expires after leaseMs, an outcome after resultTtlMs',
      async () => {
        const advance = harness.advance;
        if (advance === undefined) throw new Error('drivesClock needs harness.advance');
        const first = await store.claim('k', 1000);
        if (first.kind !== 'leader') throw new Error('expected leader');
        await advance(999);
        expect(await peer.claim('k', 1000)).toEqual({ kind: 'held', leaseRemainingMs: 1 });
        expect(await store.extend(first.lease, 1000)).toBe(true);
        await advance(999);
        expect((await peer.claim('k', 1000)).kind).toBe('held');
        await advance(1);
        const second = await peer.claim('k', 1000);
        if (second.kind !== 'leader') throw new Error('expected a takeover once the lease expired');
        expect(await store.extend(first.lease, 1000)).toBe(false);
        expect(await peer.complete(second.lease, 'kept briefly', 500)).toBe(true);
        await advance(499);
        expect(await store.claim('k', 1000)).toEqual({ kind: 'done', outcome: 'kept briefly' });
        await advance(1);
        const third = await store.claim('k', 1000);
        expect(third.kind).toBe('leader');
        if (third.kind === 'leader') expect(third.lease.fence).toBeGreaterThan(second.lease.fence);
      },
    );
  });
}
