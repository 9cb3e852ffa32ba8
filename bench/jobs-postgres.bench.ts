/**
 * Durable jobs on PostgreSQL, side by side on the same server:
 * `@batchflight/postgres` (+ the `Worker`) vs graphile-worker 0.16.6 and
 * pg-boss 10 (the newest versions that run on Node 20: graphile-worker 0.17+
 * and pg-boss 11+ require Node 22). Each system in its own schema, dropped at
 * the end. A plain script (not mitata): every figure is one timed run.
 *
 * (a) bulk enqueue rate: 20,000 jobs (batchflight `enqueue` of 5,000 per call;
 *     graphile `add_jobs` of 5,000 per call; pg-boss `insert` of 5,000);
 * (b) jobs/s for 20,000 no-op jobs at concurrency 10 per process, with 1 and 2
 *     worker processes, each system in its default and its best batched
 *     configuration available on this Node (batchflight `claimBatch` 500;
 *     graphile-worker 0.16 has no `localQueue`, so its batched form is batch
 *     jobs: one job carries an array of 500 items, counted as 500; pg-boss
 *     `batchSize` 500). A run is capped at 10 s: slower ones report the rate so far;
 *     Also the bare store loop (one process, claim 500 + complete 500) for scale;
 * (c) enqueue→start latency p50/p99 at a steady 200 jobs/s for 4 s (producer
 *     and worker on separate pools of one process; producer pools of 20 so that
 *     a slow enqueue does not queue the next ones);
 * (d) batchflight reclaim time after SIGKILL of the worker holding a job, with
 *     the default Worker options (lease 8 s, poll 1 s).
 *
 * Run: `npm run bench -- jobs-postgres` (BATCHFLIGHT_PG_URL, default the local
 * test database).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { Logger, makeWorkerUtils, run as runGraphile, runMigrations } from 'graphile-worker';
import { Worker } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';

const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 20_000;
const CAP_MS = 10_000;
const ITEMS_PER_BATCH_JOB = 500;
const suffix = Math.random().toString(36).slice(2, 8);
const SCHEMA = {
  batchflight: `bench_bf_${suffix}`,
  bfrun: `bench_bf_${suffix}`,
  graphile: `bench_gw_${suffix}`,
  pgboss: `bench_pb_${suffix}`,
};
type System = keyof typeof SCHEMA;
const quiet = new Logger(() => () => undefined);
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
const rows: string[][] = [];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function count(sql: string): Promise<number> {
  const { rows: r } = await admin.query<{ n: number }>(sql);
  return r[0]?.n ?? 0;
}

// ------------------------------------------------------------------ enqueue

async function enqueueBatchflight(store: PostgresJobStore, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i += 5_000) {
    await store.enqueue(
      Array.from({ length: Math.min(5_000, n - i) }, (_, k) => ({
        name: 'noop',
        payload: { i: i + k },
      })),
    );
  }
  return performance.now() - t;
}

async function enqueueGraphile(jobs: number, items: number): Promise<number> {
  const s = SCHEMA.graphile;
  const t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) {
    const specs = Array.from({ length: Math.min(5_000, jobs - i) }, (_, k) => ({
      identifier: 'noop',
      payload:
        items === 1
          ? { i: i + k }
          : Array.from({ length: items }, (_, x) => ({ i: (i + k) * items + x })),
    }));
    await admin.query(
      `SELECT "${s}".add_jobs(ARRAY(SELECT json_populate_record(null::"${s}".job_spec, x)
         FROM json_array_elements($1::json) x))`,
      [JSON.stringify(specs)],
    );
  }
  return performance.now() - t;
}

async function enqueuePgboss(boss: PgBoss, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i += 5_000) {
    await boss.insert(
      Array.from({ length: Math.min(5_000, n - i) }, (_, k) => ({
        name: 'noop',
        data: { i: i + k },
      })),
    );
  }
  return performance.now() - t;
}

// ------------------------------------------------------------- processes

const workerScript = fileURLToPath(new URL('./jobs-postgres/worker.ts', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly lines: AsyncIterator<string>;
}

function startChild(system: string, config: string, schema: string): Child {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=@batchflight/source',
      '--import',
      'tsx',
      workerScript,
      system,
      config,
      schema,
      PG_URL,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  return { proc, lines };
}

async function waitLine(child: Child, line: string): Promise<void> {
  for (;;) {
    const next = await child.lines.next();
    if (next.done === true) throw new Error(`worker exited before printing ${line}`);
    if (next.value === line) return;
  }
}

async function kill(children: readonly Child[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.proc.exitCode !== null || c.proc.signalCode !== null) resolve();
          else {
            c.proc.once('exit', () => {
              resolve();
            });
            c.proc.kill('SIGKILL');
          }
        }),
    ),
  );
}

/** Starts `processes` workers, says go, polls `done()` (items finished) until `total` or the cap. */
async function throughput(
  system: System,
  config: string,
  processes: number,
  total: number,
  done: () => Promise<number>,
): Promise<{ rate: number; capped: boolean }> {
  const children = Array.from({ length: processes }, () =>
    startChild(system, config, SCHEMA[system]),
  );
  try {
    await Promise.all(children.map((c) => waitLine(c, 'ready')));
    const t = performance.now();
    for (const c of children) c.proc.stdin?.write('go\n');
    let finished = 0;
    while (performance.now() - t < CAP_MS) {
      finished = await done();
      if (finished >= total) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsed = performance.now() - t;
    return { rate: (finished / elapsed) * 1000, capped: finished < total };
  } finally {
    await kill(children);
  }
}

// -------------------------------------------------------------- latency

function percentiles(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Calls `send(t)` every 5 ms for 4 s; `started` collects `now - t` from the worker. */
async function steady(send: (t: number) => Promise<unknown>, samples: number[]): Promise<void> {
  const end = performance.now() + 4_000;
  const pending: Promise<unknown>[] = [];
  let next = performance.now();
  while (performance.now() < end) {
    pending.push(send(performance.now()));
    next += 5;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  await new Promise((r) => setTimeout(r, 1_500)); // let the last ones start
  if (samples.length === 0) throw new Error('no job started');
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  console.log(
    `PostgreSQL ${PG_URL.replace(/\/\/[^@]*@/, '//')}; Node ${process.version}; ${String(N)} jobs\n`,
  );

  // Schemas and enqueue rates.
  const bf = new PostgresJobStore({
    connectionString: PG_URL,
    schema: SCHEMA.batchflight,
    poolSize: 4,
  });
  await bf.init();
  await runMigrations({ connectionString: PG_URL, schema: SCHEMA.graphile, logger: quiet });
  const boss = new PgBoss({ connectionString: PG_URL, schema: SCHEMA.pgboss, max: 4 });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue('noop');

  const clean = {
    bfrun: () => admin.query(`TRUNCATE "${SCHEMA.bfrun}".runs, "${SCHEMA.bfrun}".chunks`),
    batchflight: () =>
      admin.query(`TRUNCATE "${SCHEMA.batchflight}".jobs, "${SCHEMA.batchflight}".attempts`),
    graphile: () => admin.query(`DELETE FROM "${SCHEMA.graphile}"._private_jobs`),
    pgboss: () => admin.query(`DELETE FROM "${SCHEMA.pgboss}".job`),
  };

  const enq = {
    batchflight: await enqueueBatchflight(bf, N),
    graphile: await enqueueGraphile(N, 1),
    pgboss: await enqueuePgboss(boss, N),
  };
  console.log('(a) bulk enqueue of 20,000 jobs, jobs/s');
  for (const [k, ms] of Object.entries(enq))
    console.log(`  ${k.padEnd(12)} ${fmt((N / ms) * 1000)}`);
  for (const c of Object.values(clean)) await c();

  // The store's own ceiling: one process, claim 500 + complete 500, no Worker.
  {
    await enqueueBatchflight(bf, N);
    const t = performance.now();
    for (;;) {
      const jobs = await bf.claim({ workerId: 'loop', limit: 500, leaseMs: 60_000 });
      if (jobs.length === 0) break;
      await bf.complete(jobs.map((j) => ({ id: j.id, epoch: j.epoch })));
    }
    const rate = (N / (performance.now() - t)) * 1000;
    console.log(
      `\n(b0) batchflight store loop (claim 500 + complete 500, no Worker): ${fmt(rate)} jobs/s`,
    );
    await clean.batchflight();
  }

  // Throughput.
  console.log('\n(b) 20,000 no-op jobs, concurrency 10 per process, jobs/s');
  const configs: { system: System; config: string; label: string }[] = [
    { system: 'batchflight', config: 'default', label: 'batchflight default (claimBatch 100)' },
    { system: 'batchflight', config: 'batched', label: 'batchflight claimBatch 500' },
    { system: 'bfrun', config: 'default', label: 'batchflight run, chunks ×500' },
    { system: 'graphile', config: 'default', label: 'graphile-worker default' },
    { system: 'graphile', config: 'batched', label: 'graphile-worker batch jobs ×500' },
    { system: 'pgboss', config: 'default', label: 'pg-boss default (10 × work)' },
    { system: 'pgboss', config: 'batched', label: 'pg-boss batchSize 500' },
  ];
  const results = new Map<string, number>();
  for (const { system, config, label } of configs) {
    for (const processes of [1, 2]) {
      let done: () => Promise<number>;
      if (system === 'batchflight') {
        await enqueueBatchflight(bf, N);
        done = () =>
          count(
            `SELECT count(*)::int AS n FROM "${SCHEMA.batchflight}".jobs WHERE state = 'succeeded'`,
          );
      } else if (system === 'bfrun') {
        await bf.createRun({ name: 'noop', input: null, total: N, chunkSize: ITEMS_PER_BATCH_JOB });
        done = () =>
          count(
            `SELECT COALESCE(sum(offset_at - start), 0)::int AS n FROM "${SCHEMA.bfrun}".chunks`,
          );
      } else if (system === 'graphile') {
        const items = config === 'batched' ? ITEMS_PER_BATCH_JOB : 1;
        await enqueueGraphile(N / items, items);
        done = async () =>
          N -
          items *
            (await count(`SELECT count(*)::int AS n FROM "${SCHEMA.graphile}"._private_jobs`));
      } else {
        await enqueuePgboss(boss, N);
        done = () =>
          count(`SELECT count(*)::int AS n FROM "${SCHEMA.pgboss}".job WHERE state = 'completed'`);
      }
      const r = await throughput(system, config, processes, N, done);
      results.set(`${label}|${String(processes)}`, r.rate);
      const line = `  ${label.padEnd(40)} ${String(processes)} proc  ${fmt(r.rate).padStart(8)}${r.capped ? '  (capped at 10 s)' : ''}`;
      console.log(line);
      rows.push([label, String(processes), fmt(r.rate) + (r.capped ? '*' : '')]);
      await clean[system]();
    }
  }

  // Latency.
  console.log('\n(c) enqueue→start latency at 200 jobs/s, ms');
  {
    const samples: number[] = [];
    const producer = new PostgresJobStore({
      connectionString: PG_URL,
      schema: SCHEMA.batchflight,
      poolSize: 20,
    });
    const worker = new Worker(
      bf,
      { lat: (p: { t: number }) => void samples.push(performance.now() - p.t) },
      { concurrency: 10, depthSampleMs: 0 },
    );
    await steady((t) => producer.enqueue([{ name: 'lat', payload: { t } }]), samples);
    await worker.close();
    await producer.close();
    const p = percentiles(samples);
    console.log(
      `  batchflight      p50 ${p.p50.toFixed(2)}  p99 ${p.p99.toFixed(2)}  (${String(samples.length)} jobs)`,
    );
    results.set('lat-bf', p.p50);
  }
  {
    const samples: number[] = [];
    const utils = await makeWorkerUtils({
      connectionString: PG_URL,
      schema: SCHEMA.graphile,
      logger: quiet,
      maxPoolSize: 20,
    });
    const runner = await runGraphile({
      connectionString: PG_URL,
      schema: SCHEMA.graphile,
      concurrency: 10,
      noHandleSignals: true,
      logger: quiet,
      taskList: {
        lat: (p) => {
          samples.push(performance.now() - (p as { t: number }).t);
          return Promise.resolve();
        },
      },
    });
    await steady((t) => utils.addJob('lat', { t }), samples);
    await runner.stop();
    await utils.release();
    const p = percentiles(samples);
    console.log(
      `  graphile-worker  p50 ${p.p50.toFixed(2)}  p99 ${p.p99.toFixed(2)}  (${String(samples.length)} jobs)`,
    );
  }
  {
    const samples: number[] = [];
    await boss.createQueue('lat');
    await boss.work<{ t: number }>(
      'lat',
      { batchSize: 10, pollingIntervalSeconds: 0.5 },
      (jobs) => {
        for (const j of jobs) samples.push(performance.now() - j.data.t);
        return Promise.resolve();
      },
    );
    await steady((t) => boss.send('lat', { t }), samples);
    await boss.offWork('lat');
    const p = percentiles(samples);
    console.log(
      `  pg-boss (poll 0.5 s, its minimum)  p50 ${p.p50.toFixed(2)}  p99 ${p.p99.toFixed(2)}  (${String(samples.length)} jobs)`,
    );
  }

  // Reclaim after SIGKILL.
  console.log('\n(d) reclaim after SIGKILL, batchflight default Worker (lease 8 s, poll 1 s)');
  {
    await clean.batchflight();
    await bf.enqueue([{ name: 'hang', payload: null }]);
    const child = startChild('reclaim', 'default', SCHEMA.batchflight);
    await waitLine(child, 'ready');
    child.proc.stdin?.write('go\n');
    await waitLine(child, 'started');
    let resolveStart!: (t: number) => void;
    const restarted = new Promise<number>((r) => (resolveStart = r));
    const rescuer = new Worker(
      bf,
      {
        hang: () => {
          resolveStart(performance.now());
        },
      },
      { depthSampleMs: 0 },
    );
    const t0 = performance.now();
    await kill([child]);
    const t1 = await restarted;
    await rescuer.close();
    console.log(`  reclaimed and restarted after ${((t1 - t0) / 1000).toFixed(2)} s`);
    results.set('reclaim', (t1 - t0) / 1000);
  }

  const bfBest = Math.max(
    results.get('batchflight claimBatch 500|1') ?? 0,
    results.get('batchflight default (claimBatch 100)|1') ?? 0,
  );
  const bfItems = results.get('batchflight run, chunks ×500|1') ?? 0;
  const gwBest = Math.max(
    results.get('graphile-worker batch jobs ×500|1') ?? 0,
    results.get('graphile-worker default|1') ?? 0,
  );
  console.log('\nTargets');
  console.log(
    `  jobs/s (1 proc) batchflight best / graphile-worker best = ${(bfBest / gwBest).toFixed(2)} (target >= 1)`,
  );
  console.log(
    `  jobs/s (1 proc) batchflight best / graphile-worker default = ${(bfBest / (results.get('graphile-worker default|1') ?? 1)).toFixed(2)}`,
  );
  console.log(
    `  items/s (1 proc) batchflight run chunks / graphile-worker batch jobs = ${(bfItems / (results.get('graphile-worker batch jobs ×500|1') ?? 1)).toFixed(2)}`,
  );
  console.log(
    `  enqueue→start p50 = ${(results.get('lat-bf') ?? NaN).toFixed(2)} ms (target <= 2)`,
  );
  console.log(`  reclaim = ${(results.get('reclaim') ?? NaN).toFixed(2)} s (target <= 10)`);

  await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
  await bf.close();
}

try {
  await main();
} finally {
  for (const s of new Set(Object.values(SCHEMA)))
    await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
}
