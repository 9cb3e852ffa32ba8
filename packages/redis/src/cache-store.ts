/**
 * The Redis {@link CacheStore}: entries in hashes that expire at their
 * `staleUntil` (`PEXPIREAT`, the server's clock), tags in sets, one round
 * trip per operation (one `HMGET` or one Lua script).
 *
 * Values go through a {@link Codec} (the strict {@link jsonCodec} by
 * default: a value JSON cannot carry exactly makes `set` throw a
 * `CodecError`, which the cache layer reports through `onError` without
 * failing the read). A negative entry's error is carried as its `name`,
 * `message` and `code` and read back as a `RemoteError`.
 *
 * Every delete, tag invalidation and clear is also published on the store's
 * invalidation channel (in the same script as the delete, so no process can
 * see the delete without the message being sent): {@link tieredStore} uses
 * it to drop the L1 copies of every process.
 */
import { randomUUID } from 'node:crypto';
import {
  type CacheEntry,
  type CacheInvalidation,
  type CacheStore,
  type Clock,
  ClosedError,
  type Codec,
  type Subscription,
  jsonCodec,
  systemClock,
} from 'batchflight';
import { Listeners, describe, errorFromShape, errorShape, knownOptions } from 'batchflight/kit';
import { CommandDeadline, commandTimeoutOption } from './deadline.js';
import { type RedisClient, clientOption, isReady, prefixOption } from './options.js';
import { LuaScript } from './script.js';
import {
  CACHE_CLEAR_STEP,
  CACHE_DELETE,
  CACHE_INVALIDATE_TAGS,
  CACHE_SET,
} from './scripts/cache.js';

const WHERE = 'RedisCacheStore';
const SET = new LuaScript('cache-set', CACHE_SET);
const DELETE = new LuaScript('cache-delete', CACHE_DELETE);
const INVALIDATE_TAGS = new LuaScript('cache-invalidate-tags', CACHE_INVALIDATE_TAGS);
const CLEAR_STEP = new LuaScript('cache-clear-step', CACHE_CLEAR_STEP);

