/**
 * The Redis {@link RateLimitStore}: GCRA in one Lua script per acquisition,
 * on the server's clock, all-or-nothing across several limits, one round trip.
 * The acquisitions made in one tick are sent when it ends, together: one
 * alone as one `EVALSHA` of `gcra-acquire`, several as one `EVALSHA` of
 * `gcra-acquire-many`, which decides and charges each exactly as the single
 * script would, one after the other (up to {@link MAX_BATCH} per call).
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
  MemoryRateLimitStore,
  type RateLimitDecision,
  type RateLimitRequest,
  type RateLimitRule,
  type RateLimitStore,
  type Subscription,
  eventChannel,
  systemClock,
} from 'batchflight';
import {
  Listeners,
  describe,
  gcra,
  integerOption,
  knownOptions,
  numberOption,
  oneOfOption,
} from 'batchflight/kit';
import { CommandDeadline, commandTimeoutOption } from './deadline.js';
import { RedisUnavailableError } from './errors.js';
import { type RedisClient, clientOption, isReady, isUnavailable, prefixOption } from './options.js';
import { LuaScript } from './script.js';
import { GCRA_ACQUIRE } from './scripts/gcra-acquire.js';
import { GCRA_ACQUIRE_MANY } from './scripts/gcra-acquire-many.js';

const WHERE = 'RedisRateLimitStore';
const ACQUIRE = new LuaScript('gcra-acquire', GCRA_ACQUIRE);
const ACQUIRE_MANY = new LuaScript('gcra-acquire-many', GCRA_ACQUIRE_MANY);
/**
 * Most acquisitions in one `gcra-acquire-many` call: a tick with more sends
 * several calls (in one socket write), so one call never holds the server
 * for long.
 */
const MAX_BATCH = 64;
/** The `!` that ends a refused acquisition's reply. */
const REFUSED = 0x21;

/** An acquisition waiting for the end of the tick, to be sent with the others of the tick. */
interface Queued {
  readonly request: RateLimitRequest;
  readonly numKeys: number;
  /** The keys, then cost, now and (interval, burst, fresh PX) per limit: `gcra-acquire`'s arguments. */
  readonly keysAndArgs: readonly string[];
  /** False when a number is not finite: such a request goes alone, so its error stays its own. */
  readonly batchable: boolean;
  readonly resolve: (decision: RateLimitDecision | Promise<RateLimitDecision>) => void;
  readonly reject: (error: unknown) => void;
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
  /** Acquisitions of the current tick, sent together when it ends. */
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
    let batchable = Number.isFinite(cost);
    let flat: string[];
    if (n === 1) {
      // The common case: one flat array literal, no pushes.
      const [rule] = rules as readonly [RateLimitRule];
      const interval = rule.perMs / rule.rate;
      batchable &&= Number.isFinite(interval) && Number.isFinite(rule.burst);
      flat = [
        this.#prefix + rule.key,
        String(cost),
        now,
        String(interval),
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
        const interval = rule.perMs / rule.rate;
        batchable &&= Number.isFinite(interval) && Number.isFinite(rule.burst);
        flat[at] = String(interval);
        flat[at + 1] = String(rule.burst);
        flat[at + 2] = freshPx(rule, cost);
        i++;
      }
    }
    let batch = this.#batch;
    if (batch === undefined) {
      // The first of this tick: the tick's end sends it, with whatever else the tick acquires.
      batch = [];
      this.#batch = batch;
      process.nextTick(this.#flush);
    }
    const queue = batch;
    return new Promise<RateLimitDecision>((resolve, reject) => {
      queue.push({ numKeys: n, keysAndArgs: flat, batchable, request, resolve, reject });
    });
  }

