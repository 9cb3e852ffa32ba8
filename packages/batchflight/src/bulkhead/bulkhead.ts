/**
 * `bulkhead()`: at most `maxConcurrent` calls run at once, up to `maxQueued`
 * more wait in FIFO order, anything beyond is refused at once with
 * `BulkheadFullError`, so a slow upstream cannot soak up every socket,
 * connection or worker of the caller.
 *
 * - A freed slot passes straight to the oldest waiter, so a newcomer can
 *   never overtake the queue.
 * - A waiter whose signal aborts leaves the queue at once and rejects with
 *   `signal.reason`; its listener is removed when it leaves either way.
 * - `ctx.urgent` calls go to the front of the queue and are queued even when
 *   the queue is full; they never exceed `maxConcurrent`.
 * - `ready()` lets a producer wait until a call would not be refused
 *   (backpressure instead of errors).
 * - A call whose signal is already aborted starts nothing and rejects with
 *   `signal.reason`, whether or not a slot is free.
 * - `close()` refuses new calls and `ready()` with `ClosedError` and waits
 *   for the running and queued calls; forced (signal or `timeoutMs`), it
 *   rejects the queued ones with `ClosedError` and stops waiting.
 */
import {
  callOptions,
  closeOptions,
  executeOnce,
  ClosedError,
  eventChannel,
  forceCloseWhen,
  integerOption,
  knownOptions,
  Listeners,
  nameOption,
  NEVER_ABORTED,
  refuseIfAborted,
  rejectWith,
  systemClock,
  type CallContext,
  type CallOptions,
  type Clock,
  type GracefulCloseOptions,
  type Handler,
  type Layer,
  type Subscription,
} from '../core/index.js';
import { BulkheadFullError } from './errors.js';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** Calls running at once. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot; `Infinity` allowed. Default 0 (refuse when every slot is busy). */
  readonly maxQueued?: number;
  /** Shown in errors and events; the central configuration addresses it by this. Default `'bulkhead'`. */
  readonly name?: string;
  /** Drives the `timeoutMs` of `close()`. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link BulkheadPolicy.onRejected} and the `rejected` channel. */
export interface BulkheadRejectedEvent {
  /** The bulkhead's name. */
  readonly name: string;
  readonly active: number;
  readonly queued: number;
}

/** Counters of a bulkhead. */
export interface BulkheadStats {
  /** Calls running now. */
  readonly active: number;
  /** Calls waiting now. */
  readonly queued: number;
  /** Calls that started running. */
  readonly executed: number;
  /** Calls refused with `BulkheadFullError`. */
  readonly rejected: number;
  /** Waiters that left the queue because their signal aborted. */
  readonly aborted: number;
}

/**
 * Payload of the `queued` and `dequeued` channels: a call joined the queue (every slot was
 * busy), or left it to run; `queued` is the depth after the move.
 */
export interface BulkheadQueueEvent {
  /** The bulkhead's name. */
  readonly name: string;
  readonly active: number;
  readonly queued: number;
}

/** The settings {@link BulkheadPolicy.configure} changes while the bulkhead runs. */
export interface BulkheadSettings {
  /** Calls running at once. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot (`Infinity` allowed). */
  readonly maxQueued: number;
}

/** Payload of the `configured` channel: {@link BulkheadPolicy.configure} changed the settings. */
export interface BulkheadConfiguredEvent {
  readonly name: string;
  readonly previous: BulkheadSettings;
  readonly current: BulkheadSettings;
}

/**
 * The diagnostics channels of every bulkhead (`batchflight:bulkhead:<event>`):
 * `rejected`, a call was refused with `BulkheadFullError`; `queued` and `dequeued`, a call
 * joined the queue or left it for a slot (the queue depth); `configured`, the settings
 * changed while running.
 */
export const bulkheadChannels = {
  rejected: eventChannel<BulkheadRejectedEvent>('bulkhead', 'rejected'),
  queued: eventChannel<BulkheadQueueEvent>('bulkhead', 'queued'),
  dequeued: eventChannel<BulkheadQueueEvent>('bulkhead', 'dequeued'),
  configured: eventChannel<BulkheadConfiguredEvent>('bulkhead', 'configured'),
} as const;
const rejectedChannel = bulkheadChannels.rejected;
const queuedChannel = bulkheadChannels.queued;
const dequeuedChannel = bulkheadChannels.dequeued;
const WHERE = 'bulkhead()';

/** Reaches the private #waiterAborted of the owner from the helper class (set by a static block). */
let waiterAbortedHook: (owner: BulkheadPolicy<never, never>, arg: Waiter) => void;

