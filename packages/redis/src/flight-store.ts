/**
 * The Redis {@link FlightStore}: a lease per key (`SET PX` under a fencing
 * counter, in one script), outcomes stored briefly, and one pub/sub channel
 * per store on which completions travel with their outcome, so a waiting
 * process pays no round trip to learn the result.
 *
 * The subscriber is a connection of its own (`client.duplicate()`), opened
 * on the first `watch`. ioredis reconnects and resubscribes it; because
 * messages published meanwhile are lost, every watcher is then told
 * `resync` and claims again (the stored outcome answers it), once the
 * channel is subscribed again, so nothing published after that claim is lost.
 *
 * Every call to Redis is bounded by `commandTimeoutMs` (default 1000 ms) and
 * refused at once while the client is not connected, as a
 * `RedisUnavailableError`, which {@link RedisFlightStore.unavailable} reports
 * as an outage: a `DistributedFlight` (`batchflight/singleflight`) then runs
 * locally (or fails, with `onUnavailable: 'fail'`) within that bound. {@link close}
 * closes the subscriber connection, and none is opened after it.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  ClosedError,
  type Clock,
  type FlightClaim,
  type FlightEvent,
  type FlightLease,
  type FlightStore,
  type FlightWatch,
  systemClock,
} from 'batchflight';
import { FlightWatchers, describe, knownOptions } from 'batchflight/kit';
import type { Cluster, Redis } from 'ioredis';
import { CommandDeadline, commandTimeoutOption } from './deadline.js';
import {
  type RedisClient,
  clientOption,
  isReady,
  isUnavailable,
  onResubscribed,
  prefixOption,
} from './options.js';
import { LuaScript } from './script.js';
import { FLIGHT_CLAIM, FLIGHT_COMPLETE, FLIGHT_EXTEND, FLIGHT_RELEASE } from './scripts/flight.js';

const WHERE = 'RedisFlightStore';
const CLAIM = new LuaScript('flight-claim', FLIGHT_CLAIM);
const EXTEND = new LuaScript('flight-extend', FLIGHT_EXTEND);
const COMPLETE = new LuaScript('flight-complete', FLIGHT_COMPLETE);
const RELEASE = new LuaScript('flight-release', FLIGHT_RELEASE);

/** Options of {@link RedisFlightStore}. */
export interface RedisFlightStoreOptions {
  /** The ioredis client for commands (the store never closes it). */
  readonly client: RedisClient;
  /** Prefix of every key and of the channel. Default `batchflight:`. */
  readonly prefix?: string | undefined;
  /** `CLIENT SETNAME` of the subscriber connection (to find it in `CLIENT LIST`). */
  readonly subscriberName?: string | undefined;
  /**
   * Longest wait for Redis of each call (claim, extend, complete, release,
   * and the subscription a first `watch` makes), in ms (> 0). Past it the
   * call rejects with a `RedisUnavailableError`. Default 1000. A call made
   * while the client is not connected (`reconnecting`, `close`, `end`) is
   * refused at once, unsent.
   */
  readonly commandTimeoutMs?: number | undefined;
  /** Clock of the command deadline. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

type Listener = (event: FlightEvent) => void;

/**
 * A {@link FlightStore} on Redis; see the module comment.
 *
 * @example
 * ```ts
 * import { DistributedFlight } from 'batchflight/singleflight';
 * const flights = new DistributedFlight({ store: new RedisFlightStore({ client: redis }) });
 * const config = await flights.run('config', () => fetchConfig());
 * ```
 */
export class RedisFlightStore implements FlightStore, AsyncDisposable {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #nonce = randomUUID();
  readonly #subscriberName: string | undefined;
  readonly #watchers = new FlightWatchers();
  #subscriber: RedisClient | undefined;
  #subscribing: Promise<void> | undefined;
  readonly #deadline: CommandDeadline;
  #closed = false;

