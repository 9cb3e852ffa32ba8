/**
 * A process of the `fleet` demo scenario. Its task comes as JSON in
 * FLEET_TASK; it prints `ready`, waits for `go` on stdin, makes `callers`
 * concurrent identical calls for one cold key (coalesced in-process only, or
 * through the distributed flight), and prints one JSON line with its figures.
 */
import { createInterface } from 'node:readline';
import { DistributedFlight } from 'batchflight/singleflight';
import { Redis, RedisFlightStore } from '@batchflight/redis';
import { SingleFlight } from 'batchflight/singleflight';

interface Task {
  readonly url: string;
  readonly prefix: string;
  readonly distributed: boolean;
  readonly callers: number;
  readonly upstreamMs: number;
}

const task = JSON.parse(process.env['FLEET_TASK'] ?? '{}') as Task;
const client = new Redis(task.url);
const counter = `${task.prefix}upstream-calls`;
const upstream = async (): Promise<{ report: string }> => {
  await client.incr(counter);
  await new Promise((resolve) => setTimeout(resolve, task.upstreamMs));
  return { report: 'daily totals' };
};

const store = new RedisFlightStore({ client, prefix: task.prefix });
const distributed = new DistributedFlight({ store, leaseMs: 5000 });
const local = new SingleFlight();
if (task.distributed) (await store.watch('warm-up', () => undefined)).dispose();
await client.ping();
process.stdout.write('ready\n');
await new Promise<void>((resolve) => {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'go') resolve();
  });
});
const latencies = await Promise.all(
  Array.from({ length: task.callers }, async () => {
    const t = performance.now();
    await (task.distributed
      ? distributed.run('report:today', upstream)
      : local.run('report:today', upstream));
    return performance.now() - t;
  }),
);
process.stdout.write(`${JSON.stringify({ latencies, led: distributed.stats().led })}\n`);
store.close();
client.disconnect();
process.exit(0);
