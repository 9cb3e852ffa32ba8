/**
 * Hits answered through the gate (hits.ts) against the original, where the
 * differential test does not reach: rejections nobody else handles, and the
 * order of hits on settled and pending entries of one tick.
 */
import { describe, expect, it } from 'vitest';
import OriginalDataLoader from 'dataloader';
import { flushMicrotasks } from '@batchflight/testing';
import { DataLoader } from './index.js';

type Fn = (keys: readonly number[]) => Promise<(string | Error)[]>;
type Ctor = new (fn: Fn) => { load(key: number): Promise<string> };
const both: [string, Ctor][] = [
  ['dataloader', OriginalDataLoader],
  ['batchflight', DataLoader],
];

describe('DataLoader hits', () => {
  for (const [name, Loader] of both) {
    it(`${name}: a failed key whose first promise nobody handles is handled by a hit of its tick`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        const loader = new Loader((keys) => Promise.resolve(keys.map(() => new Error('gone'))));
        void loader.load(1); // dropped: only the hit below reads the outcome
        await expect(loader.load(1)).rejects.toThrow('gone');
        await flushMicrotasks();
        await flushMicrotasks();
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  }

  it('settles hits on settled and on pending entries of one tick in the original order', async () => {
    const orders = await Promise.all(
      both.map(async ([, Loader]) => {
        const order: string[] = [];
        let release: (() => void) | undefined;
        const loader = new Loader((keys) =>
          keys.includes(9)
            ? new Promise((resolve) => {
                release = () => {
                  resolve(keys.map(String));
                };
              })
            : Promise.resolve(keys.map(String)),
        );
        await loader.load(1); // settled entry
        void loader.load(9); // pending entry, in flight in its own batch
        await flushMicrotasks();
        const track = (label: string, p: Promise<string>): void => {
          void p.then((v) => order.push(`${label}:${v}`));
        };
        track('a', loader.load(1));
        track('b', loader.load(9));
        track('c', loader.load(1));
        track('d', loader.load(2));
        track('e', loader.load(2));
        await flushMicrotasks();
        release?.();
        await flushMicrotasks();
        return order;
      }),
    );
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[0]).toHaveLength(5);
  });
});
