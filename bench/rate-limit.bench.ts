/**
 * Rate limiting overhead on an immediately-resolving call, side by side in
 * one process, with limits so high that every call is admitted (the cost of
 * asking, not of waiting):
 *
 * - floor: the raw call;
 * - batchflight: `limiter.acquire()` then the call, `limiter.wrap(handler)`,
 *   `limiter.schedule(fn)` (memory GCRA store);
 * - peers: rate-limiter-flexible `RateLimiterMemory#consume` then the call,
 *   bottleneck `schedule(fn)` (no limits set).
 *
 * (a) 100 calls per iteration, each awaited;
 * (b) the bare decision: 1,000 `MemoryRateLimitStore#acquire` over 1,000 keys
 *     (synchronous) vs rate-limiter-flexible `consume` over the same keys
 *     (a promise each, awaited together).
 *
 * Run: `npm run bench -- rate-limit`. Ratios are printed at the end.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import Bottleneck from 'bottleneck';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { toContext } from 'batchflight/core';
import { MemoryRateLimitStore, rateLimit } from 'batchflight/rate-limit';

const CALLS = 100;
const DECISIONS = 1_000;
const HUGE = 1e12; // a limit no benchmark reaches

const work = (): Promise<number> => Promise.resolve(1);

const limiter = rateLimit({ rate: HUGE, burst: HUGE, per: 'second' });
const wrapped = limiter.wrap(() => work());
const ctx = toContext();
const rlf = new RateLimiterMemory({ points: HUGE, duration: 1 });
const bottleneck = new Bottleneck();

const A = {
  floor: 'a: raw call',
  acquire: 'a: batchflight acquire() + call',
  wrap: 'a: batchflight wrap(handler)',
  schedule: 'a: batchflight schedule(fn)',
  rlf: 'a: rate-limiter-flexible consume() + call',
  bottleneck: 'a: bottleneck schedule(fn)',
};
group(`(a) ${String(CALLS)} admitted calls, each awaited`, () => {
  summary(() => {
    bench(A.floor, async () => {
      for (let i = 0; i < CALLS; i++) do_not_optimize(await work());
    }).baseline(true);
    bench(A.acquire, async () => {
      for (let i = 0; i < CALLS; i++) {
        await limiter.acquire();
        do_not_optimize(await work());
      }
    });
    bench(A.wrap, async () => {
      for (let i = 0; i < CALLS; i++) do_not_optimize(await wrapped(undefined, ctx));
    });
    bench(A.schedule, async () => {
      for (let i = 0; i < CALLS; i++) do_not_optimize(await limiter.schedule(work));
    });
    bench(A.rlf, async () => {
      for (let i = 0; i < CALLS; i++) {
        await rlf.consume('k');
        do_not_optimize(await work());
      }
    });
    bench(A.bottleneck, async () => {
      for (let i = 0; i < CALLS; i++) do_not_optimize(await bottleneck.schedule(work));
    });
  });
});

const keys = Array.from({ length: DECISIONS }, (_, i) => `user:${String(i)}`);
const store = new MemoryRateLimitStore();
const rlfKeys = new RateLimiterMemory({ points: HUGE, duration: 1 });
const B = {
  ours: 'b: batchflight MemoryRateLimitStore#acquire',
  rlf: 'b: rate-limiter-flexible consume()',
};
group(
  `(b) ${DECISIONS.toLocaleString('en-US')} decisions over ${DECISIONS.toLocaleString('en-US')} keys`,
  () => {
    summary(() => {
      bench(B.ours, () => {
        for (const key of keys) {
          do_not_optimize(
            store.acquire({ rules: [{ key, rate: HUGE, perMs: 1_000, burst: HUGE }], cost: 1 }),
          );
        }
      }).baseline(true);
      bench(B.rlf, async () => {
        do_not_optimize(await Promise.all(keys.map((key) => rlfKeys.consume(key))));
      });
    });
  },
);

// --- run and print figures ------------------------------------------------------------
const m = await runMedians();

console.log('\n## rate limit: figures (median of mitata samples)\n');
console.log('(a) per admitted call, awaited:');
for (const name of Object.values(A)) {
  const perCall = m(name) / CALLS;
  const overhead = perCall - m(A.floor) / CALLS;
  console.log(
    `    ${name.padEnd(44)} ${perCall.toFixed(0).padStart(8)} ns/call  overhead ${overhead.toFixed(0).padStart(8)} ns  ${(m(name) / m(A.acquire)).toFixed(2)}x batchflight acquire`,
  );
}
console.log('\n(b) per decision:');
for (const name of Object.values(B)) {
  console.log(`    ${name.padEnd(44)} ${(m(name) / DECISIONS).toFixed(1).padStart(8)} ns`);
}
console.log(`    rate-limiter-flexible / batchflight: ${(m(B.rlf) / m(B.ours)).toFixed(2)}x`);
await limiter.close();
await bottleneck.stop({ dropWaitingJobs: false });
