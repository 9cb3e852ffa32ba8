import diagnosticsChannel from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
// The Redis test support of @batchflight/redis: the server probe (CI=true fails without
// one), fresh connections and a key prefix of our own.
import {
  connect,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from '../../redis/src/__fixtures__/redis.js';
import { ConfigRegistry, retunableBatch, type ApplyReport } from './index.js';
import {
  configChannels,
  RedisConfigChannel,
  type ConfigFollower,
  type ConfigRevisionEvent,
} from './redis.js';

const skip = await redisUnavailable();
const prefix = uniquePrefix('config-fleet').slice(0, -1);
const admin = skip === null ? connect('config-admin') : undefined;

afterAll(async () => {
  if (admin !== undefined) {
    await dropPrefix(admin, prefix);
    admin.disconnect();
  }
});

/** One process of the fleet: its own connection, registry and batcher. */
function startProcess(id: string) {
  const redis = connect(`config-${id}`);
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
  const waiting: ((revision: number) => void)[] = [];
  const seen: { revision: number | undefined; ok: boolean; report?: ApplyReport }[] = [];
  const notify = (entry: (typeof seen)[number]) => {
    seen.push(entry);
    for (const w of waiting.splice(0)) w(entry.revision ?? 0);
  };
  const follower: ConfigFollower = new RedisConfigChannel({ redis, prefix }).follow(registry, {
    processId: id,
    pollMs: 60_000,
    onApplied: (revision, report) => {
      notify({ revision, ok: true, report });
    },
    onRefused: (revision) => {
      notify({ revision, ok: false });
    },
  });
  return {
    follower,
    users,
    sizes,
    seen,
    /** Resolves when this process has handled `revision`. */
    handled: (revision: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (seen.some((s) => s.revision === revision)) resolve();
          else waiting.push(check);
        };
        check();
      }),
    async loadTen() {
      sizes.length = 0;
      await Promise.all(Array.from({ length: 10 }, (_, i) => users.load(i)));
      return [...sizes];
    },
    async stop() {
      await follower.close();
      await users.close();
      redis.disconnect();
    },
  };
}

describe.skipIf(skip !== null)('RedisConfigChannel', () => {
  it('retunes every process of a fleet, refuses a bad revision everywhere, and rolls back', async () => {
    if (admin === undefined) throw new Error('unreachable');
    const coordinator = new RedisConfigChannel({ redis: admin, prefix });
    const first = await coordinator.publish('primitives:\n  users:\n    batch: { maxSize: 5 }\n', {
      author: 'ops',
    });
    expect(first).toBe(1);

    // A process that starts applies the current revision.
    const fleet = ['a', 'b', 'c'].map(startProcess);
    await Promise.all(fleet.map((p) => p.follower.ready));
    expect(fleet.map((p) => p.follower.revision)).toEqual([1, 1, 1]);
    for (const p of fleet) expect(await p.loadTen()).toEqual([5, 5]);

    // A new revision reaches every process over pub/sub.
    const second = await coordinator.publish('primitives:\n  users:\n    batch: { maxSize: 2 }\n', {
      author: 'ops',
    });
    await Promise.all(fleet.map((p) => p.handled(second)));
    for (const p of fleet) expect(await p.loadTen()).toEqual([2, 2, 2, 2, 2]);

    // An invalid text is refused at publish and never stored.
    await expect(
      coordinator.publish('primitives:\n  users:\n    batch: { maxSize: 0 }\n', { author: 'ops' }),
    ).rejects.toThrow('primitives.users.batch.maxSize: got 0; expected an integer >= 1');
    expect(await coordinator.latest()).toBe(2);

    // A revision written by a publisher that did not validate is refused by every follower,
    // which keeps the revision it runs.
    const bad = await admin.incr(`${prefix}:revision`);
    await admin.hset(
      `${prefix}:revisions`,
      String(bad),
      JSON.stringify({
        text: 'primitives:\n  users:\n    batch: { maxSize: -3 }\n',
        author: 'old tool',
        at: 0,
      }),
    );
    await admin.publish(`${prefix}:published`, String(bad));
    await Promise.all(fleet.map((p) => p.handled(bad)));
    for (const p of fleet) {
      expect(p.seen.at(-1)).toEqual({ revision: bad, ok: false });
      expect(p.follower.revision).toBe(second);
      expect(await p.loadTen()).toEqual([2, 2, 2, 2, 2]);
    }
    expect(fleet[0]?.follower.health()).toEqual({
      revision: second,
      refused: bad,
      reachable: true,
      error: expect.stringContaining('got -3; expected an integer >= 1') as unknown,
      lastContactAt: expect.any(Number) as unknown,
    });
    const status = await coordinator.status();
    for (const id of ['a', 'b', 'c']) {
      expect(status[id]).toMatchObject({ revision: second, refused: bad });
      expect(status[id]?.error).toContain('got -3; expected an integer >= 1');
    }

    // A rollback is a new revision with the old text.
    const restored = await coordinator.rollback(first, { author: 'ops' });
    await Promise.all(fleet.map((p) => p.handled(restored)));
    for (const p of fleet) expect(await p.loadTen()).toEqual([5, 5]);
    expect((await coordinator.status())['a']).toEqual(
      expect.objectContaining({ revision: restored }),
    );
    const history = await coordinator.history();
    expect(history.map((r) => r.diff)).toEqual([
      [{ path: 'primitives.users', to: { batch: { maxSize: 5 } } }],
      [{ path: 'primitives.users.batch.maxSize', from: 5, to: 2 }],
      undefined, // written without the publisher
      [{ path: 'primitives.users', to: { batch: { maxSize: 5 } } }], // after an invalid one
    ]);
    expect(history.map((r) => [r.revision, r.author, r.rollbackOf])).toEqual([
      [1, 'ops', undefined],
      [2, 'ops', undefined],
      [3, 'old tool', undefined],
      [4, 'ops', 1],
    ]);
    await Promise.all(fleet.map((p) => p.stop()));
  });
});

describe('a follower that cannot reach the coordinator', () => {
  it('keeps the revision it runs and says so in its health and on the config channel', async () => {
    // Nothing listens on port 1: every read fails at once, and the client does not retry.
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    redis.on('error', () => undefined);
    const events: ConfigRevisionEvent[] = [];
    const listener = (event: unknown) => events.push(event as ConfigRevisionEvent);
    diagnosticsChannel.subscribe(configChannels.revision.name, listener);
    const refusals: unknown[] = [];
    const follower = new RedisConfigChannel({ redis, prefix: 'unreachable' }).follow(
      new ConfigRegistry(),
      {
        processId: 'lonely',
        onRefused: (_revision, error) => refusals.push(error),
      },
    );
    await follower.ready;
    await follower.close();
    diagnosticsChannel.unsubscribe(configChannels.revision.name, listener);
    redis.disconnect();
    expect(refusals.length).toBeGreaterThan(0);
    expect(follower.health()).toMatchObject({ revision: 0, reachable: false });
    expect(follower.health().error).toEqual(expect.any(String));
    expect(events.map((e) => [e.processId, e.outcome, e.revision])).toContainEqual([
      'lonely',
      'unreachable',
      0,
    ]);
  });
});
