/**
 * The per-call deadline of every command a store sends to Redis.
 *
 * ioredis bounds nothing by default: a server that accepts the connection
 * and never answers keeps a command pending forever, and a closed port keeps
 * it in the offline queue for `maxRetriesPerRequest` reconnections (10–40 s).
 * So each store bounds its own calls: after `commandTimeoutMs` the call
 * rejects with a {@link RedisUnavailableError} and the store's documented
 * fallback takes over. The command itself cannot be taken back from ioredis;
 * its late reply (or failure) is dropped.
 *
 * One timer per store, not per call: calls get their deadlines in the order
 * they are made (the same delay added to a clock that never goes back), so
 * a FIFO of pending calls is ordered by deadline and one timer, armed for
 * the oldest pending call, serves them all (a timer that finds nothing due
 * arms itself for the oldest call still pending, or not at all). The timer
 * comes from the store's Clock (unref'd on the system clock: it never holds
 * a process open).
 *
 * When the timer fires, the expired calls are rejected one turn later
 * (`setImmediate`, after the event loop's I/O phase): after the loop was
 * blocked past a deadline, timers run before the sockets are read, so a
 * reply that had arrived in time would otherwise lose to its own deadline.
 */
import { type Clock, type Timer } from 'batchflight';
import { numberOption } from 'batchflight/kit';
import { RedisUnavailableError } from './errors.js';
import { type RedisClient, isReady, isUnavailable } from './options.js';

/** Default of every store's `commandTimeoutMs`. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 1000;

/** Longest deadline a Node timer can carry (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Validates the `commandTimeoutMs` option (a number of ms > 0, at most 2^31 - 1). */
export function commandTimeoutOption(where: string, value: unknown): number {
  return numberOption(where, 'commandTimeoutMs', value ?? DEFAULT_COMMAND_TIMEOUT_MS, {
    min: 0,
    exclusive: true,
    max: MAX_TIMEOUT_MS,
  });
}

/** A call's deadline, from {@link CommandDeadline.start}. */
export type DeadlineToken = object;

interface Pending {
  readonly at: number;
  readonly what: string;
  readonly reject: (error: unknown) => void;
  done: boolean;
}

/** Bounds the calls of one store; see the module comment. */
export class CommandDeadline {
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #queue: Pending[] = [];
  #head = 0;
  #live = 0;
  #timer: Timer | undefined;

  /**
   * @param where - the store, named in errors (`RedisCacheStore`).
   * @param timeoutMs - the validated `commandTimeoutMs`.
   */
  constructor(where: string, timeoutMs: number, clock: Clock) {
    this.#where = where;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  /** The deadline of every call, in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /**
   * Settles as `command` does, or rejects with a {@link RedisUnavailableError}
   * once `commandTimeoutMs` has passed without an answer. A failure without
   * a server reply (closed connection, retries exhausted) also becomes a
   * `RedisUnavailableError`, its `cause` the ioredis error; an error the
   * server answered (`ReplyError`, such as `NOSCRIPT`) passes through
   * unchanged so callers can act on it.
   *
   * @param what - the operation, named in errors (`get`, `claim`).
   */
  bound<T>(what: string, command: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending = this.start(what, reject);
      command.then(
        (value) => {
          if (this.settle(pending)) resolve(value);
        },
        (error: unknown) => {
          // The client's own error when it is not unavailability (a ReplyError), passed through.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          if (this.settle(pending)) reject(this.wrap(what, error));
        },
      );
    });
  }

  /**
   * Starts the deadline of a call whose outcome the caller handles itself
   * (a hot path that needs no promise of its own): unless {@link settle} is
   * called first, `expired` gets the `RedisUnavailableError` once
   * `commandTimeoutMs` has passed.
   *
   * @returns the token to pass to {@link settle}.
   */
  start(what: string, expired: (error: RedisUnavailableError) => void): DeadlineToken {
    const pending: Pending = {
      at: this.#clock.now() + this.#timeoutMs,
      what,
      reject: expired as (error: unknown) => void,
      done: false,
    };
    this.#queue.push(pending);
    this.#live++;
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
    return pending;
  }

  /**
   * Marks a call {@link start}ed settled (its reply or error came): true
   * when it is the first to, false when its deadline expired it already
   * (the late outcome is dropped).
   */
  settle(token: DeadlineToken): boolean {
    return this.#settle(token as Pending);
  }

  /**
   * Sends one call if `client` is connected, bounded as {@link bound} does.
   * A client that lost its connection (`reconnecting`, `close`, `end`) is
   * refused at once, the call unsent: it would wait in ioredis's offline
   * queue. An error `send` throws synchronously is reported the same way.
   */
  call<T>(client: RedisClient, what: string, send: () => Promise<T>): Promise<T> {
    if (!isReady(client)) return Promise.reject(this.notReady(what, client.status));
    let command: Promise<T>;
    try {
      command = send();
    } catch (error) {
      // The client's own error when it is not unavailability (a ReplyError), passed through.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(this.wrap(what, error));
    }
    return this.bound(what, command);
  }

  /** `error` as this store reports it: unavailability as a {@link RedisUnavailableError}. */
  wrap(what: string, error: unknown): unknown {
    if (!isUnavailable(error) || RedisUnavailableError.is(error)) return error;
    const text = error instanceof Error ? error.message : String(error);
    return new RedisUnavailableError(
      `${this.#where}.${what}: Redis could not be reached (${text}).`,
      { cause: error },
    );
  }

  /** The error of a call refused because the client is not connected (`status`). */
  notReady(what: string, status: string): RedisUnavailableError {
    return new RedisUnavailableError(
      `${this.#where}.${what}: the Redis client is ${status} (not connected), so the call was not sent.`,
    );
  }

  /** Marks `pending` settled; false when its deadline already answered it. */
  #settle(pending: Pending): boolean {
    if (pending.done) return false;
    pending.done = true;
    if (--this.#live === 0) {
      // Nothing pending: the FIFO starts over. The timer is left to fire and find
      // nothing (it is not armed again then): one call at a time would otherwise
      // pay a timer and its cancellation per call.
      this.#queue = [];
      this.#head = 0;
    }
    return true;
  }

  #arm(delayMs: number): void {
    this.#timer = this.#clock.setTimer(this.#expire, delayMs);
  }

  readonly #expire = (): void => {
    // #timer stays set meanwhile, so no second timer is armed for the same calls;
    // when everything settled in between (or a newer timer took over), nothing is left to do.
    const fired = this.#timer;
    setImmediate(() => {
      if (this.#timer === fired) this.#expireDue();
    });
  };

  #expireDue(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const pending = queue[this.#head] as Pending;
      if (!pending.done) {
        if (pending.at > now) break;
        this.#settle(pending);
        pending.reject(
          new RedisUnavailableError(
            `${this.#where}.${pending.what}: no reply from Redis within commandTimeoutMs = ${String(this.#timeoutMs)} ms (the server is unreachable or not answering).`,
          ),
        );
        // #settle may have reset the FIFO when this was the last pending call.
        if (this.#queue !== queue) return;
      }
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head];
    if (next !== undefined) this.#arm(Math.max(0, next.at - now));
  }
}
