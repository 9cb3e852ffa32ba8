/**
 * Prints the figures of the proof under faults:
 * `npm run proof -w @batchflight/amqp [-- <events> <killAfterMs>]`.
 */
import { loadavg } from 'node:os';
import { runProof } from './proof.js';

const [events = '200000', killAfterMs = '500'] = process.argv.slice(2);
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`load average before: ${load()}`);
const figures = await runProof({
  events: Number(events),
  killAfterMs: Number(killAfterMs),
  log: (line) => {
    console.log(line);
  },
});
console.log(`load average after: ${load()}`);
console.table({
  events: figures.events,
  'consumer SIGKILLs': figures.kills,
  'rows in the table': figures.rows,
  lost: figures.lost,
  duplicates: figures.duplicates,
  'deliveries written (committed)': figures.deliveriesWritten,
  'of those redelivered': figures.redeliveredWritten,
  'duplicate writes absorbed by ON CONFLICT': figures.duplicateWrites,
  'left in the queue': figures.leftInQueue,
  'publish seconds': figures.publishSeconds,
  'consume seconds (kills included)': figures.consumeSeconds,
});
console.log('last run (not killed):', figures.lastRun);
