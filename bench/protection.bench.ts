/**
 * Protection layers, side by side in one process: the per-call overhead of
 * each layer on an immediately-resolving call (the success path), against
 * the raw call and the peers.
 *
 * - batchflight: retry, circuitBreaker, timeout, bulkhead, fallback, hedge,
 *   and `stack(retry, circuitBreaker, timeout, bulkhead)`;
 * - cockatiel 3: retry, circuitBreaker, timeout (cooperative), bulkhead,
 *   fallback, and `wrap(retry, circuitBreaker, timeout, bulkhead)`;
 * - opossum 9 (a breaker with a 10 s timeout by default, and with
 *   `timeout: false`), p-limit 7 and bottleneck 2 as concurrency limiters.
 *
 * Each iteration makes 100 calls one after the other, each awaited; the
 * figures are per call. mitata measures and prints first; then interleaved
 * rounds (every variant once per round, best round kept) give the figures
 * the ratios use, because on a shared machine a burst of load can land on
 * one bench alone. Run: `npm run bench -- protection`.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import * as cockatiel from 'cockatiel';
import Opossum from 'opossum';
import pLimit from 'p-limit';
import Bottleneck from 'bottleneck';
import { stack, toContext, type CallContext } from 'batchflight/core';
import { retry } from 'batchflight/retry';
import { circuitBreaker } from 'batchflight/circuit-breaker';
import { timeout } from 'batchflight/timeout';
import { bulkhead } from 'batchflight/bulkhead';
import { fallback } from 'batchflight/fallback';
import { hedge } from 'batchflight/hedge';

const CALLS = 100;

/** The protected call: resolves at once. */
const work = (n: number, _ctx?: CallContext): Promise<number> => Promise.resolve(n);
const ctx = toContext();

type Call = (n: number) => Promise<unknown>;
/**
 * The measured loop. Each bench gets its own copy of the loop's code (built
 * with `new Function`), so the call site inside is monomorphic and no bench
 * inherits type feedback, or a deoptimisation, from the one before it.
 */
const sequential = (call: Call): (() => Promise<void>) =>
  // eslint-disable-next-line @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call -- a fresh copy of the loop per bench, see above
  new Function(
    'call',
    'keep',
    `return async () => { for (let i = 0; i < ${String(CALLS)}; i++) keep(await call(i)); };`,
  )(call, do_not_optimize) as () => Promise<void>;

// --- batchflight ---------------------------------------------------------------
const ours = {
  retry: retry<number, number>().wrap(work),
  breaker: circuitBreaker<number, number>().wrap(work),
  timeout: timeout<number, number>({ ms: 1_000 }).wrap(work),
  bulkhead: bulkhead<number, number>({ maxConcurrent: 1_000 }).wrap(work),
  fallback: fallback<number, number>({ value: -1 }).wrap(work),
  hedge: hedge<number, number>({ afterMs: 1_000 }).wrap(work),
  stack: stack(
    retry<number, number>(),
    circuitBreaker<number, number>(),
    timeout<number, number>({ ms: 1_000 }),
    bulkhead<number, number>({ maxConcurrent: 1_000 }),
  ).wrap(work),
};

// --- cockatiel -------------------------------------------------------------------
const c = {
  retry: cockatiel.retry(cockatiel.handleAll, {
    maxAttempts: 3,
    backoff: new cockatiel.ExponentialBackoff(),
  }),
  breaker: cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 10_000,
    breaker: new cockatiel.ConsecutiveBreaker(5),
  }),
  timeout: cockatiel.timeout(1_000, cockatiel.TimeoutStrategy.Cooperative),
  bulkhead: cockatiel.bulkhead(1_000, 0),
  fallback: cockatiel.fallback(cockatiel.handleAll, -1),
};
const cWrap = cockatiel.wrap(
  cockatiel.retry(cockatiel.handleAll, {
    maxAttempts: 3,
    backoff: new cockatiel.ExponentialBackoff(),
  }),
  cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 10_000,
    breaker: new cockatiel.ConsecutiveBreaker(5),
  }),
  cockatiel.timeout(1_000, cockatiel.TimeoutStrategy.Cooperative),
  cockatiel.bulkhead(1_000, 0),
);
const viaCockatiel =
  (policy: {
    execute: (fn: (context: { signal: AbortSignal }) => Promise<number>) => Promise<number>;
  }) =>
  (n: number) =>
    policy.execute(({ signal }) => work(n, { signal }));

// --- others ------------------------------------------------------------------------
const opossumDefault = new Opossum(work);
const opossumNoTimeout = new Opossum(work, { timeout: false });
const limit = pLimit(1_000);
const limiter = new Bottleneck({ maxConcurrent: 1_000 });

const N = {
  raw: 'raw call',
  retry: 'batchflight retry',
  cRetry: 'cockatiel retry',
  breaker: 'batchflight circuitBreaker',
  cBreaker: 'cockatiel circuitBreaker',
  opossum: 'opossum (defaults)',
  opossumNoTimeout: 'opossum (timeout: false)',
  timeout: 'batchflight timeout',
  cTimeout: 'cockatiel timeout (cooperative)',
  bulkhead: 'batchflight bulkhead',
  cBulkhead: 'cockatiel bulkhead',
  pLimit: 'p-limit(1000)',
  fallback: 'batchflight fallback',
  cFallback: 'cockatiel fallback',
  hedge: 'batchflight hedge',
  stack: 'batchflight stack(retry, breaker, timeout, bulkhead)',
  cWrap: 'cockatiel wrap(retry, breaker, timeout, bulkhead)',
  bottleneck: 'bottleneck (maxConcurrent 1000)',
} as const;

