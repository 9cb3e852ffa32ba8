/**
 * Protection scenario of `npm run demo`: the upstream goes down for 5 s
 * (`upstream.down(5000)`) while 20 callers keep sending requests (open
 * loop, 10 requests/s each). Naive retry (5 attempts, exponential
 * backoff, no budget) is compared with `stack(retry with a budget,
 * circuitBreaker)`.
 *
 * The upstream answers in 50 ms and serves 20 calls at once (capacity
 * 400 calls/s, twice the normal load); during the outage it still takes
 * those 50 ms to fail, so a retry storm fills its pool and queue and keeps it
 * saturated after it comes back.
 *
 * Time is simulated: a TestClock advanced in 50 ms steps (timers still fire
 * at their exact times), so 10 s of traffic with 5 s of outage cost about a
 * second of CPU, and the figures are the same on every run (the jitter uses
 * a seeded generator).
 */
import { NEVER_ABORTED, stack, toContext, type Handler } from 'batchflight/core';
import { timeout } from 'batchflight/timeout';
import { exponentialBackoff, retry, retryBudget } from 'batchflight/retry';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';
import { FakeUpstream, TestClock } from '@batchflight/testing';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, ms, percentile } from '../table.js';

const CALLERS = 20;
const INTERVAL_MS = 100;
const OUTAGE_AT_MS = 1_000;
const OUTAGE_MS = 5_000;
const SEND_UNTIL_MS = 10_000;
const STEP_MS = 50;
const LATENCY_MS = 50;
/** A request slower than this after recovery still counts as "not recovered". */
const SLOW_MS = 4 * LATENCY_MS;

interface Request {
  readonly startedAt: number;
  endedAt: number;
  ok: boolean;
}

interface Outcome {
  readonly requests: Request[];
  readonly upstreamCallsDuringOutage: number;
  readonly upstreamCallsTotal: number;
  readonly peakQueued: number;
  /** From the upstream coming back to the first request after which every request was served normally. */
  readonly recoveryMs: number;
  readonly simulatedMs: number;
}

