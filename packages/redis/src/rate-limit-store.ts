/**
 * The Redis {@link RateLimitStore}: GCRA in one Lua script per acquisition,
 * on the server's clock, all-or-nothing across several limits, one round trip.
 *
 * When Redis cannot be reached the store does not let traffic through
 * unbounded. `onUnavailable` decides:
 *
 * - `'fail-closed'` (default): every acquisition is refused with
 *   `retryAfterMs = unavailableRetryMs`, so callers that queue retry later.
 * - `'local'`: each process admits `rate / expectedInstances` with a burst of
 *   `burst / expectedInstances` (at least 1) in an in-process GCRA, so the
 *   fleet as a whole stays within the limit while Redis is away.
 *
 * "Unreachable" means the client is not connected (`status !== 'ready'`, the
 * decision is immediate, no command is queued) or a command failed without a
 * server reply (closed connection, `commandTimeout`). An error answered by
 * the server (a bad argument) is thrown, not masked by the fallback.
 */
import {
  type Clock,
  InvalidOptionError,
  Listeners,
  MemoryRateLimitStore,
  type RateLimitDecision,
  type RateLimitRequest,
  type RateLimitRule,
  type RateLimitStore,
  type Subscription,
  describe,
  eventChannel,
  integerOption,
  knownOptions,
  numberOption,
  oneOfOption,
  systemClock,
} from 'batchflight';
import { RedisUnavailableError } from './errors.js';
import { type RedisClient, clientOption, isReady, isUnavailable, prefixOption } from './options.js';
import { LuaScript } from './script.js';
import { GCRA_ACQUIRE } from './scripts/gcra-acquire.js';

const WHERE = 'RedisRateLimitStore';
/** An integer of the reply: a string when the client sets `stringNumbers`. */
type Num = number | string;
const ACQUIRE = new LuaScript('gcra-acquire', GCRA_ACQUIRE);

/** Options of {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions {
  /** The ioredis client (the store never closes it). */
  readonly client: RedisClient;
  /**
   * Prefix of every key. Keys are `<prefix>{rl}:<rule key>`: the hash tag
   * puts every limit of one store in one Cluster slot, so several limits can
   * be charged atomically in one script. Default `batchflight:`.
   */
  readonly prefix?: string | undefined;
  /** What to do when Redis is unreachable (see the module comment). Default `'fail-closed'`. */
  readonly onUnavailable?: 'local' | 'fail-closed' | undefined;
  /** How many processes share the limits; required with `onUnavailable: 'local'`. */
  readonly expectedInstances?: number | undefined;
  /** `retryAfterMs` of a fail-closed refusal, in milliseconds. Default 1000. */
  readonly unavailableRetryMs?: number | undefined;
  /** Clock of the local fallback GCRA. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/** Payload of {@link RedisRateLimitStore.onUnavailable}. */
export interface RateLimitUnavailableEvent {
  /** What failed: the client was not connected, or a command failed. */
  readonly error: unknown;
  /** The fallback that answered. */
  readonly fallback: 'local' | 'fail-closed';
}

/** The diagnostics channels of the Redis rate-limit store (`batchflight:redis:<event>`). */
export const redisRateLimitChannels = {
  /** An acquisition fell back because Redis was unreachable: {@link RateLimitUnavailableEvent}. */
  unavailable: eventChannel<RateLimitUnavailableEvent>('redis', 'rate-limit-unavailable'),
} as const;

/** Counters of {@link RedisRateLimitStore.stats}. */
export interface RedisRateLimitStoreStats {
  /** Acquisitions answered by Redis. */
  readonly remote: number;
  /** Acquisitions answered by the fallback because Redis was unreachable. */
  readonly fallback: number;
}

/**
 * A {@link RateLimitStore} on Redis.
 *
 * @example
 * ```ts
 * const store = new RedisRateLimitStore({ client: new Redis(url), onUnavailable: 'local', expectedInstances: 4 });
 * const limiter = rateLimit({ limits: [{ rate: 20, per: 'second' }, { rate: 1000, per: 'minute' }], store });
 * ```
 */
export class RedisRateLimitStore implements RateLimitStore, AsyncDisposable {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #mode: 'local' | 'fail-closed';
  readonly #instances: number;
  readonly #retryMs: number;
  readonly #local: MemoryRateLimitStore;
  readonly #onUnavailable = new Listeners<RateLimitUnavailableEvent>();
  #remote = 0;
  #fallback = 0;

