/**
 * The durable-jobs scenarios of `npm run demo`, on the embedded SQLite store
 * and (with `--postgres`) on `@batchflight/postgres`: a 100,000-item run is
 * processed by a worker process that is SIGKILLed halfway; a new worker
 * process resumes the run at the checkpoints. Every item's effect row is
 * committed atomically with its chunk's checkpoint, so at the end each item
 * was processed exactly once. A naive retry (restart from zero) would have
 * processed every item done before the crash twice. One scenario body, run
 * once per store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { JobStore } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';
import { SqliteJobStore } from '@batchflight/sqlite';
import type { DemoEnv, Scenario, ScenarioReport } from '../scenario.js';
import { count, ms } from '../table.js';

const ITEMS = 100_000;
const CHUNK = 5_000;

const SELF = fileURLToPath(import.meta.url);
const WORKER = SELF.endsWith('.ts')
  ? fileURLToPath(new URL('./jobs-worker.ts', import.meta.url))
  : fileURLToPath(new URL('./jobs-worker.js', import.meta.url));
const NODE_ARGS = SELF.endsWith('.ts')
  ? ['--conditions=@batchflight/source', '--import', 'tsx']
  : [];

/**
 * Where a run lives: its store, the effect table the worker's `onCheckpoint`
 * writes (`imported (item, value)`, no unique constraint: a duplicated effect
 * would be an extra row) and how a worker process opens the same store.
 */
interface RunBackend {
  readonly store: JobStore;
  /** Tells `jobs-worker` which store to open (besides `JOBS_RUN`). */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Effect rows, and the distinct items among them. */
  effects(): Promise<{ n: number; items: number }>;
  /** Closes the store and removes what the scenario created. */
  dispose(): Promise<void>;
}

async function sqliteBackend(env: DemoEnv): Promise<RunBackend> {
  const path = join(env.workDir, 'jobs-demo.db');
  const store = new SqliteJobStore({ path });
  await store.init();
  store.db.exec('CREATE TABLE imported (item INTEGER NOT NULL, value INTEGER NOT NULL)');
  return {
    store,
    workerEnv: { JOBS_STORE: 'sqlite', JOBS_DB: path },
    effects: () =>
      Promise.resolve(
        store.db
          .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT item) AS items FROM imported')
          .get() as { n: number; items: number },
      ),
    dispose: () => store.close(),
  };
}

async function postgresBackend(env: DemoEnv): Promise<RunBackend> {
  const url = env.postgresUrl ?? '';
  // A schema of its own, dropped at the end: the demo leaves nothing behind.
  const schema = `bf_demo_${randomBytes(4).toString('hex')}`;
  const store = new PostgresJobStore({ connectionString: url, schema, poolSize: 2 });
  const drop = async (): Promise<void> => {
    try {
      await store.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await store.close();
    }
  };
  env.log(`PostgreSQL schema ${schema} (dropped at the end)`);
  try {
    await store.init();
    await store.pool.query(
      `CREATE TABLE "${schema}".imported (item integer NOT NULL, value integer NOT NULL)`,
    );
  } catch (error) {
    await drop().catch(() => undefined);
    throw error;
  }
  return {
    store,
    workerEnv: { JOBS_STORE: 'postgres', JOBS_PG_URL: url, JOBS_PG_SCHEMA: schema },
    effects: async () => {
      const { rows } = await store.pool.query<{ n: number; items: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT item)::int AS items FROM "${schema}".imported`,
      );
      return rows[0] ?? { n: 0, items: 0 };
    },
    dispose: drop,
  };
}

function startWorker(
  backend: RunBackend,
  runId: string,
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [...NODE_ARGS, WORKER], {
    env: { ...process.env, ...backend.workerEnv, JOBS_RUN: runId },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line === 'ready') resolve();
    });
    child.on('exit', (code, signal) => {
      reject(new Error(`jobs worker exited (${String(code ?? signal)}) before it was ready`));
    });
  });
  ready.catch(() => undefined);
  return { child, ready };
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) =>
        child.once('exit', () => {
          resolve();
        }),
      );

const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));

/** The durable run on one store: SIGKILLed halfway, resumed, checked for exactly-once effects. */
async function durableRun(env: DemoEnv, backend: RunBackend): Promise<ScenarioReport> {
  const { store } = backend;
  try {
    const run = await store.createRun({
      name: 'import',
      input: { source: 'demo' },
      total: ITEMS,
      chunkSize: CHUNK,
    });
    env.log(
      `run ${run.id}: ${count(ITEMS)} items in ${String(run.chunks)} chunks; starting a worker process…`,
    );
    const first = startWorker(backend, run.id);
    await first.ready;
    const startedAt = performance.now();
    let beforeKill = 0;
    while (beforeKill < ITEMS / 2) {
      await sleep(10);
      beforeKill = (await store.getRun(run.id))?.processed ?? 0;
    }
    first.child.kill('SIGKILL');
    await exited(first.child);
    const firstMs = performance.now() - startedAt;
    const atKill = await store.getRun(run.id);
    const effectsAtKill = (await backend.effects()).n;
    env.log(
      `SIGKILLed the worker at ${count(atKill?.processed ?? 0)} items; resuming in a new process…`,
    );

    const second = startWorker(backend, run.id);
    await second.ready;
    const resumedAt = performance.now();
    for (;;) {
      await sleep(10);
      if ((await store.getRun(run.id))?.state === 'succeeded') break;
    }
    const secondMs = performance.now() - resumedAt;
    await exited(second.child);

    const final = await backend.effects();
    const done = await store.getRun(run.id);
    const redone = final.n - ITEMS;
    const naiveTwice = effectsAtKill;
    return {
      columns: ['naive retry (restart from zero)', 'batchflight run (resume at checkpoints)'],
      rows: [
        ['items in the run', count(ITEMS), count(ITEMS)],
        ['items done when the worker was killed', count(effectsAtKill), count(effectsAtKill)],
        ['items processed after the restart', count(ITEMS), count(ITEMS - effectsAtKill)],
        ['items processed twice', count(naiveTwice), count(redone)],
        ['effect rows at the end', count(ITEMS + naiveTwice), count(final.n)],
        ['distinct items with an effect', count(ITEMS), count(final.items)],
        ['run state', 'succeeded', done?.state ?? '?'],
        [
          'throughput (items/s, both worker processes)',
          '—',
          count(Math.round(ITEMS / ((firstMs + secondMs) / 1000))),
        ],
        ['time after the restart', '—', ms(secondMs)],
      ],
      verdict: `resumed at the first unfinished checkpoint: ${count(redone)} items processed twice, against ${count(naiveTwice)} for a restart from zero`,
    };
  } finally {
    await backend.dispose();
  }
}

const title = (store: string): string =>
  `a ${count(ITEMS)}-item run on ${store}, the worker process SIGKILLed halfway, then resumed`;

/** A 100,000-item run on the embedded SQLite store, the worker SIGKILLed halfway, the run resumed. */
export const jobsScenario: Scenario = {
  id: 'jobs-run',
  capability: 'jobs',
  title: title('SQLite'),
  run: async (env) => durableRun(env, await sqliteBackend(env)),
};

/** The same run on `@batchflight/postgres` (`--postgres`), in a schema dropped at the end. */
export const jobsPostgresScenario: Scenario = {
  id: 'jobs-run-postgres',
  capability: 'jobs',
  title: title('PostgreSQL'),
  requires: 'postgres',
  run: async (env) => durableRun(env, await postgresBackend(env)),
};

export const jobsScenarios: readonly Scenario[] = [jobsScenario, jobsPostgresScenario];