/** A queued call or a `ready()` waiter: a node of a doubly linked list. */
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  resolve!: () => void;
  reject!: (reason: unknown) => void;

  constructor(
    readonly signal: AbortSignal,
    readonly owner: BulkheadPolicy<never, never>,
    readonly list: WaiterList,
  ) {}

  /** The waiter's signal aborted (this object is its listener, no closure). */
  handleEvent(): void {
    waiterAbortedHook(this.owner, this);
  }
}

class WaiterList {
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  size = 0;

  pushBack(w: Waiter): void {
    if (this.tail === undefined) this.head = w;
    else {
      this.tail.next = w;
      w.prev = this.tail;
    }
    this.tail = w;
    this.size++;
  }

  pushFront(w: Waiter): void {
    if (this.head === undefined) this.tail = w;
    else {
      this.head.prev = w;
      w.next = this.head;
    }
    this.head = w;
    this.size++;
  }

  remove(w: Waiter): void {
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.size--;
  }
}

/**
 * A bulkhead: a shared {@link Layer} with a plain-function form. See {@link bulkhead}.
 *
 * @typeParam I - the input of the handlers it may wrap (default: unknown; `wrap` is generic, so any handler fits).
 * @typeParam O - their output (default: unknown).
 */
export class BulkheadPolicy<I = unknown, O = unknown> implements Layer<I, O>, AsyncDisposable {
  static {
    waiterAbortedHook = (owner, arg) => {
      owner.#waiterAborted(arg);
    };
  }

  readonly name: string;
  #maxConcurrent: number;
  #maxQueued: number;
  readonly #where: string;
  readonly #clock: Clock;
  readonly #queue = new WaiterList();
  readonly #ready = new WaiterList();
  readonly #onRejected = new Listeners<BulkheadRejectedEvent>();
  #active = 0;
  #executed = 0;
  #rejected = 0;
  #aborted = 0;
  #closing: Promise<void> | undefined = undefined;
  #drained: (() => void) | undefined = undefined;

  constructor(options: BulkheadOptions) {
    if (typeof options !== 'object') {
      throw new TypeError(
        `${WHERE}: expected an options object { maxConcurrent, maxQueued }, got ${typeof options}.`,
      );
    }
    knownOptions(WHERE, options, ['maxConcurrent', 'maxQueued', 'name', 'clock']);
    this.name = nameOption(WHERE, options.name, 'bulkhead');
    this.#where = `bulkhead(${this.name})`;
    this.#clock = options.clock ?? systemClock;
    this.#maxConcurrent = integerOption(WHERE, 'maxConcurrent', options.maxConcurrent);
    this.#maxQueued = maxQueuedOption(options.maxQueued ?? 0);
  }

  /** Calls running at once (see {@link configure}). */
  get maxConcurrent(): number {
    return this.#maxConcurrent;
  }

  /** Calls waiting for a slot (see {@link configure}). */
  get maxQueued(): number {
    return this.#maxQueued;
  }

  /** The settings in force. */
  get settings(): BulkheadSettings {
    return { maxConcurrent: this.#maxConcurrent, maxQueued: this.#maxQueued };
  }

  /**
   * Changes the limits while the bulkhead runs. A raised `maxConcurrent` starts queued
   * callers at once, oldest first, into the new slots; a lowered one never aborts a running
   * call: slots are given back as calls finish until the running ones fit (queued callers
   * wait meanwhile). A lowered `maxQueued` refuses new waiters while the queue is longer,
   * never the ones in it. Settings left out keep their value; invalid ones throw the
   * constructor's error and change nothing (`dryRun` only checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * pool.configure({ maxConcurrent: 20 }); // the database got more connections
   * ```
   */
  configure(settings: Partial<BulkheadSettings>, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `${this.#where}.configure(): settings must be an object { maxConcurrent, maxQueued }, got ${typeof settings}.`,
      );
    }
    knownOptions(WHERE, settings, ['maxConcurrent', 'maxQueued']);
    const maxConcurrent =
      settings.maxConcurrent === undefined
        ? this.#maxConcurrent
        : integerOption(WHERE, 'maxConcurrent', settings.maxConcurrent);
    const maxQueued =
      settings.maxQueued === undefined ? this.#maxQueued : maxQueuedOption(settings.maxQueued);
    if (options?.dryRun === true) return;
    const previous = this.settings;
    this.#maxConcurrent = maxConcurrent;
    this.#maxQueued = maxQueued;
    // New slots go to the queue first, in order, as a freed slot would.
    while (this.#active < this.#maxConcurrent && this.#queue.head !== undefined) {
      this.#active++;
      this.#startQueued(this.#queue.head);
    }
    if (this.#ready.size > 0) this.#wakeReady(this.#room());
    if (bulkheadChannels.configured.hasSubscribers) {
      bulkheadChannels.configured.publish({ name: this.name, previous, current: this.settings });
    }
  }

