/**
 * Distributed mode on a real Redis (BATCHFLIGHT_REDIS_URL, default
 * redis://127.0.0.1:6379), side by side in one process:
 *
 * (a) Distributed rate limit, ops/s at 1 and at 16 acquisitions in flight
 *     (mitata; one iteration = 1 or 16 awaited operations):
 *     - floor: a plain `PING`;
 *     - batchflight `RedisRateLimitStore#acquire` (GCRA, one EVALSHA);
 *     - rate-limiter-flexible `RateLimiterRedis#consume` (fixed window).
 *     Round trips, commands and server time per acquisition from
 *     `INFO commandstats` deltas.
 * (b) Distributed flight: a leader and a waiter on separate connections call
 *     the same fresh key at once (upstream: 2 ms); per round, the waiter's
 *     completion minus the leader's = the latency Redis adds for a waiter
 *     (p50/p99 over 1,000 rounds), and Redis commands per coalesced call
 *     (4 "processes" × 25 callers per key, `INFO commandstats` deltas).
 *
 * Run: `npm run bench -- redis`. Targets: waiter p99 ≤ leader + 2 ms on
 * loopback; acquire ≥ rate-limiter-flexible's ops/s with one round trip.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { Redis, RedisFlightStore, RedisRateLimitStore } from '@batchflight/redis';
import { DistributedFlight } from 'batchflight/singleflight';

const URL = process.env.BATCHFLIGHT_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bfbench:${String(process.pid)}:`;
const HUGE = 1e12;

const redis = new Redis(URL);
const admin = new Redis(URL);
try {
  await admin.ping();
} catch (error) {
  console.error(`bench/redis: Redis at ${URL} is unreachable: ${String(error)}`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}

/** `calls` and `usec` (server time) of every command since the server started. */
async function commandStats(): Promise<Map<string, { calls: number; usec: number }>> {
  const info = await admin.info('commandstats');
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+),usec=(\d+)/g))
    stats.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  return stats;
}
/**
 * The commands Redis ran during `work` (`INFO commandstats` deltas), and the
 * server time of the scripts (EVALSHA/EVAL, the commands they run included).
 */
async function commandsDuring(
  work: () => Promise<void>,
): Promise<Map<string, number> & { scriptUsec: number }> {
  const before = await commandStats();
  await work();
  const after = await commandStats();
  const delta = Object.assign(new Map<string, number>(), { scriptUsec: 0 });
  for (const [cmd, { calls, usec }] of after) {
    const was = before.get(cmd) ?? { calls: 0, usec: 0 };
    const d = calls - was.calls - (cmd === 'info' ? 1 : 0);
    if (d > 0) delta.set(cmd, d);
    if (cmd === 'evalsha' || cmd === 'eval') delta.scriptUsec += usec - was.usec;
  }
  return delta;
}
const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
// Every command these clients send is an EVALSHA (the rest run inside the scripts), so
// round trips = EVALSHA calls; the other counts are the commands the scripts ran.
const roundTrips = (m: Map<string, number>): number =>
  (m.get('evalsha') ?? 0) + (m.get('eval') ?? 0);
const describeCommands = (m: Map<string, number>, per: number): string =>
  [...m].map(([c, n]) => `${c} ${(n / per).toFixed(2)}`).join(', ');

// --- (a) rate limit -------------------------------------------------------------------
const store = new RedisRateLimitStore({ client: redis, prefix: PREFIX });
const rule = { key: 'bench', rate: HUGE, perMs: 1000, burst: HUGE };
const rlf = new RateLimiterRedis({
  storeClient: redis,
  keyPrefix: `${PREFIX}rlf`,
  points: HUGE,
  duration: 1,
});
const ping = () => redis.ping();
const ours = () => store.acquire({ rules: [rule], cost: 1 });
const theirs = () => rlf.consume('bench', 1);

