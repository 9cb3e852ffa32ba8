/**
 * The Redis {@link RateLimitStore}: GCRA in one Lua script per acquisition,
 * on the server's clock, all-or-nothing across several limits, one round trip.
 * Acquisitions made in the same tick after the first are written to the
 * socket together when the tick ends (each still its own `EVALSHA`).
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
 * "Unreachable" means the client lost its connection (`reconnecting`,
 * `close`, `end`: the decision is immediate, no command is queued), a
 * command got no reply within `commandTimeoutMs` (default 1000 ms: a server
 * that accepts connections and never answers), or a command failed without
 * a server reply (closed connection, retries exhausted). An error answered
 * by the server (a bad argument) is thrown, not masked by the fallback.
 */
import type { Redis } from 'ioredis';
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
  gcra,
  integerOption,
  knownOptions,
  numberOption,
  oneOfOption,
  systemClock,
} from 'batchflight';
import { CommandDeadline, commandTimeoutOption } from './deadline.js';
import { RedisUnavailableError } from './errors.js';
import { type RedisClient, clientOption, isReady, isUnavailable, prefixOption } from './options.js';
import { LuaScript } from './script.js';
import { GCRA_ACQUIRE } from './scripts/gcra-acquire.js';

const WHERE = 'RedisRateLimitStore';
const ACQUIRE = new LuaScript('gcra-acquire', GCRA_ACQUIRE);
/**
 * Acquisitions per socket write when several are made in one tick. Measured
 * on loopback, 16 in flight, 2 shared cores: writing the whole tick at once
 * gave 1.7x rate-limiter-flexible when Node and Redis shared a core but
 * 0.8x when each had one (Redis idled while Node built the 15 commands;
 * 1.0x one write per command); 4 per write gave 1.35-1.5x and 1.0x.
 */
const WRITE_CHUNK = 4;