  /**
   * Wraps `next` so that calls pass through the bulkhead. Generic over the
   * handler's types: one bulkhead guards handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
    const inner = next as unknown as Handler<I, O>;
    return ((input: I, ctx: CallContext) => {
      const refused = refuseIfAborted(ctx);
      if (refused !== undefined) return refused;
      if (this.#active < this.#maxConcurrent && this.#queue.size === 0 && !this.#closing) {
        return this.#run(inner, input, ctx);
      }
      return this.#admitSlow(inner, input, ctx);
    }) as unknown as Handler<In, Out>;
  }

  /**
   * Runs `fn` in the bulkhead: the plain-function form.
   *
   * @example
   * ```ts
   * const pool = bulkhead({ maxConcurrent: 10, maxQueued: 100 });
   * const rows = await pool.execute(({ signal }) => db.query(sql, { signal }), { signal });
   * ```
   */
  execute<T>(fn: (ctx: CallContext) => Promise<T>, options?: CallOptions): Promise<T> {
    return executeOnce(
      this as unknown as Layer<undefined, T>,
      fn,
      options,
      `${this.#where}.execute()`,
    );
  }

  /**
   * Resolves when a call made now would start or be queued rather than be
   * refused. Waiters are woken in FIFO order, one per free place. Rejects
   * with `signal.reason` when the signal aborts (at once when it already
   * has), and with `ClosedError` after `close()` (waiters too).
   */
  ready(options?: { readonly signal?: AbortSignal | undefined }): Promise<void> {
    try {
      callOptions(`${this.#where}.ready()`, options, ['signal']);
    } catch (error) {
      return rejectWith(error);
    }
    if (this.#closing) return rejectWith(this.#readyClosed());
    const signal = options?.signal ?? NEVER_ABORTED;
    if (signal.aborted) return rejectWith(signal.reason);
    if (this.#room() > 0) return Promise.resolve();
    return this.#wait(this.#ready, signal, false);
  }

  /** Called when a call is refused with `BulkheadFullError`. */
  onRejected(listener: (event: BulkheadRejectedEvent) => void): Subscription {
    return this.#onRejected.add(listener);
  }

  stats(): BulkheadStats {
    return {
      active: this.#active,
      queued: this.#queue.size,
      executed: this.#executed,
      rejected: this.#rejected,
      aborted: this.#aborted,
    };
  }

  /**
   * Stops admitting calls (new ones and `ready()` reject with `ClosedError`,
   * and so do producers already waiting in `ready()`) and resolves when the
   * running and queued calls have finished. Forced when `signal` aborts or
   * after `timeoutMs`: the queued calls reject with `ClosedError` without
   * starting, and the close resolves without waiting for the running ones
   * (a bulkhead does not own their signals). Idempotent: a second call
   * returns the first close, and its options can still force it.
   *
   * @example
   * ```ts
   * await pool.close({ timeoutMs: 5_000 }); // drain, but give up on the queue after 5 s
   * ```
   */
  close(options?: GracefulCloseOptions): Promise<void> {
    const where = `${this.#where}.close()`;
    try {
      closeOptions(where, options);
    } catch (error) {
      return rejectWith(error);
    }
    if (this.#closing === undefined) {
      this.#closing = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      for (let head = this.#ready.head; head !== undefined; head = this.#ready.head) {
        this.#leave(this.#ready, head);
        head.reject(this.#readyClosed());
      }
      this.#checkDrained();
    }
    // Armed once the close exists, so a signal that is already aborted forces it at once.
    const disarm = forceCloseWhen(where, options, this.#clock, () => {
      this.#force();
    });
    void this.#closing.then(disarm);
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The forced part of a close: the queued calls never start. */
  #force(): void {
    const error = new ClosedError(
      `${this.#where}: closed (forced) while the call waited for a slot; it did not start.`,
    );
    for (let head = this.#queue.head; head !== undefined; head = this.#queue.head) {
      this.#leave(this.#queue, head);
      head.reject(error);
    }
    this.#drained?.();
  }

  #readyClosed(): ClosedError {
    return new ClosedError(
      `${this.#where}: ready() after close(); the bulkhead takes no new calls.`,
    );
  }

