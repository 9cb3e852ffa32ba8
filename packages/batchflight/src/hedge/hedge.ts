/**
 * `hedge()`: when a call is slow, start another attempt and take whichever
 * answers first (tail-latency hedging, "The Tail at Scale", CACM 2013).
 *
 * - After `afterMs` without an answer a hedge starts, up to `maxHedges`
 *   extra attempts, each `afterMs` after the previous.
 * - The first success wins; every other attempt in flight is aborted
 *   through its own signal with a `HedgeCancelledError` reason.
 * - A failed attempt starts the next hedge at once (as gRPC hedging does);
 *   when every attempt has failed the caller gets the last error.
 * - Each attempt gets its own context whose `signal` is created on first
 *   read and linked to the caller's; the caller's abort aborts them all and
 *   rejects with its `signal.reason`.
 * Hedge only idempotent calls: two attempts may both reach the upstream.
 */
import {
  ABORT_REASON,
  executeOnce,
  DeadlineList,
  eventChannel,
  integerOption,
  knownOptions,
  Listeners,
  nameOption,
  NEVER_ABORTED,
  numberOption,
  rejectWith,
  systemClock,
  type CallContext,
  type LazySignalContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Layer,
  type DeadlineEntry,
  type Subscription,
} from '../core/index.js';
import { HedgeCancelledError } from './errors.js';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /** Wait before each hedge, in milliseconds (typically the upstream's p95). */
  readonly afterMs: number;
  /** Extra attempts at most. Default 1. */
  readonly maxHedges?: number;
  /** Shown in events; the central configuration addresses it by this. Default `'hedge'`. */
  readonly name?: string;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link HedgePolicy.onHedge} and the `hedge` channel. */
export interface HedgeEvent {
  /** The policy's name. */
  readonly name: string;
  /** The attempt starting, from 2 (the first hedge). */
  readonly attempt: number;
  /** Why: the previous attempt was slow, or it failed. */
  readonly reason: 'slow' | 'failed';
}

/** Counters of a hedge policy. */
export interface HedgeStats {
  readonly calls: number;
  /** Hedges started. */
  readonly hedges: number;
  /** Calls answered by a hedge rather than the first attempt. */
  readonly hedgeWins: number;
}

/** The settings {@link HedgePolicy.configure} changes while the policy runs. */
export interface HedgeSettings {
  /** Wait before each hedge, in milliseconds. */
  readonly afterMs: number;
  /** Extra attempts at most. */
  readonly maxHedges: number;
}

/** Payload of the `configured` channel: {@link HedgePolicy.configure} changed the settings. */
export interface HedgeConfiguredEvent {
  readonly name: string;
  readonly previous: HedgeSettings;
  readonly current: HedgeSettings;
}

/**
 * The diagnostics channels of every hedge policy (`batchflight:hedge:<event>`):
 * `hedge`, another attempt started; `configured`, the settings changed.
 */
export const hedgeChannels = {
  hedge: eventChannel<HedgeEvent>('hedge', 'hedge'),
  configured: eventChannel<HedgeConfiguredEvent>('hedge', 'configured'),
} as const;
const hedgeChannel = hedgeChannels.hedge;
const WHERE = 'hedge()';

/** One attempt's context: a lazily created signal linked to the race. */
class Attempt implements LazySignalContext {
  controller: AbortController | undefined = undefined;
  reason: unknown = undefined;

  constructor(readonly race: Race) {}

  get signal(): AbortSignal {
    let controller = this.controller;
    if (controller === undefined) {
      controller = this.controller = new AbortController();
      if (this.reason !== undefined) controller.abort(this.reason);
    }
    return controller.signal;
  }

  /** Whether this attempt was aborted, without creating the signal. */
  get [ABORT_REASON](): unknown {
    return this.reason;
  }

  get scope(): string | undefined {
    return this.race.ctx.scope;
  }

  get urgent(): boolean | undefined {
    return this.race.ctx.urgent;
  }

