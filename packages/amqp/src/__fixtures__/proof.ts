/**
 * The proof under faults (issue 15): `events` events published to a queue,
 * consumed into a PostgreSQL table by a child process (`proof-child.ts`)
 * that is SIGKILLed `killAfterMs` after each run first committed and then
 * started again, until the table holds every event; a last run drains the
 * queue and closes gracefully. The figures come from the table and the
 * broker, never from the killed processes' memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AMQP_URL, admin, uniqueName } from './amqp.js';
import { PG_URL } from './pg.js';

const CHILD = fileURLToPath(new URL('./proof-child.ts', import.meta.url));
/** A run that commits nothing for this long is stuck: the proof fails instead of hanging. */
const STUCK_MS = 30_000;

/** What a proof run measured. */
export interface ProofFigures {
  readonly events: number;
  /** Consumer processes SIGKILLed. */
  readonly kills: number;
  /** Rows in the table, distinct ids among them, events missing, rows beyond one per id. */
  readonly rows: number;
  readonly distinct: number;
  readonly lost: number;
  readonly duplicates: number;
  /** Committed writes of an event (one row per delivery written, in the same transaction). */
  readonly deliveriesWritten: number;
  /** Of those, deliveries the broker flagged redelivered (an earlier consumer died holding them). */
  readonly redeliveredWritten: number;
  /** Writes of an event beyond its first: what the idempotent insert absorbed. */
  readonly duplicateWrites: number;
  /** Messages left in the queue after the last run closed (0: every delivery was acked). */
  readonly leftInQueue: number;
  /** The last run's source counters (the one that was not killed). */
  readonly lastRun: unknown;
  readonly publishSeconds: number;
  readonly consumeSeconds: number;
}

function start(
  queue: string,
  table: string,
): { child: ChildProcess; lines: string[]; err: () => string } {
  const child = spawn(
    process.execPath,
    // The source under test from src (tsx); batchflight from its build (tsc -b), so that a
    // change in progress elsewhere in the core's sources cannot break a run of the proof.
    ['--import', 'tsx', CHILD, AMQP_URL, queue, table],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { child, lines, err: () => err };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
}

/** Resolves once `lines` holds a line matching `test`; rejects if the child exits first or it is stuck. */
async function lineFrom(
  run: ReturnType<typeof start>,
  test: (line: string) => boolean,
): Promise<string> {
  const until = Date.now() + STUCK_MS;
  for (;;) {
    const line = run.lines.find(test);
    if (line !== undefined) return line;
    if (run.child.exitCode !== null || run.child.signalCode !== null) {
      throw new Error(
        `the consumer exited with ${String(run.child.exitCode ?? run.child.signalCode)}: ${run.err()}`,
      );
    }
    if (Date.now() > until) throw new Error(`the consumer is stuck: ${run.err()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the proof; `log` hears about each kill. */
export async function runProof({
  events = 200_000,
  killAfterMs = 500,
  log = () => undefined,
}: {
  events?: number;
  killAfterMs?: number;
  log?: (line: string) => void;
} = {}): Promise<ProofFigures> {
  const queue = uniqueName('proof');
  const table = `bf_amqp_proof_${randomBytes(4).toString('hex')}`;
  const broker = await admin();
  const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
  try {
    await broker.queue(queue);
    await db.query(`CREATE TABLE "${table}" (id bigint PRIMARY KEY, payload text NOT NULL)`);
    await db.query(
      `CREATE TABLE "${table}_deliveries" (id bigint NOT NULL, redelivered boolean NOT NULL)`,
    );
    const published = Date.now();
    const bodies = Array.from({ length: events }, (_, id) =>
      JSON.stringify({ id, payload: `event ${String(id)}` }),
    );
    // Transient messages: the fault is the consumer's death, not the broker's, and a
    // persistent publish of 200,000 costs more than the consumption on a loaded machine.
    await broker.publish(queue, bodies, { persistent: false });
    const publishSeconds = (Date.now() - published) / 1000;
    log(`published ${String(events)} events in ${publishSeconds.toFixed(1)} s`);

    const consuming = Date.now();
    const count = async (): Promise<number> =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`)).rows[0]?.n);
    let kills = 0;
    for (;;) {
      const run = start(queue, table);
      await lineFrom(run, (line) => line === 'committed');
      // ~0.5 s of work, give or take 40%, so the kills land anywhere in a write's life.
      await sleep(killAfterMs * (0.6 + Math.random() * 0.8));
      run.child.kill('SIGKILL');
      await exited(run.child);
      kills++;
      const rows = await count();
      if (kills % 5 === 0) log(`kill ${String(kills)}: ${String(rows)} rows`);
      if (rows >= events) break;
    }
    // The last run: drains what is left (redeliveries of the last kill), then closes gracefully.
    const last = start(queue, table);
    await lineFrom(last, (line) => line === 'ready');
    while ((await broker.ready(queue)) > 0 && last.child.exitCode === null) await sleep(20);
    await sleep(50);
    last.child.kill('SIGTERM');
    const report = await lineFrom(last, (line) => line.startsWith('{'));
    await exited(last.child);
    const consumeSeconds = (Date.now() - consuming) / 1000;
    const leftInQueue = await broker.ready(queue);

    const q = async (sql: string): Promise<number> =>
      Number((await db.query<{ n: string }>(sql)).rows[0]?.n);
    const rows = await q(`SELECT count(*) AS n FROM "${table}"`);
    const distinct = await q(`SELECT count(DISTINCT id) AS n FROM "${table}"`);
    const present = await q(
      `SELECT count(DISTINCT id) AS n FROM "${table}" WHERE id >= 0 AND id < ${String(events)}`,
    );
    const deliveriesWritten = await q(`SELECT count(*) AS n FROM "${table}_deliveries"`);
    const redeliveredWritten = await q(
      `SELECT count(*) AS n FROM "${table}_deliveries" WHERE redelivered`,
    );
    return {
      events,
      kills,
      rows,
      distinct,
      lost: events - present,
      duplicates: rows - distinct,
      deliveriesWritten,
      redeliveredWritten,
      duplicateWrites: deliveriesWritten - distinct,
      leftInQueue,
      lastRun: (JSON.parse(report) as { stats: unknown }).stats,
      publishSeconds,
      consumeSeconds,
    };
  } finally {
    await db.query(`DROP TABLE IF EXISTS "${table}", "${table}_deliveries"`).catch(() => undefined);
    await db.end();
    await broker.cleanup();
  }
}