/** Every variant: its name and the loop of `CALLS` awaited calls. */
const variants: [string, () => Promise<void>][] = [
  [N.raw, sequential((n) => work(n, ctx))],
  [N.retry, sequential((n) => ours.retry(n, ctx))],
  [N.cRetry, sequential(viaCockatiel(c.retry))],
  [N.breaker, sequential((n) => ours.breaker(n, ctx))],
  [N.cBreaker, sequential(viaCockatiel(c.breaker))],
  [N.opossum, sequential((n) => opossumDefault.fire(n))],
  [N.opossumNoTimeout, sequential((n) => opossumNoTimeout.fire(n))],
  [N.timeout, sequential((n) => ours.timeout(n, ctx))],
  [N.cTimeout, sequential(viaCockatiel(c.timeout))],
  [N.bulkhead, sequential((n) => ours.bulkhead(n, ctx))],
  [N.cBulkhead, sequential(viaCockatiel(c.bulkhead))],
  [N.pLimit, sequential((n) => limit(() => work(n)))],
  [N.fallback, sequential((n) => ours.fallback(n, ctx))],
  [N.cFallback, sequential(viaCockatiel(c.fallback))],
  [N.hedge, sequential((n) => ours.hedge(n, ctx))],
  [N.stack, sequential((n) => ours.stack(n, ctx))],
  [N.cWrap, sequential(viaCockatiel(cWrap))],
];

group(`${String(CALLS)} awaited calls of an immediately-resolving function`, () => {
  summary(() => {
    for (const [name, loop] of variants) {
      const b = bench(name, loop);
      if (name === N.raw) b.baseline(true);
    }
  });
});

// Bottleneck costs milliseconds per call (it schedules on timers); a few calls suffice.
const BOTTLENECK_CALLS = 5;
group(`${String(BOTTLENECK_CALLS)} awaited calls through bottleneck`, () => {
  bench(N.bottleneck, async () => {
    for (let i = 0; i < BOTTLENECK_CALLS; i++) {
      do_not_optimize(await limiter.schedule(() => work(i)));
    }
  });
});

// --- run ---------------------------------------------------------------------------------
const perIteration = await runMedians();
// One mitata iteration makes CALLS calls (bottleneck: BOTTLENECK_CALLS); report per call.
const median = (name: string): number =>
  perIteration(name) / (name === N.bottleneck ? BOTTLENECK_CALLS : CALLS);

/*
 * Interleaved rounds. mitata samples one bench after the other, so on a shared
 * machine a burst of load from another process can land entirely on one bench.
 * Here every round runs every variant once (100 loops of 100 calls) and each
 * variant keeps its best round: noise hits all variants alike and the best
 * round is the steadiest estimate of a call's own cost. The ratios use these.
 */
const ROUNDS = 15;
const LOOPS = 100;
const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, loop] of variants) {
    const started = performance.now();
    for (let i = 0; i < LOOPS; i++) await loop();
    const perCall = ((performance.now() - started) * 1e6) / (LOOPS * CALLS);
    best.set(name, Math.min(best.get(name) ?? Infinity, perCall));
  }
}
best.set(N.bottleneck, median(N.bottleneck));

// --- print ---------------------------------------------------------------------------------
const perCall = (name: string): number => best.get(name) ?? NaN;
const raw = perCall(N.raw);
const cell = (value: number): string => `${value.toFixed(0).padStart(9)} ns`;

console.log(
  `\n## protection layers: per call (best of ${String(ROUNDS)} interleaved rounds; mitata median beside)\n`,
);
console.log(
  `${'layer'.padEnd(54)} ${'per call'.padStart(12)} ${'over raw'.padStart(12)} ${'mitata p50'.padStart(12)}`,
);
for (const name of Object.values(N)) {
  console.log(
    `${name.padEnd(54)} ${cell(perCall(name))} ${cell(perCall(name) - raw)} ${cell(median(name))}`,
  );
}
console.log('\nbatchflight vs cockatiel (peer / ours, per call; > 1 means ours is cheaper):');
const pairs: [string, string, string][] = [
  ['retry', N.retry, N.cRetry],
  ['circuit breaker', N.breaker, N.cBreaker],
  ['timeout', N.timeout, N.cTimeout],
  ['bulkhead', N.bulkhead, N.cBulkhead],
  ['fallback', N.fallback, N.cFallback],
  ['4-layer stack', N.stack, N.cWrap],
];
for (const [what, mine, peer] of pairs) {
  const r = perCall(peer) / perCall(mine);
  console.log(`    ${what.padEnd(16)} ${r.toFixed(2)}x ${r > 1 ? 'ok' : 'NOT CHEAPER'}`);
}
console.log('\nother peers / ours:');
console.log(
  `    opossum (defaults) / our breaker: ${(perCall(N.opossum) / perCall(N.breaker)).toFixed(2)}x`,
);
console.log(`    p-limit / our bulkhead: ${(perCall(N.pLimit) / perCall(N.bulkhead)).toFixed(2)}x`);
console.log(
  `    bottleneck / our bulkhead: ${(perCall(N.bottleneck) / perCall(N.bulkhead)).toFixed(0)}x`,
);
const timeoutOverhead = perCall(N.timeout) - raw;
console.log(
  `\ntimeout overhead on the success path: ${timeoutOverhead.toFixed(0)} ns per call (target < 1000 ns): ${timeoutOverhead < 1000 ? 'ok' : 'MISSED'}`,
);