  constructor(options: RedisFlightStoreOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, [
      'client',
      'prefix',
      'subscriberName',
      'commandTimeoutMs',
      'clock',
    ]);
    this.#client = clientOption(WHERE, options.client);
    this.#deadline = new CommandDeadline(
      WHERE,
      commandTimeoutOption(WHERE, options.commandTimeoutMs),
      options.clock ?? systemClock,
    );
    this.#prefix = prefixOption(WHERE, options.prefix);
    this.#channel = `${this.#prefix}flight`;
    this.#subscriberName = options.subscriberName;
  }

  /**
   * Local registration; the first one opens and subscribes the subscriber
   * connection (bounded by `commandTimeoutMs`; on failure the connection is
   * closed and the next `watch` tries again). After {@link close}, rejects
   * with a `ClosedError`.
   */
  async watch(key: string, listener: Listener): Promise<FlightWatch> {
    if (this.#closed) throw new ClosedError(`${WHERE}.watch(): the store is closed.`);
    const watch = this.#watchers.add(key, listener);
    try {
      await this.#subscribe();
    } catch (error) {
      watch.dispose();
      throw error;
    }
    return watch;
  }

  /** One script. */
  async claim(key: string, leaseMs: number): Promise<FlightClaim> {
    const reply = (await this.#deadline.call(this.#client, 'claim', () =>
      CLAIM.run(this.#client, this.#keys(key, true), [this.#nonce, String(Math.ceil(leaseMs))]),
    )) as [string, string | number, number?];
    const [kind, a, b] = reply;
    if (kind === 'd') return { kind: 'done', outcome: String(a) };
    if (kind === 'l') return { kind: 'leader', lease: { key, token: String(a), fence: Number(b) } };
    return { kind: 'held', leaseRemainingMs: Number(a) };
  }

  /** One script; false when the lease is no longer ours. */
  async extend(lease: FlightLease, leaseMs: number): Promise<boolean> {
    const [leaseKey] = this.#keys(lease.key, false);
    const reply = await this.#deadline.call(this.#client, 'extend', () =>
      EXTEND.run(this.#client, [leaseKey as string], [lease.token, String(Math.ceil(leaseMs))]),
    );
    return reply === 1;
  }

  /** One script: stores the outcome, frees the lease and publishes the outcome. */
  async complete(lease: FlightLease, outcome: string, resultTtlMs: number): Promise<boolean> {
    const reply = await this.#deadline.call(this.#client, 'complete', () =>
      COMPLETE.run(this.#client, this.#keys(lease.key, false), [
        lease.token,
        outcome,
        String(Math.max(1, Math.ceil(resultTtlMs))),
        this.#channel,
        head('d', lease.key),
      ]),
    );
    return reply === 1;
  }

  /** One script: frees the lease and publishes the release. */
  async release(lease: FlightLease): Promise<boolean> {
    const [leaseKey] = this.#keys(lease.key, false);
    const reply = await this.#deadline.call(this.#client, 'release', () =>
      RELEASE.run(
        this.#client,
        [leaseKey as string],
        [lease.token, this.#channel, head('r', lease.key)],
      ),
    );
    return reply === 1;
  }

  /**
   * How this store reports that Redis could not be reached: every call
   * rejects with a `RedisUnavailableError` then (past `commandTimeoutMs`, or
   * at once while the client is not connected), which is the outage; an
   * error reply of the server (a `ReplyError`) is not one and reaches the
   * caller as it is.
   */
  unavailable(error: unknown): Error | undefined {
    // Every outage of the calls above arrives as a RedisUnavailableError already (the deadline
    // wraps them); anything else but a server's reply, such as a subscriber connection that could
    // not be opened, is one too, and is reported the same way.
    return isUnavailable(error) ? (this.#deadline.wrap('watch', error) as Error) : undefined;
  }

  /**
   * Closes the subscriber connection (not the client, which stays the
   * caller's) and opens none after: `watch` then rejects with a
   * `ClosedError`. Claims, extensions and completions still go through the
   * client, so flights already running finish. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    this.#watchers.clear();
  }
  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #keys(key: string, withFence: boolean): string[] {
    // The hash tag is the key itself unless it would end early at a '}' or be empty.
    const tag =
      key.length > 0 && !key.includes('}') ? key : createHash('sha1').update(key).digest('hex');
    const base = `${this.#prefix}{f:${tag}}:`;
    return withFence
      ? [`${base}lease`, `${base}result`, `${base}fence`]
      : [`${base}lease`, `${base}result`];
  }

  #subscribe(): Promise<void> {
    if (this.#subscribing !== undefined) return this.#subscribing;
    if (!isReady(this.#client)) {
      // Not connected: a new connection would only wait too. Refused at once, none opened.
      return Promise.reject(this.#deadline.notReady('watch', this.#client.status));
    }
    const subscriber = duplicate(this.#client, this.#subscriberName);
    this.#subscriber = subscriber;
    subscriber.on('error', () => undefined); // ioredis reconnects; watchers get 'resync'
    onResubscribed(subscriber, this.#channel, () => {
      this.#watchers.broadcast({ kind: 'resync' });
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#dispatch(message);
    });
    const subscribing = this.#deadline.bound('watch', subscriber.subscribe(this.#channel)).then(
      () => {
        // Closed while subscribing: close() found no connection to close yet, or a later one.
        if (this.#closed) subscriber.disconnect();
      },
      (error: unknown) => {
        // The next watch starts over with a connection of its own: do not leak this one.
        subscriber.disconnect();
        if (this.#subscriber === subscriber) this.#subscriber = undefined;
        if (this.#subscribing === subscribing) this.#subscribing = undefined;
        throw error;
      },
    );
    this.#subscribing = subscribing;
    return this.#subscribing;
  }

  #dispatch(message: string): void {
    const colon = message.indexOf(':');
    const length = Number(message.slice(1, colon));
    const key = message.slice(colon + 1, colon + 1 + length);
    const event: FlightEvent =
      message[0] === 'd'
        ? { kind: 'done', outcome: message.slice(colon + 1 + length) }
        : { kind: 'released' };
    this.#watchers.notify(key, event);
  }
}

/**
 * A connection of its own for SUBSCRIBE, named `name`. A Cluster's copy is a
 * Cluster (its subscribe() listens on one node; a PUBLISH on any master
 * reaches every node's subscribers), and it takes the connection name
 * through `redisOptions`, its first argument being the startup nodes.
 */
function duplicate(client: RedisClient, name: string | undefined): RedisClient {
  if (name === undefined) return client.duplicate();
  if (client.isCluster) {
    const cluster = client as Cluster;
    return cluster.duplicate([], {
      redisOptions: { ...cluster.options.redisOptions, connectionName: name },
    });
  }
  return (client as Redis).duplicate({ connectionName: name });
}

function head(type: 'd' | 'r', key: string): string {
  return `${type}${String(key.length)}:${key}`;
}
