/**
 * The distributed scenario of `npm run demo` (needs Redis): 8 processes, each
 * with 250 concurrent callers, ask for the same cold key whose computation
 * takes 250 ms. With in-process coalescing only, every process computes it
 * once (8 upstream calls); with the distributed flight, the fleet computes it
 * once and the other 7 processes get the result through Redis.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from '@batchflight/redis';
import { spawnScript } from '../child.js';
import type { DemoEnv, Scenario, ScenarioReport } from '../scenario.js';
import { count, ms, percentile } from '../table.js';

const PROCESSES = 8;
const CALLERS = 250;
const UPSTREAM_MS = 250;

interface WorkerReport {
  readonly latencies: readonly number[];
  readonly led: number;
}

interface Round {
  readonly upstreamCalls: number;
  readonly latencies: readonly number[];
  readonly totalMs: number;
}

function spawnWorker(task: object): {
  child: ChildProcess;
  ready: Promise<void>;
  report: Promise<WorkerReport>;
} {
  const child = spawnScript(import.meta.url, 'fleet-worker', {
    env: { ...process.env, FLEET_TASK: JSON.stringify(task) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const report = new Promise<WorkerReport>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line === 'ready') onReady();
      else if (line.startsWith('{')) resolve(JSON.parse(line) as WorkerReport);
    });
    child.on('exit', (code) => {
      reject(new Error(`fleet worker exited with code ${String(code)} before reporting`));
    });
  });
  report.catch(() => undefined);
  return { child, ready: Promise.race([ready, report.then(() => undefined)]), report };
}

async function round(env: DemoEnv, redis: Redis, distributed: boolean): Promise<Round> {
  const prefix = `batchflight-demo:fleet:${randomBytes(4).toString('hex')}:`;
  const workers = Array.from({ length: PROCESSES }, () =>
    spawnWorker({
      url: env.redisUrl,
      prefix,
      distributed,
      callers: CALLERS,
      upstreamMs: UPSTREAM_MS,
    }),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
    const started = performance.now();
    for (const w of workers) w.child.stdin?.write('go\n');
    const reports = await Promise.all(workers.map((w) => w.report));
    const totalMs = performance.now() - started;
    const upstreamCalls = Number((await redis.get(`${prefix}upstream-calls`)) ?? 0);
    return { upstreamCalls, latencies: reports.flatMap((r) => r.latencies), totalMs };
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
}

/** 8 processes × 250 callers for one cold key: in-process coalescing only vs distributed flight. */
export const fleetScenario: Scenario = {
  id: 'fleet',
  capability: 'redis',
  title: `${String(PROCESSES)} processes × ${String(CALLERS)} concurrent callers, one cold key, ${String(UPSTREAM_MS)} ms upstream`,
  requires: 'redis',
  async run(env: DemoEnv): Promise<ScenarioReport> {
    const redis = new Redis(env.redisUrl ?? 'redis://127.0.0.1:6379');
    try {
      env.log(`spawning ${String(PROCESSES)} processes, in-process coalescing only…`);
      const local = await round(env, redis, false);
      env.log(`spawning ${String(PROCESSES)} processes, distributed flight on Redis…`);
      const fleet = await round(env, redis, true);
      const p = (r: Round, q: number) => ms(percentile(r.latencies, q));
      return {
        columns: ['in-process singleflight', 'distributed flight'],
        rows: [
          [
            'callers (processes × callers)',
            count(local.latencies.length),
            count(fleet.latencies.length),
          ],
          ['upstream calls', count(local.upstreamCalls), count(fleet.upstreamCalls)],
          ['caller latency p50', p(local, 50), p(fleet, 50)],
          ['caller latency p99', p(local, 99), p(fleet, 99)],
          ['all callers served in', ms(local.totalMs), ms(fleet.totalMs)],
        ],
        // Distributed flight: one upstream call per key for the whole fleet;
        // in-process coalescing: at most one per process.
        claims: [
          { what: 'upstream calls, distributed flight', actual: fleet.upstreamCalls, atMost: 1 },
          {
            what: 'upstream calls, in-process singleflight',
            actual: local.upstreamCalls,
            atMost: PROCESSES,
          },
          {
            what: 'callers served, distributed flight',
            actual: fleet.latencies.length,
            atLeast: PROCESSES * CALLERS,
          },
        ],
        verdict: `the fleet made ${String(fleet.upstreamCalls)} upstream call(s) instead of ${String(local.upstreamCalls)}: one per key fleet-wide, not one per process`,
      };
    } finally {
      redis.disconnect();
    }
  },
};

export const fleetScenarios: readonly Scenario[] = [fleetScenario];
