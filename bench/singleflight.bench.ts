/**
 * Single flight, side by side in one process:
 *
 * - floor: a minimal hand-written `Map<key, Promise>` single flight (no
 *   identity-checked cleanup, no abort, no stats): the cost of coalescing itself;
 * - batchflight: `singleflight(fn)` (keys from the arguments) and `SingleFlight#run`;
 * - peers: async-cache-dedupe (ttl 0: dedupe only), dataloader used as a
 *   coalescer (cache cleared after each use), p-memoize with `cache: false`
 *   (it then only dedupes in-flight promises).
 *
 * (a) per-call overhead, unique number keys, each call awaited;
 * (b) 10,000 concurrent identical calls, executions counted (must be 1);
 * (c) object-argument keys vs number keys for batchflight.
 *
 * Run: `npm run bench -- singleflight`. Ratios are printed at the end.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import { createCache } from 'async-cache-dedupe';
import DataLoader from 'dataloader';
import pMemoize from 'p-memoize';
import { argumentsKey } from 'batchflight/core';
import { SingleFlight, singleflight } from 'batchflight/singleflight';

const SEQUENTIAL = 100; // awaited calls per iteration in (a) and (c)
const CONCURRENT = 10_000; // identical calls per iteration in (b)

/** Every benchmark's iteration function, for the interleaved CPU-time pass. */
const iterations = new Map<string, () => Promise<void>>();
function side(name: string, fn: () => Promise<void>): ReturnType<typeof bench> {
  iterations.set(name, fn);
  return bench(name, fn);
}

/** The work being coalesced: an immediately resolving async call. */
const work = (key: unknown): Promise<unknown> => Promise.resolve(key);

// --- the floor ---------------------------------------------------------------
function floorGroup(): (key: number) => Promise<unknown> {
  const inflight = new Map<number, Promise<unknown>>();
  return (key) => {
    let promise = inflight.get(key);
    if (promise !== undefined) return promise;
    promise = work(key).finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  };
}

// --- peers ------------------------------------------------------------------
function acdGroup(): (key: unknown) => Promise<unknown> {
  const cache = createCache({ ttl: 0, storage: { type: 'memory' } }).define('work', work);
  return (key) => (cache as unknown as { work: (k: unknown) => Promise<unknown> }).work(key);
}

function dataloaderGroup(): { load: (key: number) => Promise<unknown>; clear: () => void } {
  const loader = new DataLoader<number, unknown>((keys) => Promise.all(keys.map(work)));
  return {
    load: (key) => loader.load(key),
    clear: () => {
      loader.clearAll();
    },
  };
}

function pMemoizeGroup(): (key: unknown) => Promise<unknown> {
  return pMemoize(work, { cache: false });
}

// --- (a) per-call overhead, unique number keys --------------------------------
const floor = floorGroup();
const ours = singleflight(work);
const flights = new SingleFlight();
const acd = acdGroup();
const loader = dataloaderGroup();
const memo = pMemoizeGroup();

let counter = 0;
const sequential = (call: (key: number) => Promise<unknown>) => async () => {
  for (let i = 0; i < SEQUENTIAL; i++) do_not_optimize(await call(counter++));
};

const A = {
  floor: 'a: floor Map<key, Promise>',
  ours: 'a: batchflight singleflight(fn)',
  run: 'a: batchflight SingleFlight#run',
  acd: 'a: async-cache-dedupe',
  dataloader: 'a: dataloader (cleared)',
  pmemoize: 'a: p-memoize (cache: false)',
};
group(`(a) ${String(SEQUENTIAL)} awaited calls, unique number keys`, () => {
  summary(() => {
    side(A.floor, sequential(floor)).baseline(true);
    side(A.ours, sequential(ours));
    side(
      A.run,
      sequential((key) => {
        const k = String(key);
        return flights.run(k, () => work(k));
      }),
    );
    side(A.acd, sequential(acd));
    side(
      A.dataloader,
      sequential(async (key) => {
        const value = await loader.load(key);
        loader.clear();
        return value;
      }),
    );
    side(A.pmemoize, sequential(memo));
  });
});

