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
 * (c) Fleet rate limit on a real Redis (BATCHFLIGHT_REDIS_URL, default
 *     redis://127.0.0.1:6379; skipped with a note when it is unreachable):
 *     `RedisRateLimitStore#acquire` (GCRA, all-or-nothing across limits) vs
 *     rate-limiter-flexible 11.4 `RateLimiterRedis#consume` (a fixed window;
 *     both atomic per acquisition in one Lua script), every limit so high
 *     that all are admitted. Four cells: 1 and 16 independent loops in flight
 *     (each loop awaits its acquisition, then makes the next), on distinct
 *     keys (a new key per acquisition, cycling over 100,000) and on one hot
 *     key. Interleaved rounds with the order rotated each round, `PING`
 *     beside them as the floor; reported: the median round's ops/s and the
 *     median and range over rounds of the ratio to rate-limiter-flexible in
 *     the same round. `BENCH_RATE_LIMIT=fleet` runs (c) alone.
 *
 * Run: `npm run bench -- rate-limit`. Ratios are printed at the end.
 */
import { bench, do_not_optimize, group, summary } from 'mitata';
import { runMedians } from './lib/mitata.js';
import Bottleneck from 'bottleneck';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { toContext } from 'batchflight/core';
import { MemoryRateLimitStore, rateLimit } from 'batchflight/rate-limit';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { Redis, RedisRateLimitStore } from '@batchflight/redis';

const CALLS = 100;
const DECISIONS = 1_000;
const HUGE = 1e12; // a limit no benchmark reaches

const fleetOnly = process.env['BENCH_RATE_LIMIT'] === 'fleet';
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
if (!fleetOnly) {
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
}
await limiter.close();
await bottleneck.stop({ dropWaitingJobs: false });

// --- (c) fleet rate limit on Redis ----------------------------------------------------
const REDIS_URL = process.env['BATCHFLIGHT_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
redis.on('error', () => undefined);
const reachable = await redis.connect().then(
  () => true,
  () => false,
);
if (!reachable) {
  console.log(`\n(c) fleet rate limit: skipped, Redis at ${REDIS_URL} is unreachable.`);
  if (process.env['CI'] === 'true') process.exitCode = 1;
} else {
  const prefix = `bfbench:rl:${String(process.pid)}:`;
  const fleetStore = new RedisRateLimitStore({ client: redis, prefix });
  const fleetRlf = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}rlf`,
    points: HUGE,
    duration: 1,
  });
  let seq = 0;
  const keyOf = (hot: boolean): string => (hot ? 'hot' : `k${String(seq++ % 100_000)}`);
  const C = {
    ping: 'PING (floor)',
    ours: 'batchflight RedisRateLimitStore#acquire',
    rlf: 'rate-limiter-flexible RateLimiterRedis#consume',
  };
  const systems: [string, (hot: boolean) => Promise<unknown>][] = [
    [C.ping, () => redis.ping()],
    [
      C.ours,
      (hot) =>
        fleetStore.acquire({
          rules: [{ key: keyOf(hot), rate: HUGE, perMs: 1_000, burst: HUGE }],
          cost: 1,
        }),
    ],
    [C.rlf, (hot) => fleetRlf.consume(keyOf(hot), 1)],
  ];
  /** ops/s of `loops` independent loops making `total` operations in all. */
  const loopsOps = async (
    op: (hot: boolean) => Promise<unknown>,
    loops: number,
    hot: boolean,
    total: number,
  ): Promise<number> => {
    let left = total;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: loops }, async () => {
        while (left-- > 0) await op(hot);
      }),
    );
    return (total * 1000) / (performance.now() - started);
  };
  const medianOf = (values: readonly number[]): number =>
    [...values].sort((x, y) => x - y)[values.length >> 1] ?? NaN;
  // Costs that scheduling noise does not move: the client's CPU and the server's script
  // time per acquisition, one loop, ops one at a time (the 1-in-flight cells' wall clock
  // on a loaded machine is mostly waiting for a core).
  const admin = new Redis(REDIS_URL);
  const scriptUsec = async (): Promise<number> => {
    const info = await admin.info('commandstats');
    let usec = 0;
    for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=\d+,usec=(\d+)/g))
      usec += Number(m[2]);
    return usec;
  };
  const costs = async (
    op: (hot: boolean) => Promise<unknown>,
    hot: boolean,
    total: number,
  ): Promise<{ clientUs: number; serverUs: number }> => {
    const usec = await scriptUsec();
    const cpu = process.cpuUsage();
    for (let i = 0; i < total; i++) await op(hot);
    const used = process.cpuUsage(cpu);
    return {
      clientUs: (used.user + used.system) / total,
      serverUs: ((await scriptUsec()) - usec) / total,
    };
  };
  console.log(
    '\n## rate limit: (c) fleet rate limit, cost per acquisition at 1 in flight (median of 7)\n',
  );
  for (const hot of [false, true]) {
    const client = new Map<string, number[]>();
    const server = new Map<string, number[]>();
    for (let round = 0; round < 7; round++) {
      for (const [name, op] of systems.slice(1)) {
        const c = await costs(op, hot, 2_000);
        client.set(name, [...(client.get(name) ?? []), c.clientUs]);
        server.set(name, [...(server.get(name) ?? []), c.serverUs]);
      }
    }
    for (const name of [C.ours, C.rlf]) {
      console.log(
        `    ${hot ? 'one hot key ' : 'distinct keys'} ${name.padEnd(48)} client CPU ${medianOf(client.get(name) ?? []).toFixed(1)} µs, server script ${medianOf(server.get(name) ?? []).toFixed(1)} µs`,
      );
    }
  }
  admin.disconnect();
  const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 21);
  console.log(
    `\n## rate limit: (c) fleet rate limit on Redis, ${String(ROUNDS)} interleaved rounds per cell (order rotated)\n`,
  );
  for (const [loops, hot] of [
    [1, false],
    [16, false],
    [1, true],
    [16, true],
  ] as const) {
    const total = loops === 1 ? 1_000 : 8_000;
    for (const [, op] of systems) await loopsOps(op, loops, hot, total / 4); // warm-up
    const perRound = new Map<string, number[]>(systems.map(([name]) => [name, []]));
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const got = new Map<string, number>();
      for (let j = 0; j < systems.length; j++) {
        const [name, op] = systems[(round + j) % systems.length] as (typeof systems)[number];
        const ops = await loopsOps(op, loops, hot, total);
        got.set(name, ops);
        perRound.get(name)?.push(ops);
      }
      ratios.push((got.get(C.ours) ?? NaN) / (got.get(C.rlf) ?? NaN));
    }
    const cell = `${String(loops).padStart(2)} in flight, ${hot ? 'one hot key ' : 'distinct keys'}`;
    console.log(
      `    ${cell}: ${Object.values(C)
        .map((name) => `${name} ${medianOf(perRound.get(name) ?? []).toFixed(0)}/s`)
        .join(', ')}`,
    );
    console.log(
      `    ${' '.repeat(cell.length)}  batchflight / rate-limiter-flexible: median ${medianOf(ratios).toFixed(2)}x, range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x`,
    );
  }
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
  fleetStore.close();
}
redis.disconnect();
