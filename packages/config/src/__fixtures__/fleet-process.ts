/**
 * One process of the fleet tests: a `users` batcher registered for live retuning, following
 * the revisions of a store. It prints one JSON line per thing that happened (`ready`,
 * `applied`, `refused`, and the config channel's `unreachable` / `reachable`), each with the
 * batch sizes ten loads now make, and answers `health` on stdin with its health.
 * Arguments: <store url> <namespace> <process id>.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { ConfigRegistry, retunableBatch } from '../index.js';
import type { ConfigChannel } from '../revisions.js';
import { configChannels, type ConfigRevisionEvent } from '../follower.js';
import { RedisConfigChannel } from '../redis.js';
import { PostgresConfigChannel } from '../postgres.js';

const [url = '', namespace = '', processId = ''] = process.argv.slice(2);
const redis = url.startsWith('redis')
  ? new Redis(url, { maxRetriesPerRequest: 1, connectionName: processId })
  : undefined;
redis?.on('error', () => undefined);
const channel: ConfigChannel =
  redis === undefined
    ? new PostgresConfigChannel({ connectionString: url, schema: namespace })
    : new RedisConfigChannel({ redis, prefix: namespace });

const registry = new ConfigRegistry();
const sizes: number[] = [];
const users = retunableBatch({
  name: 'users',
  load: (ids: readonly number[]) => {
    sizes.push(ids.length);
    return Promise.resolve(ids);
  },
});
registry.register('users', users.tunable);

async function loadTen(): Promise<number[]> {
  sizes.length = 0;
  await Promise.all(Array.from({ length: 10 }, (_, i) => users.load(i)));
  return [...sizes];
}
const say = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

diagnosticsChannel.subscribe(configChannels.revision.name, (message) => {
  const event = message as ConfigRevisionEvent;
  if (event.outcome === 'unreachable' || event.outcome === 'reachable') {
    say({ event: event.outcome, revision: event.revision });
  }
});

const follower = channel.follow(registry, {
  processId,
  pollMs: 200,
  heartbeatMs: 500,
  timeoutMs: 1_000,
  onApplied: (revision) => {
    void loadTen().then((now) => {
      say({ event: 'applied', revision, sizes: now });
    });
  },
  onRefused: (revision, error) => {
    if (revision === undefined) return; // an outage: the channel event says it
    void loadTen().then((now) => {
      say({ event: 'refused', revision, sizes: now, error: String(error) });
    });
  },
});
await follower.ready;
say({ event: 'ready', revision: follower.revision });

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'health') say({ event: 'health', health: follower.health() });
}
// stdin closed: the test is done with us.
await follower.close();
await users.close();
redis?.disconnect();
if (channel instanceof PostgresConfigChannel) await channel.close();
