/**
 * The durable-jobs scenarios of `npm run demo`, on the embedded SQLite store
 * and (with `--postgres`) on `@batchflight/postgres`: a 100,000-item run is
 * processed by a worker process that is SIGKILLed halfway; a new worker
 * process resumes the run at the checkpoints. Every item's effect row is
 * committed atomically with its chunk's checkpoint, so at the end each item
 * was processed exactly once. A naive retry (restart from zero) would have
 * processed every item done before the crash twice. One scenario body, run
 * once per store.
 *
 * Two different "twice" are reported honestly: effect rows written twice
 * (must be 0: effects commit with the checkpoint) and items whose handler ran
 * twice (the slices in flight at the kill: their handler ran, their
 * checkpoint and effects never committed, and they were handled again after
 * the restart). Each wait has a deadline and watches its worker process, so
 * a worker that dies or stalls fails the scenario with a message instead of
 * hanging it; the verdict says FAILED when any figure is off.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { FullJobStore } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';
import { SqliteJobStore } from '@batchflight/sqlite';
import { spawnScript } from '../child.js';
import type { DemoEnv, Scenario, ScenarioReport } from '../scenario.js';
import { count, ms } from '../table.js';

const ITEMS = 100_000;
const CHUNK = 5_000;
/**
 * Items a kill can leave handled but not checkpointed: the slices in flight,
 * the worker's `concurrency` (2) × `sliceSize` (500) in `jobs-worker.ts`.
 * Resuming anywhere before the last checkpoint would handle more twice.
 */
const IN_FLIGHT_ITEMS = 2 * 500;
/** How long one phase (half the run; the rest of it) may take before the scenario gives up. */
const PHASE_TIMEOUT_MS = 90_000;

/**
 * Where a run lives: its store, the effect table the worker's `onCheckpoint`
 * writes (`imported (item, value)`, no unique constraint: a duplicated effect
 * would be an extra row) and how a worker process opens the same store.
 */
