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
 * figures are per call. Run: `npm run bench -- protection`.
 */
import { bench, do_not_optimize, group, run, summary } from 'mitata';
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
const sequential = (call: Call) => async () => {
  for (let i = 0; i < CALLS; i++) do_not_optimize(await call(i));
};

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
  rawAgain: 'raw call (again, last)',
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
  bottleneck: 'bottleneck (maxConcurrent 1000)',
  fallback: 'batchflight fallback',
  cFallback: 'cockatiel fallback',
  hedge: 'batchflight hedge',
  stack: 'batchflight stack(retry, breaker, timeout, bulkhead)',
  cWrap: 'cockatiel wrap(retry, breaker, timeout, bulkhead)',
} as const;

group(`${String(CALLS)} awaited calls of an immediately-resolving function`, () => {
  summary(() => {
    bench(
      N.raw,
      sequential((n) => work(n, ctx)),
    ).baseline(true);
    bench(
      N.retry,
      sequential((n) => ours.retry(n, ctx)),
    );
    bench(N.cRetry, sequential(viaCockatiel(c.retry)));
    bench(
      N.breaker,
      sequential((n) => ours.breaker(n, ctx)),
    );
    bench(N.cBreaker, sequential(viaCockatiel(c.breaker)));
    bench(
      N.opossum,
      sequential((n) => opossumDefault.fire(n)),
    );
    bench(
      N.opossumNoTimeout,
      sequential((n) => opossumNoTimeout.fire(n)),
    );
    bench(
      N.timeout,
      sequential((n) => ours.timeout(n, ctx)),
    );
    bench(N.cTimeout, sequential(viaCockatiel(c.timeout)));
    bench(
      N.bulkhead,
      sequential((n) => ours.bulkhead(n, ctx)),
    );
    bench(N.cBulkhead, sequential(viaCockatiel(c.bulkhead)));
    bench(
      N.pLimit,
      sequential((n) => limit(() => work(n))),
    );
    bench(
      N.fallback,
      sequential((n) => ours.fallback(n, ctx)),
    );
    bench(N.cFallback, sequential(viaCockatiel(c.fallback)));
    bench(
      N.hedge,
      sequential((n) => ours.hedge(n, ctx)),
    );
    bench(
      N.stack,
      sequential((n) => ours.stack(n, ctx)),
    );
    bench(N.cWrap, sequential(viaCockatiel(cWrap)));
    // The raw call once more at the end: the floor is the faster of the two (JIT warm-up, noise).
    bench(
      N.rawAgain,
      sequential((n) => work(n, ctx)),
    );
  });
});

// Bottleneck costs milliseconds per call (it schedules on timers); a few calls suffice.
const BOTTLENECK_CALLS = 5;
group(`${String(BOTTLENECK_CALLS)} awaited calls through bottleneck`, () => {
  bench(N.bottleneck, async () => {
    for (let i = 0; i < BOTTLENECK_CALLS; i++)
      do_not_optimize(await limiter.schedule(() => work(i)));
  });
});

// --- run and print ratios -----------------------------------------------------------------
const result = await run();
const median = new Map<string, number>();
for (const trial of result.benchmarks) {
  const stats = trial.runs[0]?.stats;
  if (stats !== undefined) median.set(trial.alias, stats.p50);
}
const perCall = (name: string): number =>
  (median.get(name) ?? NaN) / (name === N.bottleneck ? BOTTLENECK_CALLS : CALLS);
const raw = Math.min(perCall(N.raw), perCall(N.rawAgain));
const ns = (name: string): string => `${perCall(name).toFixed(0).padStart(9)} ns`;
const overhead = (name: string): string => `${(perCall(name) - raw).toFixed(0).padStart(8)} ns`;

console.log('\n## protection layers: per-call figures (median of mitata samples)\n');
console.log(`${'layer'.padEnd(54)} ${'per call'.padStart(12)} ${'over raw'.padStart(11)}`);
for (const name of Object.values(N)) {
  console.log(`${name.padEnd(54)} ${ns(name)} ${overhead(name)}`);
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
