/**
 * Micro-batching, side by side in one process:
 *
 * - floor: a minimal hand-written end-of-tick batcher (one Map per window,
 *   dedupe by key, DataLoader's post-promise-job scheduling, no abort, no
 *   stats, no validation): the cost of batching itself;
 * - batchflight: `batch({ load })` (end-of-tick window) and the drop-in
 *   `DataLoader` from `batchflight/dataloader`;
 * - peers: `dataloader` 2.2 (cache cleared after each iteration) and
 *   `@yornaath/batshit` 0.14 (`windowScheduler(0)`, its shortest window).
 *
 * (a) 100,000 loads over 1,000 keys in one tick;
 * (b) 1,000 unique loads in one tick;
 * (c) single awaited loads (100 per iteration, one after the other);
 * (d) cache-hit-heavy: 100,000 loads over 1,000 keys that are already in
 *     the cache (the memoising loaders only: DataLoader and `dataloader`).
 *
 * Targets: (a) batch() >= 1.5x dataloader's throughput; batch() <= 1.2x
 * the floor's time in (a), (b) and (c); the drop-in DataLoader >= 1.5x
 * dataloader's throughput in (a) and >= 1.2x in (d).
 *
 * Run: `npm run bench -- batch`. Ratios are printed at the end.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import DataLoader from 'dataloader';
import { create, indexedResolver, windowScheduler } from '@yornaath/batshit';
import { batch } from 'batchflight/batch';
import { DataLoader as OurDataLoader } from 'batchflight/dataloader';

const MANY = 100_000;
const KEYS = 1_000;
const UNIQUE = 1_000;
const SEQUENTIAL = 100;

/** The bulk call: answers every key at once, in key order. */
const bulk = (keys: readonly number[]): Promise<number[]> => Promise.resolve(keys as number[]);

// --- the floor ---------------------------------------------------------------
interface FloorWindow {
  keys: number[];
  waiters: Map<number, { promise: Promise<number>; resolve: (v: number) => void }>;
}
let resolved: Promise<void> | undefined;
function floorBatcher(
  load: (keys: readonly number[]) => Promise<number[]>,
): (key: number) => Promise<number> {
  let window: FloorWindow | undefined;
  const dispatch = (w: FloorWindow): void => {
    window = undefined;
    void load(w.keys).then((values) => {
      for (let i = 0; i < w.keys.length; i++) {
        w.waiters.get(w.keys[i]!)!.resolve(values[i]!);
      }
    });
  };
  return (key) => {
    let w = window;
    if (w === undefined) {
      const created: FloorWindow = { keys: [], waiters: new Map() };
      w = window = created;
      void (resolved ??= Promise.resolve()).then(() => {
        process.nextTick(() => {
          dispatch(created);
        });
      });
    }
    const existing = w.waiters.get(key);
    if (existing !== undefined) return existing.promise;
    let resolve!: (v: number) => void;
    const promise = new Promise<number>((r) => {
      resolve = r;
    });
    w.waiters.set(key, { promise, resolve });
    w.keys.push(key);
    return promise;
  };
}

// --- contenders ---------------------------------------------------------------
interface Contender {
  readonly name: string;
  load(key: number): Promise<unknown>;
  /** Called after each iteration (cache clearing for the memoising loaders). */
  after?(): void;
}

function contenders(prefix: string): Contender[] {
  const floor = floorBatcher(bulk);
  const ours = batch({ load: bulk });
  const ourLoader = new OurDataLoader<number, number>(bulk);
  const theirLoader = new DataLoader<number, number>(bulk);
  const batshit = create({
    fetcher: (keys: number[]) => {
      const out: Record<number, number> = {};
      for (const k of keys) out[k] = k;
      return Promise.resolve(out);
    },
    resolver: indexedResolver(),
    scheduler: windowScheduler(0),
  });
  return [
    { name: `${prefix}: floor (hand-written end-of-tick)`, load: floor },
    { name: `${prefix}: batchflight batch()`, load: (k) => ours.load(k) },
    {
      name: `${prefix}: batchflight DataLoader`,
      load: (k) => ourLoader.load(k),
      after: () => {
        ourLoader.clearAll();
      },
    },
    {
      name: `${prefix}: dataloader`,
      load: (k) => theirLoader.load(k),
      after: () => {
        theirLoader.clearAll();
      },
    },
    { name: `${prefix}: @yornaath/batshit`, load: (k) => batshit.fetch(k) },
  ];
}

