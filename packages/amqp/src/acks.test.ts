/**
 * The ack tracker: a `multiple` ack covers only a prefix of settled tags,
 * never names a nacked tag, and every acked tag is covered exactly once,
 * whatever order the tags settle in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AckTracker } from './acks.js';

describe('AckTracker', () => {
  it('acks the highest contiguous acked tag, once, after a gap closes', () => {
    const tracker = new AckTracker<number>();
    tracker.settle(2, 2);
    tracker.settle(3, 3);
    expect(tracker.take()).toBeUndefined(); // tag 1 is not settled: nothing may be acked
    expect(tracker.ahead).toBe(2);
    tracker.settle(1, 1);
    expect(tracker.take()).toEqual({ message: 3, count: 3 });
    expect(tracker.take()).toBeUndefined();
    expect(tracker.frontier).toBe(3);
  });

  it('never names a nacked tag: the ack stops at the last acked one below it', () => {
    const tracker = new AckTracker<number>();
    tracker.settle(1, 1);
    tracker.settle(2, 2);
    tracker.settle(3, null);
    expect(tracker.take()).toEqual({ message: 2, count: 2 });
    tracker.settle(4, null);
    expect(tracker.take()).toBeUndefined();
    expect(tracker.frontier).toBe(4);
  });

  it('ignores a second settlement of a tag', () => {
    const tracker = new AckTracker<number>();
    tracker.settle(2, 2);
    tracker.settle(2, 2);
    tracker.settle(1, 1);
    tracker.settle(1, 1);
    expect(tracker.take()).toEqual({ message: 2, count: 2 });
  });

  it('drop() counts the acked messages never sent, below and above the frontier', () => {
    const tracker = new AckTracker<number>();
    tracker.settle(1, 1);
    tracker.settle(3, 3);
    tracker.settle(4, null);
    tracker.settle(5, 5);
    expect(tracker.drop()).toBe(3);
    expect(tracker.take()).toBeUndefined();
    expect(tracker.ahead).toBe(0);
  });

  it('property: any settle order; acks cover a settled prefix, each acked tag once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: n, maxLength: n },
            ),
            fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          ),
        ),
        ([order, nacked, takeAfter]) => {
          const tracker = new AckTracker<number>();
          const settled = new Set<number>();
          let covered = 0; // tags up to here were covered by a sent ack (or nacked)
          let ackedCount = 0;
          const take = (): void => {
            const sent = tracker.take();
            if (sent === undefined) return;
            const tag = sent.message;
            // A multiple ack at `tag` covers only settled tags, and names an acked one.
            for (let t = 1; t <= tag; t++) expect(settled.has(t)).toBe(true);
            expect(nacked[tag - 1]).toBe(false);
            let fresh = 0;
            for (let t = covered + 1; t <= tag; t++) if (nacked[t - 1] === false) fresh++;
            expect(sent.count).toBe(fresh);
            ackedCount += fresh;
            covered = tag;
          };
          order.forEach((tag, i) => {
            settled.add(tag);
            tracker.settle(tag, nacked[tag - 1] === true ? null : tag);
            if (takeAfter[i] === true) take();
          });
          take();
          expect(tracker.frontier).toBe(order.length);
          expect(tracker.ahead).toBe(0);
          expect(ackedCount).toBe(nacked.filter((n) => !n).length);
        },
      ),
    );
  });
});
