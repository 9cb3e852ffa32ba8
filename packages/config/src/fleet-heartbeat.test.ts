/**
 * Heartbeats and staleness on an injected clock, against real Redis and real PostgreSQL: a
 * follower reports when its clock says a heartbeat is due (not before), with the time of
 * that clock; a reader on the same clock sees the report fresh while the follower beats and
 * stale 3 periods after it stopped.
 */
import { TestClock } from '@batchflight/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  PG_URL,
  pgUnavailable,
  schemaName,
} from '../../postgres/src/__fixtures__/pg.js';
import {
  dropPrefix,
  REDIS_URL,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { ConfigRegistry, type ConfigChannel } from './index.js';
import { PostgresConfigChannel } from './postgres.js';
import { RedisConfigChannel } from './redis.js';

const redisSkip = await redisUnavailable();
const pgSkip = (await pgUnavailable()) ?? null;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

const stores: { name: string; skip: string | null; open: (clock: TestClock) => ConfigChannel }[] = [
  {
    name: 'Redis',
    skip: redisSkip,
    open: (clock) => {
      const redis = new Redis(REDIS_URL);
      const prefix = uniquePrefix('config-heartbeat').slice(0, -1);
      cleanups.push(async () => {
        await dropPrefix(redis, prefix);
        redis.disconnect();
      });
      return new RedisConfigChannel({ redis, prefix, clock });
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    open: (clock) => {
      const schema = schemaName('config_heartbeat');
      const channel = new PostgresConfigChannel({ connectionString: PG_URL, schema, clock });
      cleanups.push(async () => {
        await channel.close();
        await dropSchema(schema);
      });
      return channel;
    },
  },
];

describe.each(stores)('heartbeats over $name', (store) => {
  it.skipIf(store.skip !== null)(
    'beats on its clock, and is stale 3 periods after it stopped',
    async () => {
      const clock = new TestClock(Date.UTC(2026, 11, 3, 12));
      const channel = store.open(clock);
      await channel.publish('primitives: {}\n', { author: 'ops' });
      const start = clock.now();
      // A poll period longer than the test's: only heartbeats and the start read report.
      const follower = channel.follow(new ConfigRegistry(), {
        processId: 'p',
        heartbeatMs: 1_000,
        pollMs: 60_000,
      });
      await follower.ready;
      const [first] = await channel.processes();
      expect(first).toMatchObject({ processId: 'p', revision: 1, at: start, heartbeatMs: 1_000 });
      expect(first?.stale).toBe(false);

      // Not due yet: no new report.
      await clock.advance(999);
      expect((await channel.processes())[0]?.at).toBe(start);
      // Due: a report with the follower's clock time.
      const beat = async (): Promise<number | undefined> => {
        for (;;) {
          const at = (await channel.processes())[0]?.at;
          if (at !== start) return at;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      await clock.advance(1);
      expect(await beat()).toBe(start + 1_000);

      // While it beats it never goes stale; once closed, 3 periods later it is.
      await clock.advance(2_500);
      expect((await channel.processes())[0]?.stale).toBe(false);
      await follower.close();
      const last = (await channel.processes())[0]?.at ?? 0;
      await clock.setTime(last + 3_000);
      expect((await channel.processes())[0]).toMatchObject({ stale: false, ageMs: 3_000 });
      await clock.advance(1);
      expect((await channel.processes())[0]).toMatchObject({ stale: true, ageMs: 3_001 });
    },
  );
});
