/**
 * The durable-jobs scenario of `npm run demo`, on the embedded SQLite store:
 * a 100,000-item run is processed by a worker process that is SIGKILLed
 * halfway; a new worker process resumes the run at the checkpoints. Every
 * item's effect row is committed atomically with its chunk's checkpoint, so
 * at the end each item was processed exactly once. A naive retry (restart
 * from zero) would have processed every item done before the crash twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
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

function startWorker(path: string, runId: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [...NODE_ARGS, WORKER], {
    env: { ...process.env, JOBS_DB: path, JOBS_RUN: runId },
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

/** A 100,000-item run, the worker SIGKILLed halfway, the run resumed. */
export const jobsScenario: Scenario = {
  id: 'jobs-run',
  capability: 'jobs',
  title: `a ${count(ITEMS)}-item run on SQLite, the worker process SIGKILLed halfway, then resumed`,
  async run(env: DemoEnv): Promise<ScenarioReport> {
    const path = join(env.workDir, 'jobs-demo.db');
    const store = new SqliteJobStore({ path });
    await store.init();
    // No unique constraint on item: a duplicated effect would be an extra row.
    store.db.exec('CREATE TABLE imported (item INTEGER NOT NULL, value INTEGER NOT NULL)');
    const run = await store.createRun({
      name: 'import',
      input: { source: 'demo' },
      total: ITEMS,
      chunkSize: CHUNK,
    });
    const rows = (): number =>
      (store.db.prepare('SELECT COUNT(*) AS n FROM imported').get() as { n: number }).n;
    try {
      env.log(
        `run ${run.id}: ${count(ITEMS)} items in ${String(run.chunks)} chunks; starting a worker process…`,
      );
      const first = startWorker(path, run.id);
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
      const effectsAtKill = rows();
      env.log(
        `SIGKILLed the worker at ${count(atKill?.processed ?? 0)} items; resuming in a new process…`,
      );

      const second = startWorker(path, run.id);
      await second.ready;
      const resumedAt = performance.now();
      for (;;) {
        await sleep(10);
        if ((await store.getRun(run.id))?.state === 'succeeded') break;
      }
      const secondMs = performance.now() - resumedAt;
      await exited(second.child);

      const final = store.db
        .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT item) AS items FROM imported')
        .get() as { n: number; items: number };
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
      await store.close();
    }
  },
};

export const jobsScenarios: readonly Scenario[] = [jobsScenario];