// --- (b) 10,000 concurrent identical calls -----------------------------------
const executions = new Map<string, { runs: number; iterations: number }>();
function counted(name: string): (key: unknown) => Promise<unknown> {
  const record = { runs: 0, iterations: 0 };
  executions.set(name, record);
  return (key) => {
    record.runs++;
    return work(key);
  };
}
const identical =
  (name: string, call: (key: number) => Promise<unknown>, after?: () => void) => async () => {
    const record = executions.get(name)!;
    record.iterations++;
    const calls = new Array<Promise<unknown>>(CONCURRENT);
    for (let i = 0; i < CONCURRENT; i++) calls[i] = call(1);
    do_not_optimize(await Promise.all(calls));
    after?.();
  };

const B = {
  floor: 'b: floor Map<key, Promise>',
  ours: 'b: batchflight singleflight(fn)',
  acd: 'b: async-cache-dedupe',
  dataloader: 'b: dataloader (cleared)',
  pmemoize: 'b: p-memoize (cache: false)',
};
{
  const floorWork = counted(B.floor);
  const floorB = (() => {
    const inflight = new Map<number, Promise<unknown>>();
    return (key: number) => {
      let promise = inflight.get(key);
      if (promise !== undefined) return promise;
      promise = floorWork(key).finally(() => inflight.delete(key));
      inflight.set(key, promise);
      return promise;
    };
  })();
  const oursB = singleflight(counted(B.ours));
  const acdWork = counted(B.acd);
  const acdCache = createCache({ ttl: 0, storage: { type: 'memory' } }).define('work', acdWork);
  const acdB = (key: number) =>
    (acdCache as unknown as { work: (k: unknown) => Promise<unknown> }).work(key);
  const loaderWork = counted(B.dataloader);
  const loaderB = new DataLoader<number, unknown>((keys) => Promise.all(keys.map(loaderWork)));
  const memoB = pMemoize(counted(B.pmemoize), { cache: false });

  group(`(b) ${CONCURRENT.toLocaleString('en-US')} concurrent identical calls`, () => {
    summary(() => {
      side(B.floor, identical(B.floor, floorB)).baseline(true);
      side(B.ours, identical(B.ours, oursB));
      side(B.acd, identical(B.acd, acdB));
      side(
        B.dataloader,
        identical(
          B.dataloader,
          (key) => loaderB.load(key),
          () => {
            loaderB.clearAll();
          },
        ),
      );
      side(B.pmemoize, identical(B.pmemoize, memoB));
    });
  });
}

// --- (c) object keys vs number keys -------------------------------------------
const C = {
  number: 'c: batchflight, number argument',
  object: 'c: batchflight, object argument',
  coreKey: 'c: batchflight + core argumentsKey, object',
  jsonFloor: 'c: floor + JSON.stringify key, object',
  acdNumber: 'c: async-cache-dedupe, number argument',
  acdObject: 'c: async-cache-dedupe, object argument',
};
{
  const oursNumber = singleflight(work);
  const oursObject = singleflight((query: { id: number; kind: string; fields: string[] }) =>
    work(query),
  );
  const oursCoreKey = singleflight(
    (query: { id: number; kind: string; fields: string[] }) => work(query),
    { key: (...args) => argumentsKey(args) },
  );
  const jsonFloor = (() => {
    const inflight = new Map<string, Promise<unknown>>();
    return (query: object) => {
      const key = JSON.stringify(query);
      let promise = inflight.get(key);
      if (promise !== undefined) return promise;
      promise = work(query).finally(() => inflight.delete(key));
      inflight.set(key, promise);
      return promise;
    };
  })();
  const acdNumber = acdGroup();
  const acdObject = acdGroup();
  const fields = ['name', 'email'];
  group(`(c) ${String(SEQUENTIAL)} awaited calls, object vs number keys`, () => {
    summary(() => {
      side(C.number, sequential(oursNumber)).baseline(true);
      side(
        C.object,
        sequential((id) => oursObject({ id, kind: 'user', fields })),
      );
      side(
        C.coreKey,
        sequential((id) => oursCoreKey({ id, kind: 'user', fields })),
      );
      side(
        C.jsonFloor,
        sequential((id) => jsonFloor({ id, kind: 'user', fields })),
      );
      side(C.acdNumber, sequential(acdNumber));
      side(
        C.acdObject,
        sequential((id) => acdObject({ id, kind: 'user', fields })),
      );
    });
  });
}