  #room(): number {
    return this.#maxConcurrent - this.#active + (this.#maxQueued - this.#queue.size);
  }

  #run(next: Handler<I, O>, input: I, ctx: CallContext): Promise<O> {
    this.#active++;
    return this.#runInSlot(next, input, ctx);
  }

  /** Runs a call that already holds a slot. */
  #runInSlot(next: Handler<I, O>, input: I, ctx: CallContext): Promise<O> {
    this.#executed++;
    let call: Promise<O>;
    try {
      call = next(input, ctx);
    } catch (error) {
      this.#release();
      return rejectWith(error);
    }
    return call.then(this.#releaseValue, this.#releaseError);
  }

  readonly #releaseValue = (value: O): O => {
    this.#release();
    return value;
  };

  readonly #releaseError = (error: unknown): Promise<never> => {
    this.#release();
    return rejectWith(error);
  };

  #release(): void {
    const head = this.#queue.head;
    // Above the limit (configure() lowered it) a freed slot is given back, not handed on.
    if (head === undefined || this.#active > this.#maxConcurrent) this.#active--;
    else {
      // Hand the slot over without freeing it, so no newcomer can jump the queue.
      this.#startQueued(head);
    }
    if (this.#ready.size > 0) this.#wakeReady(this.#room());
    if (this.#closing) this.#checkDrained();
  }

  /** Takes the head of the queue out and lets it run in a slot already counted. */
  #startQueued(head: Waiter): void {
    this.#leave(this.#queue, head);
    if (dequeuedChannel.hasSubscribers) {
      dequeuedChannel.publish({ name: this.name, active: this.#active, queued: this.#queue.size });
    }
    head.resolve();
  }

  #admitSlow(next: Handler<I, O>, input: I, ctx: CallContext): Promise<O> {
    if (this.#closing) {
      return rejectWith(
        new ClosedError(`${this.#where}: the bulkhead is closed; no new calls start.`),
      );
    }
    const signal = ctx.signal;
    const urgent = ctx.urgent === true;
    if (this.#queue.size >= this.#maxQueued && !urgent) {
      this.#rejected++;
      if (this.#onRejected.active || rejectedChannel.hasSubscribers) {
        const event = { name: this.name, active: this.#active, queued: this.#queue.size };
        this.#onRejected.emit(event);
        if (rejectedChannel.hasSubscribers) rejectedChannel.publish(event);
      }
      return rejectWith(
        new BulkheadFullError(
          `${this.#where}: all ${String(this.#maxConcurrent)} slots and ${String(this.#maxQueued)} queue places are taken; the call was refused. Wait with ready() or raise maxQueued.`,
          this.#maxConcurrent,
          this.#maxQueued,
        ),
      );
    }
    const waiting = this.#wait(this.#queue, signal, urgent);
    if (queuedChannel.hasSubscribers) {
      queuedChannel.publish({ name: this.name, active: this.#active, queued: this.#queue.size });
    }
    return waiting.then(() => this.#runInSlot(next, input, ctx));
  }

  #wait(list: WaiterList, signal: AbortSignal, front: boolean): Promise<void> {
    const waiter = new Waiter(signal, this as unknown as BulkheadPolicy<never, never>, list);
    const promise = new Promise<void>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    if (front) list.pushFront(waiter);
    else list.pushBack(waiter);
    if (signal !== NEVER_ABORTED) signal.addEventListener('abort', waiter);
    return promise;
  }

  #leave(list: WaiterList, waiter: Waiter): void {
    list.remove(waiter);
    if (waiter.signal !== NEVER_ABORTED) waiter.signal.removeEventListener('abort', waiter);
  }

  /** Called by a waiter's abort listener. */
  #waiterAborted(waiter: Waiter): void {
    this.#leave(waiter.list, waiter);
    if (waiter.list === this.#queue) {
      this.#aborted++;
      if (this.#ready.size > 0) this.#wakeReady(this.#room());
      if (this.#closing) this.#checkDrained();
    }
    waiter.reject(waiter.signal.reason);
  }

  #wakeReady(places: number): void {
    for (let woken = 0; woken < places; woken++) {
      const head = this.#ready.head;
      if (head === undefined) return;
      this.#leave(this.#ready, head);
      head.resolve();
    }
  }

  #checkDrained(): void {
    if (this.#active === 0 && this.#queue.size === 0) this.#drained?.();
  }
}

function maxQueuedOption(value: unknown): number {
  return integerOption(WHERE, 'maxQueued', value, { min: 0, allowInfinity: true });
}

/**
 * Creates a bulkhead: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal, urgent })`, a plain function wrapper.
 *
 * @example
 * ```ts
 * const pool = bulkhead({ maxConcurrent: 10, maxQueued: 50 });
 * const getUser = pool.wrap((id: number, { signal }) => api.user(id, { signal }));
 * await pool.ready(); // backpressure: wait for room instead of catching BulkheadFullError
 * ```
 */
export function bulkhead<I = unknown, O = unknown>(options: BulkheadOptions): BulkheadPolicy<I, O> {
  return new BulkheadPolicy<I, O>(options);
}

/** @deprecated Renamed {@link BulkheadPolicy} (every policy class is `<Name>Policy`); kept as an alias. */
export const Bulkhead = BulkheadPolicy;
/** @deprecated Renamed {@link BulkheadPolicy}; kept as an alias. */
export type Bulkhead<I = unknown, O = unknown> = BulkheadPolicy<I, O>;
