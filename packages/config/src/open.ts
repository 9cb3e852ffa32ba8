/**
 * The fleet channel of a store URL, for the command line and for services that take their
 * coordinator as one setting: `redis://…` (or `rediss://`) opens a `RedisConfigChannel`,
 * `postgres://…` (or `postgresql://`) a `PostgresConfigChannel`. The drivers are loaded
 * only for the store named, so ioredis and pg stay optional peers.
 */
import type { Clock } from 'batchflight/core';
import { ConfigError } from './errors.js';
import type { ConfigChannel } from './revisions.js';

/** Options of {@link openConfigChannel}. */
export interface OpenConfigChannelOptions {
  /**
   * The Redis key prefix or the PostgreSQL schema. Default `batchflight:config` in Redis,
   * `batchflight_config` in PostgreSQL.
   */
  readonly namespace?: string;
  /** Time of revisions, reports and staleness. Default the system clock. */
  readonly clock?: Clock;
  /**
   * Keep reconnecting to Redis after the connection is lost (a following service wants
   * that). False gives up after a few attempts (a command line that must exit). Default true.
   */
  readonly reconnect?: boolean;
}

/** An open channel and the connection it holds. */
export interface OpenedConfigChannel extends AsyncDisposable {
  readonly channel: ConfigChannel;
  /** `redis` or `postgres`. */
  readonly kind: 'redis' | 'postgres';
  /** Closes the connection the channel opened. Idempotent. */
  close(): Promise<void>;
}

/** The URL schemes {@link openConfigChannel} takes. */
export const STORE_SCHEMES = ['redis:', 'rediss:', 'postgres:', 'postgresql:'] as const;

/**
 * Opens the fleet channel of `url`.
 *
 * @throws ConfigError when the URL is not one of {@link STORE_SCHEMES}.
 * @example
 * ```ts
 * await using store = await openConfigChannel('redis://127.0.0.1:6379');
 * await store.channel.publish(text, { source: 'fleet.yaml' });
 * ```
 */
export async function openConfigChannel(
  url: string,
  options: OpenConfigChannelOptions = {},
): Promise<OpenedConfigChannel> {
  let scheme: string | undefined;
  try {
    scheme = new URL(url).protocol;
  } catch {
    scheme = undefined;
  }
  const clock = options.clock === undefined ? {} : { clock: options.clock };
  if (scheme === 'redis:' || scheme === 'rediss:') {
    const [{ Redis }, { RedisConfigChannel }] = await Promise.all([
      import('ioredis'),
      import('./redis.js'),
    ]);
    // A command fails fast while the server is down (the follower polls again); the
    // connection comes back by itself unless asked not to.
    const reconnect = options.reconnect ?? true;
    const redis = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (attempt) =>
        reconnect ? Math.min(200 * attempt, 2_000) : attempt > 3 ? null : 200 * attempt,
    });
    redis.on('error', () => undefined); // each failed command says why
    let closed = false;
    const close = (): Promise<void> => {
      if (!closed) {
        closed = true;
        redis.disconnect();
      }
      return Promise.resolve();
    };
    if (reconnect) {
      // A service may start while the store is down: it follows once the store is back.
      redis.connect().catch(() => undefined);
    } else {
      try {
        await redis.connect();
      } catch (error) {
        redis.disconnect();
        throw error;
      }
    }
    const channel = new RedisConfigChannel({
      redis,
      ...(options.namespace === undefined ? {} : { prefix: options.namespace }),
      ...clock,
    });
    return { channel, kind: 'redis', close, [Symbol.asyncDispose]: close };
  }
  if (scheme === 'postgres:' || scheme === 'postgresql:') {
    const { PostgresConfigChannel } = await import('./postgres.js');
    const channel = new PostgresConfigChannel({
      connectionString: url,
      ...(options.namespace === undefined ? {} : { schema: options.namespace }),
      ...clock,
    });
    const close = (): Promise<void> => channel.close();
    return { channel, kind: 'postgres', close, [Symbol.asyncDispose]: close };
  }
  throw new ConfigError('--store', [
    {
      path: '',
      value: url,
      expected: `a URL starting with ${STORE_SCHEMES.map((s) => `${s}//`).join(', ')}`,
    },
  ]);
}