  abort(reason: unknown): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/**
 * The races started under one setting: every race of a generation waits the same `afterMs`,
 * so its list stays in deadline order. configure() starts a new generation; the races of the
 * old one finish under the settings they started with.
 */
interface Generation extends HedgeSettings {
  readonly waiting: DeadlineList<Race>;
}

/** Reaches the private #dequeue of the owner from the helper class (set by a static block). */
let dequeueHook: (owner: HedgePolicy<never, never>, arg: Race) => void;

/** The attempts of one hedged call. */
class Race implements DeadlineEntry<Race> {
  readonly attempts: Attempt[] = [];
  inFlight = 0;
  done = false;
  /** When the next hedge is due (epoch ms), while listed in the policy's deadline list. */
  deadline = 0;
  prev: Race | undefined = undefined;
  next: Race | undefined = undefined;
  listed = false;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly ctx: CallContext,
    readonly handler: Handler<unknown, unknown>,
    readonly input: unknown,
    readonly owner: HedgePolicy<never, never>,
    readonly generation: Generation,
  ) {}

  /** The caller's signal aborted (this object is its listener). */
  handleEvent(): void {
    const reason: unknown = this.ctx.signal.reason;
    this.finish(reason);
    this.reject(reason);
  }

  /** Ends the race; every attempt but `winner` is aborted with `loserReason` (none when undefined). */
  finish(loserReason: unknown, winner?: Attempt): void {
    this.done = true;
    dequeueHook(this.owner, this);
    if (this.ctx.signal !== NEVER_ABORTED) this.ctx.signal.removeEventListener('abort', this);
    if (loserReason === undefined) return;
    for (const attempt of this.attempts) if (attempt !== winner) attempt.abort(loserReason);
  }
}

/** A hedge policy: a shared {@link Layer} with a plain-function form. See {@link hedge}. */
export class HedgePolicy<I = unknown, O = unknown> implements Layer<I, O> {
  static {
    dequeueHook = (owner, arg) => {
      owner.#dequeue(arg);
    };
  }

  readonly name: string;
  readonly #clock: Clock;
  readonly #onHedge = new Listeners<HedgeEvent>();
  // Races waiting for their next hedge: afterMs is the same for all, so one timer serves them.
  #generation: Generation;
  #calls = 0;
  #hedges = 0;
  #hedgeWins = 0;