const A = contenders('a');
const B = contenders('b');
const C = contenders('c');

group(
  `(a) ${MANY.toLocaleString('en-US')} loads over ${KEYS.toLocaleString('en-US')} keys in one tick`,
  () => {
    summary(() => {
      for (const [i, c] of A.entries()) {
        bench(c.name, async () => {
          const calls = new Array<Promise<unknown>>(MANY);
          for (let j = 0; j < MANY; j++) calls[j] = c.load(j % KEYS);
          do_not_optimize(await Promise.all(calls));
          c.after?.();
        }).baseline(i === 0);
      }
    });
  },
);

let unique = 0;
group(`(b) ${UNIQUE.toLocaleString('en-US')} unique loads in one tick`, () => {
  summary(() => {
    for (const [i, c] of B.entries()) {
      bench(c.name, async () => {
        const calls = new Array<Promise<unknown>>(UNIQUE);
        for (let j = 0; j < UNIQUE; j++) calls[j] = c.load(unique++);
        do_not_optimize(await Promise.all(calls));
        c.after?.();
      }).baseline(i === 0);
    }
  });
});

group(`(c) ${String(SEQUENTIAL)} single awaited loads`, () => {
  summary(() => {
    for (const [i, c] of C.entries()) {
      bench(c.name, async () => {
        for (let j = 0; j < SEQUENTIAL; j++) do_not_optimize(await c.load(unique++));
        c.after?.();
      }).baseline(i === 0);
    }
  });
});

const ourWarm = new OurDataLoader<number, number>(bulk);
const theirWarm = new DataLoader<number, number>(bulk);
const D: Contender[] = [
  { name: 'd: batchflight DataLoader', load: (k) => ourWarm.load(k) },
  { name: 'd: dataloader', load: (k) => theirWarm.load(k) },
];
// Warm: every key is in both caches before the first measured iteration.
await Promise.all(D.flatMap((c) => Array.from({ length: KEYS }, (_, k) => c.load(k))));

group(
  `(d) ${MANY.toLocaleString('en-US')} loads over ${KEYS.toLocaleString('en-US')} cached keys in one tick`,
  () => {
    summary(() => {
      for (const [i, c] of D.entries()) {
        bench(c.name, async () => {
          const calls = new Array<Promise<unknown>>(MANY);
          for (let j = 0; j < MANY; j++) calls[j] = c.load(j % KEYS);
          do_not_optimize(await Promise.all(calls));
        }).baseline(i === 1);
      }
    });
  },
);

// --- run and print ratios ------------------------------------------------------
const m = await runMedians();
const perLoad = (name: string, loads: number): string => `${(m(name) / loads).toFixed(0)} ns`;

console.log('\n## micro-batching: figures (median of mitata samples)\n');
for (const [label, set, loads] of [
  ['(a) 100,000 loads over 1,000 keys, one tick', A, MANY],
  ['(b) 1,000 unique loads, one tick', B, UNIQUE],
  ['(c) single awaited loads', C, SEQUENTIAL],
] as const) {
  console.log(`${label}:`);
  for (const c of set)
    console.log(`    ${c.name.padEnd(42)} ${perLoad(c.name, loads).padStart(8)}/load`);
  const [floor, ours, ourLoader, theirs, batshit] = set.map((c) => m(c.name)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  console.log(`    batch() / floor: ${(ours / floor).toFixed(2)}x (target <= 1.2x)`);
  console.log(`    dataloader / batch() (throughput ratio): ${(theirs / ours).toFixed(2)}x`);
  console.log(
    `    batchflight DataLoader throughput / dataloader's: ${(theirs / ourLoader).toFixed(2)}x${label.startsWith('(a)') ? ' (target >= 1.5x)' : ''}`,
  );
  console.log(`    batshit / batch(): ${(batshit / ours).toFixed(2)}x\n`);
}
console.log('(d) 100,000 loads over 1,000 cached keys, one tick:');
for (const c of D)
  console.log(`    ${c.name.padEnd(42)} ${perLoad(c.name, MANY).padStart(8)}/load`);
console.log(
  `    batchflight DataLoader throughput / dataloader's: ${(m('d: dataloader') / m('d: batchflight DataLoader')).toFixed(2)}x (target >= 1.2x)\n`,
);
console.log('Target (a): batch() >= 1.5x dataloader throughput, i.e. dataloader / batch() >= 1.5.');
