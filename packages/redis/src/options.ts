/** Option helpers shared by the stores of this package. */
import { InvalidOptionError } from 'batchflight';
import { describe } from 'batchflight/kit';
import type { Cluster, Redis } from 'ioredis';

/** An ioredis client: a single node (`Redis`) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Validates the `client` option: an ioredis client (duck-typed, two installed copies may differ). */
export function clientOption(where: string, value: unknown): RedisClient {
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { evalsha?: unknown }).evalsha !== 'function' ||
    typeof (value as { duplicate?: unknown }).duplicate !== 'function'
  ) {
    throw new InvalidOptionError(
      'client',
      `${where}: option client must be an ioredis client (new Redis(url) or new Cluster(nodes)), got ${describe(value)}.`,
    );
  }
  return value as RedisClient;
}

/** Validates the `prefix` option: a string, default `batchflight:`. */
export function prefixOption(where: string, value: unknown): string {
  if (value === undefined) return 'batchflight:';
  if (typeof value !== 'string') {
    throw new InvalidOptionError(
      'prefix',
      `${where}: option prefix must be a string (every key of the store starts with it), got ${describe(value)}.`,
    );
  }
  return value;
}

/**
 * True when a Redis error means "the server could not be reached or did not
 * answer" rather than "the server answered with an error". ioredis reports
 * server answers as `ReplyError`; everything else (closed connection, offline
 * queue disabled, `commandTimeout`, retries exhausted) is unavailability.
 */
export function isUnavailable(error: unknown): boolean {
  return !(error instanceof Error && error.name === 'ReplyError');
}

/**
 * False when the client lost its connection (`reconnecting`, `close`, `end`):
 * a command would wait in the offline queue, so the caller answers from its
 * fallback at once. A client still making its first connection is given the
 * chance to finish it (the command fails fast if it cannot).
 */
export function isReady(client: RedisClient): boolean {
  const status = client.status;
  return status !== 'reconnecting' && status !== 'close' && status !== 'end';
}

/**
 * Calls `resync` after every reconnect of `subscriber` (not its first
 * connection), once `channel` is subscribed again: from then on nothing
 * published on it is missed, so whatever the listeners re-read is current.
 *
 * ioredis emits `ready` having sent its resubscription but before the server
 * has answered it; a resync on `ready` would let a listener re-read state
 * and then miss a message published before the subscription is live (a lost
 * wake-up). So a SUBSCRIBE of our own follows: replies on one connection come
 * in order, so its answer proves the subscription live.
 */
export function onResubscribed(subscriber: RedisClient, channel: string, resync: () => void): void {
  let connectedOnce = false;
  subscriber.on('ready', () => {
    if (!connectedOnce) {
      connectedOnce = true;
      return;
    }
    subscriber.subscribe(channel).then(
      () => {
        resync();
      },
      () => undefined, // dropped again (or closed): the next 'ready' resyncs
    );
  });
}
