/**
 * docs/stream.md: a stream of click events into an in-process SQLite table,
 * idempotent by the event id, so an event delivered twice is one row.
 */
import Database from 'better-sqlite3';

/** A broker message, as a source hands it over: the event and its acknowledgement. */
interface Message {
  readonly event: { readonly id: string; readonly user: number; readonly page: string };
  ack(): void;
}

const acked: string[] = [];
/** 1,000 events from 50 users; the broker redelivers event e7 (its ack was lost). */
async function* subscription(): AsyncGenerator<Message> {
  for (let i = 0; i < 1000; i++) {
    const event = { id: `e${String(i)}`, user: i % 50, page: `/p/${String(i % 7)}` };
    yield { event, ack: () => acked.push(event.id) };
    if (i === 500)
      yield { event: { id: 'e7', user: 7, page: '/p/0' }, ack: () => acked.push('e7') };
  }
}

// #region sink
import { stream } from 'batchflight/stream';

const db = new Database(':memory:');
db.exec('CREATE TABLE clicks (id TEXT PRIMARY KEY, user INTEGER NOT NULL, page TEXT NOT NULL)');
// The event id is the idempotency key: a redelivered event never doubles a row.
const insert = db.prepare(
  'INSERT INTO clicks (id, user, page) VALUES (@id, @user, @page) ON CONFLICT (id) DO NOTHING',
);
const insertMany = db.transaction((events: Message['event'][]) => {
  for (const event of events) insert.run(event);
});

const sink = stream<Message>({
  name: 'clicks',
  writeMany: (messages) => {
    insertMany(messages.map((message) => message.event)); // one transaction per batch
  },
  maxItems: 200,
  lingerMs: 10,
  maxBuffered: 1_000, // the subscription is paused beyond it
  orderBy: (message) => message.event.user, // one user's clicks in order
  ack: (message) => {
    message.ack(); // only after the transaction committed
  },
  onDeadLetter: ({ item, error }) => {
    console.error('dead letter', item.event.id, error);
  },
});

await sink.consume(subscription());
const report = await sink.close({ timeoutMs: 5_000 }); // { forced: false, unwritten: [] }
// #endregion

/** What the example left: the rows, the acknowledgements and the sink's counters. */
export const results = {
  rows: (db.prepare('SELECT count(*) AS n FROM clicks').get() as { n: number }).n,
  acked: acked.length,
  report,
  stats: sink.stats(),
};
db.close();
