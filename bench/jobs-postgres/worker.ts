/**
 * One worker process of `bench/jobs-postgres.bench.ts`.
 * Arguments: <system> <config> <schema> <url>. Sets up, prints `ready`, waits
 * for `go` on stdin, then runs no-op jobs (concurrency 10) until killed.
 * Systems: `batchflight` (default | batched: `claimBatch` 500 | batched:N),
 * `graphile` (graphile-worker 0.17 on this Node: default | batched: `localQueue`
 * 500 with batched completions and failures | batched:N | items: one job
 * carries an array of 500 items), `pgboss` (default | batched: `batchSize` 500),
 * `bfrun` (a batchflight run's chunks of 500 items). For `reclaim`: a
 * batchflight worker whose `hang` handler prints `started` and never returns.
 */
import { createInterface } from 'node:readline';
import { Worker } from 'batchflight/jobs';
import { PostgresJobStore } from '@batchflight/postgres';
import { Logger, run as runGraphile } from 'graphile-worker';
import PgBoss from 'pg-boss';

const [system = '', config = '', schema = '', url = ''] = process.argv.slice(2);
const go = new Promise<void>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'go') resolve();
  });
});
const noop = (): Promise<void> => Promise.resolve();

if (system === 'batchflight' || system === 'reclaim') {
  const store = new PostgresJobStore({ connectionString: url, schema, poolSize: 4 });
  await store.init();
  const worker = new Worker(
    store,
    {
      noop,
      hang: () => {
        console.log('started');
        return new Promise<never>(() => undefined);
      },
    },
    {
      concurrency: 10,
      depthSampleMs: 0,
      autoStart: false,
      // `batched` is claimBatch 500; `batched:N` is claimBatch N.
      ...(config.startsWith('batched') ? { claimBatch: Number(config.split(':')[1] ?? 500) } : {}),
    },
  );
  console.log('ready');
  await go;
  worker.start();
} else if (system === 'bfrun') {
  // A run's chunks (one row = 500 items), the counterpart of graphile-worker's batch jobs.
  const store = new PostgresJobStore({ connectionString: url, schema, poolSize: 10 });
  await store.init();
  console.log('ready');
  await go;
  const workerId = `bfrun-${String(process.pid)}`;
  const loop = async (): Promise<void> => {
    for (;;) {
      const [chunk] = await store.claimChunks({ workerId, limit: 1, leaseMs: 30_000 });
      if (chunk === undefined) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      for (let i = chunk.offset; i < chunk.end; i++) await noop();
      await store.completeChunk({ runId: chunk.runId, index: chunk.index, epoch: chunk.epoch });
    }
  };
  for (let i = 0; i < 10; i++) void loop();
} else if (system === 'graphile') {
  console.log('ready');
  await go;
  await runGraphile({
    connectionString: url,
    schema,
    concurrency: 10,
    noHandleSignals: true,
    logger: new Logger(() => () => undefined),
    taskList: {
      noop: async () => {
        await noop();
      },
    },
    // graphile-worker's best batched configuration: a local queue of 500 locked jobs, and
    // completions (failures) of one event-loop turn written by one statement.
    ...(config.startsWith('batched')
      ? {
          preset: {
            worker: {
              localQueue: { size: Number(config.split(':')[1] ?? 500) },
              completeJobBatchDelay: 0,
              failJobBatchDelay: 0,
            },
          },
        }
      : {}),
  });
} else if (system === 'pgboss') {
  const boss = new PgBoss({ connectionString: url, schema, max: 12 });
  boss.on('error', () => undefined);
  await boss.start();
  console.log('ready');
  await go;
  if (config === 'batched') {
    await boss.work('noop', { batchSize: 500, pollingIntervalSeconds: 0.5 }, noop);
  } else {
    // v10 has no teamSize: concurrency 10 is ten workers of one job each.
    for (let i = 0; i < 10; i++) await boss.work('noop', noop);
  }
} else {
  console.error(`unknown system ${system}`);
  process.exit(2);
}
