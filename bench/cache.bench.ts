/**
 * Memory cache hits, side by side in one process:
 *
 * - floor: a minimal hand-written TTL cache (`Map<key, { promise, expiresAt }>`,
 *   one `Date.now()` per read, the stored promise returned on a hit): the
 *   cost of caching itself;
 * - batchflight: `cache.get(key, compute)` (memory store, LRU, stats),
 *   `cached(fn)` (keys from the arguments) and a wrapped `Handler` (keys from
 *   `stableKey(input)`);
 * - peers: async-cache-dedupe (memory storage, ttl 60 s), p-memoize (a `Map`
 *   cache), dataloader (its per-instance promise cache).
 *
 * (a) throughput of hits on one warm key: 1,000 reads per iteration, not
 *     awaited one by one (a hit hands back a settled promise), the last one
 *     awaited; reported as hits/s (target >= 5M hits/s for `cache.get`).
 *     async-cache-dedupe and p-memoize are left out: unawaited calls in one
 *     tick only exercise their in-flight dedupe;
 * (b) 100 hits each awaited, per-hit latency including the await.
 *
 * Run: `npm run bench -- cache`. Ratios are printed at the end.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import { createCache } from 'async-cache-dedupe';
import DataLoader from 'dataloader';
import pMemoize from 'p-memoize';
import { cache, cached } from 'batchflight/cache';
import { toContext } from 'batchflight/core';

const READS = 1_000;
const AWAITED = 100;
const KEY = 42;

const compute = (key: number): Promise<string> => Promise.resolve(`value:${String(key)}`);

// --- the floor ---------------------------------------------------------------------
function floorCache(ttlMs: number): (key: number) => Promise<string> {
  const entries = new Map<number, { promise: Promise<string>; expiresAt: number }>();
  return (key) => {
    const entry = entries.get(key);
    if (entry !== undefined && entry.expiresAt > Date.now()) return entry.promise;
    const promise = compute(key);
    entries.set(key, { promise, expiresAt: Date.now() + ttlMs });
    return promise;
  };
}

// --- subjects ------------------------------------------------------------------------
const floor = floorCache(60_000);
const ours = cache({ ttlMs: 60_000 });
const KEY_STRING = String(KEY);
const oursGet = (key: number): Promise<string> =>
  ours.get(key === KEY ? KEY_STRING : String(key), () => compute(key));
const oursCached = cached(compute, { ttlMs: 60_000 });
const handlerCache = cache<number>({ ttlMs: 60_000 });
const oursHandler = handlerCache.wrap((key: number) => compute(key));
const ctx = toContext();
const oursLayer = (key: number): Promise<string> => oursHandler(key, ctx);
const acdCache = createCache({ ttl: 60, storage: { type: 'memory' } }).define('compute', compute);
const acd = (key: number): Promise<string> =>
  (acdCache as unknown as { compute: (k: number) => Promise<string> }).compute(key);
const memo = pMemoize(compute, { cache: new Map() });
const loader = new DataLoader<number, string>((keys) => Promise.all(keys.map(compute)));
const loaderLoad = (key: number): Promise<string> => loader.load(key);

const subjects = {
  floor: ['floor Map + expiry', floor],
  get: ['batchflight cache.get', oursGet],
  cached: ['batchflight cached(fn)', oursCached],
  layer: ['batchflight cache.wrap(handler)', oursLayer],
  acd: ['async-cache-dedupe', acd],
  pmemoize: ['p-memoize (Map)', memo],
  dataloader: ['dataloader (cache)', loaderLoad],
} as const satisfies Record<string, readonly [string, (key: number) => Promise<string>]>;

// Warm every cache, and check they all answer the same value.
for (const [name, read] of Object.values(subjects)) {
  const value = await read(KEY);
  if (value !== 'value:42') throw new Error(`${name} answered ${value}`);
}

// Each subject gets its own loop (its own call site), so no subject pays for
// another's megamorphic inline cache.
// async-cache-dedupe and p-memoize are left out of (a): their calls are async
// functions that dedupe in-flight calls, so 1,000 unawaited calls in one tick
// measure their in-flight dedupe (one Map lookup), not a cache hit; (b) measures them.
const IN_A = new Set(['floor', 'get', 'cached', 'layer', 'dataloader']);
const throughputLoops: Partial<Record<keyof typeof subjects, () => Promise<void>>> = {
  floor: async () => {
    let last: Promise<string> | undefined;
    for (let i = 0; i < READS; i++) last = floor(KEY);
    do_not_optimize(await last);
  },
  get: async () => {
    let last: Promise<string> | undefined;
    for (let i = 0; i < READS; i++) last = oursGet(KEY);
    do_not_optimize(await last);
  },
  cached: async () => {
    let last: Promise<string> | undefined;
    for (let i = 0; i < READS; i++) last = oursCached(KEY);
    do_not_optimize(await last);
  },
  layer: async () => {
    let last: Promise<string> | undefined;
    for (let i = 0; i < READS; i++) last = oursLayer(KEY);
    do_not_optimize(await last);
  },
  dataloader: async () => {
    let last: Promise<string> | undefined;
    for (let i = 0; i < READS; i++) last = loaderLoad(KEY);
    do_not_optimize(await last);
  },
};
const awaitedLoops: Record<keyof typeof subjects, () => Promise<void>> = {
  floor: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await floor(KEY));
  },
  get: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await oursGet(KEY));
  },
  cached: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await oursCached(KEY));
  },
  layer: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await oursLayer(KEY));
  },
  acd: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await acd(KEY));
  },
  pmemoize: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await memo(KEY));
  },
  dataloader: async () => {
    for (let i = 0; i < AWAITED; i++) do_not_optimize(await loaderLoad(KEY));
  },
};

group(`(a) ${READS.toLocaleString('en-US')} hits on a warm key, not awaited one by one`, () => {
  summary(() => {
    for (const [id, [name]] of Object.entries(subjects)) {
      const loop = throughputLoops[id as keyof typeof subjects];
      if (loop !== undefined && IN_A.has(id)) bench(`a: ${name}`, loop).baseline(id === 'floor');
    }
  });
});
group(`(b) ${String(AWAITED)} hits, each awaited`, () => {
  summary(() => {
    for (const [id, [name]] of Object.entries(subjects)) {
      bench(`b: ${name}`, awaitedLoops[id as keyof typeof subjects]).baseline(id === 'floor');
    }
  });
});

// --- run and print figures -------------------------------------------------------------
const m = await runMedians();

console.log('\n## cache: figures (median of mitata samples)\n');
console.log('(a) hits on a warm key:');
for (const [id, [name]] of Object.entries(subjects)) {
  if (!IN_A.has(id)) continue;
  const nsPerHit = m(`a: ${name}`) / READS;
  console.log(
    `    ${name.padEnd(34)} ${nsPerHit.toFixed(1).padStart(7)} ns/hit  ${(1e3 / nsPerHit).toFixed(2).padStart(6)} M hits/s  ${(m(`a: ${name}`) / m('a: floor Map + expiry')).toFixed(2)}x floor`,
  );
}
const oursPerHit = m('a: batchflight cache.get') / READS;
console.log(
  `    cache.get: ${(1e3 / oursPerHit).toFixed(2)} M hits/s (target >= 5M hits/s) — ${1e3 / oursPerHit >= 5 ? 'met' : 'NOT met'}`,
);
console.log(`\n(b) hits, each awaited:`);
for (const [name] of Object.values(subjects)) {
  const ns = m(`b: ${name}`) / AWAITED;
  console.log(
    `    ${name.padEnd(34)} ${ns.toFixed(1).padStart(7)} ns/hit  ${(m(`b: ${name}`) / m('b: floor Map + expiry')).toFixed(2)}x floor`,
  );
}
console.log(`\nhit stats of cache.get: ${JSON.stringify(ours.stats())}`);
await Promise.all([ours.close(), oursCached.cache.close(), handlerCache.close()]);
