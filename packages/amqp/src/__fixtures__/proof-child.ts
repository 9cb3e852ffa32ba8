/**
 * The consumer process of the proof under faults: consumes the queue into
 * the table through amqpSource() and stream(), until it is SIGKILLed (the
 * proof's fault) or gets SIGTERM (the last run: a graceful close, then it
 * prints its stats). Arguments: <amqp url> <queue> <table>.
 *
 * Each write is one transaction: the events, idempotent by their id
 * (INSERT … ON CONFLICT DO NOTHING), and one row per delivery in
 * `<table>_deliveries` (no key), so the proof can count after the fact
 * how often an event was written, and how many deliveries were redeliveries,
 * even for the runs that were killed.
 */
import pg from 'pg';
import { amqpSource } from '../index.js';
import { PG_URL } from './pg.js';

const [url = '', queue = '', table = ''] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });

interface ProofEvent {
  readonly id: number;
  readonly payload: string;
}

const source = amqpSource<ProofEvent>({
  connection: url,
  queue,
  name: 'proof',
  prefetch: 4_000,
  decode: (message) => JSON.parse(message.content.toString('utf8')) as ProofEvent,
});
let reported = false;
const sink = source.sink({
  writeMany: async (messages) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO "${table}" (id, payload) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT (id) DO NOTHING`,
        [messages.map((m) => m.body.id), messages.map((m) => m.body.payload)],
      );
      await client.query(
        `INSERT INTO "${table}_deliveries" (id, redelivered) SELECT * FROM unnest($1::bigint[], $2::bool[])`,
        [messages.map((m) => m.body.id), messages.map((m) => m.redelivered)],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    // The parent kills only a consumer that has committed something: each run makes progress.
    if (!reported) {
      reported = true;
      process.stdout.write('committed\n');
    }
  },
  maxItems: 1_000,
  lingerMs: 5,
  maxConcurrentWrites: 4,
  isRetryable: () => true,
  retry: { maxAttempts: Infinity },
});

const consuming = sink.consume(source);
process.once('SIGTERM', () => {
  void (async () => {
    const sinkReport = await sink.close({ timeoutMs: 10_000 });
    const sourceReport = await source.close({ timeoutMs: 10_000 });
    await consuming.catch(() => undefined);
    await pool.end();
    process.stdout.write(
      `${JSON.stringify({ sink: sinkReport.unwritten.length, source: sourceReport, stats: source.stats() })}\n`,
    );
  })();
});
// Ready once a SIGTERM would be heard and the consumer is on: the last run waits for it.
const connected = setInterval(() => {
  if (!source.stats().connected) return;
  clearInterval(connected);
  process.stdout.write('ready\n');
}, 5).unref();
await consuming.catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