const A = {
  ping: 'PING',
  ours: 'batchflight RedisRateLimitStore.acquire',
  rlf: 'rate-limiter-flexible RateLimiterRedis.consume',
};
for (const inFlight of [1, 16]) {
  group(`(a) ${String(inFlight)} in flight`, () => {
    summary(() => {
      const each = (name: string, op: () => Promise<unknown>) =>
        inFlight === 1
          ? bench(`${name} @1`, async () => {
              do_not_optimize(await op());
            })
          : bench(`${name} @16`, async () => {
              do_not_optimize(await Promise.all(Array.from({ length: 16 }, op)));
            });
      each(A.ping, ping).baseline(true);
      each(A.ours, ours);
      each(A.rlf, theirs);
    });
  });
}

// --- (b) distributed flight -------------------------------------------------------------
const flightClients = Array.from({ length: 4 }, () => new Redis(URL));
const flightStores = flightClients.map(
  (client) => new RedisFlightStore({ client, prefix: PREFIX }),
);
const flights = flightStores.map((s) => new DistributedFlight({ store: s, resultTtlMs: 1000 }));
for (const s of flightStores) (await s.watch('warm-up', () => undefined)).dispose();
const upstream = () =>
  new Promise<{ ok: true }>((resolve) =>
    setTimeout(() => {
      resolve({ ok: true });
    }, 2),
  );

async function latencyRounds(rounds: number) {
  const [a, b] = flights as [DistributedFlight, DistributedFlight];
  const leader: number[] = [];
  const waiter: number[] = [];
  const added: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const key = `lat:${String(i)}`;
    const ledBefore = a.stats().led;
    const t0 = performance.now();
    let ta = 0;
    let tb = 0;
    await Promise.all([
      a.run(key, upstream).then(() => {
        ta = performance.now() - t0;
      }),
      b.run(key, upstream).then(() => {
        tb = performance.now() - t0;
      }),
    ]);
    // Both raced for the lease: whichever led this round is the leader.
    const [lead, wait] = a.stats().led > ledBefore ? [ta, tb] : [tb, ta];
    leader.push(lead);
    waiter.push(wait);
    added.push(wait - lead);
  }
  return { leader, waiter, added };
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    NaN
  );
}