interface RunBackend {
  readonly store: FullJobStore;
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
  sliceLog: string,
  tag: string,
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawnScript(import.meta.url, 'jobs-worker', {
    env: {
      ...process.env,
      ...backend.workerEnv,
      JOBS_RUN: runId,
      JOBS_LOG: sliceLog,
      JOBS_TAG: tag,
    },
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

const exitText = (child: ChildProcess): string =>
  `exited (${String(child.exitCode ?? child.signalCode)})`;

/**
 * Polls `done` every 10 ms until it holds. Throws, naming `what`, when the
 * worker process exits first (unless `done` holds right after: a worker
 * exits once the run is finished) or after {@link PHASE_TIMEOUT_MS}.
 */
async function waitFor(
  what: string,
  child: ChildProcess,
  done: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + PHASE_TIMEOUT_MS;
  for (;;) {
    const gone = child.exitCode !== null || child.signalCode !== null;
    if (await done()) return;
    if (gone) throw new Error(`the jobs worker ${exitText(child)} before ${what}`);
    if (performance.now() > deadline) {
      throw new Error(
        `no ${what} after ${String(PHASE_TIMEOUT_MS / 1000)} s: the worker is stalled`,
      );
    }
    await sleep(10);
  }
}

/** Handler invocations per item, from the workers' slice log, by worker tag. */
function handledItems(sliceLog: string): { counts: Uint8Array; byTag: Map<string, number> } {
  const counts = new Uint8Array(ITEMS);
  const byTag = new Map<string, number>();
  for (const line of readFileSync(sliceLog, 'utf8').split('\n')) {
    const [tag, from, to] = line.split(' ');
    if (tag === undefined || from === undefined || to === undefined) continue;
    for (let i = Number(from); i < Number(to); i++) counts[i] = Math.min(255, (counts[i] ?? 0) + 1);
    byTag.set(tag, (byTag.get(tag) ?? 0) + Number(to) - Number(from));
  }
  return { counts, byTag };
}

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
    const sliceLog = join(env.workDir, `jobs-demo-${run.id}-${randomBytes(4).toString('hex')}.log`);
    const first = startWorker(backend, run.id, sliceLog, 'first');
    await first.ready;
    const startedAt = performance.now();
    await waitFor('half the run was checkpointed', first.child, async () => {
      return ((await store.getRun(run.id))?.processed ?? 0) >= ITEMS / 2;
    });
    first.child.kill('SIGKILL');
    await exited(first.child);
    const firstMs = performance.now() - startedAt;
    const effectsAtKill = (await backend.effects()).n;
    env.log(`SIGKILLed the worker at ${count(effectsAtKill)} items; resuming in a new process…`);

    const second = startWorker(backend, run.id, sliceLog, 'second');
    await second.ready;
    const resumedAt = performance.now();
    await waitFor('the run succeeded', second.child, async () => {
      const state = (await store.getRun(run.id))?.state;
      if (state === 'failed' || state === 'cancelled') throw new Error(`the run ${state}`);
      return state === 'succeeded';
    });
    const secondMs = performance.now() - resumedAt;
    await waitFor('the worker exited', second.child, () =>
      Promise.resolve(second.child.exitCode !== null || second.child.signalCode !== null),
    );

    const final = await backend.effects();
    const done = await store.getRun(run.id);
    const { counts, byTag } = handledItems(sliceLog);
    let handledTwice = 0;
    let neverHandled = 0;
    for (const n of counts) {
      if (n >= 2) handledTwice++;
      else if (n === 0) neverHandled++;
    }
    const firstHandled = byTag.get('first') ?? 0;
    const effectsTwice = final.n - final.items;
    const problems: string[] = [];
    if (done?.state !== 'succeeded') problems.push(`run ${done?.state ?? 'missing'}`);
    if (final.n !== ITEMS) problems.push(`${count(final.n)} effect rows, not ${count(ITEMS)}`);
    if (final.items !== ITEMS) problems.push(`${count(ITEMS - final.items)} items without effect`);
    if (effectsTwice > 0) problems.push(`${count(effectsTwice)} effects written twice`);
    if (neverHandled > 0) problems.push(`${count(neverHandled)} items never handled`);
    if (second.child.exitCode !== 0) problems.push(`the second worker ${exitText(second.child)}`);
    return {
      // The first column is not run: it is what a restart from zero would do
      // with the same kill, computed from the measured figures.
      columns: [
        'naive retry (restart from zero), computed, not run',
        'batchflight run (resume at checkpoints), measured',
      ],
      rows: [
        ['items in the run', count(ITEMS), count(ITEMS)],
        [
          'items checkpointed when the worker was killed',
          count(effectsAtKill),
          count(effectsAtKill),
        ],
        ['items handled before the kill', count(firstHandled), count(firstHandled)],
        ['items handled after the restart', count(ITEMS), count(byTag.get('second') ?? 0)],
        // A restart from zero handles everything handled before the kill again.
        ['items whose handler ran twice', count(firstHandled), count(handledTwice)],
        ['items whose effect was written twice', count(effectsAtKill), count(effectsTwice)],
        ['effect rows at the end', count(ITEMS + effectsAtKill), count(final.n)],
        ['distinct items with an effect', count(ITEMS), count(final.items)],
        ['run state', 'succeeded', done?.state ?? '?'],
        [
          'throughput (items/s, both worker processes)',
          '—',
          count(Math.round(ITEMS / ((firstMs + secondMs) / 1000))),
        ],
        ['time after the restart', '—', ms(secondMs)],
      ],
      failed: problems.length > 0,
      claims: [
        { what: 'effect rows at the end', actual: final.n, atLeast: ITEMS, atMost: ITEMS },
        { what: 'effects written twice', actual: effectsTwice, atMost: 0 },
        {
          what: 'items whose handler ran twice (the slices in flight at the kill)',
          actual: handledTwice,
          atMost: IN_FLIGHT_ITEMS,
        },
      ],
      verdict:
        problems.length > 0
          ? `FAILED: ${problems.join('; ')}`
          : `resumed at the checkpoints: every item's effect written once; ${count(handledTwice)} items handled twice (the slices in flight at the kill, their effects rolled back), against ${count(firstHandled)} handled twice and ${count(effectsAtKill)} effects written twice that a restart from zero would give (computed)`,
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