  constructor(options: HedgeOptions) {
    if (typeof options !== 'object') {
      throw new TypeError(
        `${WHERE}: expected an options object { afterMs }, got ${typeof options}.`,
      );
    }
    knownOptions(WHERE, options, ['afterMs', 'maxHedges', 'name', 'clock']);
    this.name = nameOption(WHERE, options.name, 'hedge');
    this.#clock = options.clock ?? systemClock;
    this.#generation = this.#newGeneration(
      numberOption(WHERE, 'afterMs', options.afterMs),
      maxHedgesOption(options.maxHedges ?? 1),
    );
  }

  /** Wait before each hedge of the calls starting now, in milliseconds. */
  get afterMs(): number {
    return this.#generation.afterMs;
  }

  /** Extra attempts at most, for the calls starting now. */
  get maxHedges(): number {
    return this.#generation.maxHedges;
  }

  /** The settings in force. */
  get settings(): HedgeSettings {
    const { afterMs, maxHedges } = this.#generation;
    return { afterMs, maxHedges };
  }

  /**
   * Changes the delay and the number of hedges for the calls that start from now on; a call
   * in flight finishes under the settings it started with. Settings left out keep their
   * value; invalid ones throw the constructor's error and change nothing (`dryRun` only
   * checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * hedged.configure({ afterMs: 80 }); // the upstream's p95 moved
   * ```
   */
  configure(settings: Partial<HedgeSettings>, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `hedge(${this.name}).configure(): settings must be an object { afterMs, maxHedges }, got ${typeof settings}.`,
      );
    }
    knownOptions(WHERE, settings, ['afterMs', 'maxHedges']);
    const previous = this.settings;
    const afterMs =
      settings.afterMs === undefined
        ? previous.afterMs
        : numberOption(WHERE, 'afterMs', settings.afterMs);
    const maxHedges =
      settings.maxHedges === undefined ? previous.maxHedges : maxHedgesOption(settings.maxHedges);
    if (options?.dryRun === true) return;
    if (afterMs === previous.afterMs && maxHedges === previous.maxHedges) return;
    this.#generation = this.#newGeneration(afterMs, maxHedges);
    if (hedgeChannels.configured.hasSubscribers) {
      hedgeChannels.configured.publish({ name: this.name, previous, current: this.settings });
    }
  }

  /**
   * Wraps `next` so that slow calls are hedged. Generic over the handler's
   * types: one policy hedges handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
    return (input, ctx) => {
      this.#calls++;
      const signal = ctx.signal;
      if (signal.aborted) return rejectWith(signal.reason);
      const race = new Race(ctx, next as Handler<unknown, unknown>, input, this, this.#generation);
      const outer = new Promise<Out>((resolve, reject) => {
        race.resolve = resolve as (value: unknown) => void;
        race.reject = reject;
      });
      if (signal !== NEVER_ABORTED) signal.addEventListener('abort', race);
      this.#launch(race, 'slow');
      return outer;
    };
  }

  /**
   * Runs `fn` hedged: the plain-function form.
   *
   * @example
   * ```ts
   * const doc = await hedge({ afterMs: 50 }).execute(({ signal }) => store.get(key, { signal }));
   * ```
   */
  execute<T>(fn: (ctx: CallContext) => Promise<T>, options?: CallOptions): Promise<T> {
    return executeOnce(
      this as unknown as Layer<undefined, T>,
      fn,
      options,
      `hedge(${this.name}).execute()`,
    );
  }

  /** Called when a hedge starts. */
  onHedge(listener: (event: HedgeEvent) => void): Subscription {
    return this.#onHedge.add(listener);
  }

  stats(): HedgeStats {
    return { calls: this.#calls, hedges: this.#hedges, hedgeWins: this.#hedgeWins };
  }

  #newGeneration(afterMs: number, maxHedges: number): Generation {
    return {
      afterMs,
      maxHedges,
      waiting: new DeadlineList<Race>(this.#clock, (race) => {
        this.#launch(race, 'slow');
      }),
    };
  }

  #enqueue(race: Race): void {
    race.deadline = this.#clock.now() + race.generation.afterMs;
    race.generation.waiting.add(race);
  }

  /** Takes a race out of its deadline list (no-op when not listed). */
  #dequeue(race: Race): void {
    race.generation.waiting.delete(race);
  }

  #launch(race: Race, reason: 'slow' | 'failed'): void {
    const attempt = new Attempt(race);
    const index = race.attempts.push(attempt);
    race.inFlight++;
    if (index > 1) {
      this.#hedges++;
      if (this.#onHedge.active || hedgeChannel.hasSubscribers) {
        const event = { name: this.name, attempt: index, reason };
        this.#onHedge.emit(event);
        if (hedgeChannel.hasSubscribers) hedgeChannel.publish(event);
      }
    }
    this.#dequeue(race);
    if (index <= race.generation.maxHedges) this.#enqueue(race);
    let call: Promise<unknown>;
    try {
      call = race.handler(race.input, attempt);
    } catch (error) {
      call = rejectWith(error);
    }
    call.then(
      (value) => {
        race.inFlight--;
        if (race.done) return;
        if (index > 1) this.#hedgeWins++;
        // Building an error captures a stack: only when there is a loser to tell.
        race.finish(
          race.attempts.length > 1
            ? new HedgeCancelledError(`${WHERE}: another attempt answered first.`)
            : undefined,
          attempt,
        );
        race.resolve(value);
      },
      (error: unknown) => {
        race.inFlight--;
        if (race.done) return;
        if (race.attempts.length <= race.generation.maxHedges) this.#launch(race, 'failed');
        else if (race.inFlight === 0) {
          race.finish(error);
          race.reject(error);
        }
      },
    );
  }
}

function maxHedgesOption(value: unknown): number {
  return integerOption(WHERE, 'maxHedges', value, { min: 0 });
}

/**
 * Creates a hedge policy: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal })`, a plain function wrapper. Only for idempotent calls.
 *
 * @example
 * ```ts
 * const getDoc = hedge({ afterMs: 40, maxHedges: 1 }).wrap((id: string, { signal }) =>
 *   replicas.get(id, { signal }),
 * );
 * ```
 */
export function hedge<I = unknown, O = unknown>(options: HedgeOptions): HedgePolicy<I, O> {
  return new HedgePolicy<I, O>(options);
}