  /**
   * One `gcra-acquire` for `queued`, its outcome handed straight to its
   * promise: one ioredis promise and its `.then` per acquisition, the
   * deadline without a promise of its own (this is the path of every lone
   * acquisition).
   */
  #sendOne(queued: Queued): void {
    const { request, numKeys, keysAndArgs } = queued;
    const token = this.#deadline.start('acquire', (error) => {
      try {
        queued.resolve(this.#unavailable(request, error));
      } catch (failure) {
        queued.reject(failure); // never expected: the caller sees it, not the timer
      }
    });
    ACQUIRE.sendBuffer(this.#client, numKeys, keysAndArgs).then(
      (reply) => {
        if (!this.#deadline.settle(token)) return;
        try {
          queued.resolve(this.#decode(reply as Buffer, request));
        } catch (error) {
          queued.reject(error);
        }
      },
      (error: unknown) => {
        if (!this.#deadline.settle(token)) return;
        try {
          queued.resolve(
            this.#failed(
              this.#deadline.wrap('acquire', error),
              request,
              numKeys,
              keysAndArgs,
              false,
            ),
          );
        } catch (failure) {
          queued.reject(failure);
        }
      },
    );
  }

  /**
   * Sends the acquisitions of this tick: one alone as `gcra-acquire`,
   * several as `gcra-acquire-many` calls of up to {@link MAX_BATCH} (a
   * request with a non-finite number goes alone, so the server's error is
   * its own), all in one socket write: the connection is corked around them
   * (synchronously: no other command of the client is held back). A
   * Cluster has one connection per master and no single stream: there the
   * calls go by themselves (every key of the store is in one slot).
   */
  readonly #flush = (): void => {
    const batch = this.#batch ?? [];
    this.#batch = undefined;
    if (batch.length === 1) {
      this.#sendOne(batch[0] as Queued);
      return;
    }
    const stream = this.#client.isCluster ? undefined : (this.#client as Redis).stream;
    // Only a connected client writes at once; otherwise commands wait in ioredis's queue.
    const cork = stream !== undefined && this.#client.status === 'ready';
    if (cork) stream.cork();
    try {
      let group: Queued[] = [];
      for (const queued of batch) {
        if (!queued.batchable) {
          this.#sendOne(queued);
          continue;
        }
        group.push(queued);
        if (group.length === MAX_BATCH) {
          this.#sendMany(group);
          group = [];
        }
      }
      if (group.length === 1) this.#sendOne(group[0] as Queued);
      else if (group.length > 1) this.#sendMany(group);
    } finally {
      if (cork) stream.uncork();
    }
  };

  /** One `gcra-acquire-many` call for `group`; each acquisition gets its own decision. */
  #sendMany(group: readonly Queued[]): void {
    let numKeys = 0;
    let numArgs = 0;
    for (const queued of group) {
      numKeys += queued.numKeys;
      numArgs += queued.keysAndArgs.length - queued.numKeys + 1;
    }
    // KEYS of every acquisition, then per acquisition: n, cost, now, and 3 per limit.
    const flat = new Array<string>(numKeys + numArgs);
    let k = 0;
    let a = numKeys;
    for (const queued of group) {
      const { numKeys: n, keysAndArgs } = queued;
      for (let i = 0; i < n; i++) flat[k++] = keysAndArgs[i] as string;
      flat[a++] = String(n);
      for (let i = n; i < keysAndArgs.length; i++) flat[a++] = keysAndArgs[i] as string;
    }
    const settle = (reply: unknown): void => {
      const buffer = reply as Buffer;
      let offset = 0;
      try {
        for (const queued of group) {
          const end = offset + 8 * queued.numKeys;
          // #decode reads a refusal from the trailing '!', as in gcra-acquire's reply.
          const refused = buffer[end] === REFUSED;
          queued.resolve(
            this.#decode(buffer.subarray(offset, refused ? end + 1 : end), queued.request),
          );
          offset = end + 1;
        }
      } catch (error) {
        // A reply of another shape (never sent by the script): every caller sees it, none hangs.
        for (const queued of group) queued.reject(error);
      }
    };
    const fail = (error: unknown, retried: boolean): void => {
      if (!retried && LuaScript.isNoScript(error)) {
        this.#deadline
          .bound('acquire', ACQUIRE_MANY.retryBuffer(this.#client, numKeys, flat))
          .then(settle, (again: unknown) => {
            fail(again, true);
          });
        return;
      }
      for (const queued of group) {
        if (isUnavailable(error)) queued.resolve(this.#unavailable(queued.request, error));
        else queued.reject(error);
      }
    };
    this.#deadline
      .bound('acquire', ACQUIRE_MANY.sendBuffer(this.#client, numKeys, flat))
      .then(settle, (error: unknown) => {
        fail(error, false);
      });
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
    // Acquisitions made before, in this tick, go first (they were made first).
    if (this.#batch !== undefined) this.#flush();
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