/** Options of {@link RedisCacheStore}. */
export interface RedisCacheStoreOptions {
  /** The ioredis client (the store never closes it). */
  readonly client: RedisClient;
  /**
   * Prefix of every key: entries are `<prefix>{cache}:e:<key>`. The hash tag
   * keeps one store in one Cluster slot (tag invalidation is one script).
   * Default `batchflight:`.
   */
  readonly prefix?: string | undefined;
  /** Encodes values. Default: the strict {@link jsonCodec}. */
  readonly codec?: Codec | undefined;
  /**
   * Longest wait for Redis of each call, in ms (> 0). Past it the call
   * rejects with a `RedisUnavailableError` (a cache answers that read as a
   * miss). Default 1000. A call made while the client is not connected
   * (`reconnecting`, `close`, `end`) is refused at once, unsent.
   */
  readonly commandTimeoutMs?: number | undefined;
  /** Clock of the command deadline. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

interface Wire {
  readonly o: string;
  readonly k?: string;
  readonly t?: readonly string[];
  readonly c?: 1;
  readonly n?: string;
  readonly v?: string | number;
}

/**
 * A {@link CacheStore} on Redis; see the module comment.
 *
 * @example
 * ```ts
 * const l2 = new RedisCacheStore({ client: new Redis(url), prefix: 'app:' });
 * const users = cache({ ttlMs: 60_000, store: tieredStore(new MemoryCacheStore({ maxEntries: 10_000 }), l2) });
 * ```
 */
export class RedisCacheStore implements CacheStore, AsyncDisposable {
  readonly #client: RedisClient;
  readonly #entryPrefix: string;
  readonly #tagPrefix: string;
  readonly #pattern: string;
  readonly #channel: string;
  readonly #codec: Codec;
  /** Tells this process's own messages apart from the others'. */
  readonly #origin = randomUUID();
  readonly #listeners = new Listeners<CacheInvalidation>();
  readonly #deadline: CommandDeadline;
  #subscriber: RedisClient | undefined;
  /** The subscription is active now. */
  #live = false;
  /** It has been active before (the next activation is a resync). */
  #wasLive = false;
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(options: RedisCacheStoreOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, ['client', 'prefix', 'codec', 'commandTimeoutMs', 'clock']);
    this.#client = clientOption(WHERE, options.client);
    this.#deadline = new CommandDeadline(
      WHERE,
      commandTimeoutOption(WHERE, options.commandTimeoutMs),
      options.clock ?? systemClock,
    );
    const base = `${prefixOption(WHERE, options.prefix)}{cache}:`;
    this.#entryPrefix = `${base}e:`;
    this.#tagPrefix = `${base}t:`;
    this.#pattern = `${base.replace(/[*?[\]\\]/g, '\\$&')}*`;
    this.#channel = `${base}invalidate`;
    const codec = options.codec ?? jsonCodec;
    if (typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
      throw new TypeError(
        `${WHERE}: option codec must have encode(value) => string and decode(text) => value, got ${describe(codec)}.`,
      );
    }
    this.#codec = codec;
  }

  /** One `HMGET`. */
  async get(key: string): Promise<CacheEntry | undefined> {
    const [data, tags] = await this.#call('get', () =>
      this.#client.hmget(this.#entryPrefix + key, 'd', 't'),
    );
    if (data === null || data === undefined) return undefined;
    return this.#decode(data, tags ?? null);
  }

  /**
   * The entries of `keys`, in their order (`undefined` where there is none):
   * one pipelined `HMGET` per key, one round trip. Every key of a store
   * shares its hash tag, so on a Cluster the pipeline goes to one master.
   */
  async getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]> {
    if (keys.length === 0) return [];
    const replies = await this.#call('getMany', () => {
      const pipeline = this.#client.pipeline();
      for (const key of keys) pipeline.hmget(this.#entryPrefix + key, 'd', 't');
      return pipeline.exec();
    });
    if (replies === null) throw this.#deadline.wrap('getMany', new Error('pipeline discarded'));
    return replies.map(([error, reply]) => {
      if (error !== null) throw this.#deadline.wrap('getMany', error);
      const [data, tags] = reply as [string | null, string | null];
      return data === null ? undefined : this.#decode(data, tags);
    });
  }

  /** One script: replaces the entry and its tag memberships; expires at `staleUntil`. */
  async set(key: string, entry: CacheEntry): Promise<void> {
    const data = this.#encode(entry);
    const tags = entry.tags ?? [];
    await this.#call('set', () =>
      SET.run(
        this.#client,
        [this.#entryPrefix + key],
        [data, String(Math.ceil(entry.staleUntil)), this.#tagPrefix, ...new Set<string>(tags)],
      ),
    );
  }

  /** One script: removes the entry and publishes the invalidation. */
  async delete(key: string): Promise<boolean> {
    const removed = await this.#call('delete', () =>
      DELETE.run(
        this.#client,
        [this.#entryPrefix + key],
        [this.#tagPrefix, this.#channel, this.#wire({ k: key })],
      ),
    );
    return removed === 1;
  }

  /** One script: removes every entry carrying any of `tags`, publishes the invalidation. */
  async invalidateTags(tags: readonly string[]): Promise<number> {
    if (tags.length === 0) return 0;
    const removed = await this.#call('invalidateTags', () =>
      INVALIDATE_TAGS.run(
        this.#client,
        [this.#tagPrefix + (tags[0] as string)],
        [this.#tagPrefix, this.#channel, this.#wire({ t: tags }), ...tags],
      ),
    );
    return removed as number;
  }

  /**
   * Removes every key of this store, then publishes the invalidation: a
   * `SCAN` + `UNLINK` script step per round trip, run on the node that
   * holds the store's hash slot (on a Cluster, that slot's master alone:
   * the other masters hold none of the store's keys). Each step has its own
   * `commandTimeoutMs`.
   */
  async clear(): Promise<void> {
    const route = [this.#entryPrefix];
    const message = this.#wire({ c: 1 });
    let cursor = '0';
    do {
      const at = cursor;
      cursor = String(
        await this.#call('clear', () =>
          CLEAR_STEP.run(this.#client, route, [at, this.#pattern, '1000', this.#channel, message]),
        ),
      );
    } while (cursor !== '0');
  }

  /**
   * Tells every process to switch `namespace` to `version` (see
   * {@link tieredStore}'s `onVersion`): a version bump fleet-wide.
   */
  async publishVersion(namespace: string, version: string | number): Promise<void> {
    await this.#call('publishVersion', () =>
      this.#client.publish(this.#channel, this.#wire({ n: namespace, v: version })),
    );
  }

  /**
   * Listens to the invalidations published by the OTHER processes (this
   * process's own are applied locally already), on a connection of its own
   * (`client.duplicate()`, opened on first use and closed by {@link close}).
   * Resolves once the subscription is active. After a reconnect the
   * listener gets `{ kind: 'resync' }` because messages may have been lost
   * (once subscribed again: nothing published after it is lost).
   *
   * When the subscription is not active within `commandTimeoutMs` (or the
   * client is not connected), rejects with a `RedisUnavailableError` and
   * the listener is removed; the connection keeps trying, so a later call
   * can succeed. After {@link close}, rejects with a `ClosedError`.
   */
  async onInvalidation(listener: (event: CacheInvalidation) => void): Promise<Subscription> {
    if (this.#closed) {
      throw new ClosedError(`${WHERE}.onInvalidation(): the store is closed.`);
    }
    const subscription = this.#listeners.add(listener);
    this.#ensureSubscriber();
    try {
      if (!isReady(this.#client))
        throw this.#deadline.notReady('onInvalidation', this.#client.status);
      await this.#whenLive();
    } catch (error) {
      subscription.dispose();
      throw error;
    }
    return subscription;
  }

  /**
   * Closes the subscriber connection this store opened (never the client,
   * which stays the caller's). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }
  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Sends one call if the client is connected, bounded by `commandTimeoutMs`. */
  #call<T>(what: string, send: () => Promise<T>): Promise<T> {
    return this.#deadline.call(this.#client, what, send);
  }

  /**
   * Opens the subscriber connection once. Every time it becomes ready (the
   * first connection, and each reconnect) it subscribes: ioredis emits
   * `ready` having sent its own resubscription but before the server has
   * answered it, and replies on one connection come in order, so the answer
   * to this SUBSCRIBE proves the subscription live. A resync is announced
   * on every live subscription after the first (messages may have been
   * missed in between).
   */
  #ensureSubscriber(): void {
    if (this.#subscriber !== undefined || this.#closed) return;
    // On a Cluster, duplicate() is a Cluster whose subscribe() listens on one
    // node; a PUBLISH on any master reaches every node's subscribers.
    const subscriber = this.#client.duplicate();
    this.#subscriber = subscriber;
    subscriber.on('error', () => undefined); // reconnection is ioredis's; errors surface as resync
    subscriber.on('close', () => {
      this.#live = false;
    });
    subscriber.on('ready', () => {
      subscriber.subscribe(this.#channel).then(
        () => {
          if (this.#subscriber !== subscriber) return;
          const again = this.#wasLive;
          this.#wasLive = true;
          this.#live = true;
          for (const wake of [...this.#waiters]) wake();
          this.#waiters.clear();
          if (again) this.#listeners.emit({ kind: 'resync' });
        },
        () => undefined, // dropped again (or closed): the next 'ready' subscribes
      );
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const event = this.#parse(message);
      if (event !== undefined) this.#listeners.emit(event);
    });
    // A lazyConnect client's copy is lazy too: nothing would ever connect it.
    if (subscriber.status === 'wait') subscriber.connect().catch(() => undefined);
  }

  /** Resolves once subscribed, or rejects after `commandTimeoutMs`. */
  #whenLive(): Promise<void> {
    if (this.#live) return Promise.resolve();
    let wake: (() => void) | undefined;
    const live = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const waiter = wake as () => void;
    this.#waiters.add(waiter);
    return this.#deadline.bound('onInvalidation', live).finally(() => {
      this.#waiters.delete(waiter);
    });
  }

  #wire(fields: Omit<Wire, 'o'>): string {
    return JSON.stringify({ o: this.#origin, ...fields });
  }

  #parse(message: string): CacheInvalidation | undefined {
    let wire: Wire;
    try {
      wire = JSON.parse(message) as Wire;
    } catch {
      return undefined;
    }
    if (wire.o === this.#origin) return undefined;
    if (wire.k !== undefined) return { kind: 'key', key: wire.k };
    if (wire.t !== undefined) return { kind: 'tags', tags: wire.t };
    if (wire.c === 1) return { kind: 'clear' };
    if (wire.n !== undefined && wire.v !== undefined) {
      return { kind: 'version', namespace: wire.n, version: wire.v };
    }
    return undefined;
  }

  #encode(entry: CacheEntry): string {
    const value =
      entry.error === true
        ? JSON.stringify(errorShape(entry.value))
        : this.#codec.encode(entry.value);
    // A fixed header then the value: the header is never parsed by the codec.
    const head = `${String(entry.expiresAt)},${String(entry.staleUntil)},${String(entry.computeMs)},${entry.error === true ? '1' : '0'}`;
    return `${head}\n${value}`;
  }

  #decode(data: string, tags: string | null): CacheEntry {
    const nl = data.indexOf('\n');
    const [expiresAt, staleUntil, computeMs, error] = data.slice(0, nl).split(',');
    const body = data.slice(nl + 1);
    const isError = error === '1';
    return {
      value: isError ? errorFromShape(JSON.parse(body)) : this.#codec.decode(body),
      ...(isError ? { error: true as const } : {}),
      expiresAt: Number(expiresAt),
      staleUntil: Number(staleUntil),
      computeMs: Number(computeMs),
      ...(tags === null ? {} : { tags: JSON.parse(tags) as string[] }),
    };
  }
}