/** A deterministic generator in [0, 1) (mulberry32), so the jitter is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function simulate(
  protect: (clock: TestClock) => (h: Handler<number, string>) => Handler<number, string>,
): Promise<Outcome> {
  const clock = new TestClock(0);
  const upstream = new FakeUpstream<number, string>({
    clock,
    latencyMs: LATENCY_MS,
    concurrency: 20,
  });
  // A caller gives up after 1 s, as a real client with a deadline would; the abort reaches the upstream's queue.
  const deadline = timeout<number, string>({ ms: 1_000, clock });
  const call = deadline.wrap(
    protect(clock)((id, { signal }) =>
      upstream.get(id, signal === NEVER_ABORTED ? undefined : { signal }),
    ),
  );
  const requests: Request[] = [];
  const pending: Promise<void>[] = [];
  let callsAtOutageStart = 0;
  let callsAtOutageEnd = 0;
  let peakQueued = 0;
  for (let now = 0; now < SEND_UNTIL_MS || upstream.stats.inFlight > 0; now += STEP_MS) {
    if (now === OUTAGE_AT_MS) {
      upstream.down(OUTAGE_MS);
      callsAtOutageStart = upstream.stats.calls;
    }
    if (now === OUTAGE_AT_MS + OUTAGE_MS) callsAtOutageEnd = upstream.stats.calls;
    if (now < SEND_UNTIL_MS && now % INTERVAL_MS === 0) {
      for (let caller = 0; caller < CALLERS; caller++) {
        const request: Request = { startedAt: now, endedAt: now, ok: false };
        requests.push(request);
        pending.push(
          call(caller, toContext()).then(
            () => {
              request.ok = true;
              request.endedAt = clock.now();
            },
            () => {
              request.endedAt = clock.now();
            },
          ),
        );
      }
    }
    await clock.advance(STEP_MS);
    peakQueued = Math.max(peakQueued, upstream.stats.queued);
    if (now > 120_000) throw new Error('protection-outage: the simulation did not settle in 120 s');
  }
  await clock.runAll();
  await Promise.all(pending);
  const backAt = OUTAGE_AT_MS + OUTAGE_MS;
  // The last request started after the upstream came back that failed or was slow.
  let lastBad = backAt;
  for (const r of requests) {
    if (r.startedAt >= backAt && (!r.ok || r.endedAt - r.startedAt > SLOW_MS)) {
      lastBad = Math.max(lastBad, r.startedAt + INTERVAL_MS);
    }
  }
  return {
    requests,
    upstreamCallsDuringOutage: callsAtOutageEnd - callsAtOutageStart,
    upstreamCallsTotal: upstream.stats.calls,
    peakQueued,
    recoveryMs: lastBad - backAt,
    simulatedMs: clock.now(),
  };
}

const backoff = (): ReturnType<typeof exponentialBackoff> =>
  exponentialBackoff({
    initialDelayMs: 100,
    maxDelayMs: 2_000,
    jitter: 'full',
    random: seeded(42),
  });

export const protectionOutageScenario: Scenario = {
  id: 'outage',
  capability: 'protection',
  title: `upstream down for 5 s, ${String(CALLERS)} callers x 10 requests/s: naive retry vs retry budget + circuit breaker`,
  async run(env): Promise<ScenarioReport> {
    const naive = await simulate(
      (clock) => (h) =>
        retry<number, string>({ maxAttempts: 5, backoff: backoff(), budget: false, clock }).wrap(h),
    );
    env.log(`naive retry: ${count(naive.simulatedMs / 1000)} s simulated`);
    const guarded = await simulate(
      (clock) => (h) =>
        stack(
          retry<number, string>({
            maxAttempts: 5,
            backoff: backoff(),
            budget: retryBudget(),
            clock,
          }),
          circuitBreaker<number, string>({
            policy: consecutive(10),
            halfOpenAfterMs: 250,
            clock,
          }),
        ).wrap(h),
    );
    env.log(`retry budget + breaker: ${count(guarded.simulatedMs / 1000)} s simulated`);

    const failures = (o: Outcome): number => o.requests.filter((r) => !r.ok).length;
    const latencies = (o: Outcome): number[] => o.requests.map((r) => r.endedAt - r.startedAt);
    const failedLatencies = (o: Outcome): number[] =>
      o.requests.filter((r) => !r.ok).map((r) => r.endedAt - r.startedAt);
    const perSecond = (o: Outcome): string =>
      count(Math.round(o.upstreamCallsDuringOutage / (OUTAGE_MS / 1000)));
    return {
      columns: ['naive retry', 'retry budget + breaker'],
      rows: [
        ['caller requests', count(naive.requests.length), count(guarded.requests.length)],
        [
          'upstream calls during the 5 s outage',
          count(naive.upstreamCallsDuringOutage),
          count(guarded.upstreamCallsDuringOutage),
        ],
        ['  per second (normal load: 200)', perSecond(naive), perSecond(guarded)],
        [
          'upstream calls in total',
          count(naive.upstreamCallsTotal),
          count(guarded.upstreamCallsTotal),
        ],
        ['peak upstream queue', count(naive.peakQueued), count(guarded.peakQueued)],
        ['errors seen by callers', count(failures(naive)), count(failures(guarded))],
        [
          'p50 time to see an error',
          ms(percentile(failedLatencies(naive), 50)),
          ms(percentile(failedLatencies(guarded), 50)),
        ],
        [
          'p50 caller latency',
          ms(percentile(latencies(naive), 50)),
          ms(percentile(latencies(guarded), 50)),
        ],
        [
          'p99 caller latency',
          ms(percentile(latencies(naive), 99)),
          ms(percentile(latencies(guarded), 99)),
        ],
        [
          'time to recover after the upstream is back',
          ms(naive.recoveryMs),
          ms(guarded.recoveryMs),
        ],
      ],
      // The simulated clock makes these counts the same on every run (36 and 997
      // when written); the bounds leave a little room and catch a change that
      // lets the retries through to the failing upstream again.
      claims: [
        {
          what: 'upstream calls during the outage, retry budget + breaker',
          actual: guarded.upstreamCallsDuringOutage,
          atMost: 40,
        },
        {
          what: 'upstream calls in total, retry budget + breaker',
          actual: guarded.upstreamCallsTotal,
          atMost: 1_050,
        },
        {
          what: 'peak upstream queue, retry budget + breaker',
          actual: guarded.peakQueued,
          atMost: 0,
        },
        {
          what: 'outage calls cut by the breaker and budget (naive / guarded)',
          actual: Math.floor(
            naive.upstreamCallsDuringOutage / Math.max(1, guarded.upstreamCallsDuringOutage),
          ),
          atLeast: 10,
        },
      ],
      verdict:
        `during the outage the breaker and the budget cut upstream calls ` +
        `${(naive.upstreamCallsDuringOutage / Math.max(1, guarded.upstreamCallsDuringOutage)).toFixed(0)}x; ` +
        `callers see the outage either way, but learn of it in ${ms(percentile(failedLatencies(guarded), 50))} ` +
        `instead of ${ms(percentile(failedLatencies(naive), 50))}; service is back ${ms(guarded.recoveryMs)} after ` +
        `the upstream (naive retry: ${ms(naive.recoveryMs)}, while its retry backlog drains).`,
    };
  },
};

export const protectionScenarios: readonly Scenario[] = [protectionOutageScenario];