  constructor(options: RedisRateLimitStoreOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, [
      'client',
      'prefix',
      'onUnavailable',
      'expectedInstances',
      'unavailableRetryMs',
      'clock',
    ]);
    this.#client = clientOption(WHERE, options.client);
    this.#prefix = `${prefixOption(WHERE, options.prefix)}{rl}:`;
    this.#mode = oneOfOption(WHERE, 'onUnavailable', options.onUnavailable ?? 'fail-closed', [
      'local',
      'fail-closed',
    ]);
    if (this.#mode === 'local' && options.expectedInstances === undefined) {
      throw new InvalidOptionError(
        'expectedInstances',
        `${WHERE}: onUnavailable 'local' needs expectedInstances (how many processes share the limits, an integer >= 1), so each can take its share; got undefined.`,
      );
    }
    this.#instances = integerOption(WHERE, 'expectedInstances', options.expectedInstances ?? 1);
    this.#retryMs = numberOption(WHERE, 'unavailableRetryMs', options.unavailableRetryMs ?? 1000);
    this.#local = new MemoryRateLimitStore({ clock: options.clock ?? systemClock });
  }

  /** Checks and charges `request` in one `EVALSHA`; see the module comment for outages. */
  acquire(request: RateLimitRequest): Promise<RateLimitDecision> {
    // Not async: the reply is decoded in the `.then` of the EVALSHA promise
    // itself, one promise per acquisition (an async function would add its
    // own and an await).
    const { rules, cost } = request;
    const n = rules.length;
    if (n === 0) {
      return Promise.reject(
        new InvalidOptionError(
          'rules',
          `${WHERE}.acquire(): rules must name at least one limit, got ${describe(rules)}.`,
        ),
      );
    }
    if (!isReady(this.#client)) {
      return Promise.resolve(
        this.#unavailable(
          request,
          new RedisUnavailableError(`${WHERE}: the Redis client is ${this.#client.status}.`),
        ),
      );
    }
    const now = request.now === undefined ? '' : String(request.now);
    let flat: string[];
    if (n === 1) {
      // The common case: one flat array literal, no pushes.
      const [rule] = rules as readonly [RateLimitRule];
      flat = [
        this.#prefix + rule.key,
        String(cost),
        now,
        String(rule.rate),
        String(rule.perMs),
        String(rule.burst),
      ];
    } else {
      // KEYS first, then ARGV: cost, now, and rate/perMs/burst per rule.
      flat = new Array<string>(n + 2 + 3 * n);
      flat[n] = String(cost);
      flat[n + 1] = now;
      let i = 0;
      for (const rule of rules) {
        flat[i] = this.#prefix + rule.key;
        const at = n + 2 + 3 * i;
        flat[at] = String(rule.rate);
        flat[at + 1] = String(rule.perMs);
        flat[at + 2] = String(rule.burst);
        i++;
      }
    }
    return ACQUIRE.send(this.#client, n, flat).then(this.#decode, (error: unknown) =>
      this.#failed(error, request, n, flat, false),
    );
  }

  /** After a failed EVALSHA: reload once on `NOSCRIPT`, fall back when unreachable, else rethrow. */
  #failed(
    error: unknown,
    request: RateLimitRequest,
    n: number,
    flat: readonly string[],
    retried: boolean,
  ): RateLimitDecision | Promise<RateLimitDecision> {
    if (!retried && LuaScript.isNoScript(error)) {
      return ACQUIRE.retry(this.#client, n, flat).then(this.#decode, (again: unknown) =>
        this.#failed(again, request, n, flat, true),
      );
    }
    if (isUnavailable(error)) return this.#unavailable(request, error);
    throw error;
  }

  // An arrow in a field: passed to `.then` without a bind per call.
  readonly #decode = (reply: unknown): RateLimitDecision => {
    this.#remote++;
    // Integers; durations in nanoseconds (see the script's header). Number()
    // also covers a client configured with `stringNumbers`.
    const r = reply as readonly [Num, Num, Num, Num, Num];
    return {
      allowed: Number(r[0]) === 1,
      retryAfterMs: Number(r[1]) / 1e6,
      remaining: Number(r[2]),
      resetAfterMs: Number(r[3]) / 1e6,
      limitedBy: Number(r[4]),
    };
  };

  /** Forgets the state of `keys` (one `DEL`). */
  async reset(keys: readonly string[]): Promise<void> {
    this.#local.reset(keys);
    if (keys.length === 0) return;
    await this.#client.del(...keys.map((k) => this.#prefix + k));
  }

  /** Called when an acquisition falls back because Redis is unreachable. */
  onUnavailable(listener: (event: RateLimitUnavailableEvent) => void): Subscription {
    return this.#onUnavailable.add(listener);
  }

  /** Counters since construction. */
  stats(): RedisRateLimitStoreStats {
    return { remote: this.#remote, fallback: this.#fallback };
  }

  /** Drops the local fallback state. The client is the caller's: it stays open. Idempotent. */
  close(): void {
    this.#local.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #unavailable(request: RateLimitRequest, error: unknown): RateLimitDecision {
    this.#fallback++;
    if (this.#onUnavailable.active || redisRateLimitChannels.unavailable.hasSubscribers) {
      const event: RateLimitUnavailableEvent = { error, fallback: this.#mode };
      this.#onUnavailable.emit(event);
      if (redisRateLimitChannels.unavailable.hasSubscribers) {
        redisRateLimitChannels.unavailable.publish(event);
      }
    }
    if (this.#mode === 'fail-closed') {
      return {
        allowed: false,
        retryAfterMs: this.#retryMs,
        remaining: 0,
        resetAfterMs: this.#retryMs,
        limitedBy: 0,
      };
    }
    const n = this.#instances;
    const rules = request.rules.map((r): RateLimitRule => ({
      key: r.key,
      rate: r.rate / n,
      perMs: r.perMs,
      burst: Math.max(1, r.burst / n),
    }));
    return this.#local.acquire({ rules, cost: request.cost, now: request.now });
  }
}