// --- run and print figures --------------------------------------------------------------
const median = await runMedians();
console.log('\n## redis: figures\n');
console.log('(a) distributed rate limit, ops/s (median of mitata samples):');
for (const inFlight of [1, 16]) {
  const ops = (name: string) => (inFlight * 1e9) / median(`${name} @${String(inFlight)}`);
  for (const name of Object.values(A)) {
    console.log(
      `    @${String(inFlight).padEnd(2)} ${name.padEnd(48)} ${ops(name).toFixed(0).padStart(8)} ops/s  ${(ops(name) / ops(A.rlf)).toFixed(2)}x rate-limiter-flexible  ${(ops(name) / ops(A.ping)).toFixed(2)}x PING`,
    );
  }
}
// mitata runs the three one after the other, and at these latencies the order alone moves
// a result by ~10%. So also measure in interleaved rounds, rotating the order each round,
// and report the median round; and, since the machine's speed drifts between rounds, the
// median over rounds of each system's ratio to rate-limiter-flexible in the same round.
async function interleavedOps(inFlight: number, rounds: number, opsPerRound: number) {
  const systems: [string, () => Promise<unknown>][] = [
    [A.ping, ping],
    [A.ours, ours],
    [A.rlf, theirs],
  ];
  const perRound = new Map<string, number[]>(systems.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < systems.length; j++) {
      const [name, op] = systems[(round + j) % systems.length]!;
      const started = performance.now();
      for (let done = 0; done < opsPerRound; done += inFlight) {
        await Promise.all(Array.from({ length: inFlight }, op));
      }
      perRound.get(name)!.push((opsPerRound * 1000) / (performance.now() - started));
    }
  }
  const medianOf = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
  const theirsPerRound = perRound.get(A.rlf)!;
  return new Map(
    [...perRound].map(([name, values]) => [
      name,
      {
        ops: medianOf(values),
        ratio: medianOf(values.map((v, round) => v / theirsPerRound[round]!)),
      },
    ]),
  );
}
console.log(
  '    interleaved rounds (15 rounds, order rotated each round; median round, median of the per-round ratios), ops/s:',
);
for (const inFlight of [1, 16]) {
  const ops = await interleavedOps(inFlight, 15, inFlight === 1 ? 2_000 : 8_000);
  for (const name of Object.values(A)) {
    const { ops: value, ratio } = ops.get(name)!;
    console.log(
      `    @${String(inFlight).padEnd(2)} ${name.padEnd(48)} ${value.toFixed(0).padStart(8)} ops/s  ${ratio.toFixed(2)}x rate-limiter-flexible  ${(value / ops.get(A.ping)!.ops).toFixed(2)}x PING`,
    );
  }
}
const N = 2000;
const oursCmds = await commandsDuring(async () => {
  for (let i = 0; i < N; i++) await ours();
});
const rlfCmds = await commandsDuring(async () => {
  for (let i = 0; i < N; i++) await theirs();
});
console.log(
  `    per acquisition: batchflight ${(roundTrips(oursCmds) / N).toFixed(2)} round trip(s), ${(total(oursCmds) / N).toFixed(2)} commands (${describeCommands(oursCmds, N)}); rate-limiter-flexible ${(roundTrips(rlfCmds) / N).toFixed(2)} round trip(s), ${(total(rlfCmds) / N).toFixed(2)} commands (${describeCommands(rlfCmds, N)})`,
);
console.log(
  `    server time per acquisition (script usec / calls, one at a time): batchflight ${(oursCmds.scriptUsec / N).toFixed(2)} µs; rate-limiter-flexible ${(rlfCmds.scriptUsec / N).toFixed(2)} µs`,
);

// Warm up the scripts and connections, then measure.
await latencyRounds(200);
const lat = await latencyRounds(1000);
console.log(
  '\n(b) distributed flight, 1,000 rounds of leader + waiter on one fresh key (2 ms upstream):',
);
console.log(
  `    leader latency   p50 ${pct(lat.leader, 50).toFixed(2)} ms  p99 ${pct(lat.leader, 99).toFixed(2)} ms`,
);
console.log(
  `    waiter latency   p50 ${pct(lat.waiter, 50).toFixed(2)} ms  p99 ${pct(lat.waiter, 99).toFixed(2)} ms`,
);
console.log(
  `    waiter − leader  p50 ${pct(lat.added, 50).toFixed(2)} ms  p99 ${pct(lat.added, 99).toFixed(2)} ms  (target p99 ≤ 2 ms)`,
);

const KEYS = 200;
const CALLERS = 25;
const flightCmds = await commandsDuring(async () => {
  for (let k = 0; k < KEYS; k++) {
    const key = `cmd:${String(k)}`;
    await Promise.all(
      flights.flatMap((f) => Array.from({ length: CALLERS }, () => f.run(key, upstream))),
    );
  }
});
const calls = KEYS * CALLERS * flights.length;
console.log(
  `    Redis round trips: ${(roundTrips(flightCmds) / KEYS).toFixed(2)} per coalesced flight, ${(roundTrips(flightCmds) / calls).toFixed(4)} per call; commands: ${(total(flightCmds) / KEYS).toFixed(2)} per coalesced flight of ${String(CALLERS * flights.length)} callers in ${String(flights.length)} processes = ${(total(flightCmds) / calls).toFixed(4)} per call (${describeCommands(flightCmds, KEYS)} per flight)`,
);

// --- cleanup -------------------------------------------------------------------------------
let cursor = '0';
do {
  const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
  cursor = next;
  if (keys.length > 0) await admin.unlink(...keys);
} while (cursor !== '0');
for (const s of flightStores) s.close();
for (const c of flightClients) c.disconnect();
redis.disconnect();
admin.disconnect();