// --- run and print ratios ------------------------------------------------------
// Warm every implementation up first, so the first benchmark does not pay for the JIT alone.
for (const fn of iterations.values()) for (let i = 0; i < 30; i++) await fn();
const wall = await runMedians();

/**
 * On a shared, loaded machine wall-clock medians swing with the neighbours'
 * load. This pass runs the same iteration functions interleaved (round-robin
 * within a group, so drifts hit every implementation alike) and keeps the
 * least wall time per iteration seen in any round: the run least disturbed by
 * the neighbours. (No forced gc between measures: repeated full collections
 * age and flush the bytecode of the functions not running at that moment,
 * which penalises the implementations with more code.)
 */
async function interleaved(names: readonly string[], perMeasure: number): Promise<void> {
  for (let round = 0; round < 31; round++) {
    for (const name of names) {
      const fn = iterations.get(name)!;
      const start = performance.now();
      for (let i = 0; i < perMeasure; i++) await fn();
      const ns = ((performance.now() - start) * 1e6) / perMeasure;
      least.set(name, Math.min(least.get(name) ?? Infinity, ns));
    }
  }
}
const least = new Map<string, number>();
await interleaved(Object.values(A), 20);
await interleaved(Object.values(B), 3);
await interleaved(Object.values(C), 20);

function report(title: string, m: (name: string) => number): void {
  const ratio = (a: string, b: string): string => `${(m(a) / m(b)).toFixed(2)}x`;
  const perCall = (name: string): string => `${Math.round(m(name) / SEQUENTIAL).toString()} ns`;
  console.log(`\n## single flight: ${title}\n`);
  console.log(`(a) per call, unique number keys, awaited:`);
  for (const name of Object.values(A)) {
    console.log(`    ${name.padEnd(36)} ${perCall(name).padStart(8)}/call`);
  }
  console.log(`    batchflight / floor: ${ratio(A.ours, A.floor)} (target <= 1.3x)`);
  console.log(`    SingleFlight#run / floor: ${ratio(A.run, A.floor)}`);
  for (const peer of [A.acd, A.dataloader, A.pmemoize]) {
    console.log(`    ${peer.slice(3)} / batchflight: ${ratio(peer, A.ours)} (target > 1)`);
  }
  console.log(`\n(b) ${CONCURRENT.toLocaleString('en-US')} concurrent identical calls:`);
  for (const name of Object.values(B)) {
    const record = executions.get(name)!;
    const perIteration = record.runs / Math.max(1, record.iterations);
    console.log(
      `    ${name.padEnd(36)} ${(m(name) / 1e6).toFixed(2).padStart(6)} ms, executions per ${CONCURRENT.toLocaleString('en-US')} calls: ${perIteration.toString()}`,
    );
  }
  console.log(`    batchflight / floor: ${ratio(B.ours, B.floor)}`);
  for (const peer of [B.acd, B.dataloader, B.pmemoize]) {
    console.log(`    ${peer.slice(3)} / batchflight: ${ratio(peer, B.ours)} (target > 1)`);
  }
  console.log(`\n(c) object vs number keys:`);
  console.log(`    batchflight object / number: ${ratio(C.object, C.number)} (target <= 2x)`);
  console.log(
    `    reference, floor with JSON.stringify keys, object / batchflight number: ${ratio(C.jsonFloor, C.number)}`,
  );
  console.log(
    `    batchflight with the core argumentsKey, object / number: ${ratio(C.coreKey, C.number)}`,
  );
  console.log(`    async-cache-dedupe object / number: ${ratio(C.acdObject, C.acdNumber)}`);
  console.log(
    `    async-cache-dedupe object / batchflight object: ${ratio(C.acdObject, C.object)}`,
  );
}

report('median wall time per iteration (mitata)', wall);
report(
  'least wall time per iteration over 31 interleaved rounds',
  (name) => least.get(name) ?? NaN,
);
const executionsOk = [...executions.values()].every((r) => r.runs === r.iterations);
console.log(
  `\nexactly 1 execution per ${CONCURRENT.toLocaleString('en-US')} identical calls, every implementation, every iteration: ${String(executionsOk)}`,
);