/** An acquisition waiting for the end of the tick, to be written with the others of the tick. */
interface Queued {
  readonly request: RateLimitRequest;
  readonly numKeys: number;
  readonly keysAndArgs: readonly string[];
  readonly resolve: (decision: Promise<RateLimitDecision>) => void;
}

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
  /**
   * Longest wait for Redis of each acquisition (and `reset`), in ms (> 0).
   * Past it the acquisition is answered by the `onUnavailable` fallback
   * (`reset` rejects with a `RedisUnavailableError`). Default 1000.
   */
  readonly commandTimeoutMs?: number | undefined;
  /** Clock of the local fallback GCRA and of the command deadline. Default: the system clock. */
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
  readonly #deadline: CommandDeadline;
  readonly #onUnavailable = new Listeners<RateLimitUnavailableEvent>();
  #remote = 0;
  #fallback = 0;
  /** Acquisitions of the current tick after its first, sent together when it ends. */
  #batch: Queued[] | undefined;

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
      'commandTimeoutMs',
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
    const clock = options.clock ?? systemClock;
    this.#local = new MemoryRateLimitStore({ clock });
    this.#deadline = new CommandDeadline(
      WHERE,
      commandTimeoutOption(WHERE, options.commandTimeoutMs),
      clock,
    );
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
        String(rule.perMs / rule.rate),
        String(rule.burst),
        freshPx(rule, cost),
      ];
    } else {
      // KEYS first, then ARGV: cost, now, and interval/burst/fresh PX per rule.
      flat = new Array<string>(n + 2 + 3 * n);
      flat[n] = String(cost);
      flat[n + 1] = now;
      let i = 0;
      for (const rule of rules) {
        flat[i] = this.#prefix + rule.key;
        const at = n + 2 + 3 * i;
        flat[at] = String(rule.perMs / rule.rate);
        flat[at + 1] = String(rule.burst);
        flat[at + 2] = freshPx(rule, cost);
        i++;
      }
    }
    if (this.#batch !== undefined) {
      // Not the first acquisition of this tick: it is written with the others at the tick's end.
      const batch = this.#batch;
      return new Promise<RateLimitDecision>((resolve) => {
        batch.push({ numKeys: n, keysAndArgs: flat, request, resolve });
      });
    }
    // The first of this tick goes out at once (no added latency when calls
    // come one at a time); the ones that follow in the same tick are written
    // together when the tick ends.
    this.#batch = [];
    process.nextTick(this.#flush);
    return this.#send(request, n, flat);
  }

  #send(request: RateLimitRequest, n: number, flat: readonly string[]): Promise<RateLimitDecision> {
    return this.#deadline.bound('acquire', ACQUIRE.sendBuffer(this.#client, n, flat)).then(
      (reply) => this.#decode(reply as Buffer, request),
      (error: unknown) => this.#failed(error, request, n, flat, false),
    );
  }

  /**
   * Sends the acquisitions queued during this tick, each its own EVALSHA
   * (decided atomically on its own), {@link WRITE_CHUNK} per write on the
   * socket: the connection is corked around each group (synchronously: no
   * other command of the client is held back). At 16 in flight the
   * per-command `write` syscall was about half of the client's CPU per
   * acquisition. A Cluster has one connection per master and no single
   * stream: there each goes by itself.
   */
  readonly #flush = (): void => {
    const batch = this.#batch ?? [];
    this.#batch = undefined;
    const stream = this.#client.isCluster ? undefined : (this.#client as Redis).stream;
    // Only a connected client writes at once; otherwise commands wait in ioredis's queue.
    const cork = batch.length > 1 && stream !== undefined && this.#client.status === 'ready';
    let corked = false;
    try {
      for (let i = 0; i < batch.length; i++) {
        if (cork && !corked) {
          stream.cork();
          corked = true;
        }
        const queued = batch[i] as Queued;
        queued.resolve(this.#send(queued.request, queued.numKeys, queued.keysAndArgs));
        if (corked && (i + 1) % WRITE_CHUNK === 0) {
          stream?.uncork();
          corked = false;
        }
      }
    } finally {
      if (corked) stream?.uncork();
    }
  };

  /** After a failed EVALSHA: reload once on `NOSCRIPT`, fall back when unreachable, else rethrow. */
  #failed(
    error: unknown,
    request: RateLimitRequest,
    n: number,
    flat: readonly string[],
    retried: boolean,
  ): RateLimitDecision | Promise<RateLimitDecision> {
    if (!retried && LuaScript.isNoScript(error)) {
      return this.#deadline.bound('acquire', ACQUIRE.retryBuffer(this.#client, n, flat)).then(
        (reply) => this.#decode(reply as Buffer, request),
        (again: unknown) => this.#failed(again, request, n, flat, true),
      );
    }
    if (isUnavailable(error)) return this.#unavailable(request, error);
    throw error;
  }

  /**
   * The decision from the script's reply: each limit's "behind" (8 bytes,
   * a double) and a trailing `!` when refused. The numbers come from
   * `gcra()` on the same doubles the script compared, so they are the ones
   * the script would have computed; the admission is the script's.
   */
  #decode(reply: Buffer, request: RateLimitRequest): RateLimitDecision {
    this.#remote++;
    const { rules, cost } = request;
    const allowed = reply.length % 8 === 0;
    if (rules.length === 1) {
      // gcra() relative to now = 0: a stored TAT of `behind` is `behind` ahead.
      const behind = reply.readDoubleLE(0);
      const d = gcra(rules[0] as RateLimitRule, behind > 0 ? behind : undefined, cost, 0);
      return {
        allowed,
        retryAfterMs: d.retryAfterMs,
        remaining: d.remaining,
        resetAfterMs: d.resetAfterMs,
        limitedBy: allowed ? -1 : 0,
      };
    }
    // Several limits: as charged when admitted, as they stand when refused
    // (a refusal charges none); limitedBy is the limit with the longest wait.
    let remaining = Infinity;
    let resetAfterMs = 0;
    let retryAfterMs = 0;
    let limitedBy = -1;
    for (let i = 0; i < rules.length; i++) {
      const behind = reply.readDoubleLE(8 * i);
      const tat = behind > 0 ? behind : undefined;
      const rule = rules[i] as RateLimitRule;
      const charged = gcra(rule, tat, cost, 0);
      if (!charged.allowed && (limitedBy === -1 || charged.retryAfterMs > retryAfterMs)) {
        retryAfterMs = charged.retryAfterMs;
        limitedBy = i;
      }
      const d = allowed ? charged : gcra(rule, tat, 0, 0);
      remaining = Math.min(remaining, d.remaining);
      resetAfterMs = Math.max(resetAfterMs, d.resetAfterMs);
    }
    return allowed
      ? { allowed, retryAfterMs: 0, remaining, resetAfterMs, limitedBy: -1 }
      : { allowed, retryAfterMs, remaining, resetAfterMs, limitedBy: Math.max(0, limitedBy) };
  }

  /**
   * Forgets the state of `keys` (one `DEL`), bounded by `commandTimeoutMs`;
   * rejects with a `RedisUnavailableError` when Redis is unreachable.
   */
  async reset(keys: readonly string[]): Promise<void> {
    this.#local.reset(keys);
    if (keys.length === 0) return;
    await this.#deadline.call(this.#client, 'reset', () =>
      this.#client.del(...keys.map((k) => this.#prefix + k)),
    );
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

/**
 * The `PX` of a key charged from fresh, as the script would compute it
 * (`ceil(cost * interval) + 1`, the same doubles), sent as text: a number
 * passed to `redis.call` costs the server a `%.17g` formatting.
 */
function freshPx(rule: RateLimitRule, cost: number): string {
  return String(Math.ceil(cost * (rule.perMs / rule.rate)) + 1);
}
