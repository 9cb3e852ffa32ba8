/**
 * Fleet distribution over Redis: the {@link FleetStore} of `ConfigChannel` in a few keys,
 * with pub/sub for the notification (a follower polls as well, for a missed message).
 *
 * Keys, under a prefix (default `batchflight:config`):
 * - `<prefix>:revision`  the last revision number (INCR)
 * - `<prefix>:revisions` hash: revision number -> JSON `{ text, format?, author, at, rollbackOf?, diff }`
 * - `<prefix>:processes` hash: process id -> JSON `{ revision, refused?, error?, at, host, pid, … }`
 * - channel `<prefix>:published` carries each new revision number.
 *
 * The publish script touches two keys built from one prefix; on Redis Cluster give the
 * prefix a hash tag (`{fleet}:config`) so they share a slot.
 */
import type { Redis } from 'ioredis';
import {
  ConfigChannel,
  type ConfigChannelOptions,
  type ConfigRevision,
  type FleetStore,
  type FleetSubscription,
  type FollowerStatus,
  type RevisionRecord,
} from './revisions.js';

// What this subpath exported before the channel was shared with PostgreSQL (the rest of
// the channel's types are exported by `@batchflight/config`).
export type { ConfigRevision, FollowerStatus } from './revisions.js';
export { configChannels } from './follower.js';
export type {
  ConfigFollower,
  ConfigRevisionEvent,
  FollowerHealth,
  FollowOptions,
} from './follower.js';

/** Options of {@link RedisConfigChannel}. */
export interface RedisConfigChannelOptions extends ConfigChannelOptions {
  /** A connected ioredis client; followers subscribe on a duplicate of it. */
  readonly redis: Redis;
  /** Key prefix. Default `'batchflight:config'`. */
  readonly prefix?: string;
}

// KEYS[1] revision counter, KEYS[2] revisions hash; ARGV[1] record JSON, ARGV[2] channel.
const PUBLISH = `
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], n, ARGV[1])
redis.call('PUBLISH', ARGV[2], n)
return n`;

/** The revisions and process reports of one prefix in Redis. */
export class RedisFleetStore implements FleetStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly label: string;

  constructor(redis: Redis, prefix = 'batchflight:config') {
    this.#redis = redis;
    this.#prefix = prefix;
    this.label = `redis ${prefix}`;
  }

  get #channel(): string {
    return `${this.#prefix}:published`;
  }

  async append(record: RevisionRecord): Promise<number> {
    const revision = await this.#redis.eval(
      PUBLISH,
      2,
      `${this.#prefix}:revision`,
      `${this.#prefix}:revisions`,
      JSON.stringify(record),
      this.#channel,
    );
    return Number(revision);
  }

  async latest(): Promise<number> {
    return Number((await this.#redis.get(`${this.#prefix}:revision`)) ?? 0);
  }

  async read(revision: number): Promise<RevisionRecord | undefined> {
    const raw = await this.#redis.hget(`${this.#prefix}:revisions`, String(revision));
    return raw === null ? undefined : (JSON.parse(raw) as RevisionRecord);
  }

  async readAll(): Promise<ConfigRevision[]> {
    const all = await this.#redis.hgetall(`${this.#prefix}:revisions`);
    return Object.entries(all)
      .map(([n, raw]) => ({ revision: Number(n), ...(JSON.parse(raw) as RevisionRecord) }))
      .sort((a, b) => a.revision - b.revision);
  }

  async report(processId: string, status: FollowerStatus): Promise<void> {
    await this.#redis.hset(`${this.#prefix}:processes`, processId, JSON.stringify(status));
  }

  async reports(): Promise<Record<string, FollowerStatus>> {
    const all = await this.#redis.hgetall(`${this.#prefix}:processes`);
    return Object.fromEntries(
      Object.entries(all).map(([id, raw]) => [id, JSON.parse(raw) as FollowerStatus]),
    );
  }

  listen(
    onPublished: (revision: number) => void,
    onError: (error: unknown) => void,
  ): FleetSubscription {
    // A subscribed connection can run nothing else; ioredis resubscribes it after a reconnect.
    const subscriber = this.#redis.duplicate();
    subscriber.on('error', onError);
    subscriber.on('message', (_channel: string, revision: string) => {
      onPublished(Number(revision));
    });
    // Listening once subscribed, or once the connection failed (ioredis then keeps
    // reconnecting, subscribes once connected and again after every reconnect, and the
    // follower polls meanwhile).
    const listening = new Promise<void>((resolve) => {
      const done = (): void => {
        subscriber.off('error', done);
        resolve();
      };
      subscriber.once('error', done);
      subscriber.subscribe(this.#channel).then(done, (error: unknown) => {
        onError(error);
        done();
      });
    });
    return {
      listening,
      close: () => {
        subscriber.disconnect();
        return Promise.resolve();
      },
    };
  }
}

/**
 * `ConfigChannel` over Redis: `publish`, `rollback`, `history`, `status`, `processes` on
 * the coordinator, `follow` in every process.
 *
 * @example
 * ```ts
 * const fleet = new RedisConfigChannel({ redis });
 * const follower = fleet.follow(registry);             // in every process
 * await fleet.publish(text, { author: 'ops@example' }); // on the coordinator
 * ```
 */
export class RedisConfigChannel extends ConfigChannel {
  constructor(options: RedisConfigChannelOptions) {
    super(new RedisFleetStore(options.redis, options.prefix), options);
  }
}
